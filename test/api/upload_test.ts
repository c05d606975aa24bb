import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { Random } from "../_random.ts";
import { readUpload, UPLOAD_PIECE_BYTES } from "../../src/api/upload.ts";

/** A byte stream (as a request body is) that hands out `data` in `step`-byte pieces. */
function byteStream(
  data: Uint8Array,
  step: number,
  onCancel?: () => void,
): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (offset >= data.length) {
        controller.close();
        controller.byobRequest?.respond(0); // a pending BYOB read learns of the end
        return;
      }
      controller.enqueue(data.slice(offset, offset + step));
      offset += step;
    },
    cancel() {
      onCancel?.();
    },
  });
}

Deno.test("readUpload: odd-sized reads come out as full pieces in buffers of their own, then the short rest", async () => {
  const data = new Random(7).bytes(3 * UPLOAD_PIECE_BYTES + 777);
  const upload = readUpload(byteStream(data, 1000), data.length);
  const pieces: Uint8Array[] = [];
  for await (const piece of upload.pieces) pieces.push(piece);
  assertEquals(pieces.map((p) => p.length), [
    UPLOAD_PIECE_BYTES,
    UPLOAD_PIECE_BYTES,
    UPLOAD_PIECE_BYTES,
    777,
  ]);
  assertEquals(new Set(pieces.map((p) => p.buffer)).size, pieces.length);
  assertEquals(new Uint8Array(await new Blob(pieces as BlobPart[]).arrayBuffer()), data);
  assertEquals(await upload.finished, data.length);
});

Deno.test("readUpload: a body that ends before its declared size fails the pieces and `finished`", async () => {
  const data = new Random(8).bytes(5000);
  const upload = readUpload(byteStream(data, 1024), 6000);
  await assertRejects(
    async () => {
      for await (const _ of upload.pieces) { /* read on */ }
    },
    Error,
    "ended after 5000 of 6000 bytes",
  );
  await assertRejects(() => upload.finished, Error, "ended after 5000 of 6000 bytes");
});

Deno.test("readUpload: a reader that stops early cancels the rest of the body", async () => {
  let cancelled = false;
  const data = new Random(9).bytes(4 * UPLOAD_PIECE_BYTES);
  const upload = readUpload(
    byteStream(data, UPLOAD_PIECE_BYTES, () => cancelled = true),
    data.length,
  );
  for await (const _ of upload.pieces) break;
  assert(cancelled, "the body was not cancelled");
});

Deno.test("readUpload: a body that is not a byte stream is passed on piece by piece, counted", async () => {
  const data = new Random(10).bytes(10_000);
  const inner = new Blob([data as BlobPart]).stream().getReader();
  const body = new ReadableStream<Uint8Array>({ // a default stream, as Deno gives small bodies
    async pull(controller) {
      const { done, value } = await inner.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  const upload = readUpload(body, data.length);
  const pieces: Uint8Array[] = [];
  for await (const piece of upload.pieces) pieces.push(piece);
  assertEquals(new Uint8Array(await new Blob(pieces as BlobPart[]).arrayBuffer()), data);
  assertEquals(await upload.finished, data.length);
});
