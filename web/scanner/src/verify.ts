// Ticket QR codes, verified on the phone (contract: docs/architecture.md, "QR tickets"): "CT1" + base64url of
// key_id (4) ‖ ticket_id (16) ‖ event_id (16) ‖ Ed25519 signature (64) over "CT1" ‖ key_id ‖ ticket_id ‖ event_id.
import { verifyAsync } from "@noble/ed25519";

export const TOKEN_PREFIX = "CT1";
const KEY_ID_LENGTH = 4;
const UUID_LENGTH = 16;
const SIGNED_LENGTH = KEY_ID_LENGTH + 2 * UUID_LENGTH;
const PAYLOAD_LENGTH = SIGNED_LENGTH + 64;

export interface PublicKey {
  kid: string;
  public_key: string;
}

export interface VerifiedCode {
  ticketId: string;
  eventId: string;
}

export function decodeBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (character) => character.charCodeAt(0));
  // Non-canonical text (stray bits in the last character) would name the same bytes as another string.
  return encodeBase64url(bytes) === text ? bytes : null;
}

export function encodeBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function uuid(bytes: Uint8Array): string {
  const text = hex(bytes);
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

/** The ticket a code names when one of `keys` signed it; null for anything forged, truncated or foreign. */
export async function verifyCode(code: string, keys: PublicKey[]): Promise<VerifiedCode | null> {
  if (!code.startsWith(TOKEN_PREFIX)) return null;
  const payload = decodeBase64url(code.slice(TOKEN_PREFIX.length));
  if (payload === null || payload.length !== PAYLOAD_LENGTH) return null;
  const kid = hex(payload.subarray(0, KEY_ID_LENGTH));
  const key = keys.find((candidate) => candidate.kid === kid);
  const publicKey = key ? decodeBase64url(key.public_key) : null;
  if (publicKey === null || publicKey.length !== 32) return null;
  const message = new Uint8Array(TOKEN_PREFIX.length + SIGNED_LENGTH);
  message.set(new TextEncoder().encode(TOKEN_PREFIX));
  message.set(payload.subarray(0, SIGNED_LENGTH), TOKEN_PREFIX.length);
  try {
    if (!(await verifyAsync(payload.subarray(SIGNED_LENGTH), message, publicKey))) return null;
  } catch {
    return null;
  }
  return {
    ticketId: uuid(payload.subarray(KEY_ID_LENGTH, KEY_ID_LENGTH + UUID_LENGTH)),
    eventId: uuid(payload.subarray(KEY_ID_LENGTH + UUID_LENGTH, SIGNED_LENGTH)),
  };
}
