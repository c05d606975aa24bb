/**
 * `POST /v1/files` without `to` (RFC 5547, sending with the API's SDP
 * offer/answer): the bridge answers with its offer, a peer of the session
 * library answers it, the answer goes to `PUT /v1/sessions/{id}/answer`, and
 * the peer receives the file over real TCP MSRP.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildAnswer, type FileRange, parseSessionDescription } from "../../src/sdp/mod.ts";
import type { MsrpMediaDescription } from "../../src/sdp/mod.ts";
import type {
  IncomingMessageInfo,
  IncomingMessageSink,
  MsrpEndpoint,
  MsrpSession,
} from "../../src/session/mod.ts";
import { type Harness, peerEndpoint, startHarness } from "./_harness.ts";
import { fileEvent, spooled } from "./_files.ts";

const KiB = 1024;
const random = new Random(5547_17);

/** `hash:sha-1:…` value of `bytes`: colon-separated upper-case hex (RFC 5547 §9). */
function sha1Selector(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 64 * KiB) yield bytes.subarray(i, i + 64 * KiB);
}

/**
 * A sink keeping each write with its offset, so a test sees where the bytes
 * begin; `held` bytes it says it holds already (a receiver resuming).
 */
class OffsetSink implements IncomingMessageSink {
  readonly writes: { offset: number; bytes: Uint8Array }[] = [];
  closed = false;
  constructor(readonly info: IncomingMessageInfo, readonly held: number) {}
  write(offset: number, bytes: Uint8Array): void {
    this.writes.push({ offset, bytes: bytes.slice() });
  }
  close(): void {
    this.closed = true;
  }
  /** The bytes written, in order, joined. */
  get bytes(): Uint8Array {
    const size = this.writes.reduce((n, w) => n + w.bytes.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const w of this.writes) {
      out.set(w.bytes, at);
      at += w.bytes.length;
    }
    return out;
  }
}

/**
 * A peer session that receives into {@linkcode OffsetSink}s holding `held`
 * bytes, and the sinks it made.
 */
function receivingPeer(
  peer: MsrpEndpoint,
  held = 0,
): { session: MsrpSession; sinks: OffsetSink[] } {
  const sinks: OffsetSink[] = [];
  const session = peer.createSession({
    sink: (info) => {
      const sink = new OffsetSink(info, held);
      sinks.push(sink);
      return sink;
    },
  });
  return { session, sinks };
}

/** The peer's SDP answer to `offer` (passive: the bridge connects), with `fileRange` when given. */
function answerOf(
  peer: MsrpEndpoint,
  session: MsrpSession,
  offer: string,
  fileRange?: FileRange,
): string {
  return buildAnswer(offer, {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    ...(fileRange ? { fileRange } : {}),
  }).sdp;
}

/** Offers `file` with `POST /v1/files` (no `to`) and returns the created transfer. */
async function offerFile(
  h: Harness,
  file: Uint8Array,
  query: Record<string, string> = { name: "q3 report.pdf", type: "application/pdf" },
): Promise<{ status: number; id: string; offer: string; body: Record<string, unknown> }> {
  const response = await h.upload(
    `/v1/files?${new URLSearchParams(query)}`,
    pieces(file),
    file.length,
    "application/octet-stream",
  );
  const body = await response.json();
  return { status: response.status, id: body.id, offer: body.offer, body };
}

