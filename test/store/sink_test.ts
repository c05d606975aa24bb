import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { Random } from "../_random.ts";
import { ContentQuota, type MessageRecord, type Store, StoreSink } from "../../src/store/mod.ts";
import type { IncomingMessageInfo, IncomingOutcome } from "../../src/session/incoming.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { storeSuite, tempStore } from "./_support.ts";

const forEachStore = await storeSuite("sink_test");

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

async function withSession(store: Store): Promise<string> {
  const session = await store.insertSession({
    direction: "in",
    localUri: "msrp://127.0.0.1:2855/x;tcp",
  });
  return session.id;
}

forEachStore(
  "store sink: a 64 MiB message in random slices is stored with its SHA-256",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const size = 64 * 1024 * 1024;
    let closed: MessageRecord | undefined;
    const sink = new StoreSink(t.store, await withSession(t.store), info("big", size), {
      onClose: (m) => closed = m,
    });
    const inserted = await sink.inserted;
    assertEquals([inserted.id, inserted.status, inserted.size], [sink.id, "receiving", size]);
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
    const row = await t.store.getMessage(sink.id);
    assertEquals(row, closed);
    assertEquals([row?.status, row?.bytes, row?.sha256, row?.errorReason], [
      "received",
      size,
      digest,
      null,
    ]);
    assertEquals(row?.contentPath, t.store.contentPath(sink.id));
    assertEquals((await Deno.stat(row!.contentPath!)).size, size);
    assertEquals(await sha256OfFile(row!.contentPath!), digest);
  },
);

forEachStore("store sink: out-of-order slices give the right file and hash", async (backend) => {
  await using t = await tempStore({}, backend);
  const size = 1_000_003;
  const sink = new StoreSink(t.store, await withSession(t.store), info("shuffled", size));
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
  const row = (await t.store.getMessage(sink.id))!;
  assertEquals(row.status, "received");
  assertEquals(row.sha256, createHash("sha256").update(whole).digest("hex"));
  assertEquals(await Deno.readFile(row.contentPath!), whole);
});

forEachStore(
  "store sink: an incomplete message is recorded as partial with its reason",
  async (backend) => {
    await using t = await tempStore({}, backend);
    let closed: MessageRecord | undefined;
    const sink = new StoreSink(t.store, await withSession(t.store), info("cut", 10_000), {
      onClose: (m) => closed = m,
    });
    await sink.write(0, contentAt(0, 4000));
    await sink.close(outcome(4000, false, "aborted by sender"));
    assertEquals(
      [closed?.status, closed?.bytes, closed?.sha256, closed?.errorReason],
      ["partial", 4000, null, "aborted by sender"],
    );
    assertEquals(await Deno.readFile(closed!.contentPath!), contentAt(0, 4000));
  },
);

forEachStore(
  "store sink: a file cut inside a chunk is partial with the bytes written as its count, the length a resume continues from",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const sink = new StoreSink(t.store, await withSession(t.store), info("cut-chunk", 10_000), {
      file: { size: 10_000, hash: null },
    });
    await sink.write(0, contentAt(0, 4000));
    // The next chunk's first 1500 bytes were written when the connection dropped.
    await sink.write(4000, contentAt(4000, 1500));
    await sink.close(outcome(4000, false, "connection closed"));
    const row = (await t.store.getMessage(sink.id))!;
    assertEquals([row.status, row.bytes], ["partial", 5500]);
    assertEquals(await Deno.readFile(row.contentPath!), contentAt(0, 5500));
  },
);

forEachStore(
  "store sink: content that cannot be written marks the message failed",
  async (backend) => {
    await using t = await tempStore({}, backend);
    await Deno.remove(`${t.dir}/content`);
    const sink = new StoreSink(t.store, await withSession(t.store), info("nowhere", 6));
    const first = await assertRejects(() => sink.write(0, contentAt(0, 3)));
    // Every later write fails the same way.
    assertEquals(await assertRejects(() => sink.write(3, contentAt(3, 3))), first);
    await sink.close(outcome(6, true));
    const row = (await t.store.getMessage(sink.id))!;
    assertEquals(row.status, "failed");
    assert(row.errorReason?.startsWith("content not stored"), row.errorReason ?? "");
  },
);

forEachStore(
  "store sink: when its message row cannot be recorded, every write rejects, and closing keeps no file and gives its quota back",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const quota = new ContentQuota(1000, 0);
    let closedWith: MessageRecord | undefined;
    const sink = new StoreSink(t.store, "no-such-session", info("orphan", 6), {
      quota,
      onClose: (row) => closedWith = row,
    });
    await assertRejects(() => sink.inserted);
    await assertRejects(() => sink.write(0, contentAt(0, 3)), Error, "message not recorded");
    await assertRejects(() => sink.write(3, contentAt(3, 3)), Error, "message not recorded");
    assertEquals(await t.store.getMessage(sink.id), undefined);
    await sink.close(outcome(6, true));
    assertEquals([closedWith, quota.usedBytes], [undefined, 0]);
    await assertRejects(() => Deno.stat(t.store.contentPath(sink.id)), Deno.errors.NotFound);
  },
);

forEachStore(
  "store sink: a file received over a real MSRP session lands in the store",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const sessionId = await withSession(t.store);
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
  },
);

/** `file` wrapped in `message/cpim` (RFC 3862): message headers, MIME headers, the file. */
function cpimWrapped(file: Uint8Array, type: string): Uint8Array {
  const head = "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n" +
    "DateTime: 2026-12-02T10:00:00Z\r\n\r\n" +
    `Content-Type: ${type}\r\nContent-Disposition: attachment; filename="a.bin"\r\n\r\n`;
  const encoded = new TextEncoder().encode(head);
  const all = new Uint8Array(encoded.length + file.length);
  all.set(encoded);
  all.set(file, encoded.length);
  return all;
}

function sha1Selector(bytes: Uint8Array): { algorithm: string; value: string } {
  const hex = createHash("sha1").update(bytes).digest("hex").toUpperCase();
  return { algorithm: "sha-1", value: hex.match(/../g)!.join(":") };
}

forEachStore(
  "store sink: a file wrapped in message/cpim is checked against the offered hash of the file inside, not of the wrapping",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const sessionId = await withSession(t.store);
    const file = contentAt(0, 300_000);
    const wrapped = cpimWrapped(file, "application/octet-stream");
    const receive = async (hash: { algorithm: string; value: string }, content: Uint8Array) => {
      const sink = new StoreSink(t.store, sessionId, info(crypto.randomUUID(), content.length), {
        file: { size: file.length + 65_536, hash, wrapped: "message/cpim" },
      });
      for (let at = 0; at < content.length; at += 65_536) {
        await sink.write(at, content.subarray(at, at + 65_536));
      }
      await sink.close(outcome(content.length, true));
      return (await t.store.getMessage(sink.id))!;
    };
    const good = await receive(sha1Selector(file), wrapped);
    assertEquals([good.status, good.hashVerified, good.bytes], ["received", true, wrapped.length]);
    const wrong = await receive(sha1Selector(wrapped), wrapped);
    assertEquals([wrong.status, wrong.hashVerified, wrong.errorReason], [
      "failed",
      false,
      "hash mismatch",
    ]);
    const broken = await receive(sha1Selector(file), file);
    assertEquals([broken.status, broken.hashVerified], ["failed", undefined]);
    assert(broken.errorReason?.startsWith("the wrapped file cannot be read"), broken.errorReason!);
  },
);
