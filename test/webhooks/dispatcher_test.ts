import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import type { Store } from "../../src/store/mod.ts";
import {
  createEvent,
  publishEvent,
  verifyWebhook,
  WebhookDispatcher,
  type WebhookDispatcherOptions,
  WebhookError,
  type WebhookEvent,
  type WebhookReply,
  type WebhookStore,
} from "../../src/webhooks/mod.ts";
import { tempStore } from "../store/_support.ts";
import { until } from "../_until.ts";
import { aborted, Receiver } from "./_receiver.ts";

const SECRET = "test-secret";
const quiet = new Logger("error");

function pagerEvent(text: string): WebhookEvent {
  return createEvent("pager.received", {
    from: "sip:alice@pbx",
    to: "sip:1000@pbx",
    fromDisplay: null,
    callId: null,
    contentType: "text/plain",
    text,
  });
}

/** A started dispatcher with small delays; `await using` stops it. */
function dispatcher(
  options: Partial<WebhookDispatcherOptions> & Pick<WebhookDispatcherOptions, "url" | "store">,
): WebhookDispatcher & AsyncDisposable {
  const d = new WebhookDispatcher({
    secret: SECRET,
    baseDelayMs: 5,
    maxDelayMs: 50,
    pollIntervalMs: 50,
    requestTimeoutMs: 5000,
    logger: quiet,
    ...options,
  });
  d.start();
  return Object.assign(d, { [Symbol.asyncDispose]: () => d.stop() });
}

function eventIds(receiver: Receiver): Set<string> {
  return new Set(receiver.requests.map((r) => JSON.parse(r.body).id));
}

/** A store wrapper that counts failed attempts per delivery. */
function countingFailures(store: Store): { store: WebhookStore; failures: Map<number, number> } {
  const failures = new Map<number, number>();
  return {
    failures,
    store: {
      claimWebhooks: (now, limit, leaseUntil) => store.claimWebhooks(now, limit, leaseUntil),
      markWebhookDelivered: (id) => store.markWebhookDelivered(id),
      nextWebhookAttemptAt: () => store.nextWebhookAttemptAt(),
      markWebhookFailed: (id, error, next) => {
        failures.set(id, (failures.get(id) ?? 0) + 1);
        return store.markWebhookFailed(id, error, next);
      },
    },
  };
}

Deno.test("webhook dispatcher: posts signed JSON with the event headers", async () => {
  await using t = await tempStore();
  await using receiver = new Receiver(() => new Response(null, { status: 204 }));
  const event = pagerEvent("hello");
  await publishEvent(t.store, event);
  await using _d = dispatcher({ url: receiver.url, store: t.store });
  await until(async () => (await t.store.webhookBacklog()).pending === 0, "delivery");
  assertEquals(receiver.requests.length, 1);
  const [request] = receiver.requests;
  const h = request.headers;
  assertEquals(h.get("content-type"), "application/json");
  assertEquals(h.get("x-msrp-bridge-event"), "pager.received");
  assertEquals(h.get("x-msrp-bridge-delivery"), "1");
  assertEquals(JSON.parse(request.body), event);
  const timestamp = h.get("x-msrp-bridge-timestamp") ?? "";
  const signature = h.get("x-msrp-bridge-signature") ?? "";
  assert(signature.startsWith("sha256="));
  assert(await verifyWebhook(SECRET, timestamp, request.body, signature));
  assertEquals(await verifyWebhook("wrong", timestamp, request.body, signature), false);
});

Deno.test("webhook dispatcher: a failing receiver gets retries until it recovers", async () => {
  await using t = await tempStore();
  let calls = 0;
  await using receiver = new Receiver(() =>
    new Response("busy", { status: ++calls <= 3 ? 500 : 200 })
  );
  const counting = countingFailures(t.store);
  await publishEvent(t.store, pagerEvent("retry me"));
  await using _d = dispatcher({ url: receiver.url, store: counting.store });
  await until(async () => (await t.store.webhookBacklog()).pending === 0, "delivery after retries");
  assertEquals(receiver.requests.length, 4);
  assertEquals(counting.failures.get(1), 3);
  assertEquals(
    new Set(receiver.requests.map((r) => r.headers.get("x-msrp-bridge-delivery"))),
    new Set(["1"]),
  );
  assertEquals(await t.store.webhookBacklog(), { pending: 0, exhausted: 0, oldestPendingAt: null });
});

Deno.test("webhook dispatcher: a receiver that does not answer in time is retried", async () => {
  await using t = await tempStore();
  let calls = 0;
  await using receiver = new Receiver(async (_request, signal) => {
    if (++calls === 1) await aborted(signal);
    return new Response("ok");
  });
  const counting = countingFailures(t.store);
  await publishEvent(t.store, pagerEvent("slow"));
  await using _d = dispatcher({ url: receiver.url, store: counting.store, requestTimeoutMs: 100 });
  await until(
    async () => (await t.store.webhookBacklog()).pending === 0,
    "delivery after a timeout",
  );
  assert(receiver.requests.length >= 2);
  assert((counting.failures.get(1) ?? 0) >= 1);
});

