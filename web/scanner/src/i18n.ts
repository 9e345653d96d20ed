// Spanish first (the API's messages are Spanish), English second. The verdict words match the API's statuses.
export type Language = "es" | "en";

const SPANISH = {
  title: "Crowdify · Puerta",
  pairHeading: "Vincular este teléfono",
  pairHelp: "Abre el enlace de vinculación que te dio el coordinador, escanea su código QR o pega el token.",
  pairTokenLabel: "Token del dispositivo o de tu usuario",
  pairButton: "Vincular",
  pairScanButton: "Escanear QR de vinculación",
  pairInvalid: "Ese token no es válido.",
  pickEventHeading: "¿Qué evento controlas?",
  pickEventButton: "Empezar",
  device: "Dispositivo",
  user: "Usuario",
  events: "Eventos",
  unpair: "Desvincular",
  unpairConfirm: "Hay {count} escaneos sin sincronizar que se perderán. ¿Desvincular igual?",
  online: "En línea",
  offlineWaiting: "Sin conexión — {count} escaneos en espera",
  onlineWaiting: "En línea — sincronizando {count} escaneos",
  checkedIn: "Ingresados",
  manualLabel: "Código del ticket",
  manualButton: "Validar",
  cameraUnavailable: "Cámara no disponible: usa el campo de código.",
  accepted: "ACEPTADO",
  already_used: "YA USADO",
  invalid: "INVÁLIDO",
  wrong_event: "OTRO EVENTO",
  cancelled: "CANCELADO",
  event_cancelled: "EVENTO CANCELADO",
  not_ready: "SIN DATOS",
  error: "ERROR",
  offlineMark: "sin conexión",
  usedAt: "Ingresó {when}",
  atThisDevice: "en este dispositivo",
  atOtherDevice: "en otro acceso ({who})",
  notReadyDetail: "Este teléfono aún no descargó los datos del evento.",
  problemsHeading: "Problemas al sincronizar",
  conflict: "Conflicto: {name} entró aquí sin conexión ({scanned}) pero ya había ingresado {first} {where}.",
  refusedOnSync: "{name}: {status} al sincronizar ({scanned}).",
  dismiss: "Entendido",
  revokedHeading: "Dispositivo revocado",
  revokedDetail: "La API rechazó este teléfono ({detail}). Se borró su token. Pide un nuevo enlace de vinculación.",
  pairAgain: "Vincular de nuevo",
  unknownAttendee: "Asistente",
};

const ENGLISH: typeof SPANISH = {
  title: "Crowdify · Door",
  pairHeading: "Pair this phone",
  pairHelp: "Open the pairing link your coordinator gave you, scan its QR code, or paste the token.",
  pairTokenLabel: "Device token or your user token",
  pairButton: "Pair",
  pairScanButton: "Scan pairing QR",
  pairInvalid: "That token is not valid.",
  pickEventHeading: "Which event are you checking in?",
  pickEventButton: "Start",
  device: "Device",
  user: "User",
  events: "Events",
  unpair: "Unpair",
  unpairConfirm: "{count} scans have not been synced and will be lost. Unpair anyway?",
  online: "Online",
  offlineWaiting: "Offline — {count} scans waiting",
  onlineWaiting: "Online — syncing {count} scans",
  checkedIn: "Checked in",
  manualLabel: "Ticket code",
  manualButton: "Check",
  cameraUnavailable: "Camera unavailable: use the code field.",
  accepted: "ACCEPTED",
  already_used: "ALREADY USED",
  invalid: "INVALID",
  wrong_event: "OTHER EVENT",
  cancelled: "CANCELLED",
  event_cancelled: "EVENT CANCELLED",
  not_ready: "NO DATA",
  error: "ERROR",
  offlineMark: "offline",
  usedAt: "Came in {when}",
  atThisDevice: "at this device",
  atOtherDevice: "at another gate ({who})",
  notReadyDetail: "This phone has not downloaded the event's data yet.",
  problemsHeading: "Sync problems",
  conflict: "Conflict: {name} came in here offline ({scanned}) but had already come in {first} {where}.",
  refusedOnSync: "{name}: {status} on sync ({scanned}).",
  dismiss: "Got it",
  revokedHeading: "Device revoked",
  revokedDetail: "The API refused this phone ({detail}). Its token was erased. Ask for a new pairing link.",
  pairAgain: "Pair again",
  unknownAttendee: "Attendee",
};

export type Phrase = keyof typeof SPANISH;
const PHRASES: Record<Language, typeof SPANISH> = { es: SPANISH, en: ENGLISH };
const LANGUAGE_KEY = "crowdify-door-language";

let current: Language = initialLanguage();

function initialLanguage(): Language {
  const chosen = localStorage.getItem(LANGUAGE_KEY);
  if (chosen === "es" || chosen === "en") return chosen;
  return navigator.language.toLowerCase().startsWith("en") ? "en" : "es";
}

export function language(): Language {
  return current;
}

export function setLanguage(next: Language): void {
  current = next;
  localStorage.setItem(LANGUAGE_KEY, next);
  document.documentElement.lang = next;
}

export function t(phrase: Phrase, values: Record<string, string | number> = {}): string {
  return PHRASES[current][phrase].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? ""));
}

/** The verdict word for an API status; a status this app does not know yet is shown red with the API's own word. */
export function verdictWord(status: string): string {
  return status in SPANISH ? t(status as Phrase) : status.toUpperCase().replace(/_/g, " ");
}

export function clock(iso: string | null): string {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(current === "es" ? "es-CL" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}
