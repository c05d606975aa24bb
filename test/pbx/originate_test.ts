/**
 * `Bridge.originate` without FreeSWITCH: a fake SIP server on 127.0.0.1
 * plays the PBX and answers the INVITE with the SDP of a peer MSRP endpoint,
 * or rejects it.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { type Bridge, BridgeError } from "../../src/bridge/mod.ts";
import { headerOf, type SipMessage } from "../../src/pbx/_sip_message.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint, type MsrpSession } from "../../src/session/mod.ts";
import type { EventRecord } from "../../src/store/mod.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";
import { type Answer, FakeUas } from "./_fake_uas.ts";

/** A passive MSRP answer from `session` of `peer`. */
function peerAnswer(peer: MsrpEndpoint, session: MsrpSession): string {
  return buildOffer({
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["text/plain"],
    setup: "passive",
  });
}

async function withBridge(
  answer: (invite: SipMessage) => Answer | undefined,
  body: (
    t: {
      bridge: Bridge;
      pbx: FakeUas;
      events: EventRecord[];
      next: (type: string) => Promise<EventRecord>;
    },
  ) => Promise<void>,
  sipUri?: string,
): Promise<void> {
  const esl = new FakeFreeSwitch();
  const pbx = new FakeUas(answer);
  try {
    await using b = await startBridge({
      ESL_MODE: "inbound",
      ESL_PORT: String(esl.port),
      SIP_URI: sipUri ?? `sip:127.0.0.1:${pbx.port};transport=tcp`,
    });
    await body({ bridge: b.bridge, pbx, events: b.events, next: b.next });
  } finally {
    await pbx.close();
    await esl.close();
  }
}

Deno.test("originate: the INVITE carries our offer and X-Msrp-Target; the answer starts the session; closing sends BYE", async () => {
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  const callee = peer.createSession();
  try {
    await withBridge(
      () => ({ status: 200, reason: "OK", sdp: peerAnswer(peer, callee) }),
      async ({ bridge, pbx, next }) => {
        const to = "sip:bob@127.0.0.1:5090";
        const { id, offer } = await bridge.originate(to);
        const invite = await pbx.request("INVITE");
        assertEquals(invite.startLine, `INVITE sip:out@127.0.0.1:${pbx.port} SIP/2.0`);
        assertEquals(headerOf(invite, "x-msrp-target"), to);
        assertEquals(invite.body, offer);
        assert(offer.includes("a=setup:actpass"), offer);
        await pbx.request("ACK");
        await callee.ready;
        await next("session.started");
        const row = (await bridge.getSession(id))!;
        assertEquals(
          [row.direction, row.toUri, row.callId, row.sipStatus, row.state],
          ["out", to, headerOf(invite, "call-id"), 200, "active"],
        );

        const received = callee.messages()[Symbol.asyncIterator]().next();
        await (await bridge.sendMessage(id, "hello bob", { contentType: "text/plain" })).outgoing
          .done;
        const message = (await received).value!;
        assertEquals(message.text(), "hello bob");
        await callee.send("hi bridge").done;
        await next("message.received");

        await bridge.closeSession(id, "closed by API");
        const bye = await pbx.request("BYE");
        assertEquals(headerOf(bye, "call-id"), headerOf(invite, "call-id"));
        assertEquals((await bridge.getSession(id))!.endReason, "closed by API");
      },
    );
  } finally {
    await peer.close();
  }
});

Deno.test("originate: a BYE from the PBX ends the session", async () => {
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  const callee = peer.createSession();
  try {
    await withBridge(
      () => ({ status: 200, reason: "OK", sdp: peerAnswer(peer, callee) }),
      async ({ bridge, pbx, next }) => {
        const { id } = await bridge.originate("sip:bob@127.0.0.1:5090");
        await pbx.request("ACK");
        await pbx.bye();
        await next("session.ended");
        assertEquals((await bridge.getSession(id))!.endReason, "hangup: BYE");
        assertEquals(pbx.requests.filter((r) => r.startLine.startsWith("BYE")).length, 0);
      },
    );
  } finally {
    await peer.close();
  }
});

Deno.test("originate: a 486 rejects with the SIP status, ACKs it and ends the session row", async () => {
  await withBridge(
    () => ({
      status: 486,
      reason: "Busy Here",
      headers: [["Reason", 'Q.850;cause=17;text="USER_BUSY"']],
    }),
    async ({ bridge, pbx, next }) => {
      const error = await assertRejects(
        () => bridge.originate("sip:bob@127.0.0.1:5090"),
        BridgeError,
        "486 Busy Here",
      );
      assertEquals(error.code, "pbx-unavailable");
      const ack = await pbx.request("ACK");
      assertEquals(headerOf(ack, "cseq"), "1 ACK");
      const ended = JSON.parse((await next("session.ended")).payload).data;
      const row = (await bridge.getSession(ended.sessionId))!;
      assertEquals(
        [row.state, row.sipStatus, row.hangupCause, row.endReason],
        ["ended", 486, "USER_BUSY", "sip 486 Busy Here"],
      );
    },
  );
});

Deno.test("originate: closing the session while it rings sends CANCEL (after the 180) and records 487", async () => {
  await withBridge(
    () => undefined,
    async ({ bridge, pbx, next }) => {
      const placing = bridge.originate("sip:bob@127.0.0.1:5090");
      const invite = await pbx.request("INVITE");
      const [ringing] = (await bridge.listSessions({ state: "pending" })).items;
      await bridge.closeSession(ringing.id, "closed by API");
      const error = await assertRejects(() => placing, BridgeError, "487");
      assertEquals(error.code, "session-closed");
      const cancel = await pbx.request("CANCEL");
      for (const header of ["via", "from", "to", "call-id"]) {
        assertEquals(headerOf(cancel, header), headerOf(invite, header), header);
      }
      assertEquals(headerOf(cancel, "cseq"), "1 CANCEL");
      assertEquals(headerOf(await pbx.request("ACK"), "cseq"), "1 ACK", "the 487 is ACKed");
      await next("session.ended");
      const row = (await bridge.getSession(ringing.id))!;
      assertEquals([row.state, row.sipStatus, row.endReason], ["ended", 487, "closed by API"]);
    },
  );
});

Deno.test("originate: an unreachable PBX rejects with pbx-unavailable and creates no session", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nobody = `sip:127.0.0.1:${closed.addr.port};transport=tcp`;
  closed.close();
  await withBridge(() => ({ status: 500, reason: "Unused" }), async ({ bridge }) => {
    const error = await assertRejects(
      () => bridge.originate("sip:bob@127.0.0.1:5090"),
      BridgeError,
      "cannot reach the PBX",
    );
    assertEquals(error.code, "pbx-unavailable");
    assertEquals((await bridge.listSessions()).items, []);
  }, nobody);
});
