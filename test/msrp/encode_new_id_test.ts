/**
 * `encodeRequestWithNewId`: the sender's one-search encoder picks a long
 * random transaction id, and bodies holding would-be end-lines — of ids in
 * the old 16-character form or of any other — still frame exactly.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  concatBytes,
  encodeRequestWithNewId,
  newTransactionId,
  parseFrames,
} from "../../src/msrp/mod.ts";

const enc = new TextEncoder();
const base = {
  method: "SEND",
  toPath: ["msrp://127.0.0.1:7777/bob;tcp"],
  fromPath: ["msrp://127.0.0.1:8888/alice;tcp"],
  headers: [["Message-ID", "m1"], ["Byte-Range", "1-*/*"]] as [string, string][],
  contentType: "application/octet-stream",
};

Deno.test("encodeRequestWithNewId: ids are 24 characters of [a-z0-9], and the frame parses back", () => {
  const { transactionId, parts } = encodeRequestWithNewId({ ...base, body: enc.encode("hi") });
  assert(/^[a-z0-9]{24}$/.test(transactionId), transactionId);
  assertEquals(newTransactionId().length, 24);
  const { frames, failures } = parseFrames(parts);
  assertEquals(failures, []);
  assertEquals(frames[0].head.transactionId, transactionId);
  assertEquals(new TextDecoder().decode(frames[0].body), "hi");
});

Deno.test("encodeRequestWithNewId: a body full of end-lines of 16-character ids, split across parts, is framed exactly", () => {
  const lines: string[] = [];
  for (let i = 0; i < 200; i++) {
    const old = newTransactionId().slice(0, 16);
    lines.push(`text\r\n-------${old}$\r\nMSRP ${old} SEND\r\n-------${old}+\r\n`);
  }
  const body = enc.encode(lines.join(""));
  // Parts split at odd places, some inside a would-be end-line.
  const parts = [body.subarray(0, 7), body.subarray(7, 4099), body.subarray(4099)];
  const encoded = encodeRequestWithNewId({ ...base, body: parts, flag: "+" });
  assert(encoded.parts.length === 5, "head, three body parts (not copied), end-line");
  assert(encoded.parts[1] === parts[0] && encoded.parts[3] === parts[2]);
  const stream = concatBytes(encoded.parts);
  for (const split of [1, 13, 4096]) {
    const slices = [];
    for (let o = 0; o < stream.length; o += split) slices.push(stream.subarray(o, o + split));
    const { frames, failures } = parseFrames(slices);
    assertEquals(failures, []);
    assertEquals(frames.length, 1);
    assertEquals(frames[0].flag, "+");
    assertEquals(frames[0].body, body);
  }
});

Deno.test("encodeRequestWithNewId: refuses what encodeRequest refuses, but never for the end-line", () => {
  assertThrows(
    () => encodeRequestWithNewId({ ...base, contentType: undefined, body: enc.encode("x") }),
    TypeError,
  );
  assertThrows(() => encodeRequestWithNewId({ ...base, headers: [["X", "a\r\nb"]] }), TypeError);
  const bodiless = encodeRequestWithNewId({ ...base, contentType: undefined });
  assertEquals(parseFrames(bodiless.parts).frames[0].head.transactionId, bodiless.transactionId);
});
