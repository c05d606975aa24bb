/**
 * ESL outbound-socket mode against the real FreeSWITCH (shared/freeswitch).
 * Its fixed dialplan has no `socket` extension, so a phone calls `msrp`
 * (which parks) and the test moves the channel with `uuid_transfer <uuid>
 * 'socket:127.0.0.1:<port> async full' inline` over its own inbound ESL
 * connection: FreeSWITCH then connects to the bridge's outbound-socket
 * server exactly as a dialplan `socket` action would. Skipped when
 * FreeSWITCH is not reachable.
 */

import { assert, assertEquals } from "../_assert.ts";
import { EslClient, type EslEventReceived } from "../../src/pbx/esl_client.ts";
import { EslOutboundServer } from "../../src/pbx/esl_outbound.ts";
import { parseSessionDescription } from "../../src/sdp/mod.ts";
import { AUDIO_OFFER, caller, closed, endpoint, exchange, nextCall } from "./_calls.ts";
import { SipFailure, SipPhone } from "./_sip_phone.ts";
import { skipUnlessReachable } from "../_services.ts";
import { deadlineOnAwait, withDeadline } from "../_until.ts";

const ESL = { hostname: "127.0.0.1", port: 8021 };
const SIP = { hostname: "127.0.0.1", port: 5080 };

const skip = await skipUnlessReachable("esl_outbound_real_test");

/** The test's own ESL connection, the bridge's server and endpoint, and a phone. */
async function setUp() {
  const esl = new EslClient(ESL).start();
  const bridge = endpoint();
  const server = new EslOutboundServer({
    endpoint: bridge,
    port: 0,
    session: { acceptTypes: ["text/plain"] },
  }).listen();
  const phone = await SipPhone.open({ server: SIP });
  await withDeadline(esl.whenConnected(), "the ESL connection");
  return {
    esl,
    server,
    phone,
    /** Resolves with the UUID of the next channel parked by the `msrp` extension with this Call-ID. */
    parked(callId: () => string | undefined): Promise<string> {
      const parked = new Promise<string>((resolve) => {
        const listener = (e: Event) => {
          const { event } = e as EslEventReceived;
          if (
            event.name !== "CHANNEL_PARK" || event.get("variable_current_application") !== "park"
          ) {
            return;
          }
          if (event.get("variable_sip_call_id") !== callId()) return;
          esl.removeEventListener("event", listener);
          resolve(event.uniqueId!);
        };
        esl.addEventListener("event", listener);
      });
      return deadlineOnAwait(parked, "CHANNEL_PARK of the call");
    },
    /** Runs the `socket` application on the channel, pointed at our server. */
    async transfer(uuid: string, then = ""): Promise<void> {
      const target = `socket:127.0.0.1:${server.port} async full${then}`;
      const output = await esl.api(`uuid_transfer ${uuid} '${target}' inline`);
      assertEquals(output.trim(), "+OK");
    },
    /** The phone calls `msrp` with `offer`; once parked, the call goes to our server. */
    async call(offer: string) {
      const callId = `${crypto.randomUUID()}@127.0.0.1`;
      const parked = this.parked(() => callId);
      const answered = nextCall(server);
      const ringing = phone.invite("msrp", offer, [], callId);
      await this.transfer(await parked);
      const call = await answered;
      return { callId, call, sipCall: await ringing };
    },
    async close() {
      await phone.close();
      await server.close();
      await esl.close();
      await bridge.close();
    },
  };
}

Deno.test({
  name: "real FreeSWITCH, outbound socket: an MSRP call is answered with the bridge's SDP, " +
    "text flows both ways, BYE ends the session",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp();
    const alice = caller("active");
    try {
      const { callId, call, sipCall } = await t.call(alice.offer);
      assertEquals(sipCall.answerSdp, call.answerSdp, "the 200 OK carries our SDP byte for byte");
      assertEquals(call.info.callId, callId);
      assertEquals(call.info.destination, "msrp");

      const answer = parseSessionDescription(sipCall.answerSdp).media[0];
      assert(answer.kind === "msrp");
      await alice.ep.connectSession(alice.session, answer.path);
      await call.session.ready;
      await exchange(call.session, alice.session);

      const ended = closed(call.session);
      assertEquals(await sipCall.bye(), 200);
      assertEquals(await ended, "hangup: NORMAL_CLEARING", "the cause arrived while lingering");
      assertEquals(t.server.calls.size, 0);
    } finally {
      await alice.ep.close();
      await t.close();
    }
  },
});

Deno.test({
  name:
    "real FreeSWITCH, outbound socket: closing the session hangs the call up (the phone gets BYE)",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp();
    const alice = caller("passive");
    try {
      const { call, sipCall } = await t.call(alice.offer);
      await alice.session.ready;
      call.session.close("finished by the application");
      await sipCall.remoteBye;
    } finally {
      await alice.ep.close();
      await t.close();
    }
  },
});

Deno.test({
  name:
    "real FreeSWITCH, outbound socket: an audio call is passed back to the dialplan (resume, exit)",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp();
    try {
      const callId = `${crypto.randomUUID()}@127.0.0.1`;
      const parked = t.parked(() => callId);
      const ringing = t.phone.invite("msrp", AUDIO_OFFER, [], callId).catch((e) => e);
      const uuid = await parked;
      // After `socket` the inline dialplan parks again: that CHANNEL_PARK shows the call went on.
      const parkedAgain = t.parked(() => callId);
      await t.transfer(uuid, ",park");
      assertEquals(await parkedAgain, uuid);
      assertEquals((await t.esl.api(`uuid_getvar ${uuid} current_application`)).trim(), "park");
      assertEquals(t.server.calls.size, 0);
      assertEquals((await t.esl.api(`uuid_kill ${uuid}`)).trim(), "+OK");
      const failure = await ringing;
      assert(failure instanceof SipFailure, "the audio call was never answered");
    } finally {
      await t.close();
    }
  },
});
