// The waiting room for one event: joins, polls, shows the status, and sends the buyer on when admitted.
import { ApiError, joinQueue, joinWaitingList, queueStatus, type QueueStatus } from "./api";
import { destinationFor } from "./destination";
import { element, formatWhen, setLines, setText } from "./dom";
import { strings } from "./strings";

// When the status names no wait (admitted, sold out): the answer is cached for 2 s (Cache-Control: max-age=2), so
// polling faster would only read the same answer.
const POLL_MILLISECONDS = 2500;
const MIN_POLL_MILLISECONDS = 2000;
// Up to this share is added to each wait at random, so that pages that joined together do not all ask together.
const POLL_JITTER = 0.2;
// On errors the wait doubles up to this, so a crowd of pages does not hammer a struggling API in step.
const MAX_BACKOFF_MILLISECONDS = 30000;
// Long enough to read "Taking you to the event page…", short enough not to waste the admission.
const SEND_ON_MILLISECONDS = 1500;

export interface RoomCallbacks {
  /** The token was refused (401): the page asks for another. */
  onTokenRefused(): void;
}

export class Room {
  private timer: number | undefined;
  private failures = 0;
  private joined = false;
  private stopped = false;
  private admittedUntil: number | null = null;
  private waitingListUrl: string | null = null;
  private onWaitingList = false;

  constructor(
    private readonly eventId: string,
    private readonly token: string,
    private readonly next: string | null,
    private readonly callbacks: RoomCallbacks,
  ) {}

  start(): void {
    setText(element("state"), strings.joining);
    // The phone knows before a poll fails: say so at once, and ask again the moment the connection returns.
    window.addEventListener("offline", () => this.showNetwork(strings.offlineNow));
    window.addEventListener("online", () => this.schedule(0));
    window.setInterval(() => this.showTimeLeft(), 1000);
    element("waiting-list-button").addEventListener("click", () => void this.joinWaitingList());
    element("join-again-button").addEventListener("click", () => void this.joinAgain());
    this.schedule(0);
  }

