import { nextMessage } from "../_messages.ts";
import { until } from "../_until.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { type IncomingMessage, MsrpEndpoint, type MsrpSession } from "../../src/session/mod.ts";
import { MsrpError } from "../../src/msrp/mod.ts";
import { RawPeer, sendFrame } from "./_peer.ts";

const enc = new TextEncoder();

function endpoint(options: ConstructorParameters<typeof MsrpEndpoint>[0] = {}): MsrpEndpoint {
  return new MsrpEndpoint({ hostname: "127.0.0.1", port: 0, ...options }).listen();
}

/** Two endpoints with a connected session pair: `a` active, `b` passive. */
async function pair(
  bOptions: Parameters<MsrpEndpoint["createSession"]>[0] = {},
  aOptions: Parameters<MsrpEndpoint["createSession"]>[0] = {},
) {
  const ea = endpoint();
  const eb = endpoint();
  const b = eb.createSession(bOptions);
  const a = ea.createSession(aOptions);
  await ea.connectSession(a, [b.localUri]);
  await b.ready;
  return {
    a,
    b,
    ea,
    eb,
    async [Symbol.asyncDispose]() {
      await ea.close();
      await eb.close();
    },
  };
}

Deno.test("session: a text message is delivered and confirmed by a success REPORT", async () => {
  await using p = await pair();
  const got = nextMessage(p.b);
  const msg = p.a.send("Hello Bob", { successReport: true });
  const received = await got;
  assertEquals(received.text(), "Hello Bob");
  assertEquals(received.contentType, "text/plain");
  const result = await msg.done;
  assertEquals(result.status, "delivered");
  assertEquals(result.bytesSent, 9);
});

Deno.test("session: without Success-Report the final status is sent after all 200s", async () => {
  await using p = await pair();
  const result = await p.a.send("x".repeat(10)).done;
  assertEquals([result.status, result.bytesAcknowledged], ["sent", 10]);
});

Deno.test("session: a 1 MiB message is chunked and reassembled byte-exact", async () => {
  await using p = await pair({}, { chunkSize: 4096 });
  const big = new Uint8Array(1024 * 1024);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const got = nextMessage(p.b);
  const result = await p.a.send(big, { contentType: "application/octet-stream" }).done;
  assertEquals(result.status, "sent");
  const m = await got;
  assertEquals(m.body(), big);
});

Deno.test("session: 24 MiB sent in many batches arrive byte-exact, batch buffers being reused once written", async () => {
  await using p = await pair({ maxMessageBytes: 32 * 1024 * 1024 });
  const size = 24 * 1024 * 1024;
  const big = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  // Pieces of a stream: each batch buffer is filled from new memory, so a buffer
  // reused before the connection wrote it would put later bytes in earlier frames.
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < size; i += 100_000) yield big.slice(i, Math.min(size, i + 100_000));
  }
  const got = nextMessage(p.b);
  const result = await p.a.send(pieces(), { contentType: "application/octet-stream", size }).done;
  assertEquals([result.status, result.bytesSent], ["sent", size]);
  const m = await got;
  assert(m.outcome?.complete);
  assertEquals(m.body(), big);
});

Deno.test("session: a streamed body of unknown size arrives whole", async () => {
  await using p = await pair({}, { chunkSize: 1000 });
  const pieces = Array.from({ length: 50 }, (_, i) => enc.encode(`piece ${i};`));
  const stream = ReadableStream.from(pieces);
  const got = nextMessage(p.b);
  await p.a.send(stream, { contentType: "text/plain" }).done;
  assertEquals((await got).text(), pieces.map((x) => new TextDecoder().decode(x)).join(""));
});

