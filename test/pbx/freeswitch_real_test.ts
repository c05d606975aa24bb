/**
 * Inbound MSRP calls through a real FreeSWITCH (shared/freeswitch, started
 * with `.ci/freeswitch.sh start`): a SIP phone calls the `msrp` extension on
 * 127.0.0.1:5080, the bridge answers over ESL (127.0.0.1:8021) with its own
 * SDP, and text flows over MSRP between the bridge and a second endpoint
 * that plays the phone's MSRP side; audio calls are left alone, and calls
 * parked before the bridge's ESL connection came up are answered once it
 * does. Skipped when FreeSWITCH is not reachable.
 */

import { nextMessage } from "../_messages.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { InboundCalls } from "../../src/pbx/calls.ts";
import { EslClient, type EslEventReceived } from "../../src/pbx/esl_client.ts";
import { buildOffer, parseSessionDescription } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { deadlineOnAwait, until, withDeadline } from "../_until.ts";
import { AUDIO_OFFER, closed, exchange, nextCall } from "./_calls.ts";
import { SipFailure, SipPhone } from "./_sip_phone.ts";
import { skipUnlessReachable } from "../_services.ts";

const ESL = { hostname: "127.0.0.1", port: 8021 };
const SIP = { hostname: "127.0.0.1", port: 5080 };

const skip = await skipUnlessReachable("freeswitch_real_test");

function endpoint(): MsrpEndpoint {
  return new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
}

/** Everything one call needs; `close()` ends it all. */
async function setUp(callerSetup: "active" | "passive") {
  const esl = new EslClient(ESL).start();
  const bridge = endpoint();
  const calls = new InboundCalls({
    esl,
    endpoint: bridge,
    session: { acceptTypes: ["text/plain", "application/octet-stream"] },
  });
  const aliceEndpoint = endpoint();
  const alice = aliceEndpoint.createSession({
    acceptTypes: ["text/plain", "application/octet-stream"],
  });
  const offer = buildOffer({
    path: alice.localPath,
    address: "127.0.0.1",
    port: aliceEndpoint.port,
    acceptTypes: ["text/plain", "application/octet-stream"],
    setup: callerSetup,
    originUsername: "alice",
  });
  const phone = await SipPhone.open({ server: SIP });
  await withDeadline(esl.whenConnected(), "the ESL connection");
  return {
    esl,
    bridge,
    calls,
    aliceEndpoint,
    alice,
    offer,
    phone,
    async close() {
      await phone.close();
      await calls.close();
      await esl.close();
      await aliceEndpoint.close();
      await bridge.close();
    },
  };
}

for (const callerSetup of ["active", "passive"] as const) {
  Deno.test({
    name: `real FreeSWITCH: a call with an MSRP offer (${callerSetup}) is answered with the ` +
      "bridge's SDP, text and a 10 MiB file flow both ways, BYE ends the session",
    ignore: skip !== undefined,
    async fn() {
      const t = await setUp(callerSetup);
      try {
        const answered = nextCall(t.calls);
        const sipCall = await t.phone.invite("msrp", t.offer);
        const call = await answered;

        assertEquals(sipCall.answerSdp, call.answerSdp, "the 200 OK carries our SDP byte for byte");
        assertEquals(sipCall.responses.at(-1)?.startLine, "SIP/2.0 200 OK");
        assertEquals(call.info.callId, sipCall.callId);
        assertEquals(call.info.fromDisplay, "Alice Example");
        assertEquals(call.info.callerNumber, "alice");
        assertEquals(call.info.destination, "msrp");
        assert(call.info.fromUri?.startsWith("sip:alice@127.0.0.1:"), "the caller's SIP URI");

        const answer = parseSessionDescription(sipCall.answerSdp).media[0];
        assert(answer.kind === "msrp");
        if (callerSetup === "active") await t.aliceEndpoint.connectSession(t.alice, answer.path);
        await t.alice.ready;

        const atBridge = nextMessage(call.session);
        t.alice.send("Hello from the phone");
        assertEquals((await atBridge).text(), "Hello from the phone");
        const atPhone = nextMessage(t.alice);
        call.session.send("Hello from the bridge");
        assertEquals((await atPhone).text(), "Hello from the bridge");

        // A 10 MiB file each way.
        const file = new Uint8Array(10 * 1024 * 1024);
        for (let i = 0; i < file.length; i += 65536) {
          crypto.getRandomValues(file.subarray(i, i + 65536));
        }
        const fileAtBridge = nextMessage(call.session);
        const up = await t.alice.send(file, { contentType: "application/octet-stream" }).done;
        assertEquals(up.status, "sent");
        assertEquals((await fileAtBridge).body(), file);
        const fileAtPhone = nextMessage(t.alice);
        const down = await call.session.send(file, { contentType: "application/octet-stream" })
          .done;
        assertEquals(down.status, "sent");
        assertEquals((await fileAtPhone).body(), file);

        const ended = closed(call.session);
        assertEquals(await sipCall.bye(), 200);
        assertEquals(await ended, "hangup: NORMAL_CLEARING");
        assertEquals(call.hangupCause, "NORMAL_CLEARING");
        assertEquals(t.calls.calls.size, 0);
      } finally {
        await t.close();
      }
    },
  });
}

