/**
 * Resuming an interrupted RFC 5547 push with `a=file-range` (RFC 5547 §8),
 * through `POST /v1/sessions {"offer"}`: real TCP MSRP, real HTTP, real SQLite.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildOffer, type FileRange, type FileSelector, parseAnswer } from "../../src/sdp/mod.ts";
import type { MessageRecord, SessionRecord } from "../../src/store/mod.ts";
import { sendFileRest } from "../session/_peer.ts";
import { type Harness, peerEndpoint, sha256Of, startHarness, waitUntil } from "./_harness.ts";

const KiB = 1024;
const SIZE = 640 * KiB;
const random = new Random(8547);

/** The selector of `bytes` with its sha-256 (RFC 5547 §5: colon-separated upper-case hex). */
function selectorOf(bytes: Uint8Array, name = "holiday.jpg"): FileSelector {
  const hex = createHash("sha256").update(bytes).digest("hex").toUpperCase();
  return {
    name,
    type: "image/jpeg",
    size: bytes.length,
    hash: { algorithm: "sha-256", value: hex.match(/../g)!.join(":") },
  };
}

/** The offer of a push of `selector` from a peer at `path`, with `range` when given. */
function pushOffer(path: string, selector: FileSelector, range?: FileRange): string {
  return buildOffer({
    path: [path],
    address: "127.0.0.1",
    port: 9,
    acceptTypes: ["image/jpeg"],
    setup: "active",
    fileTransfer: {
      selector,
      transferId: crypto.randomUUID().replaceAll("-", ""),
      ...(range ? { range } : {}),
    },
  });
}

/** `POST /v1/sessions {"offer"}`: the status and body. */
async function offer(
  h: Harness,
  sdp: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const response = await h.json("POST", "/v1/sessions", { offer: sdp });
  return { status: response.status, body: await response.json() };
}

/** The messages of session `id`. */
async function messagesOf(h: Harness, id: string): Promise<MessageRecord[]> {
  return (await (await h.request(`/v1/sessions/${id}/messages`)).json()).items;
}

/** The row of session `id`. */
async function sessionOf(h: Harness, id: string): Promise<SessionRecord> {
  return await (await h.request(`/v1/sessions/${id}`)).json();
}

/** Pushes the first `cut` bytes of `file` from a peer session, then the peer closes it. */
async function cutTransfer(h: Harness, file: Uint8Array, cut: number): Promise<string> {
  await using endpoint = peerEndpoint();
  const session = endpoint.createSession({ chunkSize: 32 * KiB });
  const sdp = pushOffer(session.localPath[0], selectorOf(file));
  const { status, body } = await offer(h, sdp);
  assertEquals(status, 201);
  const local = {
    path: session.localPath,
    address: "127.0.0.1",
    port: endpoint.port,
    acceptTypes: ["*"],
  };
  await endpoint.connectSession(
    session,
    parseAnswer(body.answer, { ...local, setup: "active" }).remotePath,
  );
  const gate = Promise.withResolvers<void>();
  async function* partly() {
    yield file.slice(0, cut + 32 * KiB);
    await gate.promise;
  }
  const sent = session.send(partly(), { contentType: "image/jpeg", size: file.length });
  // The sender keeps its last chunk back until it knows whether it is the last: one more is yielded.
  await waitUntil(
    () => sent.bytesSent >= cut && sent.bytesAcknowledged > 0,
    "the first bytes sent",
  );
  session.close("cut by the test");
  gate.resolve();
  await waitUntil(
    async () => (await sessionOf(h, body.id)).state === "ended",
    "the cut session ended",
  );
  return body.id;
}

