/**
 * Every wire transcript in `test/fixtures/esl/` (captured from FreeSWITCH;
 * copies of the project's `shared/esl-fixtures/`) parsed by the side it
 * belongs to, checked for its typed content, and re-serialized byte for byte
 * by the codec's serializers. A fixture without an entry here fails the test,
 * so drift in the fixtures shows; so does a copy that differs from
 * `../shared/esl-fixtures/` when that directory is beside the clone.
 */

import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  encodeApi,
  encodeApiResponse,
  encodeAuth,
  encodeAuthRequest,
  encodeBgapi,
  encodeCommandReply,
  encodeConnect,
  encodeConnectReply,
  encodeDisconnectNotice,
  encodeEventMessage,
  encodeExit,
  encodeFilter,
  encodeRudeRejection,
  encodeSendevent,
  encodeSendmsg,
  encodeSubscribe,
  ESL_ACCESS_DENIED,
  ESL_GOODBYE,
  type EslCommand,
  EslCommandParser,
  type EslEvent,
  type EslMessage,
  EslParser,
  parseCommands,
  parseMessages,
} from "../../src/pbx/esl_codec.ts";
import { sharedUrl, skipUnlessShared } from "../_services.ts";

const FIXTURES = new URL("../fixtures/esl/", import.meta.url);
const sharedSkip = await skipUnlessShared("esl_fixtures_test", "esl-fixtures");
const dec = new TextDecoder();
const text = (bytes: Uint8Array | undefined) => bytes === undefined ? undefined : dec.decode(bytes);

const CALL = "5b0f3d2e-8a47-4c1e-b9d6-1e2f3a4b5c6d";
const JOB = "7c2d9e10-3b4a-4f5e-8d6c-9a8b7c6d5e4f";
const ORIGINATE_ARGS =
  "{origination_uuid=9e8d7c6b-5a49-4838-a726-1f0e0d0c0b0a,sip_enable_msrp=true}" +
  "sofia/msrp/sip:bob@192.0.2.30:5060 &park()";
const OFFER = [
  "v=0",
  "o=alice 2890844526 2890844527 IN IP4 192.0.2.20",
  "s=-",
  "c=IN IP4 192.0.2.20",
  "t=0 0",
  "m=message 7394 TCP/MSRP *",
  "a=accept-types:message/cpim text/plain",
  "a=accept-wrapped-types:*",
  "a=path:msrp://192.0.2.20:7394/iau39soe2843z;tcp",
  "a=setup:active",
  "",
].join("\r\n");
const ANSWER = [
  "v=0",
  "o=msrpapp 3950327654 3950327654 IN IP4 192.0.2.50",
  "s=-",
  "c=IN IP4 192.0.2.50",
  "t=0 0",
  "m=message 2855 TCP/MSRP *",
  "a=accept-types:message/cpim text/plain",
  "a=accept-wrapped-types:*",
  "a=path:msrp://192.0.2.50:2855/s8dk2fj3lq;tcp",
  "a=setup:passive",
  "",
].join("\r\n");

/** Checks one client fixture's commands and returns their re-serialization. */
type ClientCheck = (commands: EslCommand[]) => Uint8Array[];
/** Checks one server fixture's messages and returns their re-serialization. */
type ServerCheck = (messages: EslMessage[]) => Uint8Array[];

type Fixture = { side: "client"; check: ClientCheck } | { side: "server"; check: ServerCheck };

function one<T>(items: T[]): T {
  assertEquals(items.length, 1, "one message expected");
  return items[0];
}

function reply(messages: EslMessage[], expected: string): Uint8Array[] {
  const message = one(messages);
  assertEquals(message.contentType, "command/reply");
  assertEquals(message.headers.get("Reply-Text"), expected);
  return [encodeCommandReply(expected)];
}

function apiResponse(messages: EslMessage[], expected: string): Uint8Array[] {
  const message = one(messages);
  assertEquals(message.contentType, "api/response");
  assertEquals(text(message.body), expected);
  return [encodeApiResponse(expected)];
}

