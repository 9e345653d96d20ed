// The scanning screen: who this phone is, the counters, the network state, the camera and a manual field.
import { NotAllowed } from "../api";
import { startCamera } from "../camera";
import type { Door } from "../door";
import { h, mount } from "../dom";
import { clock, language, setLanguage, t, verdictWord } from "../i18n";
import * as storage from "../storage";
import { hideVerdict, showVerdict, unlockSound } from "./verdict";

// The same code held in front of the camera is one scan, not one per frame.
const SAME_CODE_PAUSE_MILLISECONDS = 3000;

export interface ScanScreen {
  refresh(): Promise<void>;
  stop(): void;
}

export function showScanScreen(door: Door, onUnpair: () => void, onLanguage: () => void): ScanScreen {
  const credentials = door.credentials;
  const counters = h("p", { id: "counters", class: "counters" });
  const network = h("p", { id: "network", class: "network" });
  const problems = h("section", { id: "problems", class: "problems" });
  const video = h("video", { class: "camera", id: "camera" });
  const cameraMessage = h("p", { class: "error" });
  const manual = h("input", { id: "manual-code", autocomplete: "off", spellcheck: "false", inputmode: "text" });
  let lastCode = "";
  let lastCodeAt = 0;
  let deciding = false;
  let stopped = false;

  const eventNames = h("strong", {}, door.eventNames().join(" · "));
  const refresh = async (): Promise<void> => {
    // The events' names come with their bundles, which may arrive after the screen.
    eventNames.textContent = door.eventNames().join(" · ");
    const { checkedIn, total } = door.counters();
    counters.textContent = `${t("checkedIn")}: ${checkedIn} / ${total}`;
    const waiting = await door.waitingScans();
    network.textContent = navigator.onLine
      ? waiting
        ? t("onlineWaiting", { count: waiting })
        : t("online")
      : t("offlineWaiting", { count: waiting });
    network.className = `network ${navigator.onLine ? "online" : "offline"}`;
    network.dataset.waiting = String(waiting);
    renderProblems(problems, await storage.syncProblems(), refresh);
  };

  const scan = async (code: string, frameTime: number): Promise<void> => {
    const now = performance.now();
    if (deciding || (code === lastCode && now - lastCodeAt < SAME_CODE_PAUSE_MILLISECONDS)) return;
    deciding = true;
    lastCode = code;
    try {
      const verdict = await door.decide(code);
      const decidedAt = performance.now();
      const paintedAt = await showVerdict(verdict);
      // The parts, to see where a slow scan spent its time: decoding the frame, deciding, painting.
      performance.measure("scan-to-verdict", {
        start: frameTime,
        end: paintedAt,
        detail: {
          status: verdict.status,
          offline: verdict.offline,
          decodeMs: now - frameTime,
          decideMs: decidedAt - now,
          paintMs: paintedAt - decidedAt,
        },
      });
      await refresh();
    } catch (error) {
      // A revoked device: the app has already left this screen.
      if (!(error instanceof NotAllowed)) throw error;
    } finally {
      lastCodeAt = performance.now();
      deciding = false;
    }
  };

  const header = h(
    "header",
    {},
    h(
      "div",
      { id: "identity" },
      eventNames,
      h("span", {}, `${credentials.kind === "device" ? t("device") : t("user")}: ${credentials.name || credentials.subject.slice(0, 8)}`),
    ),
    h("div", { class: "actions" },
      h("button", {
        id: "language",
        onclick: () => {
          setLanguage(language() === "es" ? "en" : "es");
          onLanguage();
        },
      }, language() === "es" ? "EN" : "ES"),
      h("button", {
        id: "unpair",
        onclick: async () => {
          const waiting = await door.waitingScans();
          if (waiting && !confirm(t("unpairConfirm", { count: waiting }))) return;
          onUnpair();
        },
      }, t("unpair")),
    ),
  );
  const form = h(
    "form",
    {
      class: "manual",
      onsubmit: (event: Event) => {
        event.preventDefault();
        unlockSound();
        const code = manual.value.trim();
        manual.value = "";
        lastCode = "";
        if (code) void scan(code, performance.now());
      },
    },
    h("label", { for: "manual-code" }, t("manualLabel")),
    manual,
    h("button", { type: "submit", class: "primary" }, t("manualButton")),
  );
  mount(h("main", { class: "scan", onclick: unlockSound }, header, counters, network, problems, video, cameraMessage, form));

  let stopCamera: (() => void) | null = null;
  startCamera(video, scan).then(
    (stop) => {
      if (stopped) stop();
      else stopCamera = stop;
    },
    () => {
      cameraMessage.textContent = t("cameraUnavailable");
    },
  );
  void refresh();
  return {
    refresh,
    stop() {
      stopped = true;
      stopCamera?.();
      hideVerdict();
    },
  };
}

function renderProblems(section: HTMLElement, problems: storage.SyncProblem[], refresh: () => Promise<void>): void {
  if (problems.length === 0) {
    section.replaceChildren();
    return;
  }
  section.replaceChildren(
    h("h2", {}, t("problemsHeading")),
    ...problems.map((problem) => {
      const name = problem.attendee_name ?? problem.ticket_id?.slice(0, 8) ?? "?";
      const text = problem.offline_conflict
        ? t("conflict", {
            name,
            scanned: clock(problem.scannedAt),
            first: clock(problem.first_checked_in_at),
            where: t("atOtherDevice", { who: (problem.first_checked_in_by ?? "?").slice(0, 8) }),
          })
        : t("refusedOnSync", { name, status: verdictWord(problem.status), scanned: clock(problem.scannedAt) });
      return h("p", { class: "problem", "data-status": problem.status, "data-conflict": String(problem.offline_conflict) }, text);
    }),
    h("button", { onclick: async () => { await storage.dismissSyncProblems(); await refresh(); } }, t("dismiss")),
  );
}
