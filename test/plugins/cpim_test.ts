import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import { MsrpError } from "../../src/msrp/mod.ts";
import { PluginRunner } from "../../src/plugins/mod.ts";
import { type CpimInit, cpimOf, parseCpim, wrapCpim } from "../../plugins/cpim.ts";
import { fakeSession, incoming, textOf } from "./_helpers.ts";

const enc = new TextEncoder();

// The example message of RFC 3862.
const RFC_EXAMPLE = [
  "From: MR SANDERS <im:piglet@100akerwood.com>",
  "To: Depressed Donkey <im:eeyore@100akerwood.com>",
  "DateTime: 2000-12-13T13:40:00-08:00",
  "Subject: the weather will be fine today",
  "Subject:;lang=fr beau temps prevu pour aujourd'hui",
  "NS: MyFeatures <mid:MessageFeatures@id.foo.com>",
  "Require: MyFeatures.VitalMessageOption",
  "MyFeatures.VitalMessageOption: Confirmation-requested",
  "MyFeatures.WackyMessageOption: Use-silly-font",
  "",
  "Content-type: text/xml; charset=utf-8",
  "Content-ID: <1234567890@foo.com>",
  "",
  "<body>",
  "Here is the text of my message.",
  "</body>",
].join("\r\n");

Deno.test("cpim: the RFC 3862 example parses into envelope, content headers and body", () => {
  const cpim = parseCpim(enc.encode(RFC_EXAMPLE));
  assertEquals(cpim.from, { name: "MR SANDERS", uri: "im:piglet@100akerwood.com" });
  assertEquals(cpim.to, [{ name: "Depressed Donkey", uri: "im:eeyore@100akerwood.com" }]);
  assertEquals(cpim.dateTime, "2000-12-13T13:40:00-08:00");
  assertEquals(cpim.subject, [
    { text: "the weather will be fine today" },
    { text: "beau temps prevu pour aujourd'hui", lang: "fr" },
  ]);
  assertEquals(cpim.ns, [{ prefix: "MyFeatures", uri: "mid:MessageFeatures@id.foo.com" }]);
  assertEquals(cpim.headers.length, 9);
  assertEquals(cpim.headers[8], ["MyFeatures.WackyMessageOption", "Use-silly-font"]);
  assertEquals(cpim.contentType, "text/xml; charset=utf-8");
  assertEquals(cpim.contentHeaders[1], ["Content-ID", "<1234567890@foo.com>"]);
  assertEquals(
    new TextDecoder().decode(cpim.body),
    "<body>\r\nHere is the text of my message.\r\n</body>",
  );
});

Deno.test("cpim: wrap and parse round-trip, binary-safe, with quoted names", () => {
  const body = new Uint8Array([0, 13, 10, 13, 10, 255, 1]); // contains a blank line
  const init: CpimInit = {
    from: { name: 'Alice "Al" Smith', uri: "sip:alice@example.com" },
    to: [{ uri: "im:bob@example.com" }, { name: "Carol", uri: "im:carol@example.com" }],
    cc: [{ uri: "im:dave@example.com" }],
    dateTime: new Date("2025-05-07T10:00:00.000Z"),
    subject: [{ text: "files" }, { text: "fichiers", lang: "fr" }],
    ns: [{ prefix: "X", uri: "urn:example:x" }],
    headers: [["X.Flag", "on"]],
    contentType: "application/octet-stream",
    contentHeaders: [["Content-Disposition", "attachment"]],
    body,
  };
  const wrapped = wrapCpim(init);
  assertEquals(wrapped.contentType, "message/cpim");
  const cpim = parseCpim(wrapped.body);
  assertEquals(cpim.from, init.from);
  assertEquals(cpim.to, init.to);
  assertEquals(cpim.cc, init.cc);
  assertEquals(cpim.dateTime, "2025-05-07T10:00:00.000Z");
  assertEquals(cpim.subject, init.subject);
  assertEquals(cpim.ns, init.ns);
  assertEquals(cpim.headers.at(-1), ["X.Flag", "on"]);
  assertEquals(cpim.contentType, "application/octet-stream");
  assertEquals(cpim.contentHeaders, [
    ["Content-Type", "application/octet-stream"],
    ["Content-Disposition", "attachment"],
  ]);
  assertEquals(cpim.body, body);

  const minimal = parseCpim(wrapCpim({ contentType: "text/plain", body: "hé" }).body);
  assertEquals([minimal.from, minimal.to, textOf(minimal.body)], [undefined, [], "hé"]);
  assertThrows(
    () => wrapCpim({ contentType: "text/plain", subject: [{ text: "a\r\nB: c" }], body: "" }),
    TypeError,
    "one line",
  );
});

