import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { type Chunk, chunkCount, Chunker } from "../../src/msrp/chunker.ts";
import { MsrpError } from "../../src/msrp/status.ts";

function sequence(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + 3) & 0xff;
  return out;
}

async function drain(chunker: Chunker): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for (let c = await chunker.next(); c !== undefined; c = await chunker.next()) chunks.push(c);
  return chunks;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Checks bodies rebuild `input`, ranges are contiguous with concrete ends, and only the last is `$`. */
function checkChunks(chunks: readonly Chunk[], input: Uint8Array, chunkSize: number): void {
  assertEquals(concat(chunks.flatMap((c) => c.body)), input);
  let next = 1;
  chunks.forEach((c, i) => {
    const size = concat(c.body).length;
    assertEquals(c.byteRange.start, next, `chunk ${i} start`);
    assertEquals(c.byteRange.end, next + size - 1, `chunk ${i} end`);
    assert(size <= chunkSize, `chunk ${i} is larger than chunkSize`);
    assertEquals(c.flag, i === chunks.length - 1 ? "$" : "+", `chunk ${i} flag`);
    next += size;
  });
  assertEquals(chunks[chunks.length - 1].byteRange.total, input.length);
}

function streamOf(
  pieces: readonly Uint8Array[],
  onCancel?: () => void,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < pieces.length) controller.enqueue(pieces[i++]);
      else controller.close();
    },
    cancel() {
      onCancel?.();
    },
  });
}

async function* iterableOf(pieces: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of pieces) {
    await Promise.resolve();
    yield p;
  }
}

function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

Deno.test("bytes source at an exact multiple of chunkSize gives full chunks, last flagged $", async () => {
  const input = sequence(4096);
  const chunks = await drain(new Chunker(input, { chunkSize: 1024 }));
  assertEquals(chunks.length, 4);
  checkChunks(chunks, input, 1024);
  assertEquals(chunks.map((c) => c.byteRange), [
    { start: 1, end: 1024, total: 4096 },
    { start: 1025, end: 2048, total: 4096 },
    { start: 2049, end: 3072, total: 4096 },
    { start: 3073, end: 4096, total: 4096 },
  ]);
});

Deno.test("bytes source at a non-multiple of chunkSize gives a short last chunk", async () => {
  const input = sequence(5000);
  const chunks = await drain(new Chunker(input, { chunkSize: 2048 }));
  checkChunks(chunks, input, 2048);
  assertEquals(chunks.map((c) => c.byteRange), [
    { start: 1, end: 2048, total: 5000 },
    { start: 2049, end: 4096, total: 5000 },
    { start: 4097, end: 5000, total: 5000 },
  ]);
});

Deno.test("bytes source smaller than chunkSize is one $ chunk", async () => {
  const input = sequence(10);
  const chunks = await drain(new Chunker(input, { chunkSize: 2048 }));
  assertEquals(chunks.length, 1);
  assertEquals(chunks[0].byteRange, { start: 1, end: 10, total: 10 });
  assertEquals(chunks[0].flag, "$");
});

Deno.test("stream of 1-byte pieces rebuilds the input with contiguous ranges", async () => {
  const input = sequence(1000);
  const chunks = await drain(new Chunker(streamOf(split(input, 1)), { chunkSize: 64 }));
  assertEquals(chunks.length, chunkCount(1000, 64));
  checkChunks(chunks, input, 64);
});

Deno.test("async iterable with pieces bigger than chunkSize rebuilds the input", async () => {
  const input = sequence(20_000);
  const chunks = await drain(
    new Chunker(iterableOf(split(input, 7_000)), { chunkSize: 1024, totalSize: 20_000 }),
  );
  assertEquals(chunks.length, chunkCount(20_000, 1024));
  checkChunks(chunks, input, 1024);
  for (const c of chunks) assertEquals(c.byteRange.total, 20_000);
});

