/**
 * ESL outbound-socket mode against the FreeSWITCH double, which plays the
 * dialplan `socket` application: the connect/myevents/linger start, an MSRP
 * offer answered with our SDP over the call's own socket, audio calls passed
 * back to the dialplan, 488 for offers we cannot serve, and hangups both ways.
 */

import { assert, assertEquals } from "../_assert.ts";
import { EslOutboundServer } from "../../src/pbx/esl_outbound.ts";
import { encodeApi } from "../../src/pbx/esl_codec.ts";
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
import { FakeFreeSwitch, type SocketOptions } from "./_fake_freeswitch.ts";

/** The double, the bridge's endpoint and the outbound-socket server; all closed afterwards. */
async function withServer(
  body: (t: { fs: FakeFreeSwitch; bridge: MsrpEndpoint; server: EslOutboundServer }) => Promise<
    void
  >,
): Promise<void> {
  const fs = new FakeFreeSwitch();
  const bridge = endpoint();
  const server = new EslOutboundServer({
    endpoint: bridge,
    port: 0,
    session: { acceptTypes: ["text/plain"] },
  }).listen();
  try {
    await body({ fs, bridge, server });
  } finally {
    await server.close();
    await bridge.close();
    await fs.close();
  }
}

/** A parked channel in the double whose dialplan now runs `socket` to our server. */
async function socketCall(
  fs: FakeFreeSwitch,
  server: EslOutboundServer,
  uuid: string,
  offer: string,
  options?: SocketOptions,
): Promise<void> {
  fs.addChannel(parkHeaders(uuid, offer));
  await fs.socket(uuid, { hostname: "127.0.0.1", port: server.port }, options);
}

/** The command lines of the socket (the connection that sent `connect`), `sendmsg` with its app. */
function lines(fs: FakeFreeSwitch): string[] {
  const socket = fs.commands.find((c) => c.command.name === "connect")?.connection;
  return fs.commands.filter((c) => c.connection === socket).map(({ command }) => {
    const app = command.headers.get("execute-app-name") ?? command.headers.get("call-command");
    return command.name === "sendmsg" ? `${command.line} ${app}` : command.line;
  });
}

Deno.test("outbound socket: an MSRP offer is answered with our SDP over the call's own socket, text flows, a hangup ends the session", async () => {
  await withServer(async ({ fs, server }) => {
    const alice = caller("passive");
    const other = await EslTestClient.login(fs.port);
    try {
      const answered = nextCall(server);
      await socketCall(fs, server, CALL, alice.offer);
      const call = await answered;
      assertEquals(lines(fs), [
        "connect",
        "myevents json",
        "linger 30",
        `sendmsg ${CALL} set`,
        `sendmsg ${CALL} set`,
        `sendmsg ${CALL} answer`,
      ]);
      const channel = fs.channel(CALL)!;
      assert(channel.answered, "FreeSWITCH answered the call");
      assertEquals(channel.variables.get("rtp_local_sdp_str"), call.answerSdp);
      assertEquals(call.info.callId, `${CALL}@127.0.0.1`, "identity from the CHANNEL_DATA");
      await alice.session.ready;
      await exchange(call.session, alice.session);
      assertEquals(server.calls.get(CALL), call);

      const reason = closed(call.session);
      await other.command(encodeApi("uuid_kill", `${CALL} USER_BUSY`));
      assertEquals(await reason, "hangup: USER_BUSY", "the cause came while lingering");
      await fs.waitForCommand((c) => c.name === "exit");
      assertEquals(server.calls.size, 0);
    } finally {
      other.close();
      await alice.ep.close();
    }
  });
});

Deno.test("outbound socket: closing the session hangs the call up through its socket, then exits", async () => {
  await withServer(async ({ fs, server }) => {
    const alice = caller("active");
    try {
      const answered = nextCall(server);
      await socketCall(fs, server, CALL, alice.offer);
      const call = await answered;
      call.session.close("finished by the application");
      const hangup = await fs.waitForCommand((c) =>
        c.name === "sendmsg" && c.headers.get("call-command") === "hangup"
      );
      assertEquals(hangup.args, CALL);
      await fs.waitForCommand((c) => c.name === "exit");
      assertEquals(fs.channel(CALL), undefined, "the channel is gone");
      assertEquals(call.hangupCause, "NORMAL_CLEARING");
      assertEquals(server.calls.size, 0);
    } finally {
      await alice.ep.close();
    }
  });
});

Deno.test("outbound socket: an audio call is passed back to the dialplan with resume and exit", async () => {
  await withServer(async ({ fs, server }) => {
    await socketCall(fs, server, "audio-call", AUDIO_OFFER);
    await fs.waitForCommand((c) => c.name === "exit");
    assertEquals(lines(fs), ["connect", "myevents json", "linger 30", "resume", "exit"]);
    const channel = fs.channel("audio-call");
    assertEquals([channel?.answered, channel?.hangupCause], [false, undefined], "left alone");
    assertEquals(channel?.application, "park", "the dialplan went on after socket");
    assertEquals(server.calls.size, 0);
  });
});

Deno.test("outbound socket: an offer that cannot be served is refused with 488", async () => {
  await withServer(async ({ fs, bridge, server }) => {
    const noPath = AUDIO_OFFER.replace("m=audio 4000 RTP/AVP 0", "m=message 7394 TCP/MSRP *");
    await socketCall(fs, server, "no-path", noPath);
    const respond = await fs.waitForCommand((c) => c.name === "sendmsg");
    assertEquals(respond.headers.get("execute-app-name"), "respond");
    assertEquals(respond.headers.get("execute-app-arg"), "488");
    await fs.waitForCommand((c) => c.name === "exit");
    assertEquals(fs.channel("no-path"), undefined, "the double hung the call up");
    assertEquals(bridge.sessions.size, 0);
  });
});

Deno.test("outbound socket: without full, linger is refused; the call is served and ends when the socket closes", async () => {
  await withServer(async ({ fs, server }) => {
    const alice = caller("passive");
    const other = await EslTestClient.login(fs.port);
    try {
      const answered = nextCall(server);
      await socketCall(fs, server, CALL, alice.offer, { full: false });
      const call = await answered;
      await alice.session.ready;
      const reason = closed(call.session);
      await other.command(encodeApi("uuid_kill", CALL));
      assertEquals(await reason, "hangup: channel gone", "no linger: the cause is lost");
      assertEquals(fs.commands.some((c) => c.command.name === "exit"), false);
    } finally {
      other.close();
      await alice.ep.close();
    }
  });
});
