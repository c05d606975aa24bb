/**
 * Inbound MSRP calls against the FreeSWITCH double: the answer sequence of
 * freeswitch-esl.md §4.2, the MSRP session with a peer that plays the caller,
 * calls left alone or rejected, hangups in both directions, a reconnect, and
 * calls parked while the event socket was down.
 */

import { assert, assertEquals } from "../_assert.ts";
import { InboundCalls } from "../../src/pbx/calls.ts";
import { EslClient, type EslEventReceived, type EslStateChange } from "../../src/pbx/esl_client.ts";
import { encodeApi, type EslEvent } from "../../src/pbx/esl_codec.ts";
import { parseSessionDescription } from "../../src/sdp/mod.ts";
import type { MsrpEndpoint } from "../../src/session/mod.ts";
import {
  AUDIO_OFFER,
  CALL,
  caller,
  closed,
  endpoint,
  exchange,
  nextCall,
  parkHeaders,
} from "./_calls.ts";
import { EslTestClient } from "./_esl_test_client.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

/** A double, an ESL client, the bridge's endpoint and its inbound calls; all closed afterwards. */
async function withBridge(
  body: (
    t: { fs: FakeFreeSwitch; esl: EslClient; bridge: MsrpEndpoint; calls: InboundCalls },
  ) => Promise<void>,
  bridgeOptions: ConstructorParameters<typeof MsrpEndpoint>[0] = {},
): Promise<void> {
  const fs = new FakeFreeSwitch();
  const esl = new EslClient({ port: fs.port, reconnectBaseMs: 20 }).start();
  const bridge = endpoint(bridgeOptions);
  const calls = new InboundCalls({
    esl,
    endpoint: bridge,
    session: { acceptTypes: ["text/plain"] },
  });
  try {
    await esl.whenConnected();
    await body({ fs, esl, bridge, calls });
  } finally {
    await calls.close();
    await esl.close();
    await bridge.close();
    await fs.close();
  }
}

/** Registers a parked channel in the double and fires its CHANNEL_PARK. */
function park(fs: FakeFreeSwitch, uuid: string, offer: string, disposition?: string): void {
  const headers = parkHeaders(uuid, offer, disposition);
  fs.addChannel(headers);
  fs.emit("CHANNEL_PARK", headers);
}

/** Resolves with the next ESL event called `name` (after the bridge's own listener saw it). */
function nextEvent(esl: EslClient, name: string): Promise<EslEvent> {
  return new Promise((resolve) => {
    const listener = (e: Event) => {
      const { event } = e as EslEventReceived;
      if (event.name !== name) return;
      esl.removeEventListener("event", listener);
      resolve(event);
    };
    esl.addEventListener("event", listener);
  });
}

for (const callerSetup of ["active", "passive"] as const) {
  const article = callerSetup === "active" ? "an" : "a";
  Deno.test(`calls: ${article} ${callerSetup} MSRP offer is answered with our SDP and the session carries text`, async () => {
    await withBridge(async ({ fs, bridge, calls }) => {
      const alice = caller(callerSetup);
      try {
        const answered = nextCall(calls);
        park(fs, CALL, alice.offer);
        const call = await answered;

        const channel = fs.channel(CALL)!;
        assert(channel.answered, "FreeSWITCH answered the call");
        assertEquals(channel.variables.get("rtp_local_sdp_str"), call.answerSdp);
        const sendmsgs = fs.commands.map((c) => c.command).filter((c) => c.name === "sendmsg");
        assertEquals(sendmsgs.map((c) => c.headers.get("execute-app-name")), [
          "set",
          "set",
          "answer",
        ]);
        assertEquals(new TextDecoder().decode(sendmsgs[0].body), `switch_m_sdp=${call.answerSdp}`);
        assertEquals(sendmsgs[1].headers.get("execute-app-arg"), "sip_enable_soa=false");

        const answer = parseSessionDescription(call.answerSdp).media[0];
        assert(answer.kind === "msrp");
        assertEquals(answer.path, [call.session.localUri]);
        assertEquals(answer.setup, callerSetup === "active" ? "passive" : "active");
        assertEquals(bridge.sessions.get(call.session.id), call.session);
        assertEquals(call.info, {
          channelUuid: CALL,
          otherLegUuid: null,
          callId: `${CALL}@127.0.0.1`,
          fromUri: "sip:alice@127.0.0.1:5090",
          toUri: "sip:msrp@127.0.0.1:5080",
          fromDisplay: "Alice Example",
          callerNumber: "alice",
          destination: "msrp",
        });

        if (callerSetup === "active") {
          await alice.ep.connectSession(alice.session, answer.path);
        }
        await call.session.ready;
        await alice.session.ready;
        await exchange(call.session, alice.session);
        assertEquals(calls.calls.get(CALL), call);
      } finally {
        await alice.ep.close();
      }
    });
  });
}