Deno.test("api: POST /v1/files without to answers 201 with our RFC 5547 offer; the answer applied with PUT /v1/sessions/{id}/answer sends the file, delivered", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(1536 * KiB + 7);
  const hash = sha1Selector(file);
  const response = await h.upload(
    `/v1/files?${new URLSearchParams({
      name: "q3 report.pdf",
      type: "application/pdf",
      disposition: "attachment",
    })}`,
    pieces(file),
    file.length,
    "application/octet-stream",
  );
  assertEquals(response.status, 201, await response.clone().text());
  const created = await response.json();
  assertEquals(response.headers.get("location"), `/v1/files/${created.id}`);
  assertEquals([created.sessionId, created.to, created.status, created.bytesSent], [
    created.id,
    null,
    "sending",
    0,
  ]);
  assertEquals(spooled(h).length, 1);

  // Our offer pushes the file: a=sendonly, the selector with size and sha-1, id, date, disposition.
  const lines = (created.offer as string).split("\r\n");
  assert(lines.includes("a=sendonly"), created.offer);
  assert(
    lines.includes(
      `a=file-selector:name:"q3 report.pdf" type:application/pdf size:${file.length} hash:sha-1:${hash}`,
    ),
    created.offer,
  );
  assert(lines.includes("a=file-disposition:attachment"), created.offer);
  assert(lines.some((l) => /^a=file-transfer-id:[0-9a-f]{32}$/.test(l)), created.offer);
  assert(lines.some((l) => /^a=file-date:modification:".+ GMT"$/.test(l)), created.offer);
  assert(!lines.some((l) => l.startsWith("a=file-range:")), created.offer);
  const media = parseSessionDescription(created.offer).media[0] as MsrpMediaDescription;
  assertEquals(media.fileTransfer?.selector?.hash, { algorithm: "sha-1", value: hash });
  const row = await (await h.request(`/v1/sessions/${created.id}`)).json();
  assertEquals([row.kind, row.direction, row.state], ["file-transfer", "out", "pending"]);

  const { session, sinks } = receivingPeer(peer);
  const applied = await h.json("PUT", `/v1/sessions/${created.id}/answer`, {
    answer: answerOf(peer, session, created.offer),
  });
  assertEquals(applied.status, 200, await applied.clone().text());

  const delivered = await fileEvent(h, "file.delivered", created.id);
  assertEquals([delivered.status, delivered.bytesSent, delivered.to, delivered.error], [
    "delivered",
    file.length,
    null,
    null,
  ]);
  const [sink] = sinks;
  assertEquals([sink.info.contentType, sink.writes[0].offset], ["application/pdf", 0]);
  assertEquals(sha1Selector(sink.bytes), hash);
  const shown = await (await h.request(`/v1/files/${created.id}`)).json();
  assertEquals(shown, delivered);
  const ended = (await h.bridge.getSession(created.id))!;
  assertEquals([ended.state, ended.endReason], ["ended", "file delivered"]);
  const [message] = (await h.bridge.listMessages(created.id)).items;
  assertEquals([message.direction, message.status], ["out", "delivered"]);
  assertEquals(spooled(h), []);
});

Deno.test("api: an answer that does not take the offered file is 422 and the offer waits for one that does, whose a=file-range narrows what is sent", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(200 * KiB);
  const { status, id, offer } = await offerFile(h, file);
  assertEquals(status, 201);
  // The peer holds the first 100000 bytes already (a transfer of its own cut short).
  const { session, sinks } = receivingPeer(peer, 100_000);

  const garbage = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: "v=0\r\nnonsense" });
  const problem = await garbage.json();
  assertEquals([garbage.status, problem.type.endsWith("/invalid-sdp")], [422, true]);

  // A range stopping short of the file's end: we take files whole.
  const short = answerOf(peer, session, offer, { start: 1, end: file.length - 1 });
  const refused = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: short });
  const shortProblem = await refused.json();
  assertEquals(refused.status, 422);
  assert(shortProblem.type.endsWith("/sdp-not-acceptable"), shortProblem.type);
  assert(shortProblem.detail.includes("does not end the file"), shortProblem.detail);

  // An answer that would send too (a=sendonly to our a=sendonly) receives nothing.
  const sendonly = answerOf(peer, session, offer).replace("a=recvonly", "a=sendonly");
  const notReceiving = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: sendonly });
  const notReceivingProblem = await notReceiving.json();
  assertEquals([notReceiving.status, notReceivingProblem.field], [422, "answer"]);
  assertEquals((await h.bridge.getSession(id))!.state, "pending");

  // The answer narrows the range to bytes 100001 to the end: only they are sent.
  const narrowed = answerOf(peer, session, offer, { start: 100_001, end: file.length });
  const applied = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: narrowed });
  assertEquals(applied.status, 200, await applied.clone().text());
  const delivered = await fileEvent(h, "file.delivered", id);
  assertEquals([delivered.status, delivered.bytesSent], ["delivered", file.length - 100_000]);
  const [sink] = sinks;
  assertEquals(sink.writes[0].offset, 100_000);
  assertEquals(sink.bytes, file.subarray(100_000));

  const again = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: narrowed });
  assertEquals(again.status, 409);
});

