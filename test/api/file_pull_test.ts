/**
 * Pulling a file (RFC 5547 §6): the operator publishes files with
 * `POST /v1/files/published`; a peer of the session library offers
 * `a=recvonly` with an `a=file-selector` through `POST /v1/sessions
 * {"offer"}` and is sent the published file it names, over real TCP MSRP,
 * with real SQLite and HTTP. Selectors naming no single published file are
 * refused, and nothing but a published file is ever sent.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildOffer, type FileRange, type FileSelector, parseAnswer } from "../../src/sdp/mod.ts";
import type { LocalMsrpOffer } from "../../src/sdp/mod.ts";
import type { IncomingMessageInfo, MsrpEndpoint, MsrpSession } from "../../src/session/mod.ts";
import {
  type Harness,
  HashSink,
  peerEndpoint,
  sha256Of,
  startHarness,
  waitUntil,
} from "./_harness.ts";
import { fileEvent } from "./_files.ts";
import { peerOffer } from "../bridge/_peer.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const random = new Random(5547_06);

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 64 * KiB) yield bytes.subarray(i, i + 64 * KiB);
}

/** `hash:<algorithm>:…` value of `bytes`: colon-separated upper-case hex (RFC 5547 §9). */
function hashOf(bytes: Uint8Array, algorithm = "sha1"): string {
  return createHash(algorithm).update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

/** A published file as `POST /v1/files/published` answers it. */
interface Published {
  readonly id: string;
  readonly file: {
    name: string;
    type: string;
    size: number;
    hash: { algorithm: string; value: string };
    disposition: string | null;
  };
  readonly createdAt: number;
}

/** Publishes `bytes` as a raw body with `query`; the response's status and body. */
async function publish(
  h: Harness,
  bytes: Uint8Array,
  query: Record<string, string>,
): Promise<{ status: number; body: Published }> {
  const response = await h.upload(
    `/v1/files/published?${new URLSearchParams(query)}`,
    pieces(bytes),
    bytes.length,
    "application/octet-stream",
  );
  return { status: response.status, body: await response.json() };
}

/** A {@linkcode HashSink} of a receiver holding the file's first `held` bytes (RFC 5547 §8). */
class HeldHashSink extends HashSink {
  constructor(info: IncomingMessageInfo, gate: Promise<void> | undefined, readonly held: number) {
    super(info, gate);
  }
}

/**
 * A puller: a peer session receiving into {@linkcode HashSink}s, optionally
 * gated, holding the file's first `held` bytes already.
 */
function puller(
  peer: MsrpEndpoint,
  gate?: Promise<void>,
  held = 0,
): { session: MsrpSession; sinks: HashSink[] } {
  const sinks: HashSink[] = [];
  const session = peer.createSession({
    sink: (info) => {
      const sink = new HeldHashSink(info, gate, held);
      sinks.push(sink);
      return sink;
    },
  });
  return { session, sinks };
}

/** The puller's offer: it connects (`a=setup:active`) and receives (`a=recvonly`) `selector`. */
function pullOffer(
  peer: MsrpEndpoint,
  session: MsrpSession,
  selector: FileSelector,
  range?: FileRange,
): LocalMsrpOffer {
  return peerOffer(peer, session, {
    direction: "recvonly",
    fileTransfer: {
      selector,
      transferId: "pull0123456789abcdefghijklmnopqrstuv",
      ...(range ? { range } : {}),
    },
  });
}

/** Offers `local` with `POST /v1/sessions {"offer"}`; the status and body. */
async function offer(
  h: Harness,
  local: LocalMsrpOffer,
): Promise<{ status: number; body: Record<string, string> }> {
  const response = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  return { status: response.status, body: await response.json() };
}

/** Pulls `selector` (and `range`) into a fresh peer session and waits for the whole file. */
async function pullWhole(
  h: Harness,
  peer: MsrpEndpoint,
  selector: FileSelector,
  range?: FileRange,
): Promise<{ id: string; answer: string; sink: HashSink }> {
  const { session, sinks } = puller(peer, undefined, range ? range.start - 1 : 0);
  const local = pullOffer(peer, session, selector, range);
  const created = await offer(h, local);
  assertEquals(created.status, 201, JSON.stringify(created.body));
  const { id, answer } = created.body;
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  await waitUntil(() => sinks[0]?.sha256 !== undefined, "the pulled file");
  return { id, answer, sink: sinks[0] };
}

Deno.test("api: a recvonly offer whose a=file-selector names a published 3 MiB file is answered sendonly and sent the file, delivered", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(3 * MiB);
  const published = await publish(h, file, {
    name: "price list.pdf",
    type: "application/pdf",
    disposition: "attachment",
  });
  assertEquals(published.status, 201);
  assertEquals(published.body.file, {
    name: "price list.pdf",
    type: "application/pdf",
    size: file.length,
    hash: { algorithm: "sha-1", value: hashOf(file) },
    disposition: "attachment",
  });
  const listed = await (await h.request("/v1/files/published")).json();
  assertEquals(listed.items, [published.body]);

  const { id, answer, sink } = await pullWhole(h, peer, { name: "price list.pdf" });
  const lines = answer.split("\r\n");
  assert(lines.includes("a=sendonly"), answer);
  assert(
    lines.includes(
      `a=file-selector:name:"price list.pdf" type:application/pdf size:${file.length} ` +
        `hash:sha-1:${hashOf(file)}`,
    ),
    answer,
  );
  assert(lines.includes("a=file-transfer-id:pull0123456789abcdefghijklmnopqrstuv"), answer);
  assert(lines.includes("a=file-disposition:attachment"), answer);
  assertEquals(sink.info.contentType, "application/pdf");
  assertEquals([sink.bytes, sink.sha256], [file.length, await sha256Of(file)]);

  const delivered = await fileEvent(h, "file.delivered", id);
  assertEquals([delivered.status, delivered.bytesSent, delivered.to], [
    "delivered",
    file.length,
    null,
  ]);
  assertEquals(delivered.file.transferId, "pull0123456789abcdefghijklmnopqrstuv");
  const transfer = await (await h.request(`/v1/files/${id}`)).json();
  assertEquals(transfer.status, "delivered");
  await waitUntil(async () => (await h.bridge.getSession(id))?.state === "ended", "the end");
  const session = (await h.bridge.getSession(id))!;
  assertEquals(
    [session.kind, session.direction, session.endReason],
    ["file-transfer", "out", "file delivered"],
  );
  // The published file stays for the next pull.
  assertEquals((await (await h.request("/v1/files/published")).json()).items.length, 1);
});