Deno.test("calls: an audio call and a channel not in bypass mode are left alone", async () => {
  await withBridge(async ({ fs, calls }) => {
    const alice = caller("active");
    try {
      park(fs, "audio-call", AUDIO_OFFER);
      park(fs, "negotiated-call", alice.offer, "RECEIVED");
      const answered = nextCall(calls);
      park(fs, CALL, alice.offer);
      assertEquals((await answered).info.channelUuid, CALL);
      const touched = fs.commands.filter((c) => c.command.name === "sendmsg")
        .map((c) => c.command.args);
      assertEquals(touched, [CALL, CALL, CALL], "events are handled in order");
      assertEquals([...calls.calls.keys()], [CALL]);
      assertEquals(fs.channel("audio-call")?.answered, false);
    } finally {
      await alice.ep.close();
    }
  });
});

Deno.test("calls: an offer that cannot be served is refused with 488, nothing is kept", async () => {
  await withBridge(async ({ fs, bridge, calls }) => {
    const noPath = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
      "m=message 7394 TCP/MSRP *\r\na=accept-types:text/plain\r\n";
    const wrongType = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
      "m=message 7394 TCP/MSRP *\r\na=accept-types:image/png\r\n" +
      "a=path:msrp://127.0.0.1:7394/abc;tcp\r\n";
    for (const [uuid, offer] of [["no-path", noPath], ["wrong-type", wrongType]]) {
      park(fs, uuid, offer);
      const respond = await fs.waitForCommand((c) =>
        c.name === "sendmsg" && c.args === uuid && c.headers.get("execute-app-name") === "respond"
      );
      assertEquals(respond.headers.get("execute-app-arg"), "488");
      assertEquals(fs.channel(uuid), undefined, "the double hung the call up");
    }
    assertEquals(calls.calls.size, 0);
    assertEquals(bridge.sessions.size, 0);
  });
});

Deno.test("calls: beyond the session limit a call is refused with 488", async () => {
  await withBridge(async ({ fs, calls }) => {
    const alice = caller("active");
    try {
      park(fs, CALL, alice.offer);
      const respond = await fs.waitForCommand((c) => c.name === "sendmsg" && c.args === CALL);
      assertEquals(respond.headers.get("execute-app-name"), "respond");
      assertEquals(respond.headers.get("execute-app-arg"), "488");
      assertEquals(calls.calls.size, 0);
    } finally {
      await alice.ep.close();
    }
  }, { maxSessions: 0 });
});

Deno.test("calls: a hangup closes the session; no uuid_kill is sent", async () => {
  await withBridge(async ({ fs, calls }) => {
    const alice = caller("passive");
    const other = await EslTestClient.login(fs.port);
    try {
      const answered = nextCall(calls);
      park(fs, CALL, alice.offer);
      const call = await answered;
      await alice.session.ready;
      const reason = closed(call.session);
      await other.command(encodeApi("uuid_kill", `${CALL} USER_BUSY`));
      assertEquals(await reason, "hangup: USER_BUSY");
      assertEquals([call.state, call.hangupCause], ["ended", "USER_BUSY"]);
      assertEquals(calls.calls.size, 0);
      assertEquals(fs.commands.filter((c) => c.command.line.startsWith("api uuid_kill")).length, 1);
    } finally {
      other.close();
      await alice.ep.close();
    }
  });
});

