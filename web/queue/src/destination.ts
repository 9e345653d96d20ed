// Where an admitted buyer goes. `next` comes from the link, so anyone can write it: only a path on this origin is
// followed. "//host" is another origin to a browser, and so are "/\host" and "/<tab>/host" (browsers read a
// backslash as a slash and drop tabs and newlines), so a backslash or a control character anywhere refuses it.

const UNSAFE = /[\\\u0000-\u001f\u007f]/;

export function destinationFor(next: string | null, eventId: string): string {
  if (next !== null && next.startsWith("/") && !next.startsWith("//") && !UNSAFE.test(next)) return next;
  return `/local/events/?event=${encodeURIComponent(eventId)}`;
}
