// The buyer's token: handed over in the URL fragment (#token=…, never sent to a server, never in a log), kept in
// sessionStorage for this tab only, and removed from the address bar so it is not bookmarked or shared by accident.
// The local event page (local/pages/events/) reads the same key.

export const TOKEN_KEY = "crowdify.queue.token";

export function takeTokenFromFragment(): string | null {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token")?.trim();
  if (!token) return null;
  fragment.delete("token");
  const rest = fragment.toString();
  history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  saveToken(token);
  return token;
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY) || null;
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}
