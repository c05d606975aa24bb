/**
 * The end-line search: `indexOfPattern` (Horspool) against a naive search on
 * every small case, and `bodyContainsEndLine` with the end-line split at every
 * offset over two and three body parts, for small bodies (plain search) and
 * bodies over 8 KiB (compiled pattern with seams between parts).
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { compilePattern, indexOfPattern } from "../../src/msrp/_search.ts";
import { parseFrames } from "../../src/msrp/parser.ts";
import { bodyContainsEndLine } from "../../src/msrp/serializer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The reference: first index of `p` in `hay[from, to)`, by trying every start. */
function naiveIndexOf(hay: Uint8Array, p: Uint8Array, from: number, to: number): number {
  for (let i = from; i + p.length <= to; i++) {
    let j = 0;
    while (j < p.length && hay[i + j] === p[j]) j++;
    if (j === p.length) return i;
  }
  return -1;
}

/** Every sequence of length `n` over `alphabet`. */
function* words(alphabet: readonly number[], n: number): Generator<Uint8Array> {
  const word = new Uint8Array(n);
  function* fill(i: number): Generator<Uint8Array> {
    if (i === n) {
      yield word.slice();
      return;
    }
    for (const b of alphabet) {
      word[i] = b;
      yield* fill(i + 1);
    }
  }
  yield* fill(0);
}

Deno.test("search: indexOfPattern equals a naive search for every pattern up to 4 and text up to 8 bytes over {a,b}, every range", () => {
  const ab = [97, 98];
  const shift = new Int32Array(256);
  let cases = 0;
  for (let m = 1; m <= 4; m++) {
    for (const p of words(ab, m)) {
      // One shift table reused across patterns, as the parser does.
      const pattern = compilePattern(p, shift);
      for (let n = 0; n <= 8; n++) {
        for (const hay of words(ab, n)) {
          for (let from = 0; from <= n; from++) {
            for (let to = from; to <= n; to++) {
              const got = indexOfPattern(hay, pattern, from, to);
              const want = naiveIndexOf(hay, p, from, to);
              if (got !== want) {
                throw new Error(
                  `${dec.decode(p)} in ${dec.decode(hay)}[${from}, ${to}): ${got}, want ${want}`,
                );
              }
              cases++;
            }
          }
        }
      }
    }
  }
  assert(cases > 500_000, `${cases} cases`);
});

Deno.test("search: indexOfPattern handles every byte value, overlapping and repeated patterns", () => {
  const rng = new Random(0x5ea7c4);
  for (let round = 0; round < 2000; round++) {
    // Few distinct bytes make overlaps and near misses common; high bytes index the shift table's top.
    const alphabet = [0, 45, 128, 255].slice(0, rng.int(1, 4));
    const p = Uint8Array.from({ length: rng.int(1, 9) }, () => rng.pick(alphabet));
    const hay = Uint8Array.from({ length: rng.int(0, 40) }, () => rng.pick(alphabet));
    const from = rng.int(0, hay.length);
    const to = rng.int(from, hay.length);
    assertEquals(
      indexOfPattern(hay, compilePattern(p), from, to),
      naiveIndexOf(hay, p, from, to),
      `round ${round}: [${p}] in [${hay}][${from}, ${to})`,
    );
  }
});

const ID = "k3x9q2w7";
const END_LINE = `-------${ID}`;
/** Filler that holds no dash: bodies over 8 KiB take the compiled-pattern path. */
const LARGE_PAD = "x".repeat(9000);
const PADS = { small: "ab", large: LARGE_PAD } as const;

/** `text` cut at `cuts` (ascending offsets) into parts. */
function cut(text: string, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, text.length];
  return bounds.slice(1).map((end, i) => enc.encode(text.slice(bounds[i], end)));
}

Deno.test("search: an end-line split at every offset over two parts is found, small and large bodies", () => {
  for (const [size, pad] of Object.entries(PADS)) {
    const body = `${pad}${END_LINE}${pad}`;
    for (let k = pad.length; k <= pad.length + END_LINE.length; k++) {
      assert(bodyContainsEndLine(ID, cut(body, [k])), `${size}: cut at ${k}`);
    }
  }
});

Deno.test("search: an end-line split at every pair of offsets over three parts is found, an empty middle part too", () => {
  for (const [size, pad] of Object.entries(PADS)) {
    const body = `${pad}${END_LINE}${pad}`;
    const start = pad.length;
    for (let a = start; a <= start + END_LINE.length; a++) {
      for (let b = a; b <= start + END_LINE.length; b++) {
        assert(bodyContainsEndLine(ID, cut(body, [a, b])), `${size}: cuts at ${a} and ${b}`);
      }
    }
  }
});

