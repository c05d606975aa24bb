/**
 * `src/bridge/media.ts`: offers and answers carry a=max-size and the right
 * a=setup, failures have the bridge's codes, and both roles connect by the
 * one negotiated-peer rule.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import { peerEndpoint } from "../api/_harness.ts";
import { peerOffer } from "./_peer.ts";
import { BridgeError } from "../../src/bridge/mod.ts";
import { buildOffer, parseAnswer } from "../../src/sdp/mod.ts";

Deno.test("media: our offer is actpass with a=max-size, and the session waits pending for its answer", async () => {
  await using b = await startBridge({ MAX_MESSAGE_BYTES: "123456" });
  const { id, offer } = await b.bridge.createOffer();
  assert(offer.includes("a=setup:actpass"), offer);
  assert(offer.includes("a=max-size:123456"), offer);
  assertEquals((await b.bridge.getSession(id))?.state, "pending");
});

Deno.test("media: an answer to an unknown session is not-found, a second answer not-awaiting-answer, bad SDP invalid-sdp", async () => {
  await using b = await startBridge();
  const { bridge } = b;
  const unknown = await assertRejects(() => bridge.applyAnswer("nope", "v=0"), BridgeError);
  assertEquals([unknown.code, unknown.field], ["not-found", "id"]);
  const bad = await assertRejects(() => bridge.createSessionFromOffer("not sdp"), BridgeError);
  assertEquals([bad.code, bad.field], ["invalid-sdp", "offer"]);

  await using peer = peerEndpoint();
  const { id, offer } = await bridge.createOffer();
  const session = peer.createSession();
  const answer = buildOffer({
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    setup: "passive",
  });
  assert(offer.includes("a=setup:actpass"));
  const row = await bridge.applyAnswer(id, answer);
  assertEquals(row.remotePath, [...session.localPath]);
  await session.ready;
  const again = await assertRejects(() => bridge.applyAnswer(id, answer), BridgeError);
  assertEquals(again.code, "not-awaiting-answer");
});

Deno.test("media: answering an active offer makes us passive with a=max-size; the peer that dials binds", async () => {
  await using b = await startBridge();
  await using peer = peerEndpoint();
  const session = peer.createSession();
  const local = peerOffer(peer, session);
  const { id, answer } = await b.bridge.createSessionFromOffer(buildOffer(local));
  assert(answer.includes("a=setup:passive"), answer);
  assert(answer.includes(`a=max-size:${b.config.maxMessageBytes}`), answer);
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  await until(
    async () => (await b.bridge.getSession(id))?.state === "active",
    "the session to start",
  );
});

Deno.test("media: a peer that cannot be dialled fails applyAnswer with connect-failed and ends the session", async () => {
  await using b = await startBridge();
  const { id } = await b.bridge.createOffer();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const answer = buildOffer({
    path: [`msrp://127.0.0.1:${port}/gone;tcp`],
    address: "127.0.0.1",
    port,
    acceptTypes: ["*"],
    setup: "passive",
  });
  const error = await assertRejects(() => b.bridge.applyAnswer(id, answer), BridgeError);
  assertEquals(error.code, "connect-failed");
  const row = (await b.bridge.getSession(id))!;
  assertEquals(row.state, "ended");
  assert(row.endReason?.startsWith("connection failed"), row.endReason ?? "");
});
