/**
 * `src/cpim`: CPIM (RFC 3862) parsing and building, namespaced headers,
 * bounds, header injection, and a property test: random bytes and random
 * mutations of valid messages throw nothing but `CpimError`.
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  CpimError,
  MAX_CPIM_HEAD_BYTES,
  MAX_CPIM_HEADERS,
  namespacedHeaders,
  parseCpim,
  wrapCpim,
} from "../../src/cpim/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// RFC 3862 §6.3 example, with the IMDN headers of RFC 5438 §6.3.
const EXAMPLE = "From: MR SANDERS <im:piglet@100akerwood.com>\r\n" +
  "To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n" +
  "DateTime: 2000-12-13T13:40:00-08:00\r\n" +
  "Subject: the weather will be fine today\r\n" +
  "NS: imdn <urn:ietf:params:imdn>\r\n" +
  "imdn.Message-ID: 34jk324j\r\n" +
  "imdn.Disposition-Notification: positive-delivery, display\r\n" +
  "\r\n" +
  "Content-type: text/plain\r\n" +
  "Content-ID: <1234567890@foo.com>\r\n" +
  "\r\n" +
  "Here is the text of my message.";

Deno.test("cpim: the RFC 3862 example parses, namespaced headers found by namespace URI", () => {
  const cpim = parseCpim(enc.encode(EXAMPLE));
  assertEquals(cpim.from, { name: "MR SANDERS", uri: "im:piglet@100akerwood.com" });
  assertEquals(cpim.to, [{ name: "Depressed Donkey", uri: "im:eeyore@100akerwood.com" }]);
  assertEquals(cpim.dateTime, "2000-12-13T13:40:00-08:00");
  assertEquals(cpim.contentType, "text/plain");
  assertEquals(dec.decode(cpim.body), "Here is the text of my message.");
  assertEquals(namespacedHeaders(cpim, "urn:ietf:params:imdn", "Message-ID"), ["34jk324j"]);
  // Another prefix bound to the same URI is the same namespace; an unbound prefix is not.
  const other = parseCpim(
    enc.encode(
      "NS: x <urn:ietf:params:imdn>\r\nx.Message-ID: a1\r\nimdn.Message-ID: b2\r\n\r\n" +
        "Content-Type: text/plain\r\n\r\n",
    ),
  );
  assertEquals(namespacedHeaders(other, "urn:ietf:params:imdn", "message-id"), ["a1"]);
});

Deno.test("cpim: wrap and parse round-trip, binary-safe", () => {
  const body = new Uint8Array([0, 13, 10, 13, 10, 255]);
  const wrapped = wrapCpim({
    from: { name: 'A "quoted" \\ name', uri: "sip:a@x" },
    to: [{ uri: "sip:b@x" }],
    dateTime: new Date("2025-05-04T10:00:00Z"),
    ns: [{ prefix: "imdn", uri: "urn:ietf:params:imdn" }],
    headers: [["imdn.Message-ID", "abc"]],
    contentType: "application/octet-stream",
    body,
  });
  const cpim = parseCpim(wrapped.body);
  assertEquals(wrapped.contentType, "message/cpim");
  assertEquals(cpim.from?.name, 'A "quoted" \\ name');
  assertEquals(cpim.body, body);
  assertEquals(cpim.headers.find(([n]) => n === "imdn.Message-ID")?.[1], "abc");
});

Deno.test("cpim: a builder refuses every value that would add a header line (injection)", () => {
  const base = { contentType: "text/plain", body: "" };
  const cases: Parameters<typeof wrapCpim>[0][] = [
    { ...base, headers: [["X", "a\r\nFrom: <im:evil@x>"]] },
    { ...base, headers: [["X: y\r\nFrom", "a"]] },
    { ...base, headers: [["imdn.Message-ID", "a\nb"]] },
    { ...base, headers: [["X", "nul\0"]] },
    { ...base, from: { uri: "im:a@x>\r\nTo: <im:b@x" } },
    { ...base, from: { name: "Eve\r\nTo: <im:b@x>", uri: "im:e@x" } },
    { ...base, to: [{ uri: "im:a b@x" }] },
    { ...base, subject: [{ text: "s", lang: "en\r\nX: y" }] },
    { ...base, ns: [{ prefix: "a b", uri: "urn:x" }] },
    { ...base, dateTime: "2025-01-01T00:00:00Z\r\nX: y" },
    { ...base, contentType: "text/plain\r\nContent-Type: text/html" },
    { ...base, contentHeaders: [["Content-Disposition", "a\r\n\r\nbody"]] },
  ];
  for (const init of cases) {
    assertEquals(assertThrows(() => wrapCpim(init), CpimError).code, "invalid-field");
  }
});

Deno.test("cpim: malformed or hostile input is a CpimError saying what is wrong", () => {
  const cases: [string, string][] = [
    ["From: <im:a@x>\r\nContent-Type: text/plain\r\nhi", "no blank line after the message"],
    ["From: <im:a@x>\r\n\r\nContent-Type: text/plain\r\nhi", "no blank line after the content"],
    ["not a header\r\n\r\nContent-Type: text/plain\r\n\r\n", 'is not "Name: value"'],
    ["From: <im:a@x>\r\nFrom: <im:b@x>\r\n\r\nContent-Type: text/plain\r\n\r\n", "more than one"],
    ["X: a\rb\r\n\r\nContent-Type: text/plain\r\n\r\n", "control character"],
    ["X: a\0\r\n\r\nContent-Type: text/plain\r\n\r\n", "control character"],
    ["To: <im:b@x>\r\n\r\nContent-ID: <1@x>\r\n\r\nhi", "no valid Content-Type"],
  ];
  for (const [text, reason] of cases) {
    const error = assertThrows(() => parseCpim(enc.encode(text)), CpimError, reason);
    assertEquals(error.code, "malformed-cpim");
  }
});

Deno.test("cpim: headers past their bounds are too-large, however long the input", () => {
  const long = enc.encode("X: " + "a".repeat(MAX_CPIM_HEAD_BYTES) + "\r\n\r\n");
  assertEquals(assertThrows(() => parseCpim(long), CpimError).code, "too-large");
  const many = "X: a\r\n".repeat(MAX_CPIM_HEADERS + 1) + "\r\nContent-Type: text/plain\r\n\r\n";
  assertEquals(assertThrows(() => parseCpim(enc.encode(many)), CpimError).code, "too-large");
  // Bounded headers in front of a long body are fine: the body is not searched.
  const body = new Uint8Array(MAX_CPIM_HEAD_BYTES * 2);
  const big = new Uint8Array([...enc.encode("X: a\r\n\r\nContent-Type: a/b\r\n\r\n"), ...body]);
  assertEquals(parseCpim(big).body.length, body.length);
});

Deno.test("cpim: property: random bytes, truncations and mutations throw only CpimError", () => {
  const random = new Random(0x5eed_c91d);
  const valid = enc.encode(EXAMPLE);
  const tryParse = (bytes: Uint8Array) => {
    try {
      parseCpim(bytes);
    } catch (e) {
      assert(e instanceof CpimError, `unexpected ${e}`);
    }
  };
  for (let i = 0; i < 2000; i++) {
    tryParse(random.bytes(random.int(0, 300)));
    tryParse(valid.subarray(0, random.int(0, valid.length)));
    const mutated = valid.slice();
    for (let k = random.int(1, 6); k > 0; k--) {
      mutated[random.int(0, mutated.length - 1)] = random.pick([0, 10, 13, 32, 58, 60, 62, 0xff]);
    }
    tryParse(mutated);
  }
});
