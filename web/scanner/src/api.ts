// The Crowdify API as the door uses it: check-in, the scanner bundle, offline sync, the public event list.
import type { PublicKey } from "./verify";

export type VerdictStatus = "accepted" | "already_used" | "invalid" | "wrong_event" | "cancelled" | string;

export interface ValidationResult {
  valid: boolean;
  status: VerdictStatus;
  message: string;
  ticket_id: string | null;
  event_id: string | null;
  attendee_name: string | null;
  ticket_type: string | null;
  checked_in_at: string | null;
  first_checked_in_at: string | null;
  first_checked_in_by: string | null;
}

export interface SyncResult extends ValidationResult {
  nonce: string;
  offline_conflict: boolean;
}

export interface BundleTicket {
  id: string;
  attendee_name: string | null;
  ticket_type_id: string;
  status: string;
  used_at: string | null;
}

export interface ScannerBundle {
  token_prefix: string;
  public_keys: PublicKey[];
  event: { id: string; name: string; status: string; starts_at: string; location_text: string | null };
  ticket_types: { id: string; name: string; is_child: boolean }[];
  cancelled_ticket_ids: string[];
  used_ticket_ids: string[] | null;
  tickets: BundleTicket[] | null;
}

export interface OfflineScanUpload {
  qr_signature: string;
  scanned_at: string;
  nonce: string;
  inspector_id: string | null;
}

export interface PublicEvent {
  id: string;
  name: string;
  starts_at: string;
}

/** The API refused the credentials (401) or their scope (403): a revoked or expired device, or a non-staff user. */
export class NotAllowed extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The API answered, but not with what the door expects (a 409, a 5xx, a 422): shown as an error, never a pass. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

// A gate cannot wait long for a network that is dying: past this, the scan is decided offline.
const ONLINE_TIMEOUT_MILLISECONDS = 2500;
const PAIRING_TIMEOUT_MILLISECONDS = 15000;

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async validate(qrSignature: string, eventId: string, nonce: string, inspectorId: string | null) {
    const response = await this.request("POST", "/api/v1/tickets/validate", {
      qr_signature: qrSignature,
      event_id: eventId,
      nonce,
      inspector_id: inspectorId,
    });
    return (await response.json()) as ValidationResult;
  }

  /** The bundle, or null when it is unchanged since `etag` (304). */
  async bundle(eventId: string, etag: string | null): Promise<{ bundle: ScannerBundle; etag: string | null } | null> {
    const headers: Record<string, string> = etag ? { "If-None-Match": etag } : {};
    const path = `/api/v1/events/${encodeURIComponent(eventId)}/scanner-bundle?include_used=true&include_tickets=true`;
    const response = await this.request("GET", path, undefined, headers, 30000);
    if (response.status === 304) return null;
    return { bundle: (await response.json()) as ScannerBundle, etag: response.headers.get("ETag") };
  }

  async sync(eventId: string, scans: OfflineScanUpload[]): Promise<SyncResult[]> {
    const response = await this.request("POST", "/api/v1/tickets/sync", { event_id: eventId, scans }, {}, 30000);
    return ((await response.json()) as { results: SyncResult[] }).results;
  }

  async publicEvents(): Promise<PublicEvent[]> {
    // Not a scan: nobody waits at the gate, and a cold list function must not read as a bad token.
    const response = await this.request("GET", "/api/v1/events?limit=100", undefined, {}, PAIRING_TIMEOUT_MILLISECONDS);
    return (await response.json()) as PublicEvent[];
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeout = ONLINE_TIMEOUT_MILLISECONDS,
  ): Promise<Response> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: AbortSignal.timeout(timeout),
    });
    if (response.ok || response.status === 304) return response;
    const detail = await errorDetail(response);
    if (response.status === 401 || response.status === 403) throw new NotAllowed(response.status, detail);
    throw new ApiError(response.status, detail);
  }
}

async function errorDetail(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { detail?: unknown };
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    return response.statusText;
  }
}

/** A fetch that failed without an answer: no network, a timeout, DNS. The scan is then decided offline. */
export function isNetworkFailure(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof DOMException && error.name === "TimeoutError");
}
