/**
 * The MSRP serializer and parser against the examples of RFC 4975 as
 * printed (CRLF line ends): the serializer writes them byte for byte from
 * their fields, and the parser reads them — whole, split at every offset and
 * at random offsets — into the heads, bodies and flags they say.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  buildReport,
  buildResponse,
  Chunker,
  concatBytes,
  encodeRequest,
  encodeResponse,
  type Frame,
  parseFrames,
  parseReport,
} from "../../src/msrp/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const ATLANTA = "msrp://atlanta.example.com:7654/jshA7weztas;tcp";
const BILOXI = "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp";
const ALICE = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
const BOB = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

// RFC 4975 §4. Byte-Range says 25 bytes while the body between the blank line and the CRLF
// before the end-line is 23 (the RFC counted that CRLF); the bytes here are the RFC's.
const SEND_4 = "MSRP a786hjs2 SEND\r\n" +
  `To-Path: ${BILOXI}\r\n` +
  `From-Path: ${ATLANTA}\r\n` +
  "Message-ID: 87652491\r\n" +
  "Byte-Range: 1-25/25\r\n" +
  "Content-Type: text/plain\r\n" +
  "\r\n" +
  "Hey Bob, are you there?\r\n" +
  "-------a786hjs2$\r\n";

const OK_4 = "MSRP a786hjs2 200 OK\r\n" +
  `To-Path: ${ATLANTA}\r\n` +
  `From-Path: ${BILOXI}\r\n` +
  "-------a786hjs2$\r\n";

// RFC 4975 §5.1: one message in two chunks, the first with an unknown end (`*`) and the `+`
// flag. The RFC leaves out the paths there; the ones of §10.1 are put in.
const CHUNK_1 = "MSRP dkei38sd SEND\r\n" +
  `To-Path: ${ALICE}\r\n` +
  `From-Path: ${BOB}\r\n` +
  "Message-ID: 4564dpWd\r\n" +
  "Byte-Range: 1-*/8\r\n" +
  "Content-Type: text/plain\r\n" +
  "\r\n" +
  "abcd\r\n" +
  "-------dkei38sd+\r\n";

const CHUNK_2 = "MSRP dkei38ia SEND\r\n" +
  `To-Path: ${ALICE}\r\n` +
  `From-Path: ${BOB}\r\n` +
  "Message-ID: 4564dpWd\r\n" +
  "Byte-Range: 5-8/8\r\n" +
  "Content-Type: text/plain\r\n" +
  "\r\n" +
  "EFGH\r\n" +
  "-------dkei38ia$\r\n";

// RFC 4975 §10.2: the success REPORT for Alice's 106-byte message; no body.
const REPORT_10_2 = "MSRP dkei38sd REPORT\r\n" +
  `To-Path: ${ALICE}\r\n` +
  `From-Path: ${BOB}\r\n` +
  "Message-ID: 12339sdqwer\r\n" +
  "Byte-Range: 1-106/106\r\n" +
  "Status: 000 200 OK\r\n" +
  "-------dkei38sd$\r\n";

/** A frame as plain data, for comparison. */
function plain(frame: Frame): unknown {
  const h = frame.head;
  return {
    ...h,
    headers: [...h.headers],
    body: dec.decode(frame.body),
    flag: frame.flag,
  };
}

