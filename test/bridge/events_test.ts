/**
 * `src/bridge/events.ts`: events are logged in order and replayed from a
 * sequence number, subscribers hear new ones until they unsubscribe, and a
 * webhook reply goes back into its session only when it is safe to send.
 */

import { assertEquals } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { replyToWebhook, type WebhookReplyTarget } from "../../src/bridge/events.ts";
import { Logger, type LogLevel } from "../../src/log.ts";
import type { MessageRecord } from "../../src/store/mod.ts";
import { createEvent, type WebhookEvent } from "../../src/webhooks/mod.ts";

Deno.test("events: the log replays events after a sequence number; subscribers hear new ones until they unsubscribe", async () => {
  await using b = await startBridge();
  const heard: string[] = [];
  const unsubscribe = b.bridge.subscribe({ event: (r) => heard.push(r.type), close() {} });
  const first = await b.bridge.createOffer();
  await b.bridge.closeSession(first.id, "one");
  unsubscribe();
  const second = await b.bridge.createOffer();
  await b.bridge.closeSession(second.id, "two");
  assertEquals(heard, ["session.ended"]);
  const all = await b.bridge.eventsSince(0, 10);
  assertEquals(all.map((e) => JSON.parse(e.payload).data.sessionId), [first.id, second.id]);
  assertEquals((await b.bridge.eventsSince(all[0].seq, 10)).map((e) => e.seq), [all[1].seq]);
  assertEquals(await b.bridge.eventsSince(all[0].seq, 0), []);
});

/** A logger that keeps its records. */
class CaptureLogger extends Logger {
  readonly records: { level: LogLevel; msg: string }[] = [];

  constructor() {
    super("debug");
  }

  override log(level: LogLevel, msg: string): void {
    this.records.push({ level, msg });
  }
}

/** A reply target with one open session, `open`, that keeps what it was asked to send. */
function target(running = true): WebhookReplyTarget & { sent: string[][] } {
  const sent: string[][] = [];
  return {
    running,
    sent,
    isOpen: (id) => id === "open",
    sendText(sessionId, text, contentType) {
      sent.push([sessionId, text, contentType]);
      return Promise.resolve({ id: "m1" } as MessageRecord);
    },
  };
}

/** An event of session `sessionId`, as a webhook receiver may answer it. */
function received(sessionId: string): WebhookEvent {
  return createEvent("session.started", {
    sessionId,
    direction: "in",
    state: "active",
    localUri: `msrp://127.0.0.1:2855/${sessionId};tcp`,
    remotePath: [],
    endReason: null,
    sipStatus: null,
    hangupCause: null,
    from: null,
    to: null,
    fromDisplay: null,
    callId: null,
  });
}

Deno.test("events: a webhook reply is sent into the open session, text/plain by default", async () => {
  const log = new CaptureLogger();
  const t = target();
  await replyToWebhook(received("open"), { text: "hi" }, t, log);
  await replyToWebhook(received("open"), { text: "ok", contentType: "text/x-ok" }, t, log);
  assertEquals(t.sent, [["open", "hi", "text/plain"], ["open", "ok", "text/x-ok"]]);
  assertEquals(log.records.map((r) => r.msg), ["webhook reply sent", "webhook reply sent"]);
});

Deno.test("events: a webhook reply to a closed session, while stopping, or with a bad contentType is logged and dropped", async () => {
  const log = new CaptureLogger();
  const t = target();
  await replyToWebhook(received("gone"), { text: "hi" }, t, log);
  await replyToWebhook(received("open"), { text: "hi" }, target(false), log);
  await replyToWebhook(
    received("open"),
    { text: "x", contentType: "text/plain\r\nX-Evil: 1" },
    t,
    log,
  );
  assertEquals(t.sent, []);
  assertEquals(log.records.map((r) => [r.level, r.msg]), [
    ["warn", "webhook reply dropped: session not open"],
    ["warn", "webhook reply dropped: session not open"],
    ["warn", "webhook reply dropped: its contentType is not a media type"],
  ]);
});

Deno.test("events: a reply to pager.received is ignored", async () => {
  const log = new CaptureLogger();
  const t = target();
  const pager = createEvent("pager.received", {
    from: "sip:a@example.com",
    to: "sip:b@example.com",
    fromDisplay: null,
    callId: null,
    contentType: "text/plain",
    text: "hi",
  });
  await replyToWebhook(pager, { text: "back" }, t, log);
  assertEquals([t.sent, log.records], [[], []]);
});