Deno.test("stream with unknown total sends * until the last chunk, which carries the real total", async () => {
  const input = sequence(2500);
  const chunker = new Chunker(streamOf(split(input, 300)), { chunkSize: 1000 });
  assertEquals(chunker.totalSize, undefined);
  const chunks = await drain(chunker);
  checkChunks(chunks, input, 1000);
  assertEquals(chunks.map((c) => c.byteRange), [
    { start: 1, end: 1000, total: "*" },
    { start: 1001, end: 2000, total: "*" },
    { start: 2001, end: 2500, total: 2500 },
  ]);
  assertEquals(chunker.totalSize, 2500);
  assertEquals(chunker.bytesProduced, 2500);
});

Deno.test("stream ending exactly on a chunk boundary flags that chunk $ (reads one piece ahead)", async () => {
  const input = sequence(2048);
  const chunks = await drain(new Chunker(streamOf(split(input, 1024)), { chunkSize: 1024 }));
  assertEquals(chunks.map((c) => [c.byteRange, c.flag]), [
    [{ start: 1, end: 1024, total: "*" }, "+"],
    [{ start: 1025, end: 2048, total: 2048 }, "$"],
  ]);
});

Deno.test("stream yielding more bytes than the declared totalSize rejects with 400", async () => {
  const chunker = new Chunker(streamOf(split(sequence(300), 100)), {
    chunkSize: 100,
    totalSize: 250,
  });
  const error = await assertRejects(() => drain(chunker), MsrpError, "longer");
  assertEquals(error.status, 400);
  assertEquals(await chunker.next(), undefined);
});

Deno.test("stream yielding fewer bytes than the declared totalSize rejects with 400", async () => {
  const chunker = new Chunker(iterableOf(split(sequence(150), 100)), {
    chunkSize: 100,
    totalSize: 250,
  });
  const first = await chunker.next();
  assertEquals(first?.byteRange, { start: 1, end: 100, total: 250 });
  const error = await assertRejects(() => chunker.next(), MsrpError, "fewer");
  assertEquals(error.status, 400);
});

Deno.test("abort mid-way gives a bodiless # chunk N+1-N/total and ends the message", async () => {
  const chunker = new Chunker(sequence(1000), { chunkSize: 100 });
  await chunker.next();
  await chunker.next();
  const abort = chunker.abort();
  assertEquals(abort, { byteRange: { start: 201, end: 200, total: 1000 }, flag: "#", body: [] });
  assertEquals(chunker.bytesProduced, 200);
  assertEquals(await chunker.next(), undefined);
  assertThrows(() => chunker.abort(), Error, "ended");
});

Deno.test("abort of a stream with unknown total uses * and cancels the stream", async () => {
  let cancelled = false;
  const chunker = new Chunker(streamOf(split(sequence(1000), 10), () => cancelled = true), {
    chunkSize: 100,
  });
  await chunker.next();
  const abort = chunker.abort();
  assertEquals(abort.byteRange, { start: 101, end: 100, total: "*" });
  assertEquals(abort.flag, "#");
  await Promise.resolve();
  assert(cancelled, "the stream was not cancelled");
  assertEquals(await chunker.next(), undefined);
});

Deno.test("abort while a next() is waiting on the stream makes that next() resolve undefined", async () => {
  const chunker = new Chunker(new ReadableStream<Uint8Array>(), { chunkSize: 10 });
  const pending = chunker.next();
  assertEquals(chunker.abort().byteRange, { start: 1, end: 0, total: "*" });
  assertEquals(await pending, undefined);
});

Deno.test("empty bytes body yields exactly one chunk 1-0/0 flagged $", async () => {
  const chunks = await drain(new Chunker(new Uint8Array(0), { chunkSize: 100 }));
  assertEquals(chunks, [{ byteRange: { start: 1, end: 0, total: 0 }, flag: "$", body: [] }]);
});

Deno.test("empty stream yields exactly one chunk 1-0/0 flagged $", async () => {
  const chunks = await drain(new Chunker(streamOf([]), { chunkSize: 100 }));
  assertEquals(chunks, [{ byteRange: { start: 1, end: 0, total: 0 }, flag: "$", body: [] }]);
});

