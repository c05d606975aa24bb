/**
 * The service with ESL_MODE=outbound against the FreeSWITCH double playing
 * the dialplan `socket` application: a call on ESL_OUTBOUND_PORT becomes a
 * recorded session with the caller's identity and is hung up from the API;
 * pager mode needs the inbound socket; a taken port stops start-up.
 */

import { assertEquals, assertRejects } from "../_assert.ts";
import { loadConfig } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { Bridge, BridgeError } from "../../src/service.ts";
import type { EventRecord } from "../../src/store/mod.ts";
import { CALL, caller, parkHeaders } from "./_calls.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

function outboundBridge(dir: string, port: number): Bridge {
  return new Bridge(
    loadConfig({
      DATA_DIR: dir,
      MSRP_PORT: "0",
      HTTP_PORT: "0",
      ESL_MODE: "outbound",
      ESL_OUTBOUND_PORT: String(port),
      LOG_LEVEL: "error",
    }),
    new Logger("error"),
  );
}

Deno.test("service, ESL_MODE=outbound: a socket call is answered, recorded with the caller's identity and hung up from the API", async () => {
  const fs = new FakeFreeSwitch();
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-outbound-" });
  const port = freePort();
  const bridge = outboundBridge(dir, port);
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
    const row = bridge.store.getSession(id)!;
    assertEquals(
      [row.direction, row.fromUri, row.fromDisplay, row.callId, row.channelUuid],
      ["in", "sip:alice@127.0.0.1:5090", "Alice Example", `${CALL}@127.0.0.1`, CALL],
    );
    await assertRejects(
      () => bridge.sendPager({ from: "sip:a@b", to: "sip:c@d", text: "x" }),
      BridgeError,
      "event socket",
    );
    bridge.closeSession(id, "agent hung up");
    const hangup = await fs.waitForCommand((c) => c.headers.get("call-command") === "hangup");
    assertEquals(hangup.args, CALL);
  } finally {
    await bridge.stop();
    await alice.ep.close();
    await fs.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service, ESL_MODE=outbound: a taken ESL_OUTBOUND_PORT stops start-up", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-outbound-" });
  try {
    const bridge = outboundBridge(dir, taken.addr.port);
    await assertRejects(() => bridge.start(), Deno.errors.AddrInUse);
    assertEquals(bridge.eslState, "off");
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