Deno.test("session: a short message is sent between the chunks of a long one (RFC 4975 §5.1)", async () => {
  await using p = await pair({}, { chunkSize: 1024 });
  const order: string[] = [];
  p.b.addEventListener(
    "message",
    (e) => order.push((e as unknown as { message: IncomingMessage }).message.contentType),
  );
  // A source that gives two chunks (the first is cut once the next is known), then waits
  // until the short message is on its way: the long message has started and cannot have
  // finished, however slow the machine.
  const shortQueued = Promise.withResolvers<void>();
  let i = 0;
  const slow = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (i > 1) await shortQueued.promise;
      if (i++ < 64) c.enqueue(new Uint8Array(1024).fill(65));
      else c.close();
    },
  });
  const big = p.a.send(slow, { contentType: "application/octet-stream", size: 64 * 1024 });
  await until(() => big.bytesSent > 0, "the long message's first chunk");
  assert(big.bytesSent < 64 * 1024, "the long message is still being sent");
  const small = p.a.send("urgent", { contentType: "text/plain" });
  shortQueued.resolve();
  await Promise.all([big.done, small.done]);
  await until(() => order.length === 2, "both messages at the receiver");
  assertEquals(order, ["text/plain", "application/octet-stream"]);
});

Deno.test("session: a content type outside accept-types is refused with 415", async () => {
  await using p = await pair({ acceptTypes: ["text/plain", "image/*"] });
  assertEquals((await p.a.send("<x/>", { contentType: "application/xml" }).done).code, 415);
  assertEquals((await p.a.send("img", { contentType: "image/png" }).done).status, "sent");
});

Deno.test("session: a message above the size limit is refused with 413", async () => {
  await using p = await pair({ maxMessageBytes: 100 });
  const r = await p.a.send(new Uint8Array(1000), { contentType: "application/octet-stream" }).done;
  assertEquals([r.status, r.code], ["failed", 413]);
});

Deno.test("session: connecting to an unknown session fails with 481", async () => {
  const ea = endpoint();
  const eb = endpoint();
  try {
    const a = ea.createSession();
    const bogus = `msrp://127.0.0.1:${eb.port}/doesnotexist;tcp`;
    const e = await assertRejects(() => ea.connectSession(a, [bogus]), MsrpError);
    assertEquals(e.status, 481);
  } finally {
    await ea.close();
    await eb.close();
  }
});

Deno.test("session: a second connection sending into a bound session gets 506", async () => {
  await using p = await pair();
  const intruder = await RawPeer.connect(p.eb.port);
  try {
    await intruder.write(sendFrame({
      tid: "intrude1",
      to: p.b.localUri,
      from: "msrp://127.0.0.1:9/evil;tcp",
      messageId: "m1",
      range: "1-3/3",
      body: "bad",
    }));
    const [f] = await intruder.waitFor((fs) => fs.length >= 1);
    assert(f.head.kind === "response");
    assertEquals(f.head.status, 506);
  } finally {
    await intruder.close();
  }
});

