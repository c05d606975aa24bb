/**
 * `src/bridge/_sessions.ts`: session rows follow their sessions, closing is
 * idempotent, listing filters by state, and MAX_SESSIONS is a
 * `session-limit`.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { BridgeError } from "../../src/bridge/mod.ts";

Deno.test("sessions: a closed session's row is ended with the reason; closing again does nothing; unknown ids are not-found", async () => {
  await using b = await startBridge();
  const { id } = await b.bridge.createOffer();
  const other = await b.bridge.createOffer();
  await b.bridge.closeSession(id, "closed by test");
  await b.bridge.closeSession(id, "again");
  const row = (await b.bridge.getSession(id))!;
  assertEquals([row.state, row.direction, row.endReason], ["ended", "out", "closed by test"]);
  assertEquals((await b.bridge.listSessions({ state: "ended" })).items.map((s) => s.id), [id]);
  assertEquals((await b.bridge.listSessions({ state: "pending" })).items.map((s) => s.id), [
    other.id,
  ]);
  const error = await assertRejects(() => b.bridge.closeSession("nope", "x"), BridgeError);
  assertEquals([error.code, error.field], ["not-found", "id"]);
  assertEquals(await b.bridge.getSession("nope"), undefined);
});

Deno.test("sessions: beyond MAX_SESSIONS a new session is a session-limit", async () => {
  await using b = await startBridge({ MAX_SESSIONS: "1" });
  const { id } = await b.bridge.createOffer();
  assertEquals(
    (await assertRejects(() => b.bridge.createOffer(), BridgeError)).code,
    "session-limit",
  );
  await b.bridge.closeSession(id, "make room");
  await b.bridge.createOffer();
});