Deno.test("webhook dispatcher: while the receiver is down the backlog grows in the store, then drains", async () => {
  await using t = await tempStore();
  const probe = new Receiver(() => new Response("ok"));
  const port = probe.port;
  await probe.close();
  const url = `http://127.0.0.1:${port}/hook`;
  const counting = countingFailures(t.store);
  const first = Array.from({ length: 5 }, (_, i) => pagerEvent(`first ${i}`));
  for (const event of first) await publishEvent(t.store, event);
  await using d = dispatcher({ url, store: counting.store, concurrency: 2 });
  await until(
    () => counting.failures.size === 5 && [...counting.failures.values()].every((n) => n >= 5),
    "five failed attempts per delivery",
  );
  const later = Array.from({ length: 20 }, (_, i) => pagerEvent(`later ${i}`));
  for (const event of later) {
    await publishEvent(t.store, event);
    d.wake();
  }
  assertEquals((await t.store.webhookBacklog()).pending, 25);
  assert(d.inFlight <= 2);

  await using receiver = new Receiver(() => new Response("ok"), port);
  await until(async () => (await t.store.webhookBacklog()).pending === 0, "backlog drained");
  const ids = eventIds(receiver);
  for (const event of [...first, ...later]) assert(ids.has(event.id), event.id);
  assertEquals((await t.store.webhookBacklog()).exhausted, 0);
});

Deno.test("webhook dispatcher: a restart in the middle loses nothing", async () => {
  await using t = await tempStore();
  // The first five posts are answered at once, later ones once the first dispatcher stops.
  const stopping = Promise.withResolvers<void>();
  let posts = 0;
  await using receiver = new Receiver(async () => {
    if (++posts > 5) await stopping.promise;
    return new Response("ok");
  });
  const events = Array.from({ length: 40 }, (_, i) => pagerEvent(`n${i}`));
  for (const event of events) await publishEvent(t.store, event);

  const first = dispatcher({ url: receiver.url, store: t.store, concurrency: 2 });
  await until(() => receiver.requests.length >= 5, "some deliveries");
  const stopped = first.stop();
  stopping.resolve();
  await stopped;
  assertEquals(first.inFlight, 0);
  const afterStop = receiver.requests.length;
  assert((await t.store.webhookBacklog()).pending > 0, "the first dispatcher delivered everything");

  await using _second = dispatcher({ url: receiver.url, store: t.store });
  await until(async () => (await t.store.webhookBacklog()).pending === 0, "the rest delivered");
  assert(receiver.requests.length > afterStop);
  const ids = eventIds(receiver);
  for (const event of events) assert(ids.has(event.id), event.id);
});

Deno.test("webhook dispatcher: stop aborts a hanging post and the delivery stays due", async () => {
  await using t = await tempStore();
  let hang = true;
  await using receiver = new Receiver(async (_request, signal) => {
    if (hang) await aborted(signal);
    return new Response("ok");
  });
  await publishEvent(t.store, pagerEvent("stuck"));
  const first = dispatcher({ url: receiver.url, store: t.store, stopTimeoutMs: 50 });
  await until(() => receiver.requests.length === 1, "the post arrived");
  await first.stop();
  assertEquals((await t.store.webhookBacklog()).pending, 1);
  // Due now: a claim takes it at once (leased until now, so it stays due for the next dispatcher).
  const now = Date.now();
  assertEquals((await t.store.claimWebhooks(now, 10, now)).length, 1);
  hang = false;
  await using _second = dispatcher({ url: receiver.url, store: t.store });
  await until(
    async () => (await t.store.webhookBacklog()).pending === 0,
    "delivered after restart",
  );
});

Deno.test("webhook dispatcher: a reply in the 2xx body is handed to onReply", async () => {
  await using t = await tempStore();
  await using receiver = new Receiver((request) => {
    const text = JSON.parse(request.body).data.text;
    return text === "ping"
      ? Response.json({ reply: { text: "pong" } })
      : new Response("thanks", { headers: { "content-type": "text/plain" } });
  });
  const replies: [WebhookEvent, WebhookReply][] = [];
  const ping = pagerEvent("ping");
  await publishEvent(t.store, pagerEvent("no reply"));
  await publishEvent(t.store, ping);
  await using _d = dispatcher({
    url: receiver.url,
    store: t.store,
    onReply: (event, reply) => {
      replies.push([event, reply]);
    },
  });
  await until(() => replies.length === 1, "the reply");
  await until(async () => (await t.store.webhookBacklog()).pending === 0, "both delivered");
  assertEquals(replies, [[ping, { text: "pong" }]]);
});

Deno.test("webhook dispatcher: a delivery is given up after maxAttempts", async () => {
  await using t = await tempStore();
  await using receiver = new Receiver(() => new Response("no", { status: 503 }));
  await publishEvent(t.store, pagerEvent("doomed"));
  await using _d = dispatcher({ url: receiver.url, store: t.store, maxAttempts: 3 });
  await until(async () => (await t.store.webhookBacklog()).exhausted === 1, "given up");
  assertEquals(receiver.requests.length, 3);
  assertEquals((await t.store.webhookBacklog()).pending, 0);
});

Deno.test("webhook dispatcher: unusable options are refused", async () => {
  await using t = await tempStore();
  const make = (options: Partial<WebhookDispatcherOptions>) => () =>
    new WebhookDispatcher({ url: "http://127.0.0.1:1/", secret: "s", store: t.store, ...options });
  for (
    const bad of [
      { url: "not a url" },
      { url: "ftp://127.0.0.1/" },
      { secret: "" },
      { concurrency: 0 },
      { maxAttempts: -1 },
      { requestTimeoutMs: Number.NaN },
    ]
  ) {
    assertEquals(assertThrows(make(bad), WebhookError).code, "invalid-config");
  }
});
