/**
 * The backpressure scenario, run over TCP and over TLS: a receiver that does
 * not read holds the sender back, and everything arrives once it reads.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { encodeRequest } from "../../src/msrp/serializer.ts";
import { MsrpConnection } from "../../src/transport/mod.ts";
import { FrameCollector, patternBytes, sendRequest } from "./_support.ts";
import { until, withDeadline } from "../_until.ts";

/**
 * Sends 64 MiB of frames from `clientSocket`, awaiting each `send()`, while
 * nobody reads `serverSocket`; checks that the sender blocks with its queue
 * bounded by highWaterMark + one send, then reads and checks every byte.
 * Closes both connections.
 */
export async function checkBackpressure(
  clientSocket: Deno.Conn,
  serverSocket: Deno.Conn,
): Promise<void> {
  const highWaterMark = 256 * 1024;
  const client = new MsrpConnection(clientSocket, new FrameCollector(), {
    highWaterMark,
    maxQueuedBytes: 4 * 1024 * 1024,
  });
  const body = patternBytes(64 * 1024, 9);
  const frames = 1024; // 64 MiB: far more than the kernel buffers on both sides hold
  const frameBytes = encodeRequest(sendRequest(0, body)).reduce((n, p) => n + p.length, 0);
  let sent = 0;
  let maxQueued = 0;
  const producer = (async () => {
    for (let i = 0; i < frames; i++) {
      const pending = client.send(encodeRequest(sendRequest(i, body)));
      maxQueued = Math.max(maxQueued, client.queuedBytes);
      await pending;
      sent++;
    }
  })();

  // The block as an event, not as a quiet spell: the queue at its high-water mark, so the
  // producer's send() is pending (the receiver reads nothing, so it stays pending).
  await until(() => client.queuedBytes >= highWaterMark, "the sender to block");
  assert(sent < frames, "the sender must be held back");
  assert(client.queuedBytes >= highWaterMark, "a send() is pending");
  assert(
    maxQueued <= highWaterMark + frameBytes,
    `queued ${maxQueued} bytes, more than highWaterMark + one send (${highWaterMark + frameBytes})`,
  );

  // Now read: check every body as it streams by, without keeping it.
  let done = 0;
  let offset = 0;
  let mismatch = "";
  const allRead = Promise.withResolvers<void>();
  const server = new MsrpConnection(serverSocket, {
    head(head) {
      if (head.headers.get("message-id") !== `m${done}`) mismatch ||= `frame ${done} out of order`;
      offset = 0;
    },
    body(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== body[offset + i]) mismatch ||= `frame ${done} differs at ${offset + i}`;
      }
      offset += bytes.length;
    },
    end() {
      if (offset !== body.length) mismatch ||= `frame ${done} has ${offset} bytes`;
      if (++done === frames) allRead.resolve();
    },
    error(failure) {
      mismatch ||= failure.error.message;
    },
  });
  await withDeadline(Promise.all([producer, allRead.promise]), "all frames to arrive");
  assertEquals(mismatch, "");
  assertEquals(sent, frames);
  assert(maxQueued <= highWaterMark + frameBytes, `queued up to ${maxQueued} bytes`);
  client.close();
  await withDeadline(Promise.all([client.closed, server.closed]), "close");
}