const EXPECTED = {
  [SEND_4]: {
    kind: "request",
    transactionId: "a786hjs2",
    method: "SEND",
    toPath: [BILOXI],
    fromPath: [ATLANTA],
    byteRange: { start: 1, end: 25, total: 25 },
    contentType: "text/plain",
    messageId: "87652491",
    headers: [
      ["To-Path", BILOXI],
      ["From-Path", ATLANTA],
      ["Message-ID", "87652491"],
      ["Byte-Range", "1-25/25"],
      ["Content-Type", "text/plain"],
    ],
    body: "Hey Bob, are you there?",
    flag: "$",
  },
  [OK_4]: {
    kind: "response",
    transactionId: "a786hjs2",
    status: 200,
    comment: "OK",
    toPath: [ATLANTA],
    fromPath: [BILOXI],
    headers: [["To-Path", ATLANTA], ["From-Path", BILOXI]],
    body: "",
    flag: "$",
  },
  [CHUNK_1]: {
    kind: "request",
    transactionId: "dkei38sd",
    method: "SEND",
    toPath: [ALICE],
    fromPath: [BOB],
    byteRange: { start: 1, end: "*", total: 8 },
    contentType: "text/plain",
    messageId: "4564dpWd",
    headers: [
      ["To-Path", ALICE],
      ["From-Path", BOB],
      ["Message-ID", "4564dpWd"],
      ["Byte-Range", "1-*/8"],
      ["Content-Type", "text/plain"],
    ],
    body: "abcd",
    flag: "+",
  },
  [CHUNK_2]: {
    kind: "request",
    transactionId: "dkei38ia",
    method: "SEND",
    toPath: [ALICE],
    fromPath: [BOB],
    byteRange: { start: 5, end: 8, total: 8 },
    contentType: "text/plain",
    messageId: "4564dpWd",
    headers: [
      ["To-Path", ALICE],
      ["From-Path", BOB],
      ["Message-ID", "4564dpWd"],
      ["Byte-Range", "5-8/8"],
      ["Content-Type", "text/plain"],
    ],
    body: "EFGH",
    flag: "$",
  },
  [REPORT_10_2]: {
    kind: "request",
    transactionId: "dkei38sd",
    method: "REPORT",
    toPath: [ALICE],
    fromPath: [BOB],
    byteRange: { start: 1, end: 106, total: 106 },
    contentType: undefined,
    messageId: "12339sdqwer",
    headers: [
      ["To-Path", ALICE],
      ["From-Path", BOB],
      ["Message-ID", "12339sdqwer"],
      ["Byte-Range", "1-106/106"],
      ["Status", "000 200 OK"],
    ],
    body: "",
    flag: "$",
  },
};

const EXAMPLES = Object.keys(EXPECTED);
const STREAM = enc.encode(EXAMPLES.join(""));
const ALL_EXPECTED = Object.values(EXPECTED);

function parsedAll(input: Uint8Array | Uint8Array[]): unknown[] {
  const { frames, failures } = parseFrames(input);
  assertEquals(failures, []);
  return frames.map(plain);
}

// --- the serializer writes the RFC's bytes -------------------------------------------------

Deno.test("RFC 4975 §4: encodeRequest writes the SEND and encodeResponse its 200 OK byte for byte", () => {
  const send = encodeRequest({
    transactionId: "a786hjs2",
    method: "SEND",
    toPath: [BILOXI],
    fromPath: [ATLANTA],
    headers: [["Message-ID", "87652491"], ["Byte-Range", "1-25/25"]],
    contentType: "text/plain",
    body: enc.encode("Hey Bob, are you there?"),
  });
  assertEquals(dec.decode(concatBytes(send)), SEND_4);
  const ok = encodeResponse({
    transactionId: "a786hjs2",
    status: 200,
    toPath: [ATLANTA],
    fromPath: [BILOXI],
  });
  assertEquals(dec.decode(ok), OK_4, "the comment defaults to the reason phrase");
});

Deno.test("RFC 4975 §7.2: buildResponse answers the §4 SEND one hop back; it keeps the Message-ID, by design", () => {
  const [frame] = parseFrames(enc.encode(SEND_4)).frames;
  assert(frame.head.kind === "request");
  const response = buildResponse(frame.head, 200, BILOXI);
  // The only difference from the RFC's 200: Message-ID, kept as relays in the field do
  // (documented on buildResponse), after the paths.
  assertEquals(
    dec.decode(encodeResponse(response)),
    OK_4.replace("-------", "Message-ID: 87652491\r\n-------"),
  );
  const [parsed] = parseFrames(encodeResponse(response)).frames;
  const expected = EXPECTED[OK_4];
  assertEquals(plain(parsed), {
    ...expected,
    headers: [...expected.headers, ["Message-ID", "87652491"]],
  });
});

