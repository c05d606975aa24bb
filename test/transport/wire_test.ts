/**
 * `src/transport/_wire.ts`: the reads of a TCP wire grow while they come
 * full, up to four times the read buffer size, and go back after a small one.
 */

import { assert, assertEquals } from "../_assert.ts";
import { wireOf } from "../../src/transport/_wire.ts";

/** A connected pair of TCP sockets on loopback. */
async function socketPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return [a, b];
}

/** Reads `bytes` bytes from `wire`, returning each read's length. */
async function readLengths(wire: ReturnType<typeof wireOf>, bytes: number): Promise<number[]> {
  const lengths: number[] = [];
  let got = 0;
  while (got < bytes) {
    const input = await wire.read();
    assert(input !== null, "the peer closed early");
    lengths.push(input.length);
    got += input.length;
  }
  return lengths;
}

Deno.test("wire: full reads double the next read up to four times the buffer size; a small read brings it back", async () => {
  const [writer, reader] = await socketPair();
  const wire = wireOf(reader, 1024);
  try {
    // Everything is in the socket before the first read: every read can come full.
    await writer.write(new Uint8Array(32 * 1024).fill(1));
    const lengths = await readLengths(wire, 32 * 1024);
    assertEquals(lengths.slice(0, 3), [1024, 2048, 4096]);
    assert(lengths.every((n) => n <= 4096), `reads of ${lengths}`);
    // A small read: the next read asks for the base size again.
    await writer.write(new Uint8Array(100));
    assertEquals(await readLengths(wire, 100), [100]);
    await writer.write(new Uint8Array(8 * 1024));
    assertEquals((await readLengths(wire, 8 * 1024))[0], 1024);
  } finally {
    writer.close();
    wire.close(undefined);
  }
});