Deno.test("search: an end-line spread one byte per part over many parts is found", () => {
  for (const pad of Object.values(PADS)) {
    const bytes = Array.from(enc.encode(END_LINE), (b) => Uint8Array.of(b));
    const parts = [enc.encode(pad), ...bytes, enc.encode(pad)];
    assert(bodyContainsEndLine(ID, parts));
  }
});

Deno.test("search: overlapping dashes and longer ids still count, at every split", () => {
  const found = [
    `--------${ID}`, // an eighth dash: the end-line starts one byte in
    `-------${ID}$`,
    `------${ID}-------${ID}`, // a near miss right before the real one
    `-------${ID.slice(0, 4)}-------${ID}`, // a half id, then the real one
    `-------${ID}extra`, // the end-line of a longer id holds this one's
  ];
  for (const pad of Object.values(PADS)) {
    for (const text of found) {
      const body = `${pad}${text}${pad}`;
      assert(bodyContainsEndLine(ID, enc.encode(body)), text);
      for (let k = pad.length; k <= pad.length + text.length; k++) {
        assert(bodyContainsEndLine(ID, cut(body, [k])), `${text} cut at ${k}`);
      }
    }
  }
});

Deno.test("search: no false positives — every one-byte change of the end-line, at every split", () => {
  const misses: string[] = [`------${ID}`, `-------${ID.slice(0, -1)}`, `${ID}-------`, ""];
  for (let i = 0; i < END_LINE.length; i++) {
    misses.push(`${END_LINE.slice(0, i)}${i < 7 ? "+" : "-"}${END_LINE.slice(i + 1)}`);
  }
  for (const pad of Object.values(PADS)) {
    for (const text of misses) {
      const body = `${pad}${text}${pad}`;
      assert(!bodyContainsEndLine(ID, enc.encode(body)), JSON.stringify(text));
      for (let a = pad.length; a <= pad.length + text.length; a++) {
        assert(!bodyContainsEndLine(ID, cut(body, [a])), `${text} cut at ${a}`);
        assert(!bodyContainsEndLine(ID, cut(body, [a, a + 1])), `${text} cuts at ${a}, ${a + 1}`);
      }
    }
  }
});

Deno.test("search property: bodyContainsEndLine agrees with a naive search over random parts (seeded)", () => {
  const seed = 0xe11d;
  const rng = new Random(seed);
  const id = "ab";
  const endLine = enc.encode(`-------${id}`);
  for (let round = 0; round < 3000; round++) {
    // Mostly dashes and id bytes: end-lines and near misses everywhere.
    const size = rng.next() < 0.2 ? rng.int(8193, 8300) : rng.int(0, 40);
    const body = Uint8Array.from({ length: size }, () => rng.pick([45, 45, 45, 97, 98, 120]));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < body.length;) {
      const n = rng.int(0, rng.next() < 0.5 ? 4 : 200);
      parts.push(body.subarray(i, i + n));
      i += n;
    }
    const want = naiveIndexOf(body, endLine, 0, body.length) >= 0;
    assertEquals(bodyContainsEndLine(id, parts), want, `seed ${seed} round ${round}`);
  }
});

Deno.test("search: the parser ends a large body at its end-line split at every offset over two and three pushes", () => {
  // Bodies over 256 bytes are scanned with the compiled pattern; near misses sit before the end.
  const body = `${"y".repeat(300)}\r\n------${ID}$\r\n-------${ID.slice(0, 5)}+\r\n`;
  const frame = enc.encode(
    `MSRP ${ID} SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n` +
      `Message-ID: m1\r\nByte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n` +
      `${body}\r\n${END_LINE}$\r\n`,
  );
  const tail = frame.length - (END_LINE.length + 5) - 8;
  for (let a = tail; a <= frame.length; a++) {
    for (let b = a; b <= frame.length; b += 3) {
      const two = [frame.subarray(0, a), frame.subarray(a)];
      const three = [frame.subarray(0, a), frame.subarray(a, b), frame.subarray(b)];
      for (const input of [two, three]) {
        const { frames, failures } = parseFrames(input);
        assertEquals(failures.length, 0, `cuts at ${a}, ${b}`);
        assertEquals(frames.length, 1, `cuts at ${a}, ${b}`);
        assertEquals(dec.decode(frames[0].body), body, `cuts at ${a}, ${b}`);
        assertEquals(frames[0].flag, "$");
      }
    }
  }
});