Deno.test("session: unknown methods get 501, malformed requests 400, REPORTs no answer", async () => {
  const eb = endpoint();
  const b = eb.createSession();
  const peer = await RawPeer.connect(eb.port);
  try {
    const from = "msrp://127.0.0.1:9/peer;tcp";
    await peer.write(
      sendFrame({ tid: "bind0001", to: b.localUri, from, messageId: "b", range: "1-0/0" }),
    );
    await peer.write(
      sendFrame({
        tid: "report01",
        to: b.localUri,
        from,
        method: "REPORT",
        messageId: "z",
        extra: "Status: 000 200 OK\r\n",
      }),
    );
    await peer.write(sendFrame({ tid: "nick0001", to: b.localUri, from, method: "NICKNAME" }));
    await peer.write(
      `MSRP bad00001 SEND\r\nTo-Path: ${b.localUri}\r\nFrom-Path: ${from}\r\n folded\r\n-------bad00001$\r\n`,
    );
    const frames = await peer.waitFor((fs) => fs.length >= 3);
    const statuses = frames.map((f) =>
      f.head.kind === "response" ? `${f.head.transactionId} ${f.head.status}` : ""
    );
    assertEquals(statuses, ["bind0001 200", "nick0001 501", "bad00001 400"]);
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: chunks arriving out of order are reassembled", async () => {
  const eb = endpoint();
  const b = eb.createSession();
  const peer = await RawPeer.connect(eb.port);
  try {
    const got = nextMessage(b);
    const from = "msrp://127.0.0.1:9/peer;tcp";
    const base = { to: b.localUri, from, messageId: "ooo1", contentType: "text/plain" };
    await peer.write(
      sendFrame({ ...base, tid: "ooo00003", range: "11-15/15", body: "three", flag: "$" }),
    );
    await peer.write(
      sendFrame({ ...base, tid: "ooo00001", range: "1-5/15", body: "one__", flag: "+" }),
    );
    await peer.write(
      sendFrame({ ...base, tid: "ooo00002", range: "6-10/15", body: "two__", flag: "+" }),
    );
    assertEquals((await got).text(), "one__two__three");
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: a message aborted with # is announced as incomplete", async () => {
  const eb = endpoint();
  const b = eb.createSession();
  const peer = await RawPeer.connect(eb.port);
  try {
    const got = nextMessage(b);
    const from = "msrp://127.0.0.1:9/peer;tcp";
    const base = { to: b.localUri, from, messageId: "ab1", contentType: "text/plain" };
    await peer.write(
      sendFrame({ ...base, tid: "abrt0001", range: "1-5/20", body: "hello", flag: "+" }),
    );
    await peer.write(sendFrame({ ...base, tid: "abrt0002", range: "6-5/20", body: "", flag: "#" }));
    const m = await got;
    assertEquals([m.outcome?.complete, m.outcome?.aborted, m.outcome?.bytesReceived], [
      false,
      true,
      5,
    ]);
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: Failure-Report no means no response; partial means no 200", async () => {
  const eb = endpoint();
  const b = eb.createSession({ acceptTypes: ["text/plain"] });
  const peer = await RawPeer.connect(eb.port);
  try {
    const from = "msrp://127.0.0.1:9/peer;tcp";
    const base = { to: b.localUri, from, range: "1-2/2", body: "hi" };
    await peer.write(
      sendFrame({ ...base, tid: "frno0001", messageId: "n1", extra: "Failure-Report: no\r\n" }),
    );
    await peer.write(
      sendFrame({
        ...base,
        tid: "frpa0001",
        messageId: "p1",
        extra: "Failure-Report: partial\r\n",
      }),
    );
    await peer.write(
      sendFrame({
        ...base,
        tid: "frpa0002",
        messageId: "p2",
        extra: "Failure-Report: partial\r\n",
        contentType: "image/gif",
      }),
    );
    await peer.write(sendFrame({ ...base, tid: "fryes001", messageId: "y1" }));
    const frames = await peer.waitFor((fs) => fs.some((f) => f.head.transactionId === "fryes001"));
    const responses = frames.filter((f) => f.head.kind === "response").map((f) =>
      f.head.transactionId
    );
    assertEquals(responses, ["frpa0002", "fryes001"]);
    const reports = frames.filter((f) => f.head.kind === "request");
    assertEquals(reports.map((f) => f.head.headers.get("status")), [
      "000 415 Unsupported Media Type",
    ]);
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: no response within the timeout fails the message with 408", async () => {
  // A peer that accepts the connection and reads but never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sink = (async () => {
    const conn = await listener.accept();
    try {
      for await (const _ of conn.readable) { /* read and ignore */ }
    } catch {
      // closed
    }
  })();
  const ea = endpoint({ transactionTimeoutMs: 200 });
  try {
    const a = ea.createSession();
    const e = await assertRejects(
      () => ea.connectSession(a, [`msrp://127.0.0.1:${listener.addr.port}/silent;tcp`]),
      MsrpError,
    );
    assertEquals(e.status, 408);
  } finally {
    await ea.close();
    listener.close();
    await sink;
  }
});

Deno.test("session: a dropped connection fails the sender with the bytes written and closes the receiver's message as partial", async () => {
  const p = await pair({}, { chunkSize: 1024 });
  const got = nextMessage(p.b);
  let n = 0;
  const endless = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (n++ === 20) {
        // Kill the receiving side mid-transfer.
        await p.eb.close();
      }
      c.enqueue(new Uint8Array(1024).fill(66));
      await new Promise((r) => setTimeout(r, 1));
    },
  });
  const r = await p.a.send(endless, { contentType: "application/octet-stream", size: 1 << 30 })
    .done;
  assertEquals(r.status, "failed");
  assert(r.bytesSent >= 20 * 1024, `bytes sent ${r.bytesSent}`);
  const m = await got;
  assertEquals(m.outcome?.complete, false);
  assert(m.outcome!.bytesReceived > 0);
  await p.ea.close();
});

