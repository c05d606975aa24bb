/**
 * The cached encoders of the hot paths: a `RequestTemplate` reused across a
 * message's chunks and a `ResponseEncoder` reused across a session's
 * responses give byte for byte what the general encoders give, and refuse
 * what they refuse; the small-body end-line search agrees with a plain one.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  bodyContainsEndLine,
  concatBytes,
  encodeRequest,
  encodeRequestHead,
  encodeResponse,
  newTransactionId,
  type OutgoingResponse,
  RequestTemplate,
  ResponseEncoder,
} from "../../src/msrp/mod.ts";

const enc = new TextEncoder();
const toPath = ["msrp://127.0.0.1:7777/bob;tcp"];
const fromPath = ["msrp://127.0.0.1:8888/alice;tcp"];

function requestBytes(
  template: RequestTemplate,
  tid: string,
  range: string,
  body: Uint8Array[] | undefined,
  flag: "+" | "$" | "#",
): Uint8Array {
  let size = 0;
  for (const b of body ?? []) size += b.length;
  const out = new Uint8Array(template.headLength(tid, range, true) + size + tid.length + 12);
  return out.subarray(0, template.writeRequest(out, 0, tid, range, body, flag));
}

Deno.test("RequestTemplate: reused across chunks, byte-identical to encodeRequest", () => {
  const variants = [
    { headers: [] as [string, string][], contentType: "application/octet-stream" },
    {
      headers: [["Success-Report", "yes"], ["Failure-Report", "partial"], [
        "Content-Disposition",
        'attachment; filename="naïve café.txt"',
      ]] as [string, string][],
      contentType: "text/plain; charset=utf-8",
    },
  ];
  for (const v of variants) {
    const headers: [string, string][] = [["Message-ID", "m-ü1"], ["Byte-Range", ""], ...v.headers];
    const template = new RequestTemplate(
      { method: "SEND", toPath, fromPath, headers, contentType: v.contentType },
      "Byte-Range",
    );
    let start = 1;
    const chunks: [Uint8Array[] | undefined, "+" | "$" | "#"][] = [
      [[enc.encode("first chunk")], "+"],
      [[enc.encode("two "), enc.encode("parts")], "+"],
      [[], "#"],
      [undefined, "$"],
      [[new Uint8Array(9000).fill(45)], "$"],
    ];
    for (const [body, flag] of chunks) {
      const tid = newTransactionId();
      const size = (body ?? []).reduce((n, b) => n + b.length, 0);
      const range = `${start}-${start + size - 1}/*`;
      start += size;
      const expected = concatBytes(encodeRequest({
        transactionId: tid,
        method: "SEND",
        toPath,
        fromPath,
        headers: headers.map(([n, value]) => [n, n === "Byte-Range" ? range : value]),
        contentType: v.contentType,
        body,
        flag,
      }));
      assertEquals(requestBytes(template, tid, range, body, flag), expected);
      const head = encodeRequestHead({
        transactionId: tid,
        method: "SEND",
        toPath,
        fromPath,
        headers: headers.map(([n, value]) => [n, n === "Byte-Range" ? range : value]),
        contentType: v.contentType,
      }, true);
      assertEquals(template.encodeHead(tid, range, true), head);
    }
  }
});

Deno.test("RequestTemplate: refuses what encodeRequestHead refuses, and varying parts with CR, LF or NUL", () => {
  const ok = { method: "SEND", toPath, fromPath, contentType: "text/plain" };
  assertThrows(() => new RequestTemplate({ ...ok, headers: [] }, "Byte-Range"), TypeError);
  assertThrows(
    () =>
      new RequestTemplate(
        { ...ok, headers: [["Byte-Range", ""], ["X-Evil", "a\r\nTo-Path: x"]] },
        "Byte-Range",
      ),
    TypeError,
  );
  assertThrows(
    () => new RequestTemplate({ ...ok, toPath: ["msrp://a\r\n"], headers: [["B", ""]] }, "B"),
    TypeError,
  );
  assertThrows(
    () => new RequestTemplate({ ...ok, headers: [["B", ""]], contentType: "a/b\n" }, "B"),
    TypeError,
  );
  const template = new RequestTemplate({ ...ok, headers: [["Byte-Range", ""]] }, "Byte-Range");
  assertThrows(() => template.encodeHead("abcd", "1-2/3\r\nX: y", true), TypeError);
  assertThrows(() => template.encodeHead("ab\ncd", "1-2/3", true), TypeError);
  const bodiless = new RequestTemplate(
    { method: "SEND", toPath, fromPath, headers: [["Byte-Range", ""]] },
    "Byte-Range",
  );
  const out = new Uint8Array(1024);
  assertThrows(
    () => bodiless.writeRequest(out, 0, "abcd", "1-1/1", [enc.encode("x")], "$"),
    TypeError,
    "Content-Type",
  );
});

Deno.test("ResponseEncoder: reused across responses, byte-identical to encodeResponse", () => {
  const encoder = new ResponseEncoder();
  const responses: OutgoingResponse[] = [];
  for (let i = 0; i < 3; i++) {
    responses.push({
      transactionId: newTransactionId(),
      status: 200,
      toPath,
      fromPath,
      headers: [["Message-ID", "m1"]],
    });
  }
  responses.push(
    { transactionId: "abcd", status: 200, toPath, fromPath, headers: [["Message-ID", "m2"]] },
    { transactionId: "abcd", status: 200, toPath, fromPath },
    { transactionId: "abce", status: 413, comment: "too big", toPath, fromPath },
    { transactionId: "abcf", status: 413, comment: "", toPath, fromPath },
    { transactionId: "abcg", status: 200, toPath: ["msrp://h:1/other;tcp"], fromPath },
    { transactionId: "abch", status: 200, toPath, fromPath: ["msrp://h:2/me;tcp"] },
    { transactionId: "abci", status: 400, comment: "schlecht für Sie", toPath, fromPath },
    { transactionId: "ab€j", status: 200, toPath, fromPath },
    { transactionId: "abck", status: 200, toPath, fromPath, headers: [["X-Ü", "wert ü"]] },
    { transactionId: "abcl", status: 200, toPath, fromPath, headers: [["Message-ID", "m2"]] },
  );
  for (const res of responses) assertEquals(encoder.encode(res), encodeResponse(res));
});

Deno.test("ResponseEncoder: refuses what encodeResponse refuses, then goes on", () => {
  const encoder = new ResponseEncoder();
  const good: OutgoingResponse = { transactionId: "abcd", status: 200, toPath, fromPath };
  const bad: OutgoingResponse[] = [
    { ...good, comment: "OK\r\nX: y" },
    { ...good, transactionId: "ab\rcd" },
    { ...good, toPath: ["msrp://h:1/x\n;tcp"] },
    { ...good, headers: [["Message-ID", "m\0"]] },
    { ...good, headers: [["Bad:Name", "v"]] },
    { ...good, headers: [["", "v"]] },
  ];
  for (const res of bad) {
    assertThrows(() => encodeResponse(res), TypeError);
    assertThrows(() => encoder.encode(res), TypeError);
    assertEquals(encoder.encode(good), encodeResponse(good));
  }
});

function plainContains(tid: string, body: Uint8Array): boolean {
  const line = enc.encode(`-------${tid}`);
  outer: for (let k = 0; k + line.length <= body.length; k++) {
    for (let j = 0; j < line.length; j++) if (body[k + j] !== line[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("bodyContainsEndLine: small and large bodies, whole or in parts, agree with a plain search", () => {
  const tid = "abcdefghijklmnopqrstuvwx";
  const alphabet = enc.encode(`-${tid.slice(0, 3)}x\r\n`);
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let round = 0; round < 400; round++) {
    const size = [5, 30, 31, 32, 100, 2048, 8192, 8193, 20000][round % 9];
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i++) body[i] = alphabet[random(alphabet.length)];
    // Long dash runs, and now and then a whole end-line at a random place.
    for (let r = 0; r < 3 && size > 10; r++) {
      const at = random(size - 10);
      body.fill(45, at, at + Math.min(10, random(12)));
    }
    if (round % 3 === 0 && size >= 31) body.set(enc.encode(`-------${tid}`), random(size - 30));
    const expected = plainContains(tid, body);
    assertEquals(bodyContainsEndLine(tid, body), expected, `size ${size}, round ${round}`);
    const cut = random(size);
    assertEquals(bodyContainsEndLine(tid, [body.subarray(0, cut), body.subarray(cut)]), expected);
  }
  const line = enc.encode(`x-------${tid}`);
  for (let at = 0; at <= 28; at++) {
    const body = new Uint8Array(60).fill(45);
    body.set(line, at);
    assert(bodyContainsEndLine(tid, body));
    assert(!bodyContainsEndLine(tid, body.subarray(0, at + line.length - 1)));
  }
});
