/**
 * Flow control and large transfers through our WebSocket relay (RFC 7977
 * §5, RFC 4976): a next hop or a session sink that falls behind pauses
 * reading from the browser's WebSocket, and 50 MiB cross it both ways with
 * success REPORTs.
 */
import { createHash } from "node:crypto";
import { nextMessage } from "../_messages.ts";
import { assert, assertEquals } from "../_assert.ts";
import { type Frame, MsrpParser, type RequestHead } from "../../src/msrp/mod.ts";
import type { IncomingMessageSink } from "../../src/session/mod.ts";
import { BrowserPeer, chunkFrame } from "../session/_browser.ts";
import { until } from "../_until.ts";
import { auth, LOOPBACK_HOPS, wsRelay } from "./_ws_relay_server.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** The next hop's write queue high-water mark (MsrpConnection's default). */
const HIGH_WATER_MARK = 1 * MiB;
/** Received bytes a link lets wait for sinks before it stops reading (src/session/_link.ts). */
const MAX_PENDING_SINK_BYTES = 8 * MiB;
/** One read of a connection (MsrpConnection's default read buffer). */
const READ_BYTES = 64 * KiB;

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function isRequest(f: Frame, method: string): f is Frame & { head: RequestHead } {
  return f.head.kind === "request" && f.head.method === method;
}

/** How far a browser upload got. */
interface Upload {
  /** Body bytes sent. */
  sent: number;
  /** Body bytes whose chunk got its 200. */
  acknowledged: number;
  /** Resolves once every chunk got its 200. */
  done: Promise<void>;
  /** Whether {@linkcode Upload.done} has settled. */
  settled: boolean;
}

/**
 * The browser sends `body` as one message in 64 KiB SEND chunks, keeping at
 * most `window` body bytes unanswered, like an MSRP library paced by 200s.
 */
function upload(
  b: BrowserPeer,
  p: { to: string; messageId: string; body: Uint8Array; window: number; extra?: string },
): Upload {
  const chunk = 64 * KiB;
  const progress: Upload = { sent: 0, acknowledged: 0, done: Promise.resolve(), settled: false };
  const tids: string[] = [];
  const acknowledge = async (): Promise<void> => {
    const i = progress.acknowledged / chunk;
    const f = await b.response(tids[i]);
    assert(f.head.kind === "response" && f.head.status === 200, `chunk ${i} was refused`);
    progress.acknowledged = Math.min(p.body.length, progress.acknowledged + chunk);
  };
  progress.done = (async () => {
    for (let start = 0; start < p.body.length; start += chunk) {
      while (progress.sent - progress.acknowledged >= p.window) await acknowledge();
      const tid = `up${tids.length}x${p.messageId}`;
      tids.push(tid);
      const body = p.body.subarray(start, start + chunk);
      b.send(chunkFrame({
        tid,
        to: p.to,
        from: b.uri,
        messageId: p.messageId,
        start: start + 1,
        total: p.body.length,
        body,
        flag: start + chunk >= p.body.length ? "$" : "+",
        extra: p.extra,
      }));
      progress.sent += body.length;
    }
    while (progress.acknowledged < p.body.length) await acknowledge();
  })();
  // A failed upload is reported where the test awaits it, not as an uncaught error.
  progress.done.catch(() => {}).finally(() => progress.settled = true);
  return progress;
}

/**
 * A next hop on loopback TCP that reads only when told to: it answers each
 * request 200 and hashes the SEND bodies it receives.
 */
class PausableHop {
  /** Its MSRP URI. */
  readonly uri: string;
  /** Body bytes received. */
  received = 0;
  readonly #listener: Deno.TcpListener;
  readonly #hash = createHash("sha256");
  readonly #reading = Promise.withResolvers<void>();
  #conn: Deno.TcpConn | undefined;
  #served: Promise<void> | undefined;

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.uri = `msrp://127.0.0.1:${this.#listener.addr.port}/hopsession01;tcp`;
    this.#served = this.#serve();
  }

  /** Starts reading (and answering). */
  resume(): void {
    this.#reading.resolve();
  }

  /** The sha256 of the SEND bodies received. */
  digest(): string {
    return this.#hash.digest("hex");
  }

  async #serve(): Promise<void> {
    const conn = this.#conn = await this.#listener.accept();
    await this.#reading.promise;
    const enc = new TextEncoder();
    let head: RequestHead | undefined;
    const parser = new MsrpParser({
      head: (h) => head = h.kind === "request" ? h : undefined,
      body: (bytes) => {
        this.#hash.update(bytes);
        this.received += bytes.length;
      },
      end: () => {
        if (head === undefined) return;
        const ok = `MSRP ${head.transactionId} 200 OK\r\nTo-Path: ${head.fromPath[0]}\r\n` +
          `From-Path: ${head.toPath[0]}\r\n-------${head.transactionId}$\r\n`;
        conn.write(enc.encode(ok)).catch(() => {});
      },
      error: () => {},
    });
    try {
      for await (const bytes of conn.readable) parser.push(bytes);
    } catch {
      // closed by the relay or by close()
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    this.#reading.resolve();
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    await this.#served;
  }
}

