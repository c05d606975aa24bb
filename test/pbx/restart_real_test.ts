/**
 * The service while the real FreeSWITCH is stopped and started again in the
 * middle of a call (with `.ci/freeswitch.sh`): the ESL state and readiness
 * follow, the bridge reconnects, and the call FreeSWITCH lost ends its
 * session. Skipped when FreeSWITCH is not reachable or its package (which
 * `.ci/freeswitch.sh start` needs) is not beside the clone. It restarts
 * FreeSWITCH, so it runs last among the real-FreeSWITCH tests (file order).
 */

import { assertEquals } from "../_assert.ts";
import { loadConfig } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { Bridge } from "../../src/service.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import type { EventRecord } from "../../src/store/mod.ts";
import { SipPhone } from "./_sip_phone.ts";
import { skipUnlessRestartable } from "../_services.ts";

const SCRIPT = new URL("../../.ci/freeswitch.sh", import.meta.url).pathname;
const skip = await skipUnlessRestartable("restart_real_test");

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000; // hang guard only
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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
    const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-restart-" });
    const bridge = new Bridge(
      loadConfig({ DATA_DIR: dir, MSRP_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "error" }),
      new Logger("error"),
    );
    await bridge.start();
    const events: EventRecord[] = [];
    bridge.subscribe({ event: (r) => events.push(r), close() {} });
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
      assertEquals(bridge.store.getSession(id)?.state, "ended");
    } finally {
      await phone?.close();
      await peer.close();
      await bridge.stop();
      await Deno.remove(dir, { recursive: true });
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
