/**
 * `src/bridge/bridge.ts`: the facade's lifecycle — one start, use cases
 * only while running, queries only once started, a stop that ends
 * subscriptions and may be repeated.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { createBridge, startBridge } from "../_bridge.ts";
import { BridgeError } from "../../src/bridge/mod.ts";

Deno.test("bridge: before start, use cases are refused as shutting-down and queries throw", async () => {
  await using b = await createBridge();
  const { bridge } = b;
  assertEquals(
    (await assertRejects(() => bridge.createOffer(), BridgeError)).code,
    "shutting-down",
  );
  assertEquals(
    (await assertRejects(
      () => bridge.sendMessage("x", "hi", { contentType: "text/plain" }),
      BridgeError,
    )).code,
    "shutting-down",
  );
  await assertRejects(() => bridge.getSession("x"), Error, "not started");
  assertEquals(bridge.eslState, "off");
  await bridge.stop(); // a no-op before start
});

Deno.test("bridge: a second start is refused; a stop refuses new work and may be repeated", async () => {
  await using b = await startBridge();
  const { bridge } = b;
  await assertRejects(() => bridge.start(), Error, "already started");
  const { id } = await bridge.createOffer();
  let closed = 0;
  bridge.subscribe({ event() {}, close: () => closed++ });
  await bridge.stop();
  assertEquals(closed, 1, "subscribers hear of the stop");
  await bridge.stop();
  assertEquals(
    (await assertRejects(() => bridge.createOffer(), BridgeError)).code,
    "shutting-down",
  );
  await assertRejects(() => bridge.applyAnswer(id, "v=0"), BridgeError, "shutting down");
  let late = 0;
  bridge.subscribe({ event() {}, close: () => late++ });
  assertEquals(late, 1, "a subscriber after the stop is closed at once");
  await assertRejects(() => bridge.start(), Error, "already started");
});

Deno.test("bridge: the sessions a stop ends are recorded as ended with the reason shutdown", async () => {
  await using b = await startBridge();
  const { id } = await b.bridge.createOffer();
  await b.bridge.stop();
  await using again = await startBridge({ DATA_DIR: b.dataDir });
  const row = (await again.bridge.getSession(id))!;
  assertEquals([row.state, row.endReason], ["ended", "shutdown"]);
  const logged = (await again.bridge.eventsSince(0, 100)).map((
    e,
  ) => [e.type, JSON.parse(e.payload).data]);
  assert(
    logged.some(([type, data]) => type === "session.ended" && data.sessionId === id),
    "session.ended is in the event log",
  );
});
