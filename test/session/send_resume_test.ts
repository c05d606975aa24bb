/**
 * Sending a message from part-way (`SendOptions.startOffset`; RFC 4975
 * §7.1.1 Byte-Range, a file resumed by RFC 5547 §8): the chunks carry the
 * positions of the whole message, the abort chunk too, and a success REPORT
 * numbering either the whole message or this send settles it.
 */

import { assert, assertEquals } from "../_assert.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import type { Frame } from "../../src/msrp/mod.ts";
import { RawPeer, sendFrame } from "./_peer.ts";
import { withDeadline } from "../_until.ts";

const PEER = "msrp://127.0.0.1:4000/peer1;tcp";

function endpoint(): MsrpEndpoint {
  return new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
}

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

async function* piecesOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** A session bound to a raw peer that connected and sent the binding SEND (RFC 4975 §7.1). */
async function boundToRawPeer(chunkSize: number) {
  const e = endpoint();
  const s = e.createSession({ remotePath: [PEER], chunkSize });
  const peer = await RawPeer.connect(e.port);
  await peer.write(sendFrame({ tid: "bind0001", to: s.localUri, from: PEER }));
  await peer.waitFor((fs) => fs.some((f) => f.head.transactionId === "bind0001"));
  return {
    s,
    peer,
    async [Symbol.asyncDispose]() {
      await peer.close();
      await e.close();
    },
  };
}

/** The SEND frames of message `id` the peer got. */
function sendsOf(frames: Frame[], id: string): Frame[] {
  return frames.filter((f) =>
    f.head.kind === "request" && f.head.method === "SEND" && f.head.headers.get("message-id") === id
  );
}

Deno.test("send resume: a library receiver's sink gets the bytes at the message's offsets, the sender counts this send only", async () => {
  const ea = endpoint();
  const eb = endpoint();
  const writes: [number, Uint8Array][] = [];
  const b = eb.createSession({
    sink: () => ({
      write: (offset, bytes) => void writes.push([offset, bytes.slice()]),
      close() {},
    }),
  });
  const a = ea.createSession({ chunkSize: 16 * 1024 });
  try {
    await ea.connectSession(a, [b.localUri]);
    const whole = bytesOf(140_000, 7);
    const offset = 40_000;
    const rest = whole.subarray(offset);
    const r = await a.send(piecesOf(rest, 10_000), {
      contentType: "application/octet-stream",
      size: whole.length,
      startOffset: offset,
    }).done;
    assertEquals([r.status, r.bytesSent, r.bytesAcknowledged], ["sent", 100_000, 100_000]);
    const got = new Uint8Array(whole.length);
    let lowest = Infinity;
    let count = 0;
    for (const [at, bytes] of writes) {
      got.set(bytes, at);
      lowest = Math.min(lowest, at);
      count += bytes.length;
    }
    assertEquals([lowest, count], [offset, rest.length]);
    assertEquals(got.subarray(offset), rest);
  } finally {
    await ea.close();
    await eb.close();
  }
});

Deno.test("send resume: chunks carry the whole message's Byte-Range; a success REPORT of the whole message or of this send delivers it", async () => {
  await using p = await boundToRawPeer(1024);
  const reports = [
    ["whole", "1-8000/8000"],
    ["ours", "1-3000/3000"],
    ["from", "5001-8000/8000"],
  ];
  for (const [id, range] of reports) {
    const m = p.s.send(bytesOf(3000, 1), {
      messageId: id,
      size: 8000,
      startOffset: 5000,
      successReport: true,
      failureReport: "no",
    });
    const frames = sendsOf(await p.peer.waitFor((fs) => sendsOf(fs, id).length === 3), id);
    assertEquals(frames.map((f) => [f.head.headers.get("byte-range"), f.flag]), [
      ["5001-6024/8000", "+"],
      ["6025-7048/8000", "+"],
      ["7049-8000/8000", "$"],
    ]);
    assertEquals(frames.reduce((n, f) => n + f.body.length, 0), 3000);
    // Progress first (RFC 4975 §7.1.2): not the end yet.
    await p.peer.write(sendFrame({
      tid: `prog${id}`,
      method: "REPORT",
      to: p.s.localUri,
      from: PEER,
      messageId: id,
      range: "1-6000/8000",
      extra: "Status: 000 200 OK\r\n",
    }));
    await p.peer.write(sendFrame({
      tid: `done${id}`,
      method: "REPORT",
      to: p.s.localUri,
      from: PEER,
      messageId: id,
      range,
      extra: "Status: 000 200 OK\r\n",
    }));
    const r = await m.done;
    assertEquals([r.status, r.bytesSent, r.bytesAcknowledged], ["delivered", 3000, 3000], id);
  }
});

Deno.test("send resume: a message cancelled part-way ends with a # chunk at its position in the whole message", async () => {
  await using p = await boundToRawPeer(1024);
  let pulls = 0;
  const sent: { message?: ReturnType<typeof p.s.send> } = {};
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (++pulls === 4) sent.message!.cancel("stopped");
      c.enqueue(new Uint8Array(1024).fill(9));
    },
  });
  const m = sent.message = p.s.send(source, {
    messageId: "cut1",
    size: 100_000,
    startOffset: 50_000,
    failureReport: "no",
  });
  const r = await m.done;
  assertEquals([r.status, r.reason], ["failed", "stopped"]);
  assert(r.bytesSent > 0 && r.bytesSent < 50_000, String(r.bytesSent));
  const frames = sendsOf(
    await p.peer.waitFor((fs) => sendsOf(fs, "cut1").some((f) => f.flag === "#")),
    "cut1",
  );
  assertEquals(frames[0].head.headers.get("byte-range"), "50001-51024/100000");
  const end = 50_000 + r.bytesSent;
  assertEquals(frames.at(-1)!.head.headers.get("byte-range"), `${end + 1}-${end}/100000`);
  assertEquals(frames.reduce((n, f) => n + f.body.length, 0), r.bytesSent);
});

Deno.test("send resume: a receiver whose sink holds the first bytes (held) completes the resumed message and its success REPORT delivers it", async () => {
  const ea = endpoint();
  const eb = endpoint();
  const offset = 40_000;
  const whole = bytesOf(140_000, 3);
  const got = new Uint8Array(whole.length);
  got.set(whole.subarray(0, offset));
  const announced = Promise.withResolvers<boolean>();
  const b = eb.createSession({
    sink: () => ({
      held: offset,
      write: (at, bytes) => void got.set(bytes, at),
      close: (outcome) => announced.resolve(outcome.complete),
    }),
  });
  const a = ea.createSession({ chunkSize: 16 * 1024 });
  try {
    await ea.connectSession(a, [b.localUri]);
    const r = await withDeadline(
      a.send(piecesOf(whole.subarray(offset), 10_000), {
        contentType: "application/octet-stream",
        size: whole.length,
        startOffset: offset,
        successReport: true,
      }).done,
      "the success REPORT",
    );
    assertEquals(r.status, "delivered");
    assertEquals(await announced.promise, true, "the receiver's message is complete");
    assertEquals(got, whole);
  } finally {
    await ea.close();
    await eb.close();
  }
});
