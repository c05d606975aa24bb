import { createHmac } from "node:crypto";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { signWebhook, verifyWebhook, WebhookError } from "../../src/webhooks/mod.ts";

const SECRET = "whsec_test";
const BODY = '{"id":"evt_1","type":"session.started","data":{}}';

Deno.test("webhook signature: HMAC-SHA256 over timestamp.body as sha256=<hex>", async () => {
  const expected = createHmac("sha256", SECRET).update(`1700000000.${BODY}`).digest("hex");
  assertEquals(await signWebhook(SECRET, "1700000000", BODY), `sha256=${expected}`);
});

Deno.test("webhook signature: verification accepts only the exact, recent delivery", async () => {
  const now = 1_700_000_100_000;
  const ts = "1700000000";
  const sig = await signWebhook(SECRET, ts, BODY);
  assert(await verifyWebhook(SECRET, ts, BODY, sig, { now }));
  assertEquals(await verifyWebhook(SECRET, ts, `${BODY} `, sig, { now }), false);
  assertEquals(await verifyWebhook("other", ts, BODY, sig, { now }), false);
  assertEquals(await verifyWebhook(SECRET, "1700000001", BODY, sig, { now }), false);
  assertEquals(await verifyWebhook(SECRET, ts, BODY, sig.slice(0, -1), { now }), false);
  assertEquals(await verifyWebhook(SECRET, ts, BODY, sig.toUpperCase(), { now }), false);
  assertEquals(await verifyWebhook(SECRET, "17e8", BODY, sig, { now }), false);
  const late = now + 301_000;
  assertEquals(await verifyWebhook(SECRET, ts, BODY, sig, { now: late }), false);
  assert(await verifyWebhook(SECRET, ts, BODY, sig, { now: late, toleranceSeconds: Infinity }));
});

Deno.test("webhook signature: an empty secret is refused", async () => {
  const e = await assertRejects(() => signWebhook("", "1", BODY), WebhookError);
  assertEquals(e.code, "invalid-config");
});
