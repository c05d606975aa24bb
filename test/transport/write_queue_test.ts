import { assert, assertEquals } from "../_assert.ts";
import {
  COALESCE_BYTES,
  DIRECT_WRITE_BYTES,
  WriteQueue,
} from "../../src/transport/_write_queue.ts";
import { patternBytes } from "./_support.ts";

function drain(queue: WriteQueue): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  while (queue.bytes > 0) chunks.push(queue.take().slice());
  return chunks;
}

function joined(parts: readonly Uint8Array[]): number[] {
  return parts.flatMap((p) => Array.from(p));
}

Deno.test("WriteQueue: take() copies small parts into one chunk, in order", () => {
  const queue = new WriteQueue();
  const parts = [Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6)];
  for (const p of parts) queue.push(p);
  assertEquals(queue.bytes, 6);
  const chunk = queue.take();
  assertEquals(Array.from(chunk), [1, 2, 3, 4, 5, 6]);
  assertEquals(queue.bytes, 0);
  assertEquals(queue.take().length, 0);
});

Deno.test("WriteQueue: take() returns parts of 16 KiB or more as they are, without copying", () => {
  const queue = new WriteQueue();
  const small = Uint8Array.of(7, 8);
  const big = patternBytes(DIRECT_WRITE_BYTES, 1);
  queue.push(small);
  queue.push(big);
  queue.push(small);
  assertEquals(Array.from(queue.take()), [7, 8], "small parts before a big one go first");
  assert(queue.take() === big, "the big part itself");
  assert(queue.take() === small, "a lone small part needs no copy either");
});

Deno.test("WriteQueue: chunks hold at most 64 KiB; a part that does not fit is split", () => {
  const queue = new WriteQueue();
  const parts = Array.from({ length: 10 }, (_, i) => patternBytes(DIRECT_WRITE_BYTES - 1, i));
  for (const p of parts) queue.push(p);
  const chunks = drain(queue);
  assert(chunks.every((c) => c.length <= COALESCE_BYTES));
  assertEquals(chunks[0].length, COALESCE_BYTES);
  assertEquals(joined(chunks), joined(parts));
});

Deno.test("WriteQueue: clear() drops everything queued", () => {
  const queue = new WriteQueue();
  queue.push(Uint8Array.of(1));
  queue.push(Uint8Array.of(2));
  queue.clear();
  assertEquals(queue.bytes, 0);
  assertEquals(queue.take().length, 0);
});
