/**
 * A chunk is acknowledged only once its sink has written it (RFC 4975 §7.2:
 * the 200 tells the sender the chunk arrived): over a real TCP connection, a
 * sink whose writes are held keeps the chunk's 200 — and the `message` event
 * after it — back until they are released, the answers still leave in the
 * order of the requests, and the success REPORT waits until the sink has
 * finished the message. A write that fails is answered 413, never 200.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { nextMessage } from "../_messages.ts";
import type { Frame } from "../../src/msrp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { RawPeer, sendFrame } from "./_peer.ts";

const FROM = "msrp://127.0.0.1:9/peer;tcp";

/** What the peer got, as `tid status` for responses and `REPORT status` for REPORTs. */
function got(frames: readonly Frame[]): string[] {
  return frames.map((f) =>
    f.head.kind === "response"
      ? `${f.head.transactionId} ${f.head.status}`
      : `${f.head.method} ${f.head.headers.get("status")}`
  );
}

/**
 * Writes a SEND to a session nobody has and waits for its 481. The
 * connection answers it itself as soon as it reads it, after every frame
 * written before it was read: what the sessions had answered by then is in
 * `frames` before it.
 */
async function probe(peer: RawPeer, tid: string): Promise<void> {
  await peer.write(sendFrame({
    tid,
    to: "msrp://127.0.0.1:9/nobody;tcp",
    from: FROM,
    messageId: tid,
    range: "1-1/1",
    body: "?",
  }));
  await peer.waitFor((frames) => frames.some((f) => f.head.transactionId === tid));
}

Deno.test("session: a chunk's 200 and the message event wait until the sink wrote the chunk, answers leave in request order, the success REPORT waits for the sink's close", async () => {
  // One gate per chunk: the write of any byte of chunk 1 (bytes 1-5) or chunk 2 (6-10) waits for it.
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const closing = Promise.withResolvers<void>();
  const written: string[] = [];
  const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const b = eb.createSession({
    sink: () => ({
      write: async (offset, bytes) => {
        const text = new TextDecoder().decode(bytes);
        await gates[offset < 5 ? 0 : 1].promise;
        written.push(text);
      },
      close: () => closing.promise,
    }),
  });
  let announced = false;
  b.addEventListener("message", () => announced = true);
  const peer = await RawPeer.connect(eb.port);
  try {
    const base = {
      to: b.localUri,
      from: FROM,
      messageId: "held",
      contentType: "text/plain",
      extra: "Success-Report: yes\r\n",
    };
    await peer.write(sendFrame({ ...base, tid: "chunk001", range: "1-5/10", body: "hello" }));
    await peer.write(sendFrame({ ...base, tid: "chunk002", range: "6-10/10", body: "world" }));
    // Read and handed to the sink, but not written: no answer yet.
    await probe(peer, "probe001");
    assertEquals(got(peer.frames), ["probe001 481"]);

    // The second chunk written first: its 200 still waits for the first's.
    gates[1].resolve();
    await probe(peer, "probe002");
    assertEquals(got(peer.frames), ["probe001 481", "probe002 481"]);
    assertEquals([written, announced], [["world"], false]);

    const message = nextMessage(b);
    gates[0].resolve();
    await peer.waitFor((frames) => frames.some((f) => f.head.transactionId === "chunk002"));
    assertEquals((await message).outcome?.complete, true);
    assertEquals(written.sort(), ["hello", "world"]);
    // Every byte written, the sink still finishing the message: not delivered yet.
    await probe(peer, "probe003");
    assertEquals(got(peer.frames), [
      "probe001 481",
      "probe002 481",
      "chunk001 200",
      "chunk002 200",
      "probe003 481",
    ]);
    closing.resolve();
    await peer.waitFor((frames) => frames.some((f) => f.head.kind === "request"));
    assertEquals(got(peer.frames).at(-1), "REPORT 000 200 OK");
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: a sink whose write rejects gets its chunk answered 413 with the reason, never 200, and the message ends incomplete", async () => {
  const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const b = eb.createSession({
    sink: () => ({
      write: (offset) =>
        offset === 0 ? Promise.resolve() : Promise.reject(new Error("No space left on device")),
      close() {},
    }),
  });
  const peer = await RawPeer.connect(eb.port);
  try {
    const message = nextMessage(b);
    const base = { to: b.localUri, from: FROM, messageId: "full", contentType: "text/plain" };
    await peer.write(
      sendFrame({ ...base, tid: "full0001", range: "1-5/15", body: "hello", flag: "+" }),
    );
    await peer.write(
      sendFrame({ ...base, tid: "full0002", range: "6-10/15", body: "world", flag: "+" }),
    );
    await peer.write(sendFrame({ ...base, tid: "full0003", range: "11-15/15", body: "again" }));
    const frames = await peer.waitFor((fs) =>
      fs.filter((f) => f.head.kind === "response").length >= 3
    );
    const responses = frames.filter((f) => f.head.kind === "response");
    assertEquals(got(responses), ["full0001 200", "full0002 413", "full0003 413"]);
    const refusal = responses[1].head;
    assert(refusal.kind === "response");
    assertEquals(refusal.comment, "content not stored: No space left on device");
    const m = await message;
    assertEquals([m.outcome?.complete, m.outcome?.reason], [
      false,
      "rejected with 413: content not stored: No space left on device",
    ]);
  } finally {
    await peer.close();
    await eb.close();
  }
});
