// The full-screen verdict, read from a metre away: green accepted, amber already used, red for everything else.
import type { Verdict } from "../door";
import { h } from "../dom";
import { clock, t, verdictWord } from "../i18n";

const SHOWN_MILLISECONDS = 2500;
let hideTimer: number | undefined;
let audio: AudioContext | null = null;

export function colourOf(status: string): "green" | "amber" | "red" {
  if (status === "accepted") return "green";
  if (status === "already_used") return "amber";
  return "red";
}

function details(verdict: Verdict): string[] {
  const lines: string[] = [];
  if (verdict.attendeeName) lines.push(verdict.attendeeName);
  if (verdict.ticketType) lines.push(verdict.ticketType);
  if (verdict.status === "already_used" && verdict.firstAt) {
    const where = verdict.byThisDevice ? t("atThisDevice") : t("atOtherDevice", { who: (verdict.firstBy ?? "?").slice(0, 8) });
    lines.push(`${t("usedAt", { when: clock(verdict.firstAt) })} ${where}`);
  }
  if (verdict.status === "not_ready") lines.push(t("notReadyDetail"));
  if (verdict.detail) lines.push(verdict.detail);
  return lines;
}

/** Shows the verdict now; resolves once it is painted (the time the bench measures to). */
export function showVerdict(verdict: Verdict): Promise<number> {
  const colour = colourOf(verdict.status);
  const overlay = h(
    "section",
    {
      id: "verdict",
      class: `verdict ${colour}`,
      role: "alert",
      "data-status": verdict.status,
      "data-mode": verdict.offline ? "offline" : "online",
      onclick: hideVerdict,
    },
    h("p", { class: "verdict-word" }, verdictWord(verdict.status)),
    ...details(verdict).map((line) => h("p", { class: "verdict-line" }, line)),
    verdict.offline && h("p", { class: "verdict-mode" }, t("offlineMark")),
  );
  document.getElementById("verdict")?.remove();
  document.body.append(overlay);
  signal(colour);
  window.clearTimeout(hideTimer);
  hideTimer = window.setTimeout(hideVerdict, SHOWN_MILLISECONDS);
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now()))));
}

export function hideVerdict(): void {
  document.getElementById("verdict")?.remove();
}

function signal(colour: "green" | "amber" | "red"): void {
  navigator.vibrate?.(colour === "green" ? 80 : [200, 100, 200]);
  try {
    audio ??= new AudioContext();
    if (audio.state !== "running") return;
    const oscillator = audio.createOscillator();
    oscillator.frequency.value = colour === "green" ? 880 : colour === "amber" ? 440 : 220;
    oscillator.connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + (colour === "green" ? 0.12 : 0.4));
  } catch {
    // No audio output: the colour and the vibration still say it.
  }
}

/** Browsers start audio only after a tap: the first tap anywhere unlocks the verdict sounds. */
export function unlockSound(): void {
  audio ??= new AudioContext();
  void audio.resume();
}
