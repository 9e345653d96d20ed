// The queue routes of the Crowdify API, on this page's own origin (the gateway serves both).

export type QueueState = "waiting" | "admitted" | "sold_out" | "closed" | "not_joined";

export interface QueueStatus {
  event_id: string;
  state: QueueState;
  // 1-based; null before the opening (places are drawn then) and briefly after a late join.
  position: number | null;
  ahead: number | null;
  estimated_wait_seconds: number | null;
  // null only when the event's waiting room was turned off meanwhile.
  opens_at: string | null;
  admitted_until: string | null;
  reason: string | null;
  waiting_list_url: string | null;
  // While waiting: ask again after this long (2 to 30 s, often as the turn comes, seldom far back); null otherwise.
  poll_after_seconds?: number | null;
}

export interface WaitingListEntry {
  status: string;
  position: number | null;
  seats: number;
}

/** The API answered with an error status; `detail` is its message when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
  }
}

// A poll that takes longer than this is treated as a network failure, so the page says so instead of freezing.
const TIMEOUT_MILLISECONDS = 15000;

async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MILLISECONDS),
  });
  const text = await answer.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // A gateway error page (HTML) or an empty body: reported by status below.
  }
  if (!answer.ok) throw new ApiError(answer.status, detailOf(parsed) ?? answer.statusText);
  return parsed as T;
}

function detailOf(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const { detail, message } = body as { detail?: unknown; message?: unknown };
  const found = detail ?? message;
  if (found === undefined || found === null) return null;
  return typeof found === "string" ? found : JSON.stringify(found);
}

function queuePath(eventId: string): string {
  return `/api/v1/events/${encodeURIComponent(eventId)}/queue`;
}

export function joinQueue(eventId: string, token: string): Promise<QueueStatus> {
  return call<QueueStatus>("POST", queuePath(eventId), token);
}

export function queueStatus(eventId: string, token: string): Promise<QueueStatus> {
  return call<QueueStatus>("GET", queuePath(eventId), token);
}

/** `url` is the status's waiting_list_url: an API path on this origin. */
export function joinWaitingList(url: string, token: string): Promise<WaitingListEntry> {
  return call<WaitingListEntry>("POST", url, token, { seats: 1 });
}