function replyThenGoodbye(messages: EslMessage[], expected: string): Uint8Array[] {
  assertEquals(messages.length, 2);
  reply([messages[0]], expected);
  assertEquals(messages[1].contentType, "text/disconnect-notice");
  assertEquals(text(messages[1].body), ESL_GOODBYE);
  return [encodeCommandReply(expected), encodeDisconnectNotice()];
}

function event(messages: EslMessage[], contentType: string): EslEvent {
  const message = one(messages);
  assertEquals(message.contentType, contentType);
  assert(message.event, "an event expected");
  return message.event;
}

function command(commands: EslCommand[], name: string, args: string): EslCommand {
  const cmd = one(commands);
  assertEquals([cmd.name, cmd.args], [name, args]);
  return cmd;
}

function backgroundJob(e: EslEvent): void {
  assertEquals(e.name, "BACKGROUND_JOB");
  assertEquals(e.get("Job-UUID"), JOB);
  assertEquals(e.get("Job-Command"), "originate");
  assertEquals(e.get("Job-Command-Arg"), ORIGINATE_ARGS);
  assertEquals(e.get("Job-Owner-UUID"), undefined);
  assertEquals(e.get("FreeSWITCH-IPv6"), "::1");
  assertEquals(e.bodyText, "+OK 9e8d7c6b-5a49-4838-a726-1f0e0d0c0b0a\n");
}

