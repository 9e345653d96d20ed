// The QR codec against the contract's test vector (docs/architecture.md, "QR tickets"), run by `npm test` under Node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeBase64url, encodeBase64url, verifyCode } from "../src/verify";

const KEYS = [{ kid: "56475aa7", public_key: "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg" }];
const CODE =
  "CT1VkdapxEREREiIkMzhERVVVVVVVVmZmZmd3dIiImZqqqqqqqqlJGaBBczLPQ4SIUiOr-dRoeFl52Zzdm34Z7f0Z7s4bFNg6no4QGTmf2EPyCX6s_4fkrLXYQQ-MxHi2yJcGwxCQ";

test("the test vector names its ticket and event", async () => {
  assert.deepEqual(await verifyCode(CODE, KEYS), {
    ticketId: "11111111-2222-4333-8444-555555555555",
    eventId: "66666666-7777-4888-8999-aaaaaaaaaaaa",
  });
});

test("a changed character, a cut code or a missing prefix is refused", async () => {
  const flipped = CODE.slice(0, 60) + (CODE[60] === "A" ? "B" : "A") + CODE.slice(61);
  assert.equal(await verifyCode(flipped, KEYS), null);
  assert.equal(await verifyCode(CODE.slice(0, -2), KEYS), null);
  assert.equal(await verifyCode(CODE.slice(3), KEYS), null);
  assert.equal(await verifyCode("", KEYS), null);
});

test("a code signed by a key the bundle does not list is refused", async () => {
  assert.equal(await verifyCode(CODE, []), null);
  assert.equal(await verifyCode(CODE, [{ kid: "56475aa7", public_key: KEYS[0].public_key.replace("A6", "B6") }]), null);
});

test("non-canonical base64url is refused: no two strings name the same ticket", async () => {
  // The last character carries 4 unused bits here; setting one gives the same bytes from another string.
  const last = CODE[CODE.length - 1];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const sibling = CODE.slice(0, -1) + alphabet[alphabet.indexOf(last) + 1];
  assert.deepEqual(Buffer.from(sibling.slice(3), "base64url"), Buffer.from(CODE.slice(3), "base64url"));
  assert.equal(decodeBase64url(sibling.slice(3)), null);
  assert.equal(await verifyCode(sibling, KEYS), null);
  assert.equal(encodeBase64url(decodeBase64url(CODE.slice(3))!), CODE.slice(3));
});
