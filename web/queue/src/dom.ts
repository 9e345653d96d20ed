// Small DOM helpers: the page's elements are in index.html, found once by id.

export function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`index.html has no #${id}`);
  return found as T;
}

/** Sets the text only when it changed: a live region re-announces every replaced text node, even the same words. */
export function setText(target: HTMLElement, text: string): void {
  if (target.textContent !== text) target.textContent = text;
}

/** Replaces the paragraphs of `target` with `lines`, unless they are already those. */
export function setLines(target: HTMLElement, lines: string[]): void {
  const current = Array.from(target.children, (child) => child.textContent ?? "");
  if (current.length === lines.length && current.every((line, index) => line === lines[index])) return;
  target.replaceChildren(
    ...lines.map((line) => {
      const paragraph = document.createElement("p");
      paragraph.textContent = line;
      return paragraph;
    }),
  );
}

const WHEN = new Intl.DateTimeFormat("en-GB", {
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  timeZoneName: "short",
});

export function formatWhen(iso: string): string {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : WHEN.format(when);
}
