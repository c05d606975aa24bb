/**
 * `src/bridge/pager.ts`: what pager mode refuses before it asks the PBX.
 * Sending and receiving through the event socket are in
 * test/pbx/bridge_pbx_test.ts.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { BridgeError } from "../../src/bridge/mod.ts";

Deno.test("pager: bad URIs and chat separators are refused naming the field; without the event socket it is pbx-unavailable", async () => {
  await using b = await startBridge();
  const send = (to: string, from: string, text: string) => () =>
    b.bridge.sendPager({ to, from, text });
  const ok = "sip:bob@127.0.0.1";
  for (
    const [to, from, text, code, field] of [
      ["bob", ok, "hi", "invalid-sip-uri", "to"],
      [ok, "sip:a@b?X=1", "hi", "invalid-sip-uri", "from"],
      [ok, ok, "a|b", "validation", "text"],
      [ok, ok, "a\nb", "validation", "text"],
    ]
  ) {
    const error = await assertRejects(send(to, from, text), BridgeError);
    assertEquals([error.code, error.field], [code, field], `${to} ${from} ${text}`);
  }
  await assertRejects(send(ok, ok, "hi"), BridgeError, "the PBX event socket is off");
});

Deno.test("pager: field checks come before the shutting-down check", async () => {
  await using b = await startBridge();
  await b.bridge.stop();
  const error = await assertRejects(
    () => b.bridge.sendPager({ to: "bob", from: "sip:a@b", text: "x" }),
    BridgeError,
  );
  assertEquals(error.code, "invalid-sip-uri");
  const stopped = await assertRejects(
    () => b.bridge.sendPager({ to: "sip:a@b", from: "sip:a@b", text: "x" }),
    BridgeError,
  );
  assertEquals(stopped.code, "shutting-down");
});