Deno.test("session: two sessions to the same peer share one connection when reuse is allowed", async () => {
  const ea = endpoint();
  const eb = endpoint();
  try {
    const b1 = eb.createSession();
    const b2 = eb.createSession();
    const a1 = ea.createSession();
    const a2 = ea.createSession();
    await ea.connectSession(a1, [b1.localUri], { reuse: true });
    await ea.connectSession(a2, [b2.localUri], { reuse: true });
    assertEquals(ea.connectionCount, 1);
    const got1 = nextMessage(b1);
    const got2 = nextMessage(b2);
    a1.send("to one");
    a2.send("to two");
    assertEquals([(await got1).text(), (await got2).text()], ["to one", "to two"]);
  } finally {
    await ea.close();
    await eb.close();
  }
});

Deno.test("session: closing a session fails its queued messages with the reason", async () => {
  await using p = await pair();
  const never = new ReadableStream<Uint8Array>({ pull() {} });
  const m = p.a.send(never, { contentType: "application/octet-stream" });
  p.a.close("user hung up");
  const r = await m.done;
  assertEquals([r.status, r.reason], ["failed", "user hung up"]);
});

Deno.test("session: session ids are unguessable (≥ 80 bits) and URIs carry them", () => {
  const e = new MsrpEndpoint({ port: 0 });
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(e.createSession().id);
  assertEquals(ids.size, 1000);
  for (const id of ids) assert(/^[a-z0-9]{20}$/.test(id));
});

Deno.test("session: without CEMA a To-Path with the right session-id but another authority gets 481; with CEMA it is accepted", async () => {
  const eb = endpoint();
  const strict = eb.createSession();
  const cema = eb.createSession({ cema: true });
  const peer = await RawPeer.connect(eb.port);
  try {
    const from = "msrp://127.0.0.1:9/peer;tcp";
    const rewrite = (uri: string) => uri.replace("127.0.0.1", "sbc.example.net");
    await peer.write(
      sendFrame({
        tid: "strict01",
        to: rewrite(strict.localUri),
        from,
        messageId: "s",
        range: "1-0/0",
      }),
    );
    await peer.write(
      sendFrame({
        tid: "cemaok01",
        to: rewrite(cema.localUri),
        from,
        messageId: "c",
        range: "1-0/0",
      }),
    );
    const frames = await peer.waitFor((fs) => fs.length >= 2);
    const statuses = frames.map((f) =>
      f.head.kind === "response" ? `${f.head.transactionId} ${f.head.status}` : ""
    );
    assertEquals(statuses, ["strict01 481", "cemaok01 200"]);
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: a receiver that stops consuming stalls the sender without growing its queue", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let received = 0;
  let held = 0;
  await using p = await pair({
    sink: () => ({
      write: async (_offset, bytes) => {
        held += bytes.length;
        await gate;
        received += bytes.length;
      },
      close() {},
    }),
  }, {
    // Chunks unwritten are unanswered: a window above the receiver's limit lets that limit show.
    sendWindowBytes: 32 * 1024 * 1024,
  });
  const total = 64 * 1024 * 1024;
  let produced = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (produced >= total) return c.close();
      produced += 65536;
      c.enqueue(new Uint8Array(65536));
    },
  });
  const m = p.a.send(source, { contentType: "application/octet-stream", size: total });
  let settled = false;
  m.done.then(() => settled = true, () => settled = true);
  // The stall as events, not as a quiet spell: the receiver holds as much as it lets wait
  // for its sink (8 MiB, src/session/_link.ts) and stops reading, while the sender's message
  // stays unfinished.
  await until(() => held >= 8 * 1024 * 1024, "the receiver to hold its limit for the sink");
  assertEquals(settled, false, "the sender is blocked");
  assert(m.bytesSent < total / 2, `sender should stall, sent ${m.bytesSent}`);
  assert(p.a.queuedBytes <= 1024 * 1024 + 128 * 1024, `queued ${p.a.queuedBytes}`);
  release();
  assertEquals((await m.done).status, "sent");
  assertEquals(received, total);
});