Deno.test("cpim: LF line ends and folded content headers are accepted", () => {
  const cpim = parseCpim(
    enc.encode("From: <im:a@x>\nTo: <im:b@x>\n\nContent-Type: text/plain;\n charset=utf-8\n\nhi"),
  );
  assertEquals([cpim.contentType, textOf(cpim.body)], ["text/plain; charset=utf-8", "hi"]);
});

Deno.test("cpim: malformed CPIM is a 400 error saying what is wrong", () => {
  const cases: [string, string][] = [
    ["From: <im:a@x>\r\nContent-Type: text/plain\r\nhi", "no blank line after the message headers"],
    ["From: <im:a@x>\r\n\r\nContent-Type: text/plain\r\nhi", "no blank line after the content"],
    ["this is not a header\r\n\r\nContent-Type: text/plain\r\n\r\nhi", 'is not "Name: value"'],
    ["From: alice\r\n\r\nContent-Type: text/plain\r\n\r\nhi", "From must be [name] <uri>"],
    ["DateTime: yesterday\r\n\r\nContent-Type: text/plain\r\n\r\nhi", "DateTime is not"],
    ["NS: <>\r\n\r\nContent-Type: text/plain\r\n\r\nhi", "NS must be"],
    ["To: <im:b@x>\r\n\r\nContent-ID: <1@x>\r\n\r\nhi", "no valid Content-Type"],
  ];
  for (const [text, reason] of cases) {
    const error = assertThrows(() => parseCpim(enc.encode(text)), MsrpError, reason);
    assertEquals(error.status, 400);
  }
  const latin1 = new Uint8Array([
    ...enc.encode("Subject: caf"),
    0xe9,
    ...enc.encode("\r\n\r\nContent-Type: text/plain\r\n\r\n"),
  ]);
  assertThrows(() => parseCpim(latin1), MsrpError, "not UTF-8");
});

Deno.test("cpim: the plugin unwraps so later plugins see the inner message and its envelope", async () => {
  await using runner = await PluginRunner.load(["cpim", "echo"], { logger: new Logger("error") });
  const wrapped = wrapCpim({
    from: { uri: "sip:alice@example.com" },
    to: [{ uri: "sip:bob@example.com" }],
    contentType: "text/plain",
    body: "inner text",
  });
  const outcome = await runner.message(
    fakeSession(),
    incoming(wrapped.body, { id: "m1", contentType: wrapped.contentType }),
  );
  assertEquals(outcome.consumed, false);
  assertEquals([outcome.message.id, outcome.message.contentType], ["m1", "text/plain"]);
  assertEquals(outcome.message.text(), "inner text");
  assertEquals(cpimOf(outcome.message)?.from, { uri: "sip:alice@example.com" });
  assertEquals(
    outcome.replies.map((r) => textOf(r.body)),
    ["inner text"],
    "echo saw the inner text",
  );

  const plain = incoming("plain");
  const passed = await runner.message(fakeSession(), plain);
  assert(passed.message === plain, "other messages pass unchanged");
  assertEquals(cpimOf(plain), undefined);
});

Deno.test("cpim: malformed CPIM is rejected with 400, an unaccepted inner type with 415", async () => {
  await using runner = await PluginRunner.load(["cpim"], {
    env: { PLUGIN_CPIM_ACCEPT_TYPES: "text/*" },
    logger: new Logger("error"),
  });
  const broken = await runner.message(
    fakeSession(),
    incoming("no headers here", { contentType: "message/cpim" }),
  );
  assertEquals([broken.consumed, broken.reject?.status], [true, 400]);
  assert(broken.reject?.reason.startsWith("malformed CPIM"));
  const image = wrapCpim({ contentType: "image/png", body: new Uint8Array(3) });
  const refused = await runner.message(
    fakeSession(),
    incoming(image.body, { contentType: image.contentType }),
  );
  assertEquals(refused.reject, {
    plugin: "cpim",
    status: 415,
    reason: "CPIM content type image/png is not accepted",
  });
});
