import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  encodeApi,
  encodeCommand,
  encodeEventMessage,
  encodeLinger,
  encodeMyevents,
  encodeSendmsg,
  EslCommandParser,
  EslError,
  EslEvent,
  EslParser,
  parseCommands,
  parseMessages,
} from "../../src/pbx/esl_codec.ts";
import { decodeHeaderValue, encodeHeaderValue } from "../../src/pbx/esl_headers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

Deno.test("encodeHeaderValue: FreeSWITCH's unsafe set, control and non-ASCII bytes", () => {
  assertEquals(
    encodeHeaderValue(' "#%&+:;<=>?@[\\]^`{|}'),
    "%20%22%23%25%26%2B%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D",
  );
  assertEquals(encodeHeaderValue("az09!$'()*,-./_~"), "az09!$'()*,-./_~");
  assertEquals(encodeHeaderValue("\t\r\n\x7f"), "%09%0D%0A%7F");
  assertEquals(encodeHeaderValue("é€"), "%C3%A9%E2%82%AC");
});

Deno.test("encodeHeaderValue: an uppercase %XX escape is kept, anything else is encoded", () => {
  assertEquals(encodeHeaderValue("%41 %4a %G1 %"), "%41%20%254a%20%25G1%20%25");
});

Deno.test("decodeHeaderValue: %XX of either case, + stays, malformed input does not throw", () => {
  assertEquals(decodeHeaderValue("a+b%20c%c3%a9"), "a+b cé");
  assertEquals(decodeHeaderValue("100% %zz %4"), "100% %zz %4");
  assertEquals(decodeHeaderValue("%FF"), "\ufffd");
});

Deno.test("EslParser: invalid Content-Length and header lines are EslErrors; the stream stays dead", () => {
  for (const head of ["Content-Length: -1\n\n", "Content-Length: 1x\n\n", "no colon here\n\n"]) {
    const parser = new EslParser();
    assertThrows(() => parser.push(bytes(head)), EslError);
    assertThrows(() => parser.push(bytes("Content-Type: auth/request\n\n")), EslError);
  }
});

Deno.test("EslParser: limits on header block and body", () => {
  const small = new EslParser({ maxHeaderBytes: 64, maxBodyBytes: 8 });
  assertThrows(() => small.push(bytes(`X-Long: ${"a".repeat(80)}`)), EslError, "header block");
  const body = new EslParser({ maxBodyBytes: 8 });
  assertThrows(() => body.push(bytes("Content-Length: 9\n\n")), EslError, "exceeds 8");
});

Deno.test("EslParser: plain event whose inner Content-Length disagrees is an EslError", () => {
  const payload = "Event-Name: MESSAGE\nContent-Length: 5\n\nabc";
  const wire = `Content-Length: ${payload.length}\nContent-Type: text/event-plain\n\n${payload}`;
  assertThrows(() => parseMessages(bytes(wire)), EslError, "Content-Length says 5");
});

Deno.test("EslParser: text/event-xml keeps its body and has no typed event", () => {
  const wire = "Content-Length: 7\nContent-Type: text/event-xml\n\n<event>";
  const [message] = parseMessages(bytes(wire));
  assertEquals([message.contentType, dec.decode(message.body), message.event], [
    "text/event-xml",
    "<event>",
    undefined,
  ]);
});

Deno.test("json events: multi-valued headers map to ARRAY:: and back to JSON arrays", () => {
  const payload = '{"Event-Name":"CUSTOM","X":["a","b"],"Content-Length":"2","_body":"hi"}';
  const wire = `Content-Length: ${payload.length}\nContent-Type: text/event-json\n\n${payload}`;
  const [message] = parseMessages(bytes(wire));
  assertEquals(message.event?.get("X"), "ARRAY::a|:b");
  assertEquals(message.event?.bodyText, "hi");
  assert(message.event);
  assertEquals(dec.decode(encodeEventMessage(message.event, "json")), wire);
  assertEquals(
    dec.decode(encodeEventMessage(message.event, "plain")),
    "Content-Length: 63\nContent-Type: text/event-plain\n\n" +
      "Event-Name: CUSTOM\nX: ARRAY%3A%3Aa%7C%3Ab\nContent-Length: 2\n\nhi",
  );
});