Deno.test({
  name: "real FreeSWITCH: closing the session hangs the call up (the phone gets BYE)",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp("active");
    try {
      const answered = nextCall(t.calls);
      const sipCall = await t.phone.invite("msrp", t.offer);
      const call = await answered;
      const answer = parseSessionDescription(sipCall.answerSdp).media[0];
      assert(answer.kind === "msrp");
      await t.aliceEndpoint.connectSession(t.alice, answer.path);
      await call.session.ready;
      call.session.close("finished by the application");
      await sipCall.remoteBye;
      assert((await closed(t.alice)).startsWith("connection lost"), "the phone's MSRP side ended");
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "real FreeSWITCH: an MSRP offer the bridge cannot serve gets 488",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp("active");
    try {
      const noPath = t.offer.replace(/a=path:[^\r]*\r\n/, "");
      const failure = await assertRejects(() => t.phone.invite("msrp", noPath), SipFailure);
      assertEquals(failure.status, 488);
      assertEquals(t.bridge.sessions.size, 0);
    } finally {
      await t.close();
    }
  },
});

/** Resolves with the UUID of the channel whose INVITE had `callId`, once it parks. */
function parkedChannel(esl: EslClient, callId: string): Promise<string> {
  const parked = new Promise<string>((resolve) => {
    const listener = (e: Event) => {
      const { event } = e as EslEventReceived;
      if (event.name !== "CHANNEL_PARK" || event.get("variable_sip_call_id") !== callId) return;
      esl.removeEventListener("event", listener);
      resolve(event.uniqueId!);
    };
    esl.addEventListener("event", listener);
  });
  return deadlineOnAwait(parked, `CHANNEL_PARK of the call ${callId}`);
}

Deno.test({
  name: "real FreeSWITCH: an audio-only INVITE is left alone (parked, unanswered, no session)",
  ignore: skip !== undefined,
  async fn() {
    const t = await setUp("passive");
    try {
      const audioCallId = `${crypto.randomUUID()}@127.0.0.1`;
      const audioParked = parkedChannel(t.esl, audioCallId);
      const audioCall = t.phone.invite("msrp", AUDIO_OFFER, [], audioCallId).catch((e) => e);
      const audioUuid = await audioParked;
      // Events are handled in order: once the MSRP call placed after it is answered, the
      // bridge has seen the audio call's CHANNEL_PARK.
      const answered = nextCall(t.calls);
      const sipCall = await t.phone.invite("msrp", t.offer);
      await answered;
      const dump = JSON.parse(await t.esl.api(`uuid_dump ${audioUuid} json`));
      assertEquals([dump["Answer-State"], dump["variable_current_application"]], [
        "ringing",
        "park",
      ]);
      assertEquals([...t.calls.calls.keys()].includes(audioUuid), false);
      assertEquals(t.bridge.sessions.size, 1, "only the MSRP call has a session");
      assertEquals((await t.esl.api(`uuid_kill ${audioUuid}`)).trim(), "+OK");
      assert(await audioCall instanceof SipFailure, "the audio call was never answered");
      assertEquals(await sipCall.bye(), 200);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "real FreeSWITCH: a call parked before the bridge's ESL connection is answered once it connects",
  ignore: skip !== undefined,
  async fn() {
    const watcher = new EslClient(ESL).start();
    const phone = await SipPhone.open({ server: SIP });
    const bridge = endpoint();
    const aliceEndpoint = endpoint();
    const alice = aliceEndpoint.createSession({ acceptTypes: ["text/plain"] });
    const offer = buildOffer({
      path: alice.localPath,
      address: "127.0.0.1",
      port: aliceEndpoint.port,
      acceptTypes: ["text/plain"],
      setup: "passive",
    });
    let esl: EslClient | undefined;
    let calls: InboundCalls | undefined;
    try {
      await withDeadline(watcher.whenConnected(), "the watcher's ESL connection");
      const callId = `${crypto.randomUUID()}@127.0.0.1`;
      const parked = parkedChannel(watcher, callId);
      const ringing = phone.invite("msrp", offer, [], callId);
      const uuid = await parked;
      // `show channels` reads FreeSWITCH's channel table, written just after the event.
      await until(
        async () => (await watcher.api("show channels as json")).includes(uuid),
        `channel ${uuid} in show channels`,
        { intervalMs: 20 },
      );

      esl = new EslClient(ESL);
      calls = new InboundCalls({ esl, endpoint: bridge, session: { acceptTypes: ["text/plain"] } });
      const answered = nextCall(calls);
      esl.start();
      const call = await answered;
      assertEquals(call.info.channelUuid, uuid);
      assertEquals(call.info.callId, callId);
      const sipCall = await ringing;
      assertEquals(sipCall.answerSdp, call.answerSdp, "the 200 OK carries our SDP");
      await alice.ready;
      await exchange(call.session, alice);
      const ended = closed(call.session);
      assertEquals(await sipCall.bye(), 200);
      assertEquals(await ended, "hangup: NORMAL_CLEARING");
    } finally {
      await calls?.close();
      await esl?.close();
      await phone.close();
      await watcher.close();
      await aliceEndpoint.close();
      await bridge.close();
    }
  },
});