Deno.test("ws relay: a next hop that stops reading stalls the browser with the relay's queue at its high-water mark, and the transfer completes once it reads", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS });
  const hop = new PausableHop();
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    const body = randomBytes(20 * MiB);
    let most = 0;
    const sampler = setInterval(() => most = Math.max(most, r.e.queuedBytes), 1);
    try {
      // The browser may have 12 MiB unanswered: far more than the hop's socket buffers take.
      const up = upload(b, { to: `${use} ${hop.uri}`, messageId: "big", body, window: 12 * MiB });
      // The stall, seen as events rather than as a quiet spell: the relay's queue at its
      // high-water mark, the browser's whole window sent and its sender waiting on a 200
      // that cannot come while the hop does not read.
      await until(() => r.e.queuedBytes >= HIGH_WATER_MARK, "the relay to fill the hop's queue");
      await until(() => up.sent === 12 * MiB, "the browser to send its whole window");
      assertEquals(
        [up.sent, up.acknowledged, up.settled],
        [12 * MiB, 0, false],
        "the browser is stalled",
      );
      // The relay stopped reading from the browser's WebSocket: what it holds for the
      // hop stays at the high-water mark plus one read, the rest waits unread.
      assert(most <= HIGH_WATER_MARK + 4 * READ_BYTES, `relay queue reached ${most} bytes`);

      hop.resume();
      await up.done;
      await until(() => hop.received === body.length, "the hop to read everything");
      assertEquals(hop.digest(), sha256(body));
      assert(most <= HIGH_WATER_MARK + 4 * READ_BYTES, `relay queue reached ${most} bytes`);
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await b.close();
    await hop.close();
  }
});

Deno.test("ws relay: a slow sink of our session pauses reading from the browser's WebSocket instead of piling its bytes up", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    const gate = Promise.withResolvers<void>();
    const hash = createHash("sha256");
    let pending = 0;
    let most = 0;
    let tail: Promise<void> = gate.promise;
    const sink: IncomingMessageSink = {
      write(_offset, bytes) {
        const copy = bytes.slice();
        pending += copy.length;
        most = Math.max(most, pending);
        tail = tail.then(() => {
          hash.update(copy);
          pending -= copy.length;
        });
        return tail;
      },
      close() {},
    };
    const s = r.e.createSession({ remotePath: [use, b.uri], sink: () => sink });
    const got = nextMessage(s);
    const body = randomBytes(12 * MiB);
    // No window: the browser sends the whole message at once.
    const up = upload(b, { to: `${use} ${s.localUri}`, messageId: "slow", body, window: 12 * MiB });
    // The stall as events: the sink holds its limit and the browser, whose window is the
    // whole message, sent everything and waits for 200s.
    await until(() => pending >= MAX_PENDING_SINK_BYTES, "the sink to fall behind");
    await until(() => up.sent === body.length, "the browser to send the whole message");
    assertEquals([up.sent, up.settled], [body.length, false]);
    assert(most <= MAX_PENDING_SINK_BYTES + 2 * READ_BYTES, `sink had ${most} bytes pending`);

    gate.resolve();
    await up.done;
    const message = await got;
    assertEquals(message.outcome?.complete, true);
    await tail;
    assertEquals(hash.digest("hex"), sha256(body));
  } finally {
    await b.close();
  }
});

Deno.test("ws relay: 50 MiB from the browser reach our session with a success REPORT and matching sha256", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    const s = r.e.createSession({ remotePath: [use, b.uri] });
    const got = nextMessage(s);
    const body = randomBytes(50 * MiB);
    const up = upload(b, {
      to: `${use} ${s.localUri}`,
      messageId: "fifty",
      body,
      window: 4 * MiB,
      extra: "Success-Report: yes\r\n",
    });
    await up.done;
    assertEquals(sha256((await got).body()), sha256(body));
    const report = await b.waitFor((f) =>
      isRequest(f, "REPORT") && f.head.messageId === "fifty" &&
      f.head.byteRange?.end === body.length
    );
    assert(report.head.kind === "request");
    assertEquals(
      [report.head.toPath, report.head.headers.get("status")],
      [[b.uri], "000 200 OK"],
    );
  } finally {
    await b.close();
  }
});

Deno.test("ws relay: 50 MiB from our session reach the browser, delivered once its success REPORT came back, with matching sha256", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    const s = r.e.createSession();
    const body = randomBytes(50 * MiB);
    const hash = createHash("sha256");
    // The browser answers every SEND, hashes the message and reports it whole.
    const browser = (async () => {
      for (let i = 0;; i++) {
        const f = await b.frameAt(i);
        if (!isRequest(f, "SEND")) continue;
        const h = f.head;
        b.send(
          `MSRP ${h.transactionId} 200 OK\r\nTo-Path: ${use}\r\nFrom-Path: ${b.uri}\r\n` +
            `-------${h.transactionId}$\r\n`,
        );
        if (h.contentType === undefined) continue; // the SEND that binds the session
        hash.update(f.body);
        const end = h.byteRange?.end;
        if (typeof end === "number" && end === h.byteRange?.total) {
          b.send(
            `MSRP rep${i} REPORT\r\nTo-Path: ${use} ${s.localUri}\r\nFrom-Path: ${b.uri}\r\n` +
              `Message-ID: ${h.messageId}\r\nByte-Range: 1-${end}/${end}\r\n` +
              `Status: 000 200 OK\r\n-------rep${i}$\r\n`,
          );
          return;
        }
      }
    })();
    await r.e.connectSession(s, [use, b.uri]);
    const result = await s.send(body, {
      contentType: "application/octet-stream",
      successReport: true,
    }).done;
    await browser;
    assertEquals(result.status, "delivered");
    assertEquals(hash.digest("hex"), sha256(body));
  } finally {
    await b.close();
  }
});
