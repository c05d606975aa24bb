/**
 * `src/bridge/messaging.ts`: a sent message has a row that follows it to
 * its outcome and an event; sending needs an open session; a session's
 * messages are listed only for a session that exists.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import { peerEndpoint } from "../api/_harness.ts";
import { BridgeError, contentUrl } from "../../src/bridge/mod.ts";
import { openPeer } from "./_peer.ts";

Deno.test("messaging: a sent text is recorded, settles as sent with message.delivered, and is listed with its text", async () => {
  await using b = await startBridge();
  await using peer = peerEndpoint();
  const { id } = await openPeer(b.bridge, peer);
  const { record, outgoing } = await b.bridge.sendMessage(id, "hello", {
    contentType: "text/plain",
  });
  assertEquals([record.direction, record.text], ["out", "hello"]);
  assertEquals((await outgoing.done).status, "sent");
  await b.next("message.delivered");
  await until(
    async () => (await b.bridge.getMessage(record.id))?.status === "sent",
    "the row to settle",
  );
  assertEquals((await b.bridge.listMessages(id)).items.map((m) => [m.id, m.text]), [[
    record.id,
    "hello",
  ]]);
});

Deno.test("messaging: sending into an unknown session is not-found, into an ended one session-closed", async () => {
  await using b = await startBridge();
  const send = (id: string) => () => b.bridge.sendMessage(id, "x", { contentType: "text/plain" });
  assertEquals((await assertRejects(send("nope"), BridgeError)).code, "not-found");
  const { id } = await b.bridge.createOffer();
  await b.bridge.closeSession(id, "closed by test");
  assertEquals((await assertRejects(send(id), BridgeError)).code, "session-closed");
  const listed = await assertRejects(() => b.bridge.listMessages("nope"), BridgeError);
  assertEquals([listed.code, listed.field], ["not-found", "id"]);
  assertEquals((await b.bridge.listMessages(id)).items, []);
});

Deno.test("messaging: the content of message id is served under /v1/messages/id/content", () => {
  assertEquals(contentUrl("m1"), "/v1/messages/m1/content");
});