Deno.test("json events: strings escape like cJSON, '/' and non-ASCII stay as they are", () => {
  const event = new EslEvent({ "Event-Name": "MESSAGE", v: 'a/"b"\\\r\n\t\x01é' });
  const wire = dec.decode(encodeEventMessage(event, "json"));
  assert(wire.endsWith('{"Event-Name":"MESSAGE","v":"a/\\"b\\"\\\\\\r\\n\\t\\u0001é"}'), wire);
});

Deno.test("EslEvent: an event needs an Event-Name", () => {
  assertThrows(() => new EslEvent({ "Unique-ID": "x" }), EslError, "Event-Name");
});

Deno.test("EslCommandParser: CRLF, leading empty lines and any-case content-length", () => {
  const wire = "\r\n\napi status\r\n\r\nsendevent CUSTOM\r\nContent-Length: 2\r\n\r\nhi";
  const commands = parseCommands(bytes(wire));
  assertEquals(commands.map((c) => [c.name, c.args, c.body && dec.decode(c.body)]), [
    ["api", "status", undefined],
    ["sendevent", "CUSTOM", "hi"],
  ]);
  const parser = new EslCommandParser();
  assertEquals(parser.push(bytes("exit\n")), []);
  assertEquals(parser.buffered, 5);
  assertEquals(parser.push(bytes("\n")).map((c) => c.line), ["exit"]);
});

Deno.test("serializers refuse line breaks inside a command line or a header", () => {
  assertThrows(() => encodeApi("uuid_setvar", "x y a\nb"), EslError, "line break");
  assertThrows(() => encodeCommand("sendevent CUSTOM", { to: "a\r\nb" }), EslError, "line break");
  assertThrows(() => encodeCommand("x", { "bad name": "v" }), EslError, "header name");
});

Deno.test("encodeSendmsg: multi-line arguments go in a text/plain body, one line in a header", () => {
  const body = dec.decode(encodeSendmsg("u", { command: "execute", app: "set", arg: "a=1\r\n" }));
  assertEquals(
    body,
    "sendmsg u\ncall-command: execute\nexecute-app-name: set\n" +
      "content-type: text/plain\ncontent-length: 5\n\na=1\r\n",
  );
  assertEquals(
    dec.decode(encodeSendmsg(undefined, { command: "execute", app: "park", loops: 1 })),
    "sendmsg\ncall-command: execute\nexecute-app-name: park\nloops: 1\n\n",
  );
  assertEquals(
    dec.decode(encodeSendmsg("u", { command: "hangup" })),
    "sendmsg u\ncall-command: hangup\n\n",
  );
});

Deno.test("outbound-mode commands", () => {
  assertEquals(dec.decode(encodeMyevents()), "myevents\n\n");
  assertEquals(dec.decode(encodeMyevents({ uuid: "u", format: "json" })), "myevents u json\n\n");
  assertEquals(dec.decode(encodeLinger()), "linger\n\n");
  assertEquals(dec.decode(encodeLinger(30)), "linger 30\n\n");
});

Deno.test("parseMessages: a body cut short is an EslError; buffered counts the partial message", () => {
  const wire = bytes("Content-Type: api/response\nContent-Length: 4\n\n+OK");
  assertThrows(() => parseMessages(wire), EslError, "inside a message");
  const parser = new EslParser();
  assertEquals(parser.push(wire), []);
  assertEquals(parser.buffered, wire.length);
  assertEquals(parser.push(bytes("\n")).map((m) => dec.decode(m.body)), ["+OK\n"]);
  assertEquals(parser.buffered, 0);
});