Deno.test("RFC 4975 §5.1: the two chunks are written byte for byte; the Chunker writes the known end where the RFC has *", async () => {
  const first = encodeRequest({
    transactionId: "dkei38sd",
    method: "SEND",
    toPath: [ALICE],
    fromPath: [BOB],
    headers: [["Message-ID", "4564dpWd"], ["Byte-Range", "1-*/8"]],
    contentType: "text/plain",
    body: enc.encode("abcd"),
    flag: "+",
  });
  assertEquals(dec.decode(concatBytes(first)), CHUNK_1);
  const second = encodeRequest({
    transactionId: "dkei38ia",
    method: "SEND",
    toPath: [ALICE],
    fromPath: [BOB],
    headers: [["Message-ID", "4564dpWd"], ["Byte-Range", "5-8/8"]],
    contentType: "text/plain",
    body: enc.encode("EFGH"),
  });
  assertEquals(dec.decode(concatBytes(second)), CHUNK_2);

  // A whole body in hand: the end of the first chunk is known, so it is given (RFC 4975
  // §7.1.1 allows "*" only when it is not).
  const chunker = new Chunker(enc.encode("abcdEFGH"), { chunkSize: 4 });
  const chunks = [await chunker.next(), await chunker.next(), await chunker.next()];
  assertEquals(chunks.map((c) => c && [c.byteRange, c.flag, dec.decode(concatBytes(c.body))]), [
    [{ start: 1, end: 4, total: 8 }, "+", "abcd"],
    [{ start: 5, end: 8, total: 8 }, "$", "EFGH"],
    undefined,
  ]);
});

Deno.test("RFC 4975 §10.2: buildReport writes the success REPORT byte for byte (Message-ID, Byte-Range, Status in that order)", () => {
  const report = buildReport({
    transactionId: "dkei38sd",
    toPath: [ALICE],
    fromPath: [BOB],
    messageId: "12339sdqwer",
    byteRange: { start: 1, end: 106, total: 106 },
    status: 200,
  });
  assertEquals(dec.decode(concatBytes(encodeRequest(report))), REPORT_10_2);
  const [frame] = parseFrames(enc.encode(REPORT_10_2)).frames;
  assert(frame.head.kind === "request");
  assertEquals(parseReport(frame.head), {
    messageId: "12339sdqwer",
    byteRange: { start: 1, end: 106, total: 106 },
    status: 200,
    comment: "OK",
  });
});

// --- the parser reads them ------------------------------------------------------------------

Deno.test("RFC 4975 examples: the parser gives each its head, body and flag", () => {
  for (const example of EXAMPLES) {
    assertEquals(parsedAll(enc.encode(example)), [EXPECTED[example]], example.split("\r\n")[0]);
  }
});

Deno.test("RFC 4975 examples: back to back, split at every offset into two pushes, the same frames", () => {
  for (let k = 0; k <= STREAM.length; k++) {
    assertEquals(
      parsedAll([STREAM.slice(0, k), STREAM.slice(k)]),
      ALL_EXPECTED,
      `split at ${k}`,
    );
  }
});

Deno.test("RFC 4975 examples: back to back, split at random offsets into up to 40 pushes, the same frames (seeded)", () => {
  const seed = 0x4975;
  const rng = new Random(seed);
  for (let round = 0; round < 500; round++) {
    const cuts = new Set<number>();
    for (let n = rng.int(1, 40); n > 0; n--) cuts.add(rng.int(0, STREAM.length));
    const bounds = [0, ...[...cuts].sort((a, b) => a - b), STREAM.length];
    const pushes = bounds.slice(1).map((end, i) => STREAM.slice(bounds[i], end));
    assertEquals(parsedAll(pushes), ALL_EXPECTED, `seed ${seed}, round ${round}`);
  }
});
