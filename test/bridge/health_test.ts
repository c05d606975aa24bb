/**
 * `src/bridge/health.ts`: readiness only while the bridge runs, and metrics
 * that follow sessions and messages.
 */

import { assertEquals } from "../_assert.ts";
import { createBridge } from "../_bridge.ts";
import { peerEndpoint } from "../api/_harness.ts";
import { openPeer } from "./_peer.ts";

Deno.test("health: nothing is ready before start or after stop; the store and MSRP are while running", async () => {
  await using b = await createBridge();
  const idle = { storeWritable: false, msrpListening: false, esl: "off" };
  assertEquals(await b.bridge.readiness(), idle);
  await b.start();
  assertEquals(await b.bridge.readiness(), {
    storeWritable: true,
    msrpListening: true,
    esl: "off",
  });
  await b.bridge.stop();
  assertEquals(await b.bridge.readiness(), idle);
});

Deno.test("health: metrics count open sessions, connections and messages each way", async () => {
  await using b = await createBridge();
  assertEquals((await b.bridge.metrics()).sessionsOpen, 0, "before start");
  await b.start();
  await using peer = peerEndpoint();
  const { id, session } = await openPeer(b.bridge, peer);
  await session.send("hello").done;
  await b.next("message.received");
  await (await b.bridge.sendMessage(id, "back", { contentType: "text/plain" })).outgoing.done;
  await b.next("message.delivered");
  const m = await b.bridge.metrics();
  assertEquals(
    [m.sessionsOpen, m.msrpConnections, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut],
    [1, 1, 1, 5, 1, 4],
  );
  assertEquals([m.incomingFailures, m.failuresByCode.size, m.webhookBacklog, m.esl], [
    0,
    0,
    undefined,
    "off",
  ]);
});