const EXPECTED: Record<string, Fixture> = {
  "acl-rude-rejection.txt": {
    side: "server",
    check: (messages) => {
      assertEquals(messages.map((m) => m.contentType), [
        "text/rude-rejection",
        "text/disconnect-notice",
      ]);
      assertEquals(messages.map((m) => text(m.body)), [ESL_ACCESS_DENIED, ESL_GOODBYE]);
      return [encodeRudeRejection(), encodeDisconnectNotice()];
    },
  },
  "answer-1-client-sendmsg-set-sdp.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "sendmsg", CALL);
      assertEquals(Array.from(cmd.headers), [
        ["call-command", "execute"],
        ["execute-app-name", "set"],
        ["event-lock", "true"],
        ["content-type", "text/plain"],
        ["content-length", "258"],
      ]);
      assertEquals(text(cmd.body), `switch_m_sdp=${ANSWER}`);
      const arg = `switch_m_sdp=${ANSWER}`;
      return [encodeSendmsg(CALL, { command: "execute", app: "set", arg, eventLock: true })];
    },
  },
  "answer-2-server-reply.txt": { side: "server", check: (m) => reply(m, "+OK") },
  "answer-3-client-sendmsg-soa-off.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "sendmsg", CALL);
      assertEquals(cmd.headers.get("execute-app-arg"), "sip_enable_soa=false");
      assertEquals(cmd.body, undefined);
      const arg = "sip_enable_soa=false";
      return [encodeSendmsg(CALL, { command: "execute", app: "set", arg, eventLock: true })];
    },
  },
  "answer-4-client-sendmsg-answer.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "sendmsg", CALL);
      const eventUuid = "0f1e2d3c-4b5a-4697-8877-665544332211";
      assertEquals(cmd.headers.get("execute-app-name"), "answer");
      assertEquals(cmd.headers.get("event-uuid"), eventUuid);
      return [
        encodeSendmsg(CALL, { command: "execute", app: "answer", eventLock: true, eventUuid }),
      ];
    },
  },
  "api-1-client-uuid-answer.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "api", `uuid_answer ${CALL}`);
      return [encodeApi("uuid_answer", CALL)];
    },
  },
  "api-2-server-response-ok.txt": { side: "server", check: (m) => apiResponse(m, "+OK\n") },
  "api-3-client-unknown.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "api", "nosuchcmd arg");
      return [encodeApi("nosuchcmd", "arg")];
    },
  },
  "api-4-server-response-not-found.txt": {
    side: "server",
    check: (m) => apiResponse(m, "-ERR nosuchcmd Command not found!\n"),
  },
  "auth-1-server-greeting.txt": {
    side: "server",
    check: (messages) => {
      assertEquals(one(messages).contentType, "auth/request");
      return [encodeAuthRequest()];
    },
  },
  "auth-2-client-auth.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "auth", "ClueCon");
      return [encodeAuth("ClueCon")];
    },
  },
  "auth-3-server-accepted.txt": { side: "server", check: (m) => reply(m, "+OK accepted") },
  "auth-4-server-invalid-then-disconnect.txt": {
    side: "server",
    check: (m) => replyThenGoodbye(m, "-ERR invalid"),
  },
  "bgapi-1-client-originate.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "bgapi", `originate ${ORIGINATE_ARGS}`);
      assertEquals(cmd.headers.get("Job-UUID"), JOB);
      return [encodeBgapi("originate", ORIGINATE_ARGS, JOB)];
    },
  },
  "bgapi-2-server-reply.txt": {
    side: "server",
    check: (messages) => {
      const message = one(messages);
      assertEquals(message.headers.get("Reply-Text"), `+OK Job-UUID: ${JOB}`);
      assertEquals(message.headers.get("Job-UUID"), JOB);
      return [encodeCommandReply(`+OK Job-UUID: ${JOB}`, [["Job-UUID", JOB]])];
    },
  },
  "bgapi-3-server-background-job.json.txt": {
    side: "server",
    check: (messages) => {
      const e = event(messages, "text/event-json");
      backgroundJob(e);
      return [encodeEventMessage(e, "json")];
    },
  },
  "bgapi-3-server-background-job.txt": {
    side: "server",
    check: (messages) => {
      const e = event(messages, "text/event-plain");
      backgroundJob(e);
      return [encodeEventMessage(e, "plain")];
    },
  },
  "channel-park-msrp-offer.txt": {
    side: "server",
    check: (messages) => {
      const e = event(messages, "text/event-plain");
      assertEquals(e.name, "CHANNEL_PARK");
      assertEquals(e.uniqueId, CALL);
      assertEquals(e.remoteSdp, OFFER);
      assert(e.remoteSdp?.includes("\r\nm=message 7394 TCP/MSRP *\r\n"));
      assertEquals(e.get("Caller-Context"), "msrp");
      assertEquals(e.get("Caller-Caller-ID-Name"), "Alice Example");
      assertEquals(e.get("Channel-Name"), "sofia/msrp/alice@192.0.2.20");
      assertEquals(e.get("variable_endpoint_disposition"), "RECEIVED_NOMEDIA");
      assertEquals(
        e.get("variable_sip_full_from"),
        '"Alice Example" <sip:alice@192.0.2.20>;tag=a73kszlfl',
      );
      assertEquals(e.otherLegUniqueId, undefined);
      assertEquals(e.body, undefined);
      assertEquals(e.headers.size, 91);
      return [encodeEventMessage(e, "plain")];
    },
  },
  "chat-1-client-api-chat.txt": {
    side: "client",
    check: (commands) => {
      const args = "sip|app@192.0.2.10|msrp/sip:alice@192.0.2.20:5060|Hello back|text/plain";
      command(commands, "api", `chat ${args}`);
      return [encodeApi("chat", args)];
    },
  },
  "chat-2-server-response.txt": { side: "server", check: (m) => apiResponse(m, "Sent") },
  "exit-1-client.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "exit", "");
      return [encodeExit()];
    },
  },
  "exit-2-server-reply-and-disconnect.txt": {
    side: "server",
    check: (m) => replyThenGoodbye(m, "+OK bye"),
  },
  "hangup-client-sendmsg.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "sendmsg", CALL);
      assertEquals(cmd.headers.get("call-command"), "hangup");
      assertEquals(cmd.headers.get("hangup-cause"), "NORMAL_CLEARING");
      return [encodeSendmsg(CALL, { command: "hangup", cause: "NORMAL_CLEARING" })];
    },
  },
  "message-event-inbound-sip-message.txt": {
    side: "server",
    check: (messages) => {
      const e = event(messages, "text/event-plain");
      assertEquals(e.name, "MESSAGE");
      assertEquals(e.get("from"), "alice@192.0.2.20");
      assertEquals(e.get("to"), "chat@192.0.2.10");
      assertEquals(e.get("subject"), "SIMPLE MESSAGE");
      assertEquals(e.get("from_full"), '"Alice Example" <sip:alice@192.0.2.20>;tag=9fxced76sl');
      assertEquals(e.get("login"), "sip:mod_sofia@192.0.2.10:5070");
      assertEquals(e.get("final_delivery"), "true");
      assertEquals(e.get("Content-Length"), undefined);
      assertEquals(e.bodyText, "Hello from pager mode");
      return [encodeEventMessage(e, "plain")];
    },
  },
  "outbound-1-client-connect.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "connect", "");
      return [encodeConnect()];
    },
  },
  "outbound-2-server-connect-reply.txt": {
    side: "server",
    check: (messages) => {
      const message = one(messages);
      assertEquals(message.contentType, "command/reply");
      assertEquals(message.headers.get("Reply-Text"), "+OK\n");
      assertEquals(message.headers.get("Socket-Mode"), "async");
      assertEquals(message.headers.get("Control"), "full");
      assertEquals(message.body, undefined);
      const e = message.event;
      assert(e);
      assertEquals(e.name, "CHANNEL_DATA");
      assertEquals(e.uniqueId, CALL);
      assertEquals(e.get("Channel-Unique-ID"), CALL);
      assertEquals(e.remoteSdp, OFFER);
      assertEquals(e.get("Reply-Text"), undefined);
      return [encodeConnectReply(e, { socketMode: "async", control: "full" })];
    },
  },
  "outbound-3-server-linger-notice.txt": {
    side: "server",
    check: (messages) => {
      const message = one(messages);
      assertEquals(message.contentType, "text/disconnect-notice");
      assertEquals(message.headers.get("Content-Disposition"), "linger");
      assertEquals(message.headers.get("Channel-Name"), "sofia/msrp/alice@192.0.2.20");
      assertEquals(text(message.body), "");
      const headers = {
        "Controlled-Session-UUID": CALL,
        "Content-Disposition": "linger",
        "Channel-Name": "sofia/msrp/alice@192.0.2.20",
        "Linger-Time": "30",
      };
      return [encodeDisconnectNotice({ headers, body: "" })];
    },
  },
  "sendevent-1-client-sms-send-message.txt": {
    side: "client",
    check: (commands) => {
      const cmd = command(commands, "sendevent", "CUSTOM");
      assertEquals(cmd.headers.get("Event-Subclass"), "SMS::SEND_MESSAGE");
      assertEquals(cmd.headers.get("to"), "msrp/sip:alice@192.0.2.20:5060");
      assertEquals(text(cmd.body), "Hello via SMS::SEND_MESSAGE");
      const headers = Array.from(cmd.headers).filter(([name]) => name !== "content-length");
      assertEquals(headers.length, 6);
      return [encodeSendevent("CUSTOM", headers, "Hello via SMS::SEND_MESSAGE")];
    },
  },
  "sendevent-2-server-reply.txt": {
    side: "server",
    check: (m) => reply(m, "+OK 3d2c1b0a-9f8e-4d7c-b6a5-948372615049"),
  },
  "subscribe-1-client-event.txt": {
    side: "client",
    check: (commands) => {
      const names = [
        "CHANNEL_CREATE",
        "CHANNEL_PARK",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_DESTROY",
        "BACKGROUND_JOB",
        "MESSAGE",
      ];
      command(commands, "event", `plain ${names.join(" ")}`);
      return [encodeSubscribe("plain", names)];
    },
  },
  "subscribe-2-server-reply.txt": {
    side: "server",
    check: (m) => reply(m, "+OK event listener enabled plain"),
  },
  "subscribe-3-client-filter.txt": {
    side: "client",
    check: (commands) => {
      command(commands, "filter", "Caller-Context msrp");
      return [encodeFilter("Caller-Context", "msrp")];
    },
  },
  "subscribe-4-server-reply.txt": {
    side: "server",
    check: (m) => reply(m, "+OK filter added. [Caller-Context]=[msrp]"),
  },
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, name: string): void {
  assertEquals(dec.decode(actual), dec.decode(expected), `${name}: re-serialized text differs`);
  assertEquals(actual, expected, `${name}: re-serialized bytes differ`);
}

