// A pairing link is the app's address with the token in the fragment (#token=…&name=…): the fragment never reaches
// a server's logs. The same link fits in a QR code, and a bare token pasted or scanned works too.
import type { Credentials } from "./storage";

interface TokenClaims {
  sub?: string;
  typ?: string;
  exp?: number;
  events?: string[];
}

function claimsOf(token: string): TokenClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as TokenClaims;
  } catch {
    return null;
  }
}

/** Credentials from a pairing link, a fragment, or a bare token; null when it is none of them. The API checks them. */
export function credentialsFrom(text: string): Credentials | null {
  const trimmed = text.trim();
  const fragment = trimmed.includes("#") ? trimmed.slice(trimmed.indexOf("#") + 1) : null;
  const parameters = new URLSearchParams(fragment ?? "");
  const token = fragment === null ? trimmed : parameters.get("token");
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims?.sub) return null;
  const isDevice = claims.typ === "device";
  if (isDevice && !claims.events?.length) return null;
  return {
    token,
    kind: isDevice ? "device" : "user",
    subject: claims.sub,
    name: parameters.get("name") ?? (isDevice ? `${claims.sub.slice(0, 8)}` : ""),
    eventIds: isDevice ? (claims.events ?? []) : [],
    expiresAt: claims.exp ? claims.exp * 1000 : null,
  };
}
