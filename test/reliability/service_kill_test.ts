/**
 * `kill -9` of the whole service (`src/main.ts` in its own process) in the
 * middle of two transfers, then a restart on the same data directory: what
 * was recorded is all there, what was in flight is marked with a reason, and
 * the webhook outbox delivers everything once its receiver is back. Every
 * byte of the incoming file the bridge acknowledged (200) before the kill is
 * in its content file after it.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { Random } from "../_random.ts";
import {
  HashSink,
  openPeerSession,
  SECRET,
  sha256Of,
  waitUntil,
  WebhookReceiver,
} from "../api/_harness.ts";
import { freePorts, type ServiceProcess, startService } from "../_service_process.ts";
import type { MessageView } from "../../src/api/views.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { SqliteStore } from "../../src/store/mod.ts";
import type { MessageEventData, SessionEventData, WebhookEvent } from "../../src/webhooks/mod.ts";

const MiB = 1024 * 1024;
/** Declared size of both interrupted transfers. */
const DECLARED = 64 * MiB;
/** Bytes each interrupted transfer gets to send before it pauses. */
const SENT_BEFORE_KILL = 4 * MiB;
/** Bytes that must have crossed before the kill, for each transfer. */
const CROSSED_BEFORE_KILL = 2 * MiB;
const PIECE = 64 * 1024;
const REASON = "interrupted by restart";
const encoder = new TextEncoder();

/** `SENT_BEFORE_KILL` random bytes in pieces, then a pause until `release` is called. */
function pausedBody(rng: Random): {
  readonly sent: Uint8Array;
  readonly pieces: AsyncGenerator<Uint8Array>;
  release(): void;
} {
  const sent = rng.bytes(SENT_BEFORE_KILL);
  const { promise, resolve } = Promise.withResolvers<void>();
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < sent.length; at += PIECE) yield sent.slice(at, at + PIECE);
    await promise;
  }
  return { sent, pieces: pieces(), release: () => resolve() };
}

/**
 * POSTs a raw body to the service over a plain TCP connection, declaring
 * `declared` bytes in Content-Length and writing what `pieces` gives; returns
 * what came back on the connection, or the error that ended it.
 */