Deno.test("api: a pull is refused with 422 and nothing is sent for an unpublished name, a type-only selector, odd or path-like names, two matches, a hash mismatch or an unindexed hash", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const first = random.bytes(40 * KiB);
  const second = random.bytes(50 * KiB);
  const a = await publish(h, first, { name: "notes.txt", type: "text/plain" });
  await publish(h, second, { name: "notes.txt", type: "text/plain" });
  const stored = `${h.config.dataDir}/published/${a.body.id}`;
  assert((await Deno.stat(stored)).isFile);
  const refused: [string, FileSelector][] = [
    ["an unpublished name", { name: "secret.txt" }],
    ["a type only", { type: "text/plain" }],
    ["a size only", { size: first.length }],
    ["two matches", { name: "notes.txt", type: "text/plain" }],
    ["a hash mismatch", { name: "notes.txt", hash: { algorithm: "sha-1", value: "00:11:22" } }],
    ["a sha-256 hash", {
      name: "notes.txt",
      hash: { algorithm: "sha-256", value: hashOf(first, "sha256") },
    }],
    ["a size mismatch", {
      name: "notes.txt",
      size: first.length,
      hash: { algorithm: "sha-1", value: hashOf(second) },
    }],
    ["the stored file's id", { name: a.body.id }],
    ["a path to the stored file", { name: stored }],
    ["a relative path", { name: `../published/${a.body.id}` }],
    ["dollar and braces", { name: "$HOME/{notes}.txt" }],
    ["a glob", { name: "*" }],
  ];
  for (const [what, selector] of refused) {
    const { session } = puller(peer);
    const created = await offer(h, pullOffer(peer, session, selector));
    session.close("refused");
    assertEquals(created.status, 422, what);
    assertEquals(created.body.type, "https://msrp-bridge.dev/problems/sdp-not-acceptable", what);
    assert(created.body.detail.includes("a=file-selector"), `${what}: ${created.body.detail}`);
  }
  // Nothing was sent: no session recorded, no file event.
  assertEquals((await h.bridge.listSessions()).items, []);
  const events = await h.bridge.eventsSince(0, 1000);
  assertEquals(
    events.filter((e) => e.type.startsWith("file.") || e.type.startsWith("message.")),
    [],
  );

  // The hash tells the two apart: each pull gets the file it names, and only that one.
  const pulled = await pullWhole(h, peer, {
    name: "notes.txt",
    hash: { algorithm: "sha-1", value: hashOf(second).toLowerCase() },
  });
  assertEquals(pulled.sink.sha256, await sha256Of(second));
});

