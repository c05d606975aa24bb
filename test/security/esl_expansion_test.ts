/**
 * Issue 14, item 5: FreeSWITCH expands `${…}` (variables, and API calls such
 * as `${system(…)}`) in application arguments, and the bridge answers a call
 * with `set switch_m_sdp=<answer>`, an answer that repeats parts of the
 * caller's offer. An offer that would bring `${` into that argument is
 * refused with `respond 488` and nothing is `set`; offered media types and
 * formats holding `$`, `{` or `}` are left out of the answer. Checked with the
 * ESL double, through the HTTP API (`POST /v1/sessions {"offer"}`), at the
 * ESL encoder, and against the real FreeSWITCH (skipped when unreachable).
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { until, withDeadline } from "../_until.ts";
import { startHarness } from "../api/_harness.ts";
import { type InboundCall, InboundCalls } from "../../src/pbx/calls.ts";
import { EslClient, type EslEventReceived } from "../../src/pbx/esl_client.ts";
import { chatCommand, encodeSendmsg, EslError, type EslEvent } from "../../src/pbx/esl_codec.ts";
import { SipUriError } from "../../src/pbx/sip_uri.ts";
import { buildOffer, parseSessionDescription } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { nextCall, parkHeaders } from "../pbx/_calls.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { SipFailure, SipPhone } from "../pbx/_sip_phone.ts";
import { skipUnlessReachable } from "../pbx/_real.ts";

/** Largest wait for an ESL event: a hang guard, not a timing check. */
const HANG_GUARD_MS = 30_000;

const skipReal = await skipUnlessReachable("esl_expansion_test");

function endpoint(): MsrpEndpoint {
  return new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
}

/** A caller's offer for `session` of `ep`, then edited by `edit`. */
function offerFrom(ep: MsrpEndpoint, edit: (sdp: string) => string): string {
  const session = ep.createSession({ acceptTypes: ["text/plain"] });
  return edit(buildOffer({
    path: session.localPath,
    address: "127.0.0.1",
    port: ep.port,
    acceptTypes: ["text/plain"],
    setup: "active",
    originUsername: "alice",
  }));
}

/** An RFC 5547 push whose file name, repeated in the answer, holds an expansion. */
function withExpandingFileSelector(sdp: string): string {
  return sdp.replace(
    "a=sendrecv\r\n",
    'a=sendonly\r\na=file-selector:name:"${sip_from_user}.txt" type:text/plain size:3\r\n' +
      "a=file-transfer-id:x1\r\n",
  );
}

/** A media type holding an expansion, which the answer may leave out. */
function withExpandingType(sdp: string): string {
  return sdp.replace(
    "a=accept-types:text/plain",
    "a=accept-types:text/plain text/${sip_from_user}",
  );
}

/** {@linkcode withExpandingType}, and an `m=` format holding one (Sofia refuses that with 400). */
function withExpandingTypes(sdp: string): string {
  return withExpandingType(sdp) + "m=audio 4000 RTP/AVP 0 ${sip_from_user}\r\n";
}

Deno.test("esl expansion: the offer edits used below parse, and put ${ where an answer would repeat it", async () => {
  const ep = endpoint();
  try {
    const file = parseSessionDescription(offerFrom(ep, withExpandingFileSelector)).media[0];
    assert(file.kind === "msrp");
    assertEquals(file.fileTransfer?.selector?.name, "${sip_from_user}.txt");
    const types = parseSessionDescription(offerFrom(ep, withExpandingTypes)).media;
    assert(types[0].kind === "msrp");
    assertEquals(types[0].acceptTypes, ["text/plain", "text/${sip_from_user}"]);
    assertEquals(types[1].formats, ["0", "${sip_from_user}"]);
  } finally {
    await ep.close();
  }
});

/** The ESL double with an ESL client and the bridge's inbound calls (accepting any type). */
async function withDouble(
  body: (t: { fs: FakeFreeSwitch; calls: InboundCalls; caller: MsrpEndpoint }) => Promise<void>,
): Promise<void> {
  const fs = new FakeFreeSwitch();
  const esl = new EslClient({ port: fs.port, reconnectBaseMs: 20 }).start();
  const bridge = endpoint();
  const caller = endpoint();
  const calls = new InboundCalls({ esl, endpoint: bridge, session: { acceptTypes: ["*"] } });
  try {
    await esl.whenConnected();
    await body({ fs, calls, caller });
  } finally {
    await calls.close();
    await esl.close();
    await caller.close();
    await bridge.close();
    await fs.close();
  }
}

