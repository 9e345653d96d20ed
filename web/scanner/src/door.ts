// The door's rules: ask the API when it answers, decide alone with the bundle when it does not, queue what was
// admitted offline, and sync it back reporting what other gates did meanwhile.
import {
  ApiClient,
  ApiError,
  isNetworkFailure,
  NotAllowed,
  type BundleTicket,
  type ScannerBundle,
  type ValidationResult,
} from "./api";
import * as storage from "./storage";
import type { Credentials } from "./storage";
import { verifyCode, type VerifiedCode } from "./verify";

export interface Verdict {
  status: string;
  offline: boolean;
  attendeeName: string | null;
  ticketType: string | null;
  // already_used: when the ticket first came in, and whether it was this phone.
  firstAt: string | null;
  firstBy: string | null;
  byThisDevice: boolean;
  detail: string | null;
}

export interface Counters {
  checkedIn: number;
  total: number;
}

const MAX_SYNC_BATCH = 500;

/** A bundle with its lists indexed once: a scan looks a ticket up in constant time, even among 10,000. */
interface EventData {
  bundle: ScannerBundle;
  tickets: Map<string, BundleTicket>;
  cancelled: Set<string>;
  used: Set<string>;
}

function indexed(bundle: ScannerBundle): EventData {
  return {
    bundle,
    tickets: new Map((bundle.tickets ?? []).map((ticket) => [ticket.id, ticket])),
    cancelled: new Set(bundle.cancelled_ticket_ids),
    used: new Set(bundle.used_ticket_ids ?? []),
  };
}

export class Door {
  private readonly api: ApiClient;
  private bundles = new Map<string, EventData>();
  private admitted = new Set<string>();
  private syncing: Promise<void> | null = null;

  constructor(
    readonly credentials: Credentials,
    apiBaseUrl: string,
    private readonly onRevoked: (detail: string) => void,
  ) {
    this.api = new ApiClient(apiBaseUrl, credentials.token);
  }

  /** What the phone already knows: bundles and admissions kept from before a reload or a restart. */
  async restore(): Promise<void> {
    for (const eventId of this.credentials.eventIds) {
      const stored = await storage.loadBundle(eventId);
      if (stored) this.bundles.set(eventId, indexed(stored.bundle));
    }
    this.admitted = await storage.admittedTicketIds();
  }

  eventNames(): string[] {
    return this.credentials.eventIds.map((eventId) => this.bundles.get(eventId)?.bundle.event.name ?? eventId);
  }

  /** Download the bundles that changed (ETag); true when every event has one, ready for offline scanning. */
  async refreshBundles(): Promise<boolean> {
    const started = performance.now();
    let tickets = 0;
    let downloadMs = 0;
    for (const eventId of this.credentials.eventIds) {
      const stored = await storage.loadBundle(eventId);
      const downloading = performance.now();
      const fetched = await this.guard(() => this.api.bundle(eventId, stored?.etag ?? null));
      downloadMs += performance.now() - downloading;
      if (fetched === undefined) continue;
      if (fetched) {
        await storage.saveBundle({ eventId, bundle: fetched.bundle, etag: fetched.etag, fetchedAt: new Date().toISOString() });
        this.bundles.set(eventId, indexed(fetched.bundle));
      } else if (stored && !this.bundles.has(eventId)) {
        this.bundles.set(eventId, indexed(stored.bundle));
      }
      tickets += this.bundles.get(eventId)?.tickets.size ?? 0;
    }
    const ready = this.credentials.eventIds.every((eventId) => this.bundles.has(eventId));
    if (ready) performance.measure("bundle-ready", { start: started, end: performance.now(), detail: { tickets, downloadMs } });
    return ready;
  }

  counters(): Counters {
    let checkedIn = 0;
    let total = 0;
    for (const data of this.bundles.values()) {
      for (const ticket of data.tickets.values()) {
        if (ticket.status === "cancelled") continue;
        total += 1;
        if (ticket.status === "used" || this.admitted.has(ticket.id)) checkedIn += 1;
      }
    }
    return { checkedIn, total };
  }

  async waitingScans(): Promise<number> {
    return (await storage.queuedScans()).length;
  }

  async decide(code: string): Promise<Verdict> {
    const verified = await verifyCode(code.trim(), this.publicKeys());
    const requestedEvent =
      verified && this.credentials.eventIds.includes(verified.eventId) ? verified.eventId : this.credentials.eventIds[0];
    if (navigator.onLine) {
      try {
        const nonce = crypto.randomUUID();
        const result = await this.api.validate(code.trim(), requestedEvent, nonce, this.credentials.name);
        return await this.onlineVerdict(result);
      } catch (error) {
        if (error instanceof NotAllowed) {
          this.onRevoked(error.detail);
          throw error;
        }
        if (error instanceof ApiError) return errorVerdict(error.detail);
        if (!isNetworkFailure(error)) throw error;
      }
    }
    return this.decideOffline(code.trim(), verified);
  }

