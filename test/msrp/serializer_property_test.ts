/**
 * Properties of the serializer with the parser, over bodies of 0–64 KiB
 * given to the serializer as many parts (`Uint8Array`s written back to back):
 * - parse(serialize(request)) is the request, pushed split anywhere;
 * - a body holding the transaction's end-line `-------<id>`, within a part
 *   or across parts — large bodies included, where the search goes part by
 *   part — is refused by `encodeRequest`, and `transactionIdFor` picks an id
 *   the body does not hold (RFC 4975 §7.1).
 * Seeded: SEED (default 0x4975) and ROUNDS (default 150) replay a run; a
 * failure names the seed of its round.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  bodyContainsEndLine,
  concatBytes,
  encodeRequest,
  newTransactionId,
  type OutgoingRequest,
  parseFrames,
  transactionIdFor,
} from "../../src/msrp/mod.ts";

const SEED = Number(Deno.env.get("SEED") ?? 0x4975);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 150);
const MAX_BODY = 64 * 1024;
const enc = new TextEncoder();

/** Runs `round` once per seed SEED, SEED + 1, …; a failure says which seed to replay. */
function eachSeed(round: (rng: Random, seed: number) => void): void {
  for (let i = 0; i < ROUNDS; i++) {
    const seed = SEED + i;
    try {
      round(new Random(seed), seed);
    } catch (e) {
      throw new Error(`failed for seed ${seed} (replay: SEED=${seed} ROUNDS=1): ${e}`);
    }
  }
}

/** `bytes` cut into parts of random sizes, many of them tiny (1–3 bytes) or empty. */
function randomParts(rng: Random, bytes: Uint8Array, maxPart: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = rng.next() < 0.3 ? rng.int(0, 3) : rng.int(1, maxPart);
    parts.push(bytes.subarray(at, at + n));
    at += n;
  }
  return parts;
}

/**
 * A body of 0–64 KiB (over 8 KiB half the time): random bytes, with near
 * misses of `id`'s end-line mixed in — its prefixes, six dashes, CRLF and
 * end-lines of other ids — but never `-------<id>` itself.
 */
function randomBody(rng: Random, id: string): Uint8Array {
  const size = rng.next() < 0.5 ? rng.int(8 * 1024 + 1, MAX_BODY) : rng.int(0, 8 * 1024);
  const body = rng.bytes(size);
  const nearMisses = [
    `\r\n-------${id.slice(0, -1)}`,
    `------${id}$\r\n`,
    `-------${id.slice(1)}$`,
    `\r\n-------${newTransactionId()}$\r\n`,
    "\r\n\r\n-------",
  ];
  for (let n = rng.int(0, 20); n > 0 && size > 64; n--) {
    const miss = enc.encode(rng.pick(nearMisses));
    body.set(miss, rng.int(0, size - miss.length));
  }
  // Random bytes and overlapping near misses can still form the end-line: cut it.
  const text = new TextDecoder("latin1").decode(body);
  for (let k = text.indexOf(`-------${id}`); k >= 0; k = text.indexOf(`-------${id}`, k + 1)) {
    body[k] = 0x2b;
  }
  return body;
}

function randomRequest(rng: Random, id: string, parts: Uint8Array[]): OutgoingRequest {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const headers: [string, string][] = [["Message-ID", `m${rng.int(0, 1e9)}`]];
  if (rng.next() < 0.7) headers.push(["Byte-Range", `1-${total}/${total}`]);
  if (rng.next() < 0.3) headers.push(["Success-Report", "yes"], ["Failure-Report", "partial"]);
  return {
    transactionId: id,
    method: rng.pick(["SEND", "SEND", "NICKNAME"]),
    toPath: [`msrp://bob.example.com:8888/s${rng.int(0, 999)};tcp`],
    fromPath: ["msrp://alicepc.example.com:7777/iau39soe2843z;tcp"],
    headers,
    contentType: rng.pick(["text/plain", "application/octet-stream", "message/cpim"]),
    body: parts,
    flag: rng.pick(["$", "+", "#"] as const),
  };
}

/** Parses `bytes` pushed in random pieces; exactly one frame, no failure. */
function parseOne(rng: Random, bytes: Uint8Array) {
  const { frames, failures } = parseFrames(randomParts(rng, bytes, 16 * 1024));
  assertEquals(failures.map((f) => f.error.message), []);
  assertEquals(frames.length, 1);
  return frames[0];
}

function checkRoundTrip(rng: Random, request: OutgoingRequest, body: Uint8Array): void {
  const frame = parseOne(rng, concatBytes(encodeRequest(request)));
  const head = frame.head;
  assert(head.kind === "request");
  assertEquals(
    [head.transactionId, head.method, head.toPath, head.fromPath, head.contentType],
    [
      request.transactionId,
      request.method,
      request.toPath,
      request.fromPath,
      request.contentType,
    ],
  );
  assertEquals([...head.headers], [
    ["To-Path", request.toPath.join(" ")],
    ["From-Path", request.fromPath.join(" ")],
    ...request.headers!,
    ["Content-Type", request.contentType!],
  ]);
  assertEquals(frame.flag, request.flag);
  assertEquals(frame.body.length, body.length);
  assert(frame.body.every((b, i) => b === body[i]), "the body comes back byte for byte");
}

Deno.test("serializer property: parse(serialize(request)) is the request, bodies of 0–64 KiB in random parts, pushed split anywhere (seeded)", () => {
  eachSeed((rng) => {
    const id = newTransactionId();
    const body = randomBody(rng, id);
    const parts = randomParts(rng, body, rng.pick([7, 300, 9000, MAX_BODY]));
    assert(!bodyContainsEndLine(id, parts), "the body does not hold the end-line");
    checkRoundTrip(rng, randomRequest(rng, id, parts), body);
  });
});

Deno.test("serializer property: a body holding -------<id>, within a part or across 2+ parts, is refused; transactionIdFor picks an id it does not hold (seeded)", () => {
  eachSeed((rng, seed) => {
    const id = rng.next() < 0.5 ? newTransactionId() : `t${rng.int(1e5, 1e9).toString(36)}`;
    const body = randomBody(rng, id);
    const endLine = enc.encode(
      `${rng.pick(["", "\r\n"])}-------${id}${rng.pick(["$", "+", "#", ""])}`,
    );
    const at = rng.int(0, body.length);
    const holding = concatBytes([body.subarray(0, at), endLine, body.subarray(at)]);
    // The parts: random, then cut again inside the end-line so that it spans two or more.
    const start = at + (endLine[0] === 13 ? 2 : 0);
    const cutAt = rng.int(start + 1, start + 7 + id.length - 1);
    const parts = [
      ...randomParts(rng, holding.subarray(0, cutAt), rng.pick([2, 300, 9000])),
      ...randomParts(rng, holding.subarray(cutAt), rng.pick([2, 300, 9000])),
    ];
    assert(bodyContainsEndLine(id, parts), `seed ${seed}: found across parts`);
    assert(bodyContainsEndLine(id, holding), `seed ${seed}: found in one part`);
    const request = randomRequest(rng, id, parts);
    assertThrows(() => encodeRequest(request), TypeError, "end-line");
    assertThrows(() => encodeRequest({ ...request, body: holding }), TypeError, "end-line");

    const other = transactionIdFor(parts);
    assert(other !== id && !bodyContainsEndLine(other, holding), `seed ${seed}: ${other}`);
    checkRoundTrip(rng, { ...request, transactionId: other }, holding);
  });
});