/** Parses one byte at a time, so every split point is exercised. */
function bytewise<T>(bytes: Uint8Array, push: (b: Uint8Array) => T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...push(bytes.subarray(i, i + 1)));
  return out;
}

/** The fixture files (`*.txt`) in `dir`, sorted. */
async function fixtureNames(dir = FIXTURES): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".txt")) names.push(entry.name);
  }
  return names.sort();
}

Deno.test({
  name: "fixtures: the repository's copies are byte-identical to ../shared/esl-fixtures",
  ignore: sharedSkip !== undefined,
  async fn() {
    const shared = sharedUrl("esl-fixtures");
    const names = await fixtureNames();
    assertEquals(names, await fixtureNames(shared), "the same files");
    for (const name of names) {
      const [ours, theirs] = await Promise.all([
        Deno.readFile(new URL(name, FIXTURES)),
        Deno.readFile(new URL(name, shared)),
      ]);
      assertEquals(ours, theirs, `${name} differs from ../shared/esl-fixtures/${name}`);
    }
  },
});

Deno.test("fixtures: every file has an expectation and every expectation a file", async () => {
  assertEquals(await fixtureNames(), Object.keys(EXPECTED).sort());
});

for (const [name, fixture] of Object.entries(EXPECTED)) {
  Deno.test(`fixture ${name}: typed content and byte-exact re-serialization`, async () => {
    const bytes = await Deno.readFile(new URL(name, FIXTURES));
    const parts = fixture.side === "client"
      ? fixture.check(parseCommands(bytes))
      : fixture.check(parseMessages(bytes));
    assertSameBytes(concat(parts), bytes, name);
  });

  Deno.test(`fixture ${name}: parsing one byte at a time gives the same result`, async () => {
    const bytes = await Deno.readFile(new URL(name, FIXTURES));
    if (fixture.side === "client") {
      const parser = new EslCommandParser();
      assertEquals(bytewise(bytes, (b) => parser.push(b)), parseCommands(bytes));
      assertEquals(parser.buffered, 0);
    } else {
      const parser = new EslParser();
      assertEquals(bytewise(bytes, (b) => parser.push(b)), parseMessages(bytes));
      assertEquals(parser.buffered, 0);
    }
  });
}