Deno.test("chunk bodies are views of the source buffer, not copies", async () => {
  const input = sequence(5000);
  const chunks = await drain(new Chunker(input, { chunkSize: 2048 }));
  for (const c of chunks) {
    for (const part of c.body) assert(part.buffer === input.buffer, "body part was copied");
  }
  assertEquals(chunks[1].body[0].byteOffset, 2048);
});

Deno.test("chunk bodies from a stream are views of the stream's pieces", async () => {
  const pieces = [sequence(700), sequence(700), sequence(700)];
  const chunks = await drain(new Chunker(streamOf(pieces), { chunkSize: 500 }));
  const buffers = new Set(pieces.map((p) => p.buffer));
  for (const c of chunks) {
    for (const part of c.body) assert(buffers.has(part.buffer), "body part was copied");
  }
  assertEquals(chunks[1].body.length, 2, "a chunk spanning two pieces has two parts");
});

Deno.test("concurrent next() calls are served in order", async () => {
  const input = sequence(300);
  const chunker = new Chunker(streamOf(split(input, 7)), { chunkSize: 100 });
  const results = await Promise.all([chunker.next(), chunker.next(), chunker.next()]);
  checkChunks(results.filter((c) => c !== undefined), input, 100);
});

Deno.test("chunkSize below 1 or not an integer throws RangeError", () => {
  assertThrows(() => new Chunker(new Uint8Array(1), { chunkSize: 0 }), RangeError);
  assertThrows(() => new Chunker(new Uint8Array(1), { chunkSize: 1.5 }), RangeError);
  assertThrows(() => new Chunker(streamOf([]), { chunkSize: 10, totalSize: -1 }), RangeError);
});

Deno.test("chunkCount counts one chunk for an empty body and rounds up", () => {
  assertEquals(chunkCount(0, 100), 1);
  assertEquals(chunkCount(100, 100), 1);
  assertEquals(chunkCount(101, 100), 2);
  assertEquals(chunkCount(4096, 1024), 4);
  assertThrows(() => chunkCount(10, 0), RangeError);
});

Deno.test("totalSize is the array length for bytes and the declared size for streams", () => {
  assertEquals(new Chunker(sequence(42), { chunkSize: 10 }).totalSize, 42);
  assertEquals(new Chunker(streamOf([]), { chunkSize: 10, totalSize: 7 }).totalSize, 7);
});

Deno.test("Chunker: nextReady() cuts chunks from bytes already read, the same ones next() gives, and never reads", async () => {
  const body = sequence(5 * 1000 + 300);
  const pieces = [body.subarray(0, 3000), body.subarray(3000, 3100), body.subarray(3100)];
  let reads = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const p of pieces) {
      reads++;
      yield p;
    }
  }
  const expected = await drain(new Chunker(body, { chunkSize: 1000 }));
  const chunker = new Chunker(source(), { chunkSize: 1000, totalSize: body.length });
  assertEquals(chunker.nextReady(), undefined, "nothing read yet");
  const got: Chunk[] = [];
  while (true) {
    const before = reads;
    for (let c = chunker.nextReady(); c !== undefined; c = chunker.nextReady()) got.push(c);
    assertEquals(reads, before, "nextReady() does not read");
    const c = await chunker.next();
    if (c === undefined) break;
    got.push(c);
  }
  assertEquals(
    got.map((c) => [c.byteRange, c.flag, Array.from(concat(c.body))]),
    expected.map((c) => [c.byteRange, c.flag, Array.from(concat(c.body))]),
  );
  assertEquals(got.at(-1)!.flag, "$");
  assertEquals(chunker.nextReady(), undefined, "finished");
});

Deno.test("Chunker: nextReady() gives nothing while next() is reading", async () => {
  const { promise, resolve } = Promise.withResolvers<void>();
  async function* source(): AsyncGenerator<Uint8Array> {
    await promise;
    yield sequence(5000);
  }
  const chunker = new Chunker(source(), { chunkSize: 1000 });
  const first = chunker.next();
  assertEquals(chunker.nextReady(), undefined);
  resolve();
  assertEquals((await first)!.byteRange, { start: 1, end: 1000, total: "*" });
  assertEquals(chunker.nextReady()!.byteRange, { start: 1001, end: 2000, total: "*" });
});
