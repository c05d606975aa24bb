import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { type MessageRecord, type Store, StoreSink } from "../../src/store/mod.ts";
import type { IncomingMessageInfo, IncomingOutcome } from "../../src/session/incoming.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { tempStore } from "./_support.ts";

function info(messageId: string, size: number | undefined): IncomingMessageInfo {
  return { messageId, contentType: "application/octet-stream", size, headers: new Map() };
}

function outcome(bytes: number, complete: boolean, reason = ""): IncomingOutcome {
  return {
    complete,
    aborted: !complete,
    bytesReceived: bytes,
    ranges: bytes > 0 ? [[1, bytes]] : [],
    reason,
  };
}

/** Deterministic content: byte i of the message is a hash of i. */
function contentAt(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const x = Math.imul((offset + i) ^ 0x9e3779b9, 0x85ebca6b);
    out[i] = (x ^ (x >>> 13)) & 0xff;
  }
  return out;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const piece of file.readable) hash.update(piece);
  return hash.digest("hex");
}

function withSession(store: Store): string {
  return store.insertSession({ direction: "in", localUri: "msrp://127.0.0.1:2855/x;tcp" }).id;
}

Deno.test("store sink: a 64 MiB message in random slices is stored with its SHA-256", async () => {
  await using t = await tempStore();
  const size = 64 * 1024 * 1024;
  let closed: MessageRecord | undefined;
  const sink = new StoreSink(t.store, withSession(t.store), info("big", size), {
    onClose: (m) => closed = m,
  });
  assertEquals([sink.message.status, sink.message.size], ["receiving", size]);
  const expected = createHash("sha256");
  const random = new Random(64);
  for (let offset = 0; offset < size;) {
    const length = Math.min(size - offset, random.int(1, 256 * 1024));
    const slice = contentAt(offset, length);
    expected.update(slice);
    const written = sink.write(offset, slice);
    slice.fill(0); // the sink must have copied what it still needs
    await written;
    offset += length;
  }
  await sink.close(outcome(size, true));
  const digest = expected.digest("hex");
  const row = t.store.getMessage(sink.message.id);
  assertEquals(row, closed);
  assertEquals([row?.status, row?.bytes, row?.sha256, row?.errorReason], [
    "received",
    size,
    digest,
    null,
  ]);
  assertEquals(row?.contentPath, t.store.contentPath(sink.message.id));
  assertEquals((await Deno.stat(row!.contentPath!)).size, size);
  assertEquals(await sha256OfFile(row!.contentPath!), digest);
});

Deno.test("store sink: out-of-order slices give the right file and hash", async () => {
  await using t = await tempStore();
  const size = 1_000_003;
  const sink = new StoreSink(t.store, withSession(t.store), info("shuffled", size));
  const random = new Random(7);
  const slices: [number, number][] = [];
  for (let offset = 0; offset < size;) {
    const length = Math.min(size - offset, random.int(1, 50_000));
    slices.push([offset, length]);
    offset += length;
  }
  for (let i = slices.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [slices[i], slices[j]] = [slices[j], slices[i]];
  }
  const writes = slices.map(([offset, length]) => sink.write(offset, contentAt(offset, length)));
  await Promise.all(writes);
  await sink.close(outcome(size, true));
  const whole = contentAt(0, size);
  const row = t.store.getMessage(sink.message.id)!;
  assertEquals(row.status, "received");
  assertEquals(row.sha256, createHash("sha256").update(whole).digest("hex"));
  assertEquals(await Deno.readFile(row.contentPath!), whole);
});

Deno.test("store sink: an incomplete message is recorded as partial with its reason", async () => {
  await using t = await tempStore();
  let closed: MessageRecord | undefined;
  const sink = new StoreSink(t.store, withSession(t.store), info("cut", 10_000), {
    onClose: (m) => closed = m,
  });
  await sink.write(0, contentAt(0, 4000));
  await sink.close(outcome(4000, false, "aborted by sender"));
  assertEquals(
    [closed?.status, closed?.bytes, closed?.sha256, closed?.errorReason],
    ["partial", 4000, null, "aborted by sender"],
  );
  assertEquals(await Deno.readFile(closed!.contentPath!), contentAt(0, 4000));
});

Deno.test("store sink: content that cannot be written marks the message failed", async () => {
  await using t = await tempStore();
  await Deno.remove(`${t.dir}/content`);
  const sink = new StoreSink(t.store, withSession(t.store), info("nowhere", 3));
  await sink.write(0, contentAt(0, 3));
  await sink.close(outcome(3, true));
  const row = t.store.getMessage(sink.message.id)!;
  assertEquals(row.status, "failed");
  assert(row.errorReason?.startsWith("content not stored"), row.errorReason ?? "");
});

Deno.test("store sink: a file received over a real MSRP session lands in the store", async () => {
  await using t = await tempStore();
  const sessionId = withSession(t.store);
  const done = Promise.withResolvers<MessageRecord>();
  const ea = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  try {
    const b = eb.createSession({
      sink: (i) => new StoreSink(t.store, sessionId, i, { onClose: done.resolve }),
    });
    const a = ea.createSession();
    await ea.connectSession(a, [b.localUri]);
    await b.ready;
    const body = contentAt(0, 3 * 1024 * 1024 + 17);
    const sent = await a.send(body, { contentType: "application/octet-stream" }).done;
    assertEquals(sent.status, "sent");
    const row = await done.promise;
    assertEquals([row.status, row.bytes, row.sessionId], ["received", body.length, sessionId]);
    assertEquals(row.sha256, createHash("sha256").update(body).digest("hex"));
    assertEquals(await Deno.readFile(row.contentPath!), body);
  } finally {
    await ea.close();
    await eb.close();
  }
});
