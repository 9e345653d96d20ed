// The door app: pairing, then scanning; it keeps working offline and syncs when the network returns.
import { ApiClient, NotAllowed } from "./api";
import { Door } from "./door";
import { setLanguage, language, t } from "./i18n";
import { credentialsFrom } from "./pairing";
import { showEventPicker, showPairScreen, showRevokedScreen } from "./screens/pair";
import { showScanScreen, type ScanScreen } from "./screens/scan";
import * as storage from "./storage";
import type { Credentials } from "./storage";

// How often the bundle (ETag) and the queue are looked at while the app is open and online.
const REFRESH_MILLISECONDS = 20000;

interface Config {
  api_base_url: string;
}

let screen: ScanScreen | null = null;
let timer: number | undefined;
// The running door's catch-up (sync, then bundles); the network listeners call whichever door is current.
let catchUp: () => Promise<void> = async () => undefined;

async function loadConfig(): Promise<Config> {
  // Written at deploy time next to index.html; empty means the API is on this origin (the local gateway).
  try {
    const response = await fetch("config.json");
    if (response.ok) return (await response.json()) as Config;
  } catch {
    // Offline before the service worker cached it: the same origin is the best guess.
  }
  return { api_base_url: "" };
}

function stopScanning(): void {
  screen?.stop();
  screen = null;
  window.clearInterval(timer);
}

/** Unpaired or revoked: nothing of this door may run again (an "online" event would sync and save its bundles). */
function leaveDoor(): void {
  stopScanning();
  catchUp = async () => undefined;
}

async function revoked(detail: string): Promise<void> {
  leaveDoor();
  await storage.forgetEverything();
  showRevokedScreen(detail, () => showPairScreen(paired));
}

async function paired(credentials: Credentials): Promise<void> {
  const config = await loadConfig();
  if (credentials.kind === "user" && credentials.eventIds.length === 0) {
    try {
      const events = await new ApiClient(config.api_base_url, credentials.token).publicEvents();
      showEventPicker(events, (eventId) => void paired({ ...credentials, eventIds: [eventId] }));
    } catch {
      showPairScreen(paired, t("pairInvalid"));
    }
    return;
  }
  await storage.saveCredentials(credentials);
  await startDoor(credentials, config);
}

async function startDoor(credentials: Credentials, config: Config): Promise<void> {
  stopScanning();
  const door = new Door(credentials, config.api_base_url, (detail) => void revoked(detail));
  await door.restore();
  const render = (): void => {
    stopScanning();
    screen = showScanScreen(
      door,
      async () => {
        leaveDoor();
        await storage.forgetEverything();
        showPairScreen(paired);
      },
      render,
    );
    timer = window.setInterval(() => void catchUp(), REFRESH_MILLISECONDS);
  };
  catchUp = async (): Promise<void> => {
    if (!navigator.onLine) {
      await screen?.refresh();
      return;
    }
    try {
      await door.sync();
      await door.refreshBundles();
    } catch (error) {
      if (error instanceof NotAllowed) return;
      throw error;
    }
    await screen?.refresh();
  };
  render();
  await catchUp();
}

async function boot(): Promise<void> {
  setLanguage(language());
  window.addEventListener("online", () => void catchUp());
  window.addEventListener("offline", () => void screen?.refresh());
  if ("serviceWorker" in navigator) {
    void navigator.serviceWorker.register("service-worker.js").catch(() => undefined);
  }
  const fromLink = location.hash.includes("token=") ? credentialsFrom(location.hash) : null;
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  if (fromLink) {
    await storage.forgetEverything();
    await paired(fromLink);
    return;
  }
  const stored = await storage.loadCredentials();
  if (stored) await startDoor(stored, await loadConfig());
  else showPairScreen(paired);
}

void boot();