  /** Send the offline scans, oldest first, one batch per event; answers the server did not accept are kept. */
  sync(): Promise<void> {
    this.syncing ??= this.syncQueued().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async syncQueued(): Promise<void> {
    const queued = (await storage.queuedScans()).sort((a, b) => a.scannedAt.localeCompare(b.scannedAt));
    for (const eventId of new Set(queued.map((scan) => scan.eventId))) {
      const scans = queued.filter((scan) => scan.eventId === eventId).slice(0, MAX_SYNC_BATCH);
      const uploads = scans.map((scan) => ({
        qr_signature: scan.qrSignature,
        scanned_at: scan.scannedAt,
        nonce: scan.nonce,
        inspector_id: this.credentials.name,
      }));
      const results = await this.guard(() => this.api.sync(eventId, uploads));
      if (results === undefined) return;
      const scannedAt = new Map(scans.map((scan) => [scan.nonce, scan.scannedAt]));
      const problems = results
        .filter((result) => result.status !== "accepted")
        .map((result) => ({ ...result, scannedAt: scannedAt.get(result.nonce) ?? "" }));
      await storage.settleQueuedScans(scans, problems);
    }
  }

  /** Runs an API call; undefined when there is no network (try again later), and revocation ends the session. */
  private async guard<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof NotAllowed) {
        this.onRevoked(error.detail);
        throw error;
      }
      if (isNetworkFailure(error) || error instanceof ApiError) return undefined;
      throw error;
    }
  }

  private publicKeys() {
    return [...this.bundles.values()].flatMap((data) => data.bundle.public_keys);
  }

  private async onlineVerdict(result: ValidationResult): Promise<Verdict> {
    if (result.status === "accepted" && result.ticket_id && result.event_id) {
      await storage.recordAdmission({
        ticketId: result.ticket_id,
        eventId: result.event_id,
        at: result.checked_in_at ?? new Date().toISOString(),
        offline: false,
      });
      this.admitted.add(result.ticket_id);
    }
    return {
      status: result.status,
      offline: false,
      attendeeName: result.attendee_name,
      ticketType: result.ticket_type,
      firstAt: result.first_checked_in_at,
      firstBy: result.first_checked_in_by,
      byThisDevice: result.first_checked_in_by === this.credentials.subject,
      detail: result.status === "accepted" || result.status === "already_used" ? null : result.message,
    };
  }

  private async decideOffline(code: string, verified: VerifiedCode | null): Promise<Verdict> {
    if (verified === null) return offlineVerdict("invalid");
    if (!this.credentials.eventIds.includes(verified.eventId)) return offlineVerdict("wrong_event");
    const data = this.bundles.get(verified.eventId);
    if (!data) return offlineVerdict("not_ready");
    const bundle = data.bundle;
    const ticket = data.tickets.get(verified.ticketId);
    const known = {
      attendeeName: ticket?.attendee_name ?? null,
      ticketType: bundle.ticket_types.find((type) => type.id === ticket?.ticket_type_id)?.name ?? null,
    };
    if (bundle.event.status === "cancelled") return offlineVerdict("event_cancelled", known);
    if (data.cancelled.has(verified.ticketId)) return offlineVerdict("cancelled", known);
    const admission = await storage.findAdmission(verified.ticketId);
    if (admission) {
      return offlineVerdict("already_used", { ...known, firstAt: admission.at, byThisDevice: true });
    }
    if (ticket?.status === "used" || data.used.has(verified.ticketId)) {
      return offlineVerdict("already_used", { ...known, firstAt: ticket?.used_at ?? null });
    }
    const scannedAt = new Date().toISOString();
    await storage.admitOffline({
      nonce: crypto.randomUUID(),
      eventId: verified.eventId,
      ticketId: verified.ticketId,
      qrSignature: code,
      scannedAt,
    });
    this.admitted.add(verified.ticketId);
    return offlineVerdict("accepted", known);
  }
}

function offlineVerdict(status: string, facts: Partial<Verdict> = {}): Verdict {
  return {
    status,
    offline: true,
    attendeeName: null,
    ticketType: null,
    firstAt: null,
    firstBy: null,
    byThisDevice: false,
    detail: null,
    ...facts,
  };
}

function errorVerdict(detail: string): Verdict {
  return { ...offlineVerdict("error"), offline: false, detail };
}