Deno.test("api: a push cut at 40 % resumes with a=file-range and the whole file verifies", async () => {
  await using h = await startHarness();
  const file = random.bytes(SIZE);
  const cut = 256 * KiB; // 40 %
  const firstId = await cutTransfer(h, file, cut);
  const [first] = await messagesOf(h, firstId);
  // What arrived before the cut: at least 40 %, kept up to the first gap.
  assertEquals(first.status, "partial");
  assert(first.bytes >= cut && first.bytes < SIZE, String(first.bytes));
  const held = first.bytes;

  // The same file offered again, its whole range: we answer for the rest.
  const from = "msrp://127.0.0.1:9/resumer;tcp";
  const again = await offer(h, pushOffer(from, selectorOf(file), { start: 1, end: SIZE }));
  assertEquals(again.status, 201);
  const lines = again.body.answer.split("\r\n");
  assert(lines.includes(`a=file-range:${held + 1}-${SIZE}`), again.body.answer);
  assert(lines.includes("a=recvonly"), again.body.answer);
  assertEquals((await sessionOf(h, again.body.id)).file?.resumes, first.id);

  const to = again.body.answer.split("\r\n").find((l: string) => l.startsWith("a=path:"))!
    .slice("a=path:".length);
  const peer = await sendFileRest(to, from, file, held, "image/jpeg");
  await waitUntil(
    async () => (await sessionOf(h, again.body.id)).state === "ended",
    "resumed session ended",
  );
  await peer.close();
  const resumed = await sessionOf(h, again.body.id);
  assertEquals(resumed.endReason, "file received");
  const [message] = await messagesOf(h, again.body.id);
  assertEquals([message.status, message.bytes, message.hashVerified], ["received", SIZE, true]);
  assertEquals(message.sha256, await sha256Of(file));
  const content = await h.request(`/v1/messages/${message.id}/content`);
  assertEquals(content.status, 200);
  assertEquals(await sha256Of(content.body!), await sha256Of(file));
  // The earlier row no longer holds content: it moved to the resumed message.
  const earlier = (await messagesOf(h, firstId))[0];
  assertEquals([earlier.status, (await h.request(`/v1/messages/${earlier.id}/content`)).status], [
    "partial",
    404,
  ]);
});

Deno.test("api: a push that matches no partial file, or a bogus a=file-range, is not resumed", async () => {
  await using h = await startHarness();
  const file = random.bytes(SIZE);
  const cut = 256 * KiB;
  const held = (await messagesOf(h, await cutTransfer(h, file, cut)))[0].bytes;
  const from = "msrp://127.0.0.1:9/other;tcp";

  // Another name: a fresh transfer, answered without a range.
  const fresh = await offer(h, pushOffer(from, selectorOf(file, "other.jpg")));
  assertEquals(fresh.status, 201);
  assert(!fresh.body.answer.includes("a=file-range"), fresh.body.answer);
  assertEquals((await sessionOf(h, fresh.body.id)).file?.resumes, undefined);
  // Another name with a range past byte 1: nothing to continue, refused.
  const gap = await offer(
    h,
    pushOffer(from, selectorOf(file, "other.jpg"), { start: cut + 1, end: SIZE }),
  );
  assertEquals([gap.status, gap.body.type.endsWith("sdp-not-acceptable")], [422, true]);

  // The right file, bogus ranges: past the size, reversed, short of the end, past the bytes held.
  for (
    const range of [
      { start: SIZE + 1, end: SIZE + 10 },
      { start: 10, end: 5 },
      { start: 1, end: SIZE - 1 },
      { start: held + 2, end: SIZE },
    ]
  ) {
    const refused = await offer(h, pushOffer(from, selectorOf(file), range));
    assertEquals(
      [refused.status, refused.body.type.endsWith("sdp-not-acceptable")],
      [422, true],
      JSON.stringify(range),
    );
  }
  // An overlapping range (it starts within the bytes held) is narrowed to the rest.
  const overlapping = await offer(h, pushOffer(from, selectorOf(file), { start: 100, end: "*" }));
  assertEquals(overlapping.status, 201);
  assert(
    overlapping.body.answer.includes(`a=file-range:${held + 1}-${SIZE}`),
    overlapping.body.answer,
  );
});
