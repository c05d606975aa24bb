/**
 * The service while the real FreeSWITCH is stopped and started again in the
 * middle of a call (with `.ci/freeswitch.sh`): the ESL state and readiness
 * follow, the bridge reconnects, and the call FreeSWITCH lost ends its
 * session. Skipped when FreeSWITCH is not reachable or its package (which
 * `.ci/freeswitch.sh start` needs) is not beside the clone. It restarts
 * FreeSWITCH, so it runs last among the real-FreeSWITCH tests (file order).
 */

import { assertEquals } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { SipPhone } from "./_sip_phone.ts";
import { skipUnlessRestartable } from "../_services.ts";

const SCRIPT = new URL("../../.ci/freeswitch.sh", import.meta.url).pathname;
const skip = await skipUnlessRestartable("restart_real_test");

async function freeswitch(action: "start" | "stop"): Promise<void> {
  const out = await new Deno.Command("bash", { args: [SCRIPT, action], stdout: "null" }).output();
  if (!out.success) {
    throw new Error(`freeswitch.sh ${action} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test({
  name:
    "real FreeSWITCH restart mid-call: ESL state and readiness follow, the bridge reconnects, the lost call's session ends",
  ignore: skip !== undefined,
  async fn() {
    const fixture = await startBridge({ ESL_MODE: "inbound" });
    const { bridge, events } = fixture;
    const peer = new MsrpEndpoint({ port: 0 }).listen();
    let phone: SipPhone | undefined;
    try {
      await until(() => bridge.eslState === "connected", "the event socket");
      const caller = peer.createSession();
      const offer = buildOffer({
        path: caller.localPath,
        address: "127.0.0.1",
        port: peer.port,
        acceptTypes: ["text/plain"],
        setup: "passive",
        originUsername: "alice",
      });
      phone = await SipPhone.open({ server: { hostname: "127.0.0.1", port: 5080 } });
      await phone.invite("msrp", offer);
      await caller.ready;
      await until(() => events.some((e) => e.type === "session.started"), "session.started");
      const id = JSON.parse(events.find((e) => e.type === "session.started")!.payload).data
        .sessionId;

      await freeswitch("stop");
      await until(() => bridge.eslState !== "connected", "the ESL loss");
      assertEquals((await bridge.readiness()).esl === "connected", false);

      await freeswitch("start");
      await until(() => bridge.eslState === "connected", "the reconnect");
      assertEquals((await bridge.readiness()).esl, "connected");
      // FreeSWITCH lost the call: reconciliation (or the MSRP peer's loss) ends the session.
      await until(
        () => events.some((e) => e.type === "session.ended" && e.payload.includes(id)),
        "session.ended",
      );
      assertEquals((await bridge.getSession(id))?.state, "ended");
    } finally {
      await phone?.close();
      await peer.close();
      await fixture[Symbol.asyncDispose]();
      // Leave FreeSWITCH running for whatever comes next.
      if (
        !(await Deno.connect({ hostname: "127.0.0.1", port: 8021 }).then(
          (c) => (c.close(), true),
          () => false,
        ))
      ) {
        await freeswitch("start");
      }
    }
  },
});