  private schedule(milliseconds: number): void {
    if (this.stopped) return;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.tick(), milliseconds);
  }

  private async tick(): Promise<void> {
    try {
      // The status first: one who already used or let pass their turn is asked before going to the back of the line.
      let status = await queueStatus(this.eventId, this.token);
      if (status.state === "not_joined") status = await joinQueue(this.eventId, this.token);
      this.joined = status.state !== "not_joined";
      this.failures = 0;
      element("network").hidden = true;
      setText(element("checked"), strings.lastChecked(new Date().toLocaleTimeString("en-GB")));
      this.show(status);
      if (status.state !== "closed") this.schedule(this.joined ? pollDelay(status) : 0);
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) {
      this.stop();
      this.callbacks.onTokenRefused();
      return;
    }
    if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
      // No such event, or no waiting room on it: nothing to wait for, and asking again will not change that.
      this.stop();
      const found = error.status === 409;
      this.showFinal(found ? strings.unavailable(error.detail) : strings.eventNotFound, found);
      return;
    }
    this.failures += 1;
    const wait = Math.min(POLL_MILLISECONDS * 2 ** this.failures, MAX_BACKOFF_MILLISECONDS);
    const seconds = Math.round(wait / 1000);
    // A fetch that never reached a server throws a TypeError (or a timeout); an answer from it is an ApiError.
    this.showNetwork(
      error instanceof ApiError && navigator.onLine ? strings.serverTrouble(seconds) : strings.offline(seconds),
    );
    this.schedule(wait);
  }

  private showNetwork(text: string): void {
    const network = element("network");
    setText(network, text);
    network.hidden = false;
  }

  private stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  private show(status: QueueStatus): void {
    const state = element("state");
    state.dataset.state = status.state;
    element("admitted").hidden = status.state !== "admitted";
    element("sold-out").hidden = status.state !== "sold_out";
    element("closed").hidden = status.state !== "closed" || status.reason === "event_closed";
    this.admittedUntil = null;
    switch (status.state) {
      case "waiting":
        this.showWaiting(status);
        break;
      case "admitted":
        this.showAdmitted(status);
        break;
      case "sold_out":
        setText(state, strings.stateSoldOut);
        setText(element("place"), "");
        setLines(element("details"), [strings.soldOutText]);
        this.waitingListUrl = status.waiting_list_url;
        element("waiting-list-button").hidden = status.waiting_list_url === null || this.onWaitingList;
        setText(element("waiting-list-button"), strings.joinWaitingList);
        break;
      case "closed":
        setText(state, strings.stateClosed);
        setText(element("place"), strings.closedReasons[status.reason ?? ""] ?? strings.closedOther);
        setLines(element("details"), []);
        setText(element("join-again-button"), strings.joinAgain);
        break;
      default:
        setText(state, strings.stateNotJoined);
        setText(element("place"), "");
        setLines(element("details"), [strings.joining]);
    }
  }

  private showWaiting(status: QueueStatus): void {
    const opensAt = status.opens_at;
    const beforeOpening = status.position === null && opensAt !== null && new Date(opensAt).getTime() > Date.now();
    setText(element("state"), beforeOpening ? strings.stateWaitingBeforeOpening : strings.stateWaiting);
    if (status.position === null) {
      setText(element("place"), "");
      setLines(
        element("details"),
        beforeOpening
          ? [strings.opensAt(formatWhen(opensAt)), strings.drawnAtRandom, strings.keepOpen]
          : [strings.placing, strings.keepOpen],
      );
      return;
    }
    setText(element("place"), strings.position(status.position));
    const lines: string[] = [];
    if (status.ahead !== null) lines.push(strings.ahead(status.ahead));
    if (status.estimated_wait_seconds !== null) lines.push(strings.estimatedWait(status.estimated_wait_seconds));
    lines.push(strings.keepOpen);
    setLines(element("details"), lines);
  }

  private showAdmitted(status: QueueStatus): void {
    const destination = destinationFor(this.next, this.eventId);
    setText(element("state"), strings.stateAdmitted);
    setText(element("place"), "");
    const link = element<HTMLAnchorElement>("admitted-link");
    link.href = destination;
    setText(link, strings.admittedGo);
    this.admittedUntil = status.admitted_until === null ? null : new Date(status.admitted_until).getTime();
    this.showTimeLeft();
    // Sent on once (a buyer is admitted once per event): one who comes back (the Back button) stays here and uses
    // the link instead of being bounced away again.
    const sentKey = sentKeyFor(this.eventId);
    if (sessionStorage.getItem(sentKey) !== null) {
      setLines(element("details"), []);
      return;
    }
    sessionStorage.setItem(sentKey, new Date().toISOString());
    setLines(element("details"), [strings.sendingOn]);
    window.setTimeout(() => window.location.assign(destination), SEND_ON_MILLISECONDS);
  }

  private showTimeLeft(): void {
    if (this.admittedUntil === null) return;
    const left = Math.max(0, Math.floor((this.admittedUntil - Date.now()) / 1000));
    setText(element("time-left"), left > 0 ? strings.timeLeft(Math.floor(left / 60), left % 60) : strings.admissionOver);
  }

  private showFinal(text: string, linkToEvent: boolean): void {
    setText(element("state"), text);
    setText(element("place"), "");
    setLines(element("details"), []);
    if (linkToEvent) {
      const section = element("admitted");
      const link = element<HTMLAnchorElement>("admitted-link");
      link.href = destinationFor(this.next, this.eventId);
      setText(link, strings.goToEvent);
      setText(element("time-left"), "");
      section.hidden = false;
    }
  }

  /** Back to the end of the line, by the buyer's choice: their turn was used or has passed. */
  private async joinAgain(): Promise<void> {
    const button = element<HTMLButtonElement>("join-again-button");
    button.disabled = true;
    try {
      const status = await joinQueue(this.eventId, this.token);
      sessionStorage.removeItem(sentKeyFor(this.eventId));
      this.show(status);
      this.schedule(pollDelay(status));
    } catch (error) {
      this.failed(error);
    } finally {
      button.disabled = false;
    }
  }

  private async joinWaitingList(): Promise<void> {
    if (this.waitingListUrl === null) return;
    const button = element<HTMLButtonElement>("waiting-list-button");
    const result = element("waiting-list-result");
    button.disabled = true;
    setText(result, strings.joiningWaitingList);
    try {
      const entry = await joinWaitingList(this.waitingListUrl, this.token);
      setText(result, strings.onWaitingList(entry.position));
      this.onWaitingList = true;
      button.hidden = true;
    } catch (error) {
      setText(result, strings.waitingListFailed(error instanceof ApiError ? error.detail : String(error)));
      button.disabled = false;
    }
  }
}

/** Where this tab remembers that it sent the buyer on for this event's current turn. */
function sentKeyFor(eventId: string): string {
  return `crowdify.queue.sent.${eventId}`;
}

/** The status's own `poll_after_seconds` (the API asks those far back to poll seldom), else every 2.5 s. */
function pollDelay(status: QueueStatus): number {
  const asked = status.poll_after_seconds;
  const base = asked === null || asked === undefined ? POLL_MILLISECONDS : Math.max(asked * 1000, MIN_POLL_MILLISECONDS);
  return base * (1 + Math.random() * POLL_JITTER);
}