Deno.test("calls: a session closed by the application hangs the channel up", async () => {
  await withBridge(async ({ fs, esl, calls }) => {
    const alice = caller("passive");
    try {
      const answered = nextCall(calls);
      park(fs, CALL, alice.offer);
      const call = await answered;
      await alice.session.ready;
      const callerSide = closed(alice.session);
      const hungUp = nextEvent(esl, "CHANNEL_HANGUP_COMPLETE");
      call.session.close("done");
      assertEquals((await hungUp).uniqueId, CALL);
      assert(fs.commands.some((c) => c.command.line === `api uuid_kill ${CALL}`));
      assertEquals(fs.channel(CALL), undefined, "the channel is gone");
      assertEquals(call.hangupCause, "NORMAL_CLEARING");
      assertEquals(calls.calls.size, 0);
      assert((await callerSide).length > 0, "the caller's session ended with the connection");
    } finally {
      await alice.ep.close();
    }
  });
});

Deno.test("calls: after a reconnect, calls are served again and a session closed meanwhile is hung up", async () => {
  await withBridge(async ({ fs, esl, calls }) => {
    const alice = caller("passive");
    const bob = caller("passive");
    try {
      const answered = nextCall(calls);
      park(fs, CALL, alice.offer);
      const call = await answered;
      await alice.session.ready;

      const lost = new Promise<void>((resolve) =>
        esl.addEventListener("state", (e) => {
          if ((e as EslStateChange).state === "disconnected") resolve();
        })
      );
      await fs.dropConnections();
      await lost;
      call.session.close("closed while ESL was down");
      await fs.waitForCommand((c) => c.line === `api uuid_exists ${CALL}`);
      await fs.waitForCommand((c) => c.line === `api uuid_kill ${CALL}`);
      assertEquals(fs.channel(CALL), undefined, "hung up after the reconnect");

      const again = nextCall(calls);
      park(fs, "second-call", bob.offer);
      const second = await again;
      await bob.session.ready;
      await exchange(second.session, bob.session);
    } finally {
      await alice.ep.close();
      await bob.ep.close();
    }
  });
});

Deno.test("calls: channels parked while ESL was down are answered after the reconnect; others are left alone", async () => {
  await withBridge(async ({ fs, esl, calls }) => {
    const alice = caller("passive");
    try {
      const lost = new Promise<void>((resolve) =>
        esl.addEventListener("state", (e) => {
          if ((e as EslStateChange).state === "disconnected") resolve();
        })
      );
      await fs.dropConnections();
      await lost;
      // Parked meanwhile: their CHANNEL_PARK went nowhere.
      fs.addChannel(parkHeaders(CALL, alice.offer));
      fs.addChannel(parkHeaders("audio-call", AUDIO_OFFER));
      fs.addChannel(
        parkHeaders("answered-call", alice.offer).map(([n, v]) =>
          n === "Channel-Call-State" ? [n, "ACTIVE"] as const : [n, v] as const
        ),
      );
      const call = await nextCall(calls);
      assertEquals(call.info.channelUuid, CALL);
      assertEquals(call.info.callId, `${CALL}@127.0.0.1`, "identity read from uuid_dump");
      assertEquals(fs.channel(CALL)?.variables.get("rtp_local_sdp_str"), call.answerSdp);
      await alice.session.ready;
      await exchange(call.session, alice.session);
      const dumped = fs.commands.map((c) => c.command.line).filter((l) => l.includes("uuid_dump"));
      assertEquals(dumped.sort(), [`api uuid_dump ${CALL} json`, "api uuid_dump audio-call json"]);
      assertEquals(fs.channel("audio-call")?.answered, false);
      assertEquals(fs.channel("answered-call")?.queued, 0);
      assertEquals([...calls.calls.keys()], [CALL]);
    } finally {
      await alice.ep.close();
    }
  });
});