Deno.test("api: a pull's a=file-range is sent from its start; a range stopping short of the file's end is refused", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(300 * KiB + 11);
  await publish(h, file, { name: "tail.bin", type: "application/octet-stream" });
  const start = 100 * KiB + 1;
  const range = { start, end: file.length };
  const { answer, sink } = await pullWhole(h, peer, { name: "tail.bin" }, range);
  assert(answer.split("\r\n").includes(`a=file-range:${start}-${file.length}`), answer);
  assertEquals(sink.sha256, await sha256Of(file.subarray(start - 1)));

  const { session } = puller(peer);
  const short = await offer(
    h,
    pullOffer(peer, session, { name: "tail.bin" }, { start: 1, end: 10 }),
  );
  session.close("refused");
  assertEquals(short.status, 422);
  assert(short.body.detail.includes("a=file-range"), short.body.detail);
});

Deno.test("api: DELETE /v1/files/published/{id} during a pull lets it finish from its open file; later pulls are refused and the quota is freed", async () => {
  await using h = await startHarness({ ESL_MODE: "off", DATA_QUOTA_BYTES: String(4 * MiB) });
  await using peer = peerEndpoint();
  const file = random.bytes(3 * MiB);
  const { body } = await publish(h, file, { name: "big.bin", type: "application/octet-stream" });
  // Past the quota while it is published: a second copy does not fit.
  assertEquals((await publish(h, file, { name: "again.bin", type: "text/plain" })).status, 413);

  const gate = Promise.withResolvers<void>();
  const { session, sinks } = puller(peer, gate.promise);
  const local = pullOffer(peer, session, { name: "big.bin" });
  const created = await offer(h, local);
  assertEquals(created.status, 201);
  await peer.connectSession(session, parseAnswer(created.body.answer, local).remotePath);
  await waitUntil(() => (sinks[0]?.bytes ?? 0) > 0, "the first bytes");

  const deleted = await h.request(`/v1/files/published/${body.id}`, { method: "DELETE" });
  assertEquals(deleted.status, 204);
  assertEquals((await (await h.request("/v1/files/published")).json()).items, []);
  const again = await h.request(`/v1/files/published/${body.id}`, { method: "DELETE" });
  assertEquals(again.status, 404);
  await again.body?.cancel();
  // Still sending from the open file: its bytes stay counted.
  assertEquals((await publish(h, file, { name: "again.bin", type: "text/plain" })).status, 413);

  gate.resolve();
  await waitUntil(() => sinks[0].sha256 !== undefined, "the whole file");
  assertEquals([sinks[0].bytes, sinks[0].sha256], [file.length, await sha256Of(file)]);
  await fileEvent(h, "file.delivered", created.body.id);

  const { session: late } = puller(peer);
  const refused = await offer(h, pullOffer(peer, late, { name: "big.bin" }));
  late.close("refused");
  assertEquals(refused.status, 422);
  // The pull ended: the deleted file's bytes are free again.
  const republished = await publish(h, file, { name: "again.bin", type: "text/plain" });
  assertEquals(republished.status, 201);
});

Deno.test("api: published files survive a restart on the same DATA_DIR and can be pulled after it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-pull-" });
  try {
    const file = random.bytes(200 * KiB);
    let published: Published;
    {
      await using h = await startHarness({ ESL_MODE: "off", DATA_DIR: dataDir });
      const form = new FormData();
      form.append("disposition", "render");
      form.append("file", new File([file.slice()], "logo.png", { type: "image/png" }));
      const response = await h.request("/v1/files/published", { method: "POST", body: form });
      assertEquals(response.status, 201);
      published = await response.json();
      assertEquals(response.headers.get("location"), `/v1/files/published/${published.id}`);
      assertEquals(
        [published.file.name, published.file.type, published.file.disposition],
        ["logo.png", "image/png", "render"],
      );
    }
    await using h = await startHarness({ ESL_MODE: "off", DATA_DIR: dataDir });
    assertEquals((await (await h.request("/v1/files/published")).json()).items, [published]);
    await using peer = peerEndpoint();
    const { sink } = await pullWhole(h, peer, {
      hash: { algorithm: "SHA-1", value: published.file.hash.value },
    });
    assertEquals(sink.sha256, await sha256Of(file));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