function sendmsgs(fs: FakeFreeSwitch, uuid: string, app: string) {
  return fs.commands.map((c) => c.command).filter((c) =>
    c.name === "sendmsg" && c.args === uuid && c.headers.get("execute-app-name") === app
  );
}

Deno.test("esl expansion: an offer whose file selector holds ${ gets respond 488 and no set (ESL double)", async () => {
  await withDouble(async ({ fs, calls, caller }) => {
    const uuid = "expanding-file-selector";
    const headers = parkHeaders(uuid, offerFrom(caller, withExpandingFileSelector));
    fs.addChannel(headers);
    fs.emit("CHANNEL_PARK", headers);
    const respond = await fs.waitForCommand((c) =>
      c.name === "sendmsg" && c.args === uuid && c.headers.get("execute-app-name") === "respond"
    );
    assertEquals(respond.headers.get("execute-app-arg"), "488");
    assertEquals(sendmsgs(fs, uuid, "set"), []);
    assertEquals(calls.calls.size, 0);
  });
});

Deno.test("esl expansion: offered types and formats holding $ { } are left out; the set carries no ${ (ESL double)", async () => {
  await withDouble(async ({ fs, calls, caller }) => {
    const uuid = "expanding-types";
    const headers = parkHeaders(uuid, offerFrom(caller, withExpandingTypes));
    const answered: Promise<InboundCall> = nextCall(calls);
    fs.addChannel(headers);
    fs.emit("CHANNEL_PARK", headers);
    const call = await answered;
    const sets = sendmsgs(fs, uuid, "set").map((c) =>
      c.body ? new TextDecoder().decode(c.body) : c.headers.get("execute-app-arg") ?? ""
    );
    assertEquals(sets, [`switch_m_sdp=${call.answerSdp}`, "sip_enable_soa=false"]);
    assert(!call.answerSdp.includes("${"), call.answerSdp);
    const [msrp, audio] = parseSessionDescription(call.answerSdp).media;
    assert(msrp.kind === "msrp");
    assertEquals(msrp.acceptTypes, ["text/plain"]);
    assertEquals([audio.port, audio.formats], [0, ["0"]]);
  });
});

Deno.test("esl expansion: POST /v1/sessions {offer} answers 422 sdp-not-acceptable for such a file selector, and leaves such types out", async () => {
  await using h = await startHarness();
  const caller = endpoint();
  try {
    const refused = await h.json("POST", "/v1/sessions", {
      offer: offerFrom(caller, withExpandingFileSelector),
    });
    const problem = await refused.json();
    assertEquals(
      [problem.status, problem.type],
      [422, "https://msrp-bridge.dev/problems/sdp-not-acceptable"],
      problem.detail,
    );
    const created = await h.json("POST", "/v1/sessions", {
      offer: offerFrom(caller, withExpandingTypes),
    });
    assertEquals(created.status, 201);
    const { answer } = await created.json();
    assert(!answer.includes("${"), answer);
  } finally {
    await caller.close();
  }
});

Deno.test("esl expansion: the ESL encoder refuses ${ and $${ in an application argument, and unsafe chat fields", () => {
  for (const arg of ["switch_m_sdp=${system(id)}", "x=$${hostname}", "a=b\r\nc=${x}"]) {
    assertThrows(() => encodeSendmsg("u", { command: "execute", app: "set", arg }), EslError, "${");
  }
  encodeSendmsg("u", { command: "execute", app: "set", arg: "price=$5 {ok}" });
  const fine = { from: "bridge@127.0.0.1", to: "internal/sip:bob@127.0.0.1", text: "hi" };
  assertEquals(
    chatCommand({ ...fine, contentType: "text/plain" }),
    "chat sip|bridge@127.0.0.1|internal/sip:bob@127.0.0.1|hi|text/plain",
  );
  for (const to of ["internal/sip:b@h,sofia/x", "internal/sip:${x}@h", "internal/sip:b@h|x"]) {
    assertThrows(() => chatCommand({ ...fine, to, contentType: "text/plain" }), SipUriError);
  }
  assertThrows(
    () => chatCommand({ ...fine, from: "a b@h", contentType: "text/plain" }),
    SipUriError,
  );
  assertThrows(() => chatCommand({ ...fine, text: "a|b", contentType: "text/plain" }), EslError);
  assertThrows(() => chatCommand({ ...fine, contentType: "text/pl|ain" }), EslError);
});