Deno.test("fixtures: the json and plain BACKGROUND_JOB carry the same event", async () => {
  const read = async (name: string) =>
    one(parseMessages(await Deno.readFile(new URL(name, FIXTURES)))).event;
  const plain = await read("bgapi-3-server-background-job.txt");
  const json = await read("bgapi-3-server-background-job.json.txt");
  assertEquals(json && Array.from(json.headers), plain && Array.from(plain.headers));
  assertEquals(json?.body, plain?.body);
});

Deno.test("fixtures: all fixture bytes in one stream parse as the same messages", async () => {
  const names = Object.keys(EXPECTED).filter((n) => EXPECTED[n].side === "server");
  const files = await Promise.all(names.map((n) => Deno.readFile(new URL(n, FIXTURES))));
  const parser = new EslParser();
  const streamed = parser.push(concat(files));
  assertEquals(streamed, files.flatMap((f) => parseMessages(f)));
});

Deno.test("fixtures: the whole stream split at random points parses the same", async () => {
  const names = Object.keys(EXPECTED).filter((n) => EXPECTED[n].side === "server");
  const files = await Promise.all(names.map((n) => Deno.readFile(new URL(n, FIXTURES))));
  const stream = concat([...files, ...files, ...files]);
  const expected = parseMessages(stream);
  const random = new Random(4711);
  for (let round = 0; round < 20; round++) {
    const parser = new EslParser();
    const got: EslMessage[] = [];
    for (let offset = 0; offset < stream.length;) {
      const size = random.int(1, 3000);
      got.push(...parser.push(stream.subarray(offset, offset + size)));
      offset += size;
    }
    assertEquals(got, expected);
    assertEquals(parser.buffered, 0);
  }
});
