/**
 * `Bridge.originate` through a real FreeSWITCH (shared/freeswitch, started
 * with `.ci/freeswitch.sh start`): the bridge sends its INVITE to extension
 * `out` on 127.0.0.1:5080, FreeSWITCH bridges it in bypass to a SIP callee on
 * 127.0.0.1 that answers with the SDP of a peer MSRP endpoint, and text
 * flows. Skipped when 127.0.0.1:5080 TCP is not reachable.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { type Bridge, BridgeError } from "../../src/bridge/mod.ts";
import { headerOf } from "../../src/pbx/_sip_message.ts";
import { FakeUas } from "./_fake_uas.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import type { EventRecord } from "../../src/store/mod.ts";
import { skipUnlessReachable } from "../_services.ts";

const skip = await skipUnlessReachable("originate_real_test", 5080);

async function withBridge(
  body: (t: { bridge: Bridge; next: (type: string) => Promise<EventRecord> }) => Promise<void>,
): Promise<void> {
  await using b = await startBridge({ ESL_MODE: "inbound", SIP_PROFILE: "msrp" });
  await body({ bridge: b.bridge, next: b.next });
}

Deno.test({
  name:
    "originate through FreeSWITCH: the callee gets our offer, answers, text flows, BYE reaches it",
  ignore: skip !== undefined,
  async fn() {
    const peer = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
    const bob = peer.createSession({ acceptTypes: ["text/plain"] });
    const answer = buildOffer({
      path: bob.localPath,
      address: "127.0.0.1",
      port: peer.port,
      acceptTypes: ["text/plain"],
      setup: "passive",
      originUsername: "bob",
    });
    const callee = new FakeUas(() => ({ status: 200, reason: "OK", sdp: answer }));
    try {
      await withBridge(async ({ bridge, next }) => {
        const to = `sip:bob@127.0.0.1:${callee.port};transport=tcp`;
        const { id, offer } = await bridge.originate(to);
        const invite = await callee.request("INVITE");
        // FreeSWITCH passes the offer through, though it drops a=sendrecv (the default).
        const path = /^a=path:.*$/m.exec(offer)![0];
        assert(invite.body.includes(path), invite.body);
        assert(invite.body.includes("a=setup:actpass"), invite.body);
        await bob.ready;
        await next("session.started");
        const row = (await bridge.getSession(id))!;
        assertEquals([row.direction, row.toUri, row.sipStatus], ["out", to, 200]);

        const received = bob.messages()[Symbol.asyncIterator]().next();
        await (await bridge.sendMessage(id, "hello bob", { contentType: "text/plain" })).outgoing
          .done;
        assertEquals((await received).value!.text(), "hello bob");
        await bob.send("hi bridge").done;
        const message = JSON.parse((await next("message.received")).payload).data;
        assertEquals(message.text, "hi bridge");

        await bridge.closeSession(id, "closed by API");
        const bye = await callee.request("BYE");
        assertEquals(headerOf(bye, "call-id"), headerOf(invite, "call-id"));
      });
    } finally {
      await callee.close();
      await peer.close();
    }
  },
});

Deno.test({
  name: "originate through FreeSWITCH: a BYE from the callee ends the session",
  ignore: skip !== undefined,
  async fn() {
    const peer = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
    const bob = peer.createSession({ acceptTypes: ["text/plain"] });
    const answer = buildOffer({
      path: bob.localPath,
      address: "127.0.0.1",
      port: peer.port,
      acceptTypes: ["text/plain"],
      setup: "passive",
    });
    const callee = new FakeUas(() => ({ status: 200, reason: "OK", sdp: answer }));
    try {
      await withBridge(async ({ bridge, next }) => {
        const { id } = await bridge.originate(`sip:bob@127.0.0.1:${callee.port};transport=tcp`);
        await callee.request("ACK");
        await callee.bye();
        await next("session.ended");
        assertEquals((await bridge.getSession(id))!.endReason, "hangup: BYE");
      });
    } finally {
      await callee.close();
      await peer.close();
    }
  },
});

Deno.test({
  name: "originate through FreeSWITCH: a callee answering 486 rejects the call",
  ignore: skip !== undefined,
  async fn() {
    const callee = new FakeUas(() => ({ status: 486, reason: "Busy Here" }));
    try {
      await withBridge(async ({ bridge, next }) => {
        const error = await assertRejects(
          () => bridge.originate(`sip:bob@127.0.0.1:${callee.port};transport=tcp`),
          BridgeError,
          "486",
        );
        assertEquals(error.code, "pbx-unavailable");
        const ended = JSON.parse((await next("session.ended")).payload).data;
        const row = (await bridge.getSession(ended.sessionId))!;
        assertEquals([row.state, row.sipStatus, row.hangupCause], ["ended", 486, "USER_BUSY"]);
        assert(row.endReason?.startsWith("sip 486"), row.endReason ?? "");
      });
    } finally {
      await callee.close();
    }
  },
});

Deno.test({
  name: "originate through FreeSWITCH: closing the session while the callee rings sends CANCEL; " +
    "487 is recorded and the callee's INVITE is cancelled too",
  ignore: skip !== undefined,
  async fn() {
    const callee = new FakeUas(() => undefined);
    try {
      await withBridge(async ({ bridge, next }) => {
        const placing = bridge.originate(`sip:bob@127.0.0.1:${callee.port};transport=tcp`);
        await callee.request("INVITE");
        const [ringing] = (await bridge.listSessions({ state: "pending" })).items;
        await bridge.closeSession(ringing.id, "closed by API");
        const error = await assertRejects(() => placing, BridgeError, "487");
        assertEquals(error.code, "session-closed");
        await callee.request("CANCEL");
        await next("session.ended");
        const row = (await bridge.getSession(ringing.id))!;
        assertEquals([row.state, row.sipStatus, row.endReason], ["ended", 487, "closed by API"]);
      });
    } finally {
      await callee.close();
    }
  },
});
