import { assert, assertEquals, assertThrows } from "../_assert.ts";
import type { ByteRange, ContinuationFlag } from "../../src/msrp/message.ts";
import { Reassembler } from "../../src/msrp/reassembler.ts";
import { MsrpError } from "../../src/msrp/status.ts";

/** Seeded PRNG (mulberry32): a float in [0, 1) per call. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sequence(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + 5) & 0xff;
  return out;
}

/** Feeds bytes `start..end` (1-based, inclusive) of `message` as one chunk, in slices of `slice`. */
function feed(
  r: Reassembler,
  message: Uint8Array,
  range: ByteRange,
  flag: ContinuationFlag,
  slice = 1 << 30,
): number[] {
  r.beginChunk(range);
  const last = range.end === "*" ? message.length : range.end;
  const offsets: number[] = [];
  for (let at = range.start - 1; at < last; at += slice) {
    offsets.push(r.write(message.subarray(at, Math.min(at + slice, last))));
  }
  r.endChunk(flag);
  return offsets;
}

function status(fn: () => unknown): number {
  return assertThrows(fn, MsrpError).status;
}

Deno.test("chunks in order rebuild the message", () => {
  const message = sequence(1000);
  const r = new Reassembler({ maxSize: 4096, keepBody: true });
  feed(r, message, { start: 1, end: 400, total: 1000 }, "+");
  feed(r, message, { start: 401, end: 800, total: 1000 }, "+");
  assert(!r.isComplete);
  feed(r, message, { start: 801, end: 1000, total: 1000 }, "$");
  assert(r.isComplete);
  assertEquals(r.ranges, [[1, 1000]]);
  assertEquals(r.bytesReceived, 1000);
  assertEquals(r.total, 1000);
  assertEquals(r.body(), message);
});

Deno.test("chunks in reverse order rebuild the message", () => {
  const message = sequence(1000);
  const r = new Reassembler({ maxSize: 1000, keepBody: true });
  feed(r, message, { start: 801, end: 1000, total: 1000 }, "$");
  feed(r, message, { start: 401, end: 800, total: 1000 }, "+");
  assertEquals(r.ranges, [[401, 1000]]);
  feed(r, message, { start: 1, end: 400, total: 1000 }, "+");
  assert(r.isComplete);
  assertEquals(r.body(), message);
});

Deno.test("write returns the 0-based offset of each slice", () => {
  const message = sequence(100);
  const r = new Reassembler({ maxSize: 100 });
  assertEquals(feed(r, message, { start: 51, end: 100, total: 100 }, "$", 20), [50, 70, 90]);
});

