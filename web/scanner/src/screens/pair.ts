// Pairing: a link opened, a pairing QR scanned, or a token pasted. A scanner user then picks an event.
import type { PublicEvent } from "../api";
import { startCamera } from "../camera";
import { h, mount } from "../dom";
import { t } from "../i18n";
import { credentialsFrom } from "../pairing";
import type { Credentials } from "../storage";

export function showPairScreen(onPaired: (credentials: Credentials) => void, error = ""): void {
  const input = h("textarea", { id: "pair-token", rows: "3", autocomplete: "off", spellcheck: "false" });
  const message = h("p", { class: "error", id: "pair-error" }, error);
  const video = h("video", { class: "camera small", hidden: true });
  let stopCamera: (() => void) | null = null;
  const accept = (text: string): boolean => {
    const credentials = credentialsFrom(text);
    if (!credentials) {
      message.textContent = t("pairInvalid");
      return false;
    }
    stopCamera?.();
    onPaired(credentials);
    return true;
  };
  const form = h(
    "form",
    {
      onsubmit: (event: Event) => {
        event.preventDefault();
        accept(input.value);
      },
    },
    h("label", { for: "pair-token" }, t("pairTokenLabel")),
    input,
    h("button", { type: "submit", class: "primary" }, t("pairButton")),
  );
  const scanButton = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        video.hidden = false;
        try {
          stopCamera = await startCamera(
            video,
            (code) => {
              accept(code);
            },
            Number.POSITIVE_INFINITY,
          );
        } catch {
          message.textContent = t("cameraUnavailable");
        }
      },
    },
    t("pairScanButton"),
  );
  mount(
    h("main", { class: "pair" }, h("h1", {}, t("pairHeading")), h("p", {}, t("pairHelp")), form, scanButton, video, message),
  );
}

export function showEventPicker(events: PublicEvent[], onPicked: (eventId: string) => void): void {
  const select = h(
    "select",
    { id: "event-picker" },
    ...events.map((event) => h("option", { value: event.id }, `${event.name} · ${event.starts_at.slice(0, 10)}`)),
  );
  mount(
    h(
      "main",
      { class: "pair" },
      h("h1", {}, t("pickEventHeading")),
      select,
      h("button", { class: "primary", onclick: () => select.value && onPicked(select.value) }, t("pickEventButton")),
    ),
  );
}

export function showRevokedScreen(detail: string, onPairAgain: () => void): void {
  mount(
    h(
      "main",
      { class: "revoked", id: "revoked" },
      h("h1", {}, t("revokedHeading")),
      h("p", {}, t("revokedDetail", { detail })),
      h("button", { class: "primary", onclick: onPairAgain }, t("pairAgain")),
    ),
  );
}
