/**
 * `src/bridge/calls.ts`: what `originate` refuses before it reaches the PBX,
 * and the ESL state. Calls in and out against PBX doubles are in
 * test/pbx/bridge_pbx_test.ts, bridge_outbound_test.ts and originate_test.ts.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { BridgeError } from "../../src/bridge/mod.ts";

Deno.test("calls: originate checks the target first, then needs the ESL integration", async () => {
  await using b = await startBridge();
  assertEquals(b.bridge.eslState, "off");
  const bad = await assertRejects(() => b.bridge.originate("sip:bob@[::1]"), BridgeError);
  assertEquals([bad.code, bad.field], ["invalid-sip-uri", "to"]);
  const off = await assertRejects(
    () => b.bridge.originate("sip:bob@127.0.0.1"),
    BridgeError,
    "ESL_MODE=off",
  );
  assertEquals(off.code, "pbx-unavailable");
  assertEquals((await b.bridge.listSessions()).items, [], "no session was created");
});