Deno.test("random order with duplicates and overlaps rebuilds the message (seeded)", () => {
  for (const seed of [1, 42, 20240601, 0xdeadbeef]) {
    const random = mulberry32(seed);
    const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
    const size = int(1, 20_000);
    const message = sequence(size);
    const pieces: [number, number][] = [];
    for (let start = 1; start <= size;) {
      const end = Math.min(size, start + int(0, 1500));
      pieces.push([start, end]);
      start = end + 1;
    }
    const extra = int(1, 30);
    for (let i = 0; i < extra; i++) {
      const start = int(1, size);
      pieces.push([start, Math.min(size, start + int(0, 3000))]);
    }
    for (let i = pieces.length - 1; i > 0; i--) {
      const j = int(0, i);
      [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
    }
    const r = new Reassembler({ maxSize: 20_000, keepBody: true });
    pieces.forEach(([start, end], i) => {
      const flag = i === pieces.length - 1 ? "$" : "+";
      feed(r, message, { start, end, total: size }, flag, int(1, 700));
    });
    assert(r.isComplete, `seed ${seed}: not complete`);
    assertEquals(r.bytesReceived, size, `seed ${seed}: bytesReceived`);
    assertEquals(r.ranges, [[1, size]], `seed ${seed}: ranges`);
    assertEquals(r.body(), message, `seed ${seed}: body`);
  }
});

Deno.test("overlapping and duplicate chunks count each byte once", () => {
  const message = sequence(100);
  const r = new Reassembler({ maxSize: 100 });
  feed(r, message, { start: 1, end: 30, total: 100 }, "+");
  feed(r, message, { start: 1, end: 30, total: 100 }, "+");
  feed(r, message, { start: 20, end: 50, total: 100 }, "+");
  assertEquals(r.bytesReceived, 50);
  feed(r, message, { start: 60, end: 70, total: 100 }, "+");
  feed(r, message, { start: 51, end: 59, total: 100 }, "+");
  assertEquals(r.ranges, [[1, 70]]);
  assertEquals(r.bytesReceived, 70);
});

Deno.test("a gap leaves the message incomplete and shows in ranges", () => {
  const message = sequence(300);
  const r = new Reassembler({ maxSize: 300, keepBody: true });
  feed(r, message, { start: 1, end: 100, total: 300 }, "+");
  feed(r, message, { start: 201, end: 300, total: 300 }, "$");
  assert(!r.isComplete);
  assertEquals(r.ranges, [[1, 100], [201, 300]]);
  assertEquals(r.bytesReceived, 200);
  assertThrows(() => r.body(), Error, "not complete");
});

Deno.test("a # chunk marks the message aborted and keeps the ranges received", () => {
  const message = sequence(300);
  const r = new Reassembler({ maxSize: 300, keepBody: true });
  feed(r, message, { start: 1, end: 100, total: 300 }, "+");
  r.beginChunk({ start: 101, end: 100, total: 300 });
  r.endChunk("#");
  assert(r.isAborted);
  assert(!r.isComplete);
  assertEquals(r.ranges, [[1, 100]]);
  assertThrows(() => r.body(), Error);
});

Deno.test("an aborted message is not complete even with every byte received", () => {
  const message = sequence(10);
  const r = new Reassembler({ maxSize: 10 });
  feed(r, message, { start: 1, end: 10, total: 10 }, "#");
  assertEquals(r.bytesReceived, 10);
  assert(r.isAborted);
  assert(!r.isComplete);
});

Deno.test("a * total is resolved by the $ chunk as the highest end", () => {
  const message = sequence(150);
  const r = new Reassembler({ maxSize: 1000, keepBody: true });
  feed(r, message, { start: 1, end: 100, total: "*" }, "+");
  assertEquals(r.total, undefined);
  assert(!r.isComplete);
  feed(r, message, { start: 101, end: 150, total: "*" }, "$");
  assertEquals(r.total, 150);
  assert(r.isComplete);
  assertEquals(r.body(), message);
});

Deno.test("a * total is resolved when the $ chunk arrives before an earlier chunk", () => {
  const message = sequence(150);
  const r = new Reassembler({ maxSize: 1000, keepBody: true });
  feed(r, message, { start: 101, end: "*", total: "*" }, "$");
  assertEquals(r.total, 150);
  assert(!r.isComplete);
  feed(r, message, { start: 1, end: 100, total: "*" }, "+");
  assert(r.isComplete);
  assertEquals(r.body(), message);
});

Deno.test("bytes past a total resolved by $ are rejected with 400", () => {
  const message = sequence(200);
  const r = new Reassembler({ maxSize: 1000 });
  feed(r, message, { start: 1, end: 100, total: "*" }, "$");
  assertEquals(status(() => r.beginChunk({ start: 101, end: 200, total: "*" })), 400);
  assertEquals(status(() => r.beginChunk({ start: 1, end: 100, total: 200 })), 400);
});

Deno.test("a chunk cut short counts only the bytes written", () => {
  const message = sequence(100);
  const r = new Reassembler({ maxSize: 100 });
  r.beginChunk({ start: 1, end: 100, total: 100 });
  r.write(message.subarray(0, 40));
  r.endChunk("+");
  assertEquals(r.ranges, [[1, 40]]);
  assertEquals(r.bytesReceived, 40);
  assert(!r.isComplete);
});

Deno.test("empty message 1-0/0 $ is complete with an empty body", () => {
  const r = new Reassembler({ maxSize: 10, keepBody: true });
  r.beginChunk({ start: 1, end: 0, total: 0 });
  assert(!r.isComplete, "complete before the chunk ended");
  r.endChunk("$");
  assert(r.isComplete);
  assertEquals(r.body(), new Uint8Array(0));
  assertEquals(r.ranges, []);
});

Deno.test("keepBody copies the bytes, so the caller may reuse its buffer", () => {
  const r = new Reassembler({ maxSize: 10, keepBody: true });
  const scratch = new Uint8Array([1, 2, 3, 4]);
  r.beginChunk({ start: 1, end: 4, total: 4 });
  r.write(scratch);
  scratch.fill(0);
  r.endChunk("$");
  assertEquals(r.body(), new Uint8Array([1, 2, 3, 4]));
});

Deno.test("body() throws without keepBody", () => {
  const r = new Reassembler({ maxSize: 10 });
  feed(r, sequence(4), { start: 1, end: 4, total: 4 }, "$");
  assert(r.isComplete);
  assertThrows(() => r.body(), Error, "keepBody");
});

Deno.test("413 when a total, an end or a start goes beyond maxSize", () => {
  const r = new Reassembler({ maxSize: 100 });
  assertEquals(status(() => r.beginChunk({ start: 1, end: 10, total: 101 })), 413);
  assertEquals(status(() => r.beginChunk({ start: 1, end: 101, total: "*" })), 413);
  assertEquals(status(() => r.beginChunk({ start: 102, end: "*", total: "*" })), 413);
});

Deno.test("413 when data of a chunk with * end goes past maxSize", () => {
  const r = new Reassembler({ maxSize: 100, keepBody: true });
  r.beginChunk({ start: 1, end: "*", total: "*" });
  r.write(sequence(60));
  assertEquals(status(() => r.write(sequence(41))), 413);
  r.write(sequence(40));
  r.endChunk("$");
  assertEquals(r.total, 100);
  assertEquals(r.body().length, 100);
});

Deno.test("400 when a total conflicts with an earlier total", () => {
  const message = sequence(100);
  const r = new Reassembler({ maxSize: 1000 });
  feed(r, message, { start: 1, end: 50, total: 100 }, "+");
  assertEquals(status(() => r.beginChunk({ start: 51, end: 100, total: 120 })), 400);
});

Deno.test("400 when data goes past the chunk's declared end or the known total", () => {
  const r = new Reassembler({ maxSize: 1000 });
  r.beginChunk({ start: 1, end: 10, total: "*" });
  assertEquals(status(() => r.write(sequence(11))), 400);
  r.write(sequence(10));
  r.endChunk("+");
  r.beginChunk({ start: 11, end: "*", total: 20 });
  assertEquals(status(() => r.write(sequence(11))), 400);
});

Deno.test("400 when a range lies beyond the known total", () => {
  const r = new Reassembler({ maxSize: 1000 });
  r.beginChunk({ start: 1, end: 10, total: 20 });
  r.endChunk("+");
  assertEquals(status(() => r.beginChunk({ start: 15, end: 25, total: "*" })), 400);
});

Deno.test("maxSize below 0 throws RangeError", () => {
  assertThrows(() => new Reassembler({ maxSize: -1 }), RangeError);
});
