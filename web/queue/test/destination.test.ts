// Where an admitted buyer is sent (src/destination.ts), run by `npm test` under Node: `next` comes from the link, so
// anything that a browser would read as another origin must fall back to the event page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { destinationFor } from "../src/destination";

const EVENT = "66666666-7777-4888-8999-aaaaaaaaaaaa";
const FALLBACK = `/local/events/?event=${EVENT}`;

test("a path on this origin is followed", () => {
  assert.equal(destinationFor("/events/gala?ticket=vip", EVENT), "/events/gala?ticket=vip");
});

test("no next, or one naming another origin, goes to the event page", () => {
  for (const next of [null, "", "https://evil.example/", "//evil.example/", "/\\evil.example/", "/\t/evil.example/",
    "javascript:alert(1)", "events/gala"]) {
    assert.equal(destinationFor(next, EVENT), FALLBACK, String(next));
  }
});