// ---------------------------------------------------------------- real FreeSWITCH

const ESL = { hostname: "127.0.0.1", port: 8021 };
const SIP = { hostname: "127.0.0.1", port: 5080 };

/** Every event of the watcher, in order, and a wait for one. */
function recorder(esl: EslClient) {
  const events: EslEvent[] = [];
  esl.addEventListener("event", (e) => events.push((e as EslEventReceived).event));
  return {
    events,
    async waitFor(what: string, match: (event: EslEvent) => boolean): Promise<EslEvent> {
      await until(() => events.some(match), what, { timeoutMs: HANG_GUARD_MS });
      return events.find(match)!;
    },
  };
}

/** The application runs FreeSWITCH reported for channel `uuid` (`CHANNEL_EXECUTE_COMPLETE`). */
function executed(events: readonly EslEvent[], uuid: string, app: string): string[] {
  return events
    .filter((e) =>
      e.name === "CHANNEL_EXECUTE_COMPLETE" && e.uniqueId === uuid && e.get("Application") === app
    )
    .map((e) => e.get("Application-Data") ?? "");
}

Deno.test({
  name: "esl expansion: real FreeSWITCH never runs a set carrying ${ from an offer " +
    "(a type or a file selector with ${…}); a plain offer after them is answered with a set",
  ignore: skipReal !== undefined,
  async fn() {
    const watcher = new EslClient(ESL).start();
    const esl = new EslClient(ESL).start();
    const bridge = endpoint();
    const caller = endpoint();
    const calls = new InboundCalls({ esl, endpoint: bridge, session: { acceptTypes: ["*"] } });
    const phone = await SipPhone.open({ server: SIP });
    const seen = recorder(watcher);
    const pending: Promise<unknown>[] = [];
    try {
      await watcher.whenConnected();
      await esl.whenConnected();
      const park = (callId: string) =>
        seen.waitFor(
          `CHANNEL_PARK of ${callId}`,
          (e) => e.name === "CHANNEL_PARK" && e.get("variable_sip_call_id") === callId,
        );

      const hostile: string[] = [];
      for (const edit of [withExpandingType, withExpandingFileSelector]) {
        const callId = `${crypto.randomUUID()}@127.0.0.1`;
        pending.push(phone.invite("msrp", offerFrom(caller, edit), [], callId).catch((e) => e));
        const parked = await park(callId);
        // FreeSWITCH itself refuses to keep a remote SDP holding "${" ("Invalid data
        // (${switch_r_sdp} contains a variable)"), so no offer reaches the bridge.
        assertEquals(parked.remoteSdp, undefined, "FreeSWITCH kept an offer holding ${");
        hostile.push(parked.uniqueId!);
      }

      // The trap works: a plain call placed after them is answered, its sets seen by the
      // watcher. The bridge handles events in order, so it has seen the parks above.
      const plainCallId = `${crypto.randomUUID()}@127.0.0.1`;
      const answered = nextCall(calls);
      const sipCall = await withDeadline(
        phone.invite("msrp", offerFrom(caller, (sdp) => sdp), [], plainCallId),
        "the answer to the plain call",
        HANG_GUARD_MS,
      );
      const call = await withDeadline(answered, "the bridge's call", HANG_GUARD_MS);
      const plainUuid = (await park(plainCallId)).uniqueId!;
      assertEquals(sipCall.answerSdp, call.answerSdp, "the 200 OK carries our SDP byte for byte");
      await seen.waitFor(
        "the set of switch_m_sdp",
        (e) => executed([e], plainUuid, "set").some((d) => d.startsWith("switch_m_sdp=")),
      );
      for (const uuid of hostile) {
        assertEquals(executed(seen.events, uuid, "set"), [], `a set ran on ${uuid}`);
        assertEquals(calls.calls.has(uuid), false);
        assertEquals((await watcher.api(`uuid_kill ${uuid}`)).trim(), "+OK");
      }
      for (const outcome of await Promise.all(pending.splice(0))) {
        assert(outcome instanceof SipFailure, `a hostile call was answered: ${outcome}`);
      }
      assertEquals(await sipCall.bye(), 200);
    } finally {
      await phone.close();
      await Promise.all(pending);
      await calls.close();
      await esl.close();
      await watcher.close();
      await caller.close();
      await bridge.close();
    }
  },
});
