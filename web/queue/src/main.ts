// The waiting-room page: /queue/?event=<event id>[&next=<path>]#token=<the buyer's JWT>.
import { element, setText } from "./dom";
import { Room } from "./room";
import { forgetToken, saveToken, storedToken, takeTokenFromFragment } from "./session";
import { strings } from "./strings";

function askForToken(reason: string, onToken: (token: string) => void): void {
  const form = element<HTMLFormElement>("token-form");
  const input = element<HTMLInputElement>("token-input");
  setText(element("token-reason"), reason);
  setText(element("token-label"), strings.tokenLabel);
  setText(element("token-submit"), strings.tokenSubmit);
  form.hidden = false;
  form.onsubmit = (submitted) => {
    submitted.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    saveToken(token);
    form.hidden = true;
    onToken(token);
  };
}

function enter(eventId: string, next: string | null, token: string): void {
  new Room(eventId, token, next, {
    onTokenRefused() {
      forgetToken();
      setText(element("state"), strings.stateNotJoined);
      // A fresh page for the new token: the old room has stopped and holds nothing worth keeping.
      askForToken(strings.tokenRefused, () => window.location.reload());
    },
  }).start();
}

function main(): void {
  document.title = `Crowdify · ${strings.title}`;
  setText(element("heading"), document.title);
  const query = new URLSearchParams(window.location.search);
  const eventId = query.get("event")?.trim();
  // Read before anything else, so the token leaves the address bar even when the link is otherwise broken.
  const token = takeTokenFromFragment() ?? storedToken();
  if (!eventId) {
    setText(element("state"), strings.noEvent);
    return;
  }
  const next = query.get("next");
  if (token) {
    enter(eventId, next, token);
    return;
  }
  setText(element("state"), strings.stateNotJoined);
  askForToken(strings.tokenNeeded, (pasted) => enter(eventId, next, pasted));
}

main();
