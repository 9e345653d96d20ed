// Every word the page shows, in one place. English, as the door app's second language: the product's buyers are
// Argentine, and a Spanish table beside this one is all a translation needs.

export const strings = {
  title: "Waiting room",
  noEvent: "This link names no event. Open the waiting room from the event's page.",
  eventNotFound: "This event does not exist (or is no longer published).",
  // A 409 from the queue: the API's own words say which ("This event has no waiting room", "… is not on sale").
  unavailable: (detail: string) => `${detail.replace(/\.$/, "")}.`,
  goToEvent: "Go to the event page",

  tokenNeeded: "Sign in to take your place in line. Open this page from the event's page, or paste your token here.",
  tokenRefused: "Your sign-in was not accepted (it may have expired). Sign in again, or paste a fresh token.",
  tokenLabel: "Sign-in token",
  tokenSubmit: "Join the line",

  joining: "Joining the line…",
  stateWaiting: "You are in line",
  stateWaitingBeforeOpening: "You are in the waiting room; the sale has not opened yet",
  stateAdmitted: "It is your turn!",
  stateSoldOut: "Sold out",
  stateClosed: "The line is closed for you",
  stateNotJoined: "You are not in line yet",

  opensAt: (when: string) => `The sale opens at ${when}.`,
  drawnAtRandom: "Places are drawn at random at the opening; arriving early gives no advantage.",
  keepOpen: "Keep this page open: it updates by itself.",
  placing: "The sale is open; finding your place in line…",
  position: (position: number) => `Your place in line: ${position}`,
  ahead: (ahead: number) =>
    ahead === 0 ? "Nobody is ahead of you." : ahead === 1 ? "1 person is ahead of you." : `${ahead} people are ahead of you.`,
  estimatedWait: (seconds: number) =>
    seconds < 60
      ? "Estimated wait: less than a minute."
      : `Estimated wait: about ${Math.round(seconds / 60)} minute${Math.round(seconds / 60) === 1 ? "" : "s"}.`,

  admittedGo: "Buy your tickets now",
  sendingOn: "Taking you to the event page…",
  timeLeft: (minutes: number, seconds: number) =>
    `Time left to buy: ${minutes}:${String(seconds).padStart(2, "0")}`,
  admissionOver: "Your time to buy is over.",

  soldOutText: "All tickets have been sold. Join the waiting list and you will be emailed if a seat comes free.",
  joinWaitingList: "Join the waiting list",
  joiningWaitingList: "Joining the waiting list…",
  onWaitingList: (position: number | null) =>
    position === null
      ? "You are on the waiting list. We will email you if a seat comes free."
      : `You are on the waiting list, number ${position}. We will email you if a seat comes free.`,
  waitingListFailed: (detail: string) => `Could not join the waiting list: ${detail}`,

  closedReasons: {
    admission_used: "You have already used your turn to buy.",
    admission_expired: "Your turn to buy has expired.",
    event_closed: "The sale for this event is closed.",
  } as Record<string, string>,
  closedOther: "The sale is not available to you.",
  joinAgain: "Join the line again (at the back)",

  offlineNow: "No connection. Your place in line is kept; this page checks again as soon as the connection returns.",
  offline: (seconds: number) => `No connection. Retrying in ${seconds} s; your place in line is kept.`,
  serverTrouble: (seconds: number) => `The server is not answering. Retrying in ${seconds} s; your place in line is kept.`,
  lastChecked: (time: string) => `Last checked at ${time}.`,
};