Deno.test("api: a file offer never answered ends after OFFER_TIMEOUT_MS with file.failed, its stored copy and quota freed", async () => {
  await using h = await startHarness({
    ESL_MODE: "off",
    OFFER_TIMEOUT_MS: "300",
    DATA_QUOTA_BYTES: String(150 * KiB),
  });
  const file = random.bytes(100 * KiB);
  const first = await offerFile(h, file);
  assertEquals(first.status, 201);
  // The stored copy holds its quota: a second file does not fit while it waits.
  const second = await offerFile(h, file);
  assertEquals([second.status, (second.body.type as string).endsWith("/payload-too-large")], [
    413,
    true,
  ]);

  const failed = await fileEvent(h, "file.failed", first.id);
  assertEquals([failed.status, failed.error], ["failed", {
    code: null,
    reason: "offer not answered",
  }]);
  const session = (await h.bridge.getSession(first.id))!;
  assertEquals([session.state, session.endReason], ["ended", "offer not answered"]);
  assertEquals(spooled(h), []);
  const late = await h.json("PUT", `/v1/sessions/${first.id}/answer`, { answer: "v=0\r\n" });
  assertEquals(late.status, 409);
  const third = await offerFile(h, file);
  assertEquals(third.status, 201);
});

Deno.test("api: closing a file offer before its answer (DELETE) frees its copy and publishes file.failed", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  const { id } = await offerFile(h, random.bytes(10 * KiB));
  const closed = await h.request(`/v1/sessions/${id}`, { method: "DELETE" });
  assertEquals(closed.status, 204);
  const failed = await fileEvent(h, "file.failed", id);
  assertEquals([failed.status, failed.error?.reason], ["failed", "closed by API"]);
  assertEquals(spooled(h), []);
});

Deno.test("api: a transfer offered with our SDP that failed part-way resumes with ?resume= and no to: a new offer of the rest", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(1024 * KiB);
  const first = await offerFile(h, file);
  assertEquals(first.status, 201);
  // The receiver goes away once a quarter of the file is in: it takes no more, and the session ends.
  let received = 0;
  const cut: MsrpSession = peer.createSession({
    sink: (info) => ({
      info,
      write(_offset: number, bytes: Uint8Array) {
        received += bytes.length;
        if (received < 256 * KiB) return;
        cut.close("receiver gone");
        return new Promise<void>(() => {});
      },
      close() {},
    }),
  });
  const applied = await h.json("PUT", `/v1/sessions/${first.id}/answer`, {
    answer: answerOf(peer, cut, first.offer),
  });
  assertEquals(applied.status, 200);
  const failed = await fileEvent(h, "file.failed", first.id);
  assertEquals(failed.status, "failed");

  const withTo = await h.request(`/v1/files?resume=${first.id}&to=sip:bob@pbx`, {
    method: "POST",
  });
  assertEquals([withTo.status, (await withTo.json()).field], [422, "to"]);
  const resumed = await h.request(`/v1/files?resume=${first.id}`, { method: "POST" });
  assertEquals(resumed.status, 201, await resumed.clone().text());
  const again = await resumed.json();
  assert(again.id !== first.id);
  assertEquals([again.to, again.file.hash, again.file.size], [null, failed.file.hash, file.length]);
  assert(again.file.transferId !== failed.file.transferId);
  const range = /a=file-range:(\d+)-(\d+)/.exec(again.offer);
  assert(range !== null, again.offer);
  const confirmed = Number(range[1]) - 1;
  assert(confirmed > 0 && confirmed < file.length, `confirmed ${confirmed}`);
  assertEquals(Number(range[2]), file.length);

  const { session, sinks } = receivingPeer(peer, confirmed);
  const answer = answerOf(peer, session, again.offer, { start: confirmed + 1, end: file.length });
  const resumedAnswer = await h.json("PUT", `/v1/sessions/${again.id}/answer`, { answer });
  assertEquals(resumedAnswer.status, 200, await resumedAnswer.clone().text());
  const delivered = await fileEvent(h, "file.delivered", again.id);
  assertEquals([delivered.status, delivered.bytesSent], ["delivered", file.length - confirmed]);
  assertEquals(sinks[0].writes[0].offset, confirmed);
  assertEquals(sinks[0].bytes, file.subarray(confirmed));
  assertEquals(spooled(h), []);
});