async function rawUpload(
  port: number,
  path: string,
  declared: number,
  pieces: AsyncIterable<Uint8Array>,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const write = async (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
  };
  try {
    await write(encoder.encode(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`,
    ));
    for await (const piece of pieces) await write(piece);
    const answer = new Uint8Array(4096);
    const n = await conn.read(answer);
    return n === null ? "connection closed" : new TextDecoder().decode(answer.subarray(0, n));
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    conn.close();
  }
}

async function messages(svc: ServiceProcess, sessionId: string): Promise<MessageView[]> {
  const res = await svc.request(`/v1/sessions/${sessionId}/messages?limit=1000`);
  assertEquals(res.status, 200);
  return (await res.json()).items;
}

/** Waits until the API lists a message of `sessionId` matching `predicate`. */
async function messageWhere(
  svc: ServiceProcess,
  sessionId: string,
  what: string,
  predicate: (m: MessageView) => boolean,
): Promise<MessageView> {
  let found: MessageView | undefined;
  await until(
    async () => {
      found = (await messages(svc, sessionId)).find(predicate);
      return found !== undefined;
    },
    what,
    { intervalMs: 20 },
  );
  return found!;
}

/** Hex SHA-256 of a message's content as the API serves it. */
async function contentSha256(svc: ServiceProcess, messageId: string): Promise<string> {
  const res = await svc.request(`/v1/messages/${messageId}/content`);
  assertEquals(res.status, 200, `content of ${messageId}`);
  return await sha256Of(res.body!);
}

/** The pending webhook deliveries `/metrics` reports. */
async function pendingWebhooks(svc: ServiceProcess): Promise<number> {
  const text = await (await svc.request("/metrics")).text();
  return Number(/^msrp_bridge_webhook_backlog\{state="pending"\} (\d+)$/m.exec(text)![1]);
}

function messageIdOf(event: WebhookEvent): string | undefined {
  return event.type.startsWith("message.") ? (event.data as MessageEventData).messageId : undefined;
}

Deno.test("service kill -9 mid-transfer: after a restart recorded messages are intact, in-flight ones failed or partial with a reason, sessions ended, the outbox drains", async () => {
  const rng = new Random(20240607);
  await using receiver = new WebhookReceiver();
  receiver.failWith = 500;
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-kill-" });
  const [httpPort, msrpPort] = freePorts(2);
  const env = {
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    MSRP_PORT: String(msrpPort),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  };
  let svc = await startService(env);
  try {
    // Session 1: the bridge uploads to the peer; session 2: the peer sends a file to the bridge.
    const sinks: HashSink[] = [];
    const s1 = await openPeerSession(svc, peer, {
      sink: (info) => {
        const sink = new HashSink(info);
        sinks.push(sink);
        return sink;
      },
    });
    const s2 = await openPeerSession(svc, peer);

    // Completed messages both ways on both sessions: API message id → SHA-256 of what was sent.
    const completed = new Map<string, string>();
    const sendText = async (sessionId: string, text: string) => {
      const res = await svc.json("POST", `/v1/sessions/${sessionId}/messages`, {
        text,
        report: true,
      });
      assertEquals(res.status, 202);
      const { messageId } = await res.json();
      await messageWhere(
        svc,
        sessionId,
        "a delivered text",
        (m) => m.id === messageId && m.status === "delivered",
      );
      completed.set(messageId, await sha256Of(encoder.encode(text)));
    };
    for (const [i, s] of [s1, s2].entries()) {
      await sendText(s.id, `hello peer ${i} ✓`);

      const bodies: [string, Uint8Array][] = [
        ["text/plain", encoder.encode(`hello bridge ${i}`)],
        ["application/octet-stream", rng.bytes(300 * 1024)],
      ];
      for (const [contentType, body] of bodies) {
        const sent = s.session.send(body, { contentType });
        assertEquals((await sent.done).status, "sent");
        const row = await messageWhere(
          svc,
          s.id,
          "a received message",
          (m) => m.msrpMessageId === sent.messageId && m.status === "received",
        );
        completed.set(row.id, await sha256Of(body));
      }
    }
    assertEquals(sinks.map((s) => s.sha256), [completed.values().next().value]);

    // Both transfers start, then pause after 4 MiB of their 64 MiB.
    const upload = pausedBody(rng);
    const uploaded = rawUpload(
      svc.httpPort,
      `/v1/sessions/${s1.id}/messages`,
      DECLARED,
      upload.pieces,
    );
    const incoming = pausedBody(rng);
    const sending = s2.session.send(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await incoming.pieces.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
      }),
      { contentType: "application/octet-stream", size: DECLARED },
    );
    await waitUntil(
      () => (sinks[1]?.bytes ?? 0) >= CROSSED_BEFORE_KILL,
      "the upload reaching the peer",
    );
    await waitUntil(
      () => sending.bytesAcknowledged >= CROSSED_BEFORE_KILL,
      "the file reaching the bridge",
    );
    const outRow = await messageWhere(svc, s1.id, "the upload's row", (m) => m.size === DECLARED);
    const inRow = await messageWhere(
      svc,
      s2.id,
      "the incoming file's row",
      (m) => m.size === DECLARED,
    );
    assertEquals([outRow.status, inRow.status], ["sending", "receiving"]);
    await waitUntil(() => receiver.refused > 0, "a refused webhook delivery");
    // One more event whose delivery is in flight (held by the receiver) at the kill.
    const { promise: hold, resolve: releaseHold } = Promise.withResolvers<void>();
    receiver.hold = hold;
    await sendText(s2.id, "one more");
    await waitUntil(() => receiver.held > 0, "a webhook delivery in flight");
    assert(await pendingWebhooks(svc) > 0, "webhook deliveries pending at the kill");
    const before = new Map(
      [...await messages(svc, s1.id), ...await messages(svc, s2.id)].map((m) => [m.id, m]),
    );

    assertEquals((await svc.kill("SIGKILL")).signal, "SIGKILL");
    upload.release();
    incoming.release();
    receiver.hold = undefined;
    releaseHold();
    const cut = await uploaded;
    assert(!cut.startsWith("HTTP/"), `the upload got an answer: ${cut}`);
    assertEquals((await sending.done).status, "failed");
    // Every 200 the bridge sent before it died; it answers a chunk once its content file has it.
    const acknowledged = sending.bytesAcknowledged;

    receiver.failWith = undefined;
    svc = await startService(env);

    const ready = await svc.request("/readyz");
    assertEquals(ready.status, 200, await ready.text());
    for (const s of [s1, s2]) {
      const session = await (await svc.request(`/v1/sessions/${s.id}`)).json();
      assertEquals([session.state, session.endReason], ["ended", REASON]);
    }

    // Nothing recorded is lost or duplicated; completed content is intact.
    const after = [...await messages(svc, s1.id), ...await messages(svc, s2.id)];
    assertEquals(after.map((m) => m.id).sort(), [...before.keys()].sort());
    assertEquals(new Set(after.map((m) => m.msrpMessageId)).size, after.length);
    for (const [id, sha256] of completed) {
      const was = before.get(id)!;
      const now = after.find((m) => m.id === id)!;
      assertEquals([now.status, now.bytes, now.sha256], [was.status, was.bytes, was.sha256], id);
      assertEquals(await contentSha256(svc, id), sha256, `content of ${now.direction} ${id}`);
    }

    // In flight at the kill: the upload failed, the incoming file kept as far as it got.
    const failed = after.find((m) => m.id === outRow.id)!;
    assertEquals([failed.status, failed.error?.reason], ["failed", REASON]);
    const partial = after.find((m) => m.id === inRow.id)!;
    assertEquals([partial.status, partial.error?.reason], ["partial", REASON]);
    assert(
      partial.bytes >= acknowledged && partial.bytes <= SENT_BEFORE_KILL,
      `${partial.bytes} bytes kept, ${acknowledged} acknowledged`,
    );
    assertEquals(
      await contentSha256(svc, partial.id),
      await sha256Of(incoming.sent.subarray(0, partial.bytes)),
    );

    // The outbox resumes and delivers everything, including what recovery published.
    await until(async () => await pendingWebhooks(svc) === 0, "an empty outbox", {
      intervalMs: 20,
    });
    const delivered = receiver.deliveries.map((d) => d.event);
    for (const m of [failed, partial]) {
      const event = delivered.find((e) => e.type === "message.failed" && messageIdOf(e) === m.id);
      assert(event, `message.failed for the ${m.direction} message`);
      const data = event.data as MessageEventData;
      assertEquals([data.status, data.bytes, data.error?.reason], [m.status, m.bytes, REASON]);
    }
    for (const s of [s1, s2]) {
      const ended = delivered.filter((e) =>
        e.type === "session.ended" && (e.data as SessionEventData).sessionId === s.id
      );
      assertEquals(ended.map((e) => (e.data as SessionEventData).endReason), [REASON]);
    }
    for (const id of completed.keys()) {
      assert(delivered.some((e) => messageIdOf(e) === id), `an event for message ${id}`);
    }
    assertEquals((await svc.kill("SIGTERM")).code, 0);

    // Every event in the log was delivered at least once; the outbox holds nothing more.
    await using store = SqliteStore.open(dataDir);
    const deliveredIds = new Set(delivered.map((e) => e.id));
    const logged = (await store.eventsSince(0, 1000)).map((e) =>
      JSON.parse(e.payload).id as string
    );
    assertEquals(logged.filter((id) => !deliveredIds.has(id)), []);
    assertEquals(await store.webhookBacklog(), { pending: 0, exhausted: 0, oldestPendingAt: null });
    assertEquals(receiver.rejected, 0);
  } finally {
    await svc.kill("SIGKILL");
    await peer.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** Piece `i` of a streamed file: `base` with `i` in its first bytes, so misplaced pieces show. */
function pieceAt(base: Uint8Array, i: number): Uint8Array {
  const piece = base.slice();
  new DataView(piece.buffer).setUint32(0, i);
  return piece;
}

/** Hex SHA-256 of the first `bytes` bytes of the file `pieceAt` makes. */
function prefixSha256(base: Uint8Array, bytes: number): string {
  const hash = createHash("sha256");
  for (let i = 0; i * PIECE < bytes; i++) {
    hash.update(pieceAt(base, i).subarray(0, Math.min(PIECE, bytes - i * PIECE)));
  }
  return hash.digest("hex");
}

Deno.test("service kill -9 while a file streams in: every byte acknowledged to the sender is in the content file after a restart", async () => {
  const base = new Random(20240608).bytes(PIECE);
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-kill-ack-" });
  const [httpPort, msrpPort] = freePorts(2);
  const env = { DATA_DIR: dataDir, HTTP_PORT: String(httpPort), MSRP_PORT: String(msrpPort) };
  let svc = await startService(env);
  try {
    const s = await openPeerSession(svc, peer);
    // Far more than crosses before the kill: the file is still streaming when it lands.
    const size = 1024 * MiB;
    let next = 0;
    const sending = s.session.send(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (next * PIECE >= size) controller.close();
          else controller.enqueue(pieceAt(base, next++));
        },
      }),
      { contentType: "application/octet-stream", size },
    );
    await waitUntil(() => sending.bytesAcknowledged >= 8 * MiB, "8 MiB acknowledged");
    assertEquals((await svc.kill("SIGKILL")).signal, "SIGKILL");
    assertEquals((await sending.done).status, "failed");
    // Every 200 the bridge sent before it died has arrived by now.
    const acknowledged = sending.bytesAcknowledged;
    assert(acknowledged < size, "the file was still streaming at the kill");

    svc = await startService(env);
    const [row] = await messages(svc, s.id);
    assertEquals([row.direction, row.status, row.error?.reason], ["in", "partial", REASON]);
    assert(row.bytes >= acknowledged, `${row.bytes} bytes kept, ${acknowledged} acknowledged`);
    assertEquals(await contentSha256(svc, row.id), prefixSha256(base, row.bytes));
    assertEquals((await svc.kill("SIGTERM")).code, 0);
  } finally {
    await svc.kill("SIGKILL");
    await peer.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
