import { assert, assertEquals } from "../_assert.ts";
import {
  createEvent,
  inlineText,
  MAX_INLINE_TEXT_BYTES,
  messageEventData,
  publishEvent,
  sessionEventData,
} from "../../src/webhooks/mod.ts";
import { tempStore } from "../store/_support.ts";

const enc = new TextEncoder();

Deno.test("webhook events: envelopes carry id, type, time and data from the rows", async () => {
  await using t = await tempStore({ now: () => 1 });
  const session = await t.store.insertSession({
    id: "s1",
    direction: "in",
    localUri: "msrp://127.0.0.1:2855/s1;tcp",
    state: "active",
    fromUri: "sip:alice@pbx",
    toUri: "sip:1000@pbx",
    fromDisplay: "Alice",
    callId: "c1",
  });
  const started = createEvent("session.started", sessionEventData(session), new Date(0));
  assert(started.id.startsWith("evt_"));
  assertEquals([started.type, started.createdAt], ["session.started", "1970-01-01T00:00:00.000Z"]);
  assertEquals(started.data, {
    sessionId: "s1",
    direction: "in",
    state: "active",
    localUri: "msrp://127.0.0.1:2855/s1;tcp",
    remotePath: [],
    from: "sip:alice@pbx",
    to: "sip:1000@pbx",
    fromDisplay: "Alice",
    callId: "c1",
    endReason: null,
    sipStatus: null,
    hangupCause: null,
  });

  const message = await t.store.insertMessage({
    id: "m1",
    sessionId: "s1",
    direction: "in",
    messageId: "abc",
    status: "partial",
    contentType: "image/png",
    size: 100,
    bytes: 40,
  });
  const failed = await t.store.updateMessage("m1", { errorReason: "aborted by sender" });
  const data = messageEventData(failed, session, { contentUrl: "/v1/messages/m1/content" });
  assertEquals(data, {
    sessionId: "s1",
    messageId: "m1",
    msrpMessageId: "abc",
    direction: "in",
    contentType: "image/png",
    size: 100,
    bytes: 40,
    sha256: null,
    status: "partial",
    error: { code: null, reason: "aborted by sender" },
    from: "sip:alice@pbx",
    to: "sip:1000@pbx",
    fromDisplay: "Alice",
    callId: "c1",
    contentUrl: "/v1/messages/m1/content",
  });
  const text = messageEventData(message, undefined, { text: "hi" });
  assertEquals([text.text, text.error, text.from, "contentUrl" in text], ["hi", null, null, false]);
});

Deno.test("webhook events: only small UTF-8 text bodies are inlined", () => {
  assertEquals(inlineText("text/plain", enc.encode("héllo")), "héllo");
  assertEquals(inlineText("text/plain; charset=UTF-8", enc.encode("x")), "x");
  assertEquals(inlineText("Text/HTML", enc.encode("<b>")), "<b>");
  assertEquals(inlineText("text/plain;charset=iso-8859-1", enc.encode("x")), undefined);
  assertEquals(inlineText("image/png", enc.encode("x")), undefined);
  assertEquals(inlineText("message/cpim", enc.encode("x")), undefined);
  assertEquals(inlineText("text/plain", new Uint8Array([0xff, 0xfe])), undefined);
  const max = "a".repeat(MAX_INLINE_TEXT_BYTES);
  assertEquals(inlineText("text/plain", enc.encode(max)), max);
  assertEquals(inlineText("text/plain", enc.encode(`${max}a`)), undefined);
});

Deno.test("webhook events: publishing logs the event and fills the outbox together", async () => {
  await using t = await tempStore();
  const event = createEvent("pager.received", {
    from: "sip:alice@pbx",
    to: "sip:1000@pbx",
    fromDisplay: null,
    callId: null,
    contentType: "text/plain",
    text: "hello",
  });
  const logged = await publishEvent(t.store, event);
  await publishEvent(t.store, createEvent("pager.received", event.data), { webhook: false });
  assertEquals(JSON.parse(logged.payload), event);
  assertEquals((await t.store.eventsSince(0, 10)).length, 2);
  assertEquals((await t.store.webhookBacklog()).pending, 1);
  const now = Date.now();
  const [due, ...more] = await t.store.claimWebhooks(now, 10, now + 60_000);
  assertEquals([due.type, JSON.parse(due.payload), more], ["pager.received", event, []]);
});
