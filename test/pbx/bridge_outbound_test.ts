/**
 * The service with ESL_MODE=outbound against the FreeSWITCH double playing
 * the dialplan `socket` application: a call on ESL_OUTBOUND_PORT becomes a
 * recorded session with the caller's identity and is hung up from the API;
 * pager mode needs the inbound socket; a taken port stops start-up.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { type BridgeFixture, createBridge } from "../_bridge.ts";
import { freePort } from "../_service_process.ts";
import { BridgeError } from "../../src/bridge/mod.ts";
import type { EventRecord } from "../../src/store/mod.ts";
import { CALL, caller, parkHeaders } from "./_calls.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

function outboundBridge(port: number): Promise<BridgeFixture> {
  return createBridge({ ESL_MODE: "outbound", ESL_OUTBOUND_PORT: String(port) });
}

Deno.test("service, ESL_MODE=outbound: a socket call is answered, recorded with the caller's identity and hung up from the API", async () => {
  const fs = new FakeFreeSwitch();
  const port = freePort();
  const fixture = await outboundBridge(port);
  const bridge = fixture.bridge;
  const alice = caller("passive");
  await bridge.start();
  try {
    assertEquals(bridge.eslState, "connected", "listening for FreeSWITCH");
    const started = new Promise<EventRecord>((resolve) =>
      bridge.subscribe({
        event: (r) => r.type === "session.started" && resolve(r),
        close() {},
      })
    );
    fs.addChannel(parkHeaders(CALL, alice.offer));
    await fs.socket(CALL, { hostname: "127.0.0.1", port });
    const id = JSON.parse((await started).payload).data.sessionId;
    const row = (await bridge.getSession(id))!;
    assertEquals(
      [row.direction, row.fromUri, row.fromDisplay, row.callId, row.channelUuid],
      ["in", "sip:alice@127.0.0.1:5090", "Alice Example", `${CALL}@127.0.0.1`, CALL],
    );
    await assertRejects(
      () => bridge.sendPager({ from: "sip:a@b", to: "sip:c@d", text: "x" }),
      BridgeError,
      "event socket",
    );
    await bridge.closeSession(id, "agent hung up");
    const hangup = await fs.waitForCommand((c) => c.headers.get("call-command") === "hangup");
    assertEquals(hangup.args, CALL);
  } finally {
    await bridge.stop();
    await alice.ep.close();
    await fs.close();
    await fixture[Symbol.asyncDispose]();
  }
});

Deno.test("service, ESL_MODE=outbound: a taken ESL_OUTBOUND_PORT stops start-up", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using fixture = await outboundBridge(taken.addr.port);
  const bridge = fixture.bridge;
  await assertRejects(() => bridge.start(), Deno.errors.AddrInUse);
  assertEquals(bridge.eslState, "off");
});