Deno.test("session: cancelling a message mid-transfer sends a # chunk and the receiver sees it aborted", async () => {
  await using p = await pair({}, { chunkSize: 1024 });
  const got = nextMessage(p.b);
  let n = 0;
  const sent: { message?: ReturnType<MsrpSession["send"]> } = {};
  const source = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (++n === 10) sent.message!.cancel("user pressed stop");
      c.enqueue(new Uint8Array(1024).fill(67));
      await new Promise((r) => setTimeout(r, 1));
    },
  });
  const m = sent.message = p.a.send(source, {
    contentType: "application/octet-stream",
    size: 1024 * 1024,
  });
  const r = await m.done;
  assertEquals([r.status, r.code, r.reason], ["failed", 0, "user pressed stop"]);
  const received = await got;
  assertEquals([received.outcome?.complete, received.outcome?.aborted], [false, true]);
  assertEquals(received.outcome?.reason, "aborted by sender");
});

Deno.test("session: a body stream that errors mid-way ends the message with #", async () => {
  await using p = await pair({}, { chunkSize: 1024 });
  const got = nextMessage(p.b);
  let n = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (++n === 5) c.error(new Error("disk read failed"));
      else c.enqueue(new Uint8Array(1024));
    },
  });
  const r = await p.a.send(source, { contentType: "application/octet-stream", size: 100_000 }).done;
  assertEquals(r.status, "failed");
  assert(r.reason.includes("disk read failed"), r.reason);
  assertEquals((await got).outcome?.reason, "aborted by sender");
});

Deno.test("session: a receiver asked for success reports also reports progress every 128 KiB", async () => {
  const eb = endpoint();
  const b = eb.createSession();
  const peer = await RawPeer.connect(eb.port);
  try {
    const from = "msrp://127.0.0.1:9/peer;tcp";
    const chunk = "z".repeat(65536);
    const total = 3 * 65536;
    for (let i = 0; i < 3; i++) {
      await peer.write(sendFrame({
        tid: `prog000${i}`,
        to: b.localUri,
        from,
        messageId: "big1",
        range: `${i * 65536 + 1}-${(i + 1) * 65536}/${total}`,
        body: chunk,
        flag: i === 2 ? "$" : "+",
        extra: "Success-Report: yes\r\n",
      }));
    }
    const frames = await peer.waitFor((fs) =>
      fs.filter((f) => f.head.kind === "request").length >= 2
    );
    const reports = frames.filter((f) => f.head.kind === "request").map((f) =>
      f.head.headers.get("byte-range")
    );
    assertEquals(reports, [`1-131072/${total}`, `1-${total}/${total}`]);
  } finally {
    await peer.close();
    await eb.close();
  }
});

Deno.test("session: connects to one peer started at the same time share a single connection", async () => {
  const ea = endpoint();
  const eb = endpoint();
  try {
    const pairs = Array.from({ length: 20 }, () => [ea.createSession(), eb.createSession()]);
    await Promise.all(pairs.map(([a, b]) => ea.connectSession(a, [b.localUri], { reuse: true })));
    assertEquals(ea.connectionCount, 1);
  } finally {
    await ea.close();
    await eb.close();
  }
});
