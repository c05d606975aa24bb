import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  buildOffer,
  type FileSelector,
  type LocalMsrpOffer,
  parseAnswer,
} from "../../src/sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession } from "../../src/session/mod.ts";
import type { MessageRecord } from "../../src/store/mod.ts";
import type { MessageEventData, SessionEventData } from "../../src/webhooks/mod.ts";
import {
  type Harness,
  openPeerSession,
  peerEndpoint,
  SECRET,
  sha256Of,
  startHarness,
  waitUntil,
  WebhookReceiver,
} from "./_harness.ts";

const MiB = 1024 * 1024;
const random = new Random(5547);

/** `hash:sha-1:…` value of `bytes`: colon-separated upper-case hex (RFC 5547 §5). */
function sha1Selector(bytes: Uint8Array): string {
  const hex = createHash("sha1").update(bytes).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}

/**
 * Offers a file push (RFC 5547) to the bridge through `POST /v1/sessions
 * {"offer"}` from a peer session, wrapped types as clients list them, and
 * connects the peer (the active side).
 */
async function offerFile(
  h: Harness,
  peer: MsrpEndpoint,
  selector: FileSelector,
): Promise<{ id: string; session: MsrpSession; answer: string }> {
  const session = peer.createSession({ chunkSize: 32 * 1024 });
  const local: LocalMsrpOffer = {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["message/cpim", "application/octet-stream"],
    acceptWrappedTypes: ["*"],
    setup: "active",
    fileTransfer: {
      selector,
      transferId: "aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2",
      disposition: "attachment",
      date: { creation: "Mon, 15 May 2006 15:01:31 +0300" },
    },
  };
  const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  assertEquals(created.status, 201);
  const { id, answer } = await created.json();
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  return { id, session, answer };
}

Deno.test("api: an RFC 5547 file push of 5 MiB is stored, its sha-1 verified, and the session ends", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();
  const file = random.bytes(5 * MiB);
  const hash = { algorithm: "sha-1", value: sha1Selector(file) };
  const selector = { name: 'q3 "final".pdf', type: "application/pdf", size: file.length, hash };
  const { id, session, answer } = await offerFile(h, peer, selector);

  // The answer receives the push, echoes the selector and keeps the wrapped types.
  const lines = answer.split("\r\n");
  assert(lines.includes("a=recvonly"), answer);
  assert(lines.includes("a=accept-wrapped-types:*"), answer);
  assert(lines.includes("a=file-transfer-id:aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2"), answer);
  assert(lines.some((l) => l.startsWith("a=file-selector:") && l.includes(hash.value)), answer);

  const expectedFile = {
    name: 'q3 "final".pdf',
    type: "application/pdf",
    size: file.length,
    hash,
    transferId: "aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2",
    disposition: "attachment",
    date: { creation: "Mon, 15 May 2006 15:01:31 +0300" },
  };
  const row = await (await h.request(`/v1/sessions/${id}`)).json();
  assertEquals([row.kind, row.file], ["file-transfer", expectedFile]);

  const sent = session.send(file, { contentType: "application/pdf" });
  assertEquals((await sent.done).status, "sent");
  const event = await receiver.waitFor("file received", (e) => e.type === "message.received");
  const data = event.data as MessageEventData;
  assertEquals([data.sessionId, data.status, data.bytes], [id, "received", file.length]);
  assertEquals([data.file, data.hashVerified], [expectedFile, true]);
  assertEquals(data.sha256, await sha256Of(file));

  const content = await h.request(data.contentUrl!);
  assertEquals(content.status, 200);
  assertEquals(await sha256Of(content.body!), await sha256Of(file));
  const message = await (await h.request(`/v1/messages/${data.messageId}`)).json();
  assertEquals([message.status, message.hashVerified], ["received", true]);

  const ended = await receiver.waitFor("session ended", (e) => e.type === "session.ended");
  const endedData = ended.data as SessionEventData;
  assertEquals([endedData.endReason, endedData.kind, endedData.file], [
    "file received",
    "file-transfer",
    expectedFile,
  ]);
  const after = await (await h.request(`/v1/sessions/${id}`)).json();
  assertEquals([after.state, after.endReason, after.messagesIn], ["ended", "file received", 1]);
});

Deno.test('api: a pushed file whose hash does not match fails with "hash mismatch"', async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();
  const file = random.bytes(200 * 1024);
  const other = random.bytes(1);
  const hash = { algorithm: "sha-256", value: sha1Selector(other) + ":00".repeat(12) };
  const { id, session } = await offerFile(h, peer, { size: file.length, hash });

  session.send(file, { contentType: "application/octet-stream" });
  const event = await receiver.waitFor("file failed", (e) => e.type === "message.failed");
  const data = event.data as MessageEventData;
  assertEquals([data.status, data.error?.reason, data.hashVerified], [
    "failed",
    "hash mismatch",
    false,
  ]);
  assertEquals(data.bytes, file.length);
  const ended = await receiver.waitFor("session ended", (e) => e.type === "session.ended");
  assertEquals((ended.data as SessionEventData).endReason, "file transfer failed: hash mismatch");
  const row = await (await h.request(`/v1/sessions/${id}`)).json();
  assertEquals([row.state, row.messagesFailed, row.messagesIn], ["ended", 1, 0]);
});

Deno.test("api: a pushed file larger than offered is refused with 413 and fails", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();
  const file = random.bytes(300 * 1024);
  const { session } = await offerFile(h, peer, { size: 100 * 1024 });

  const sent = session.send(file, { contentType: "application/octet-stream" });
  const result = await sent.done;
  assertEquals([result.status, result.code], ["failed", 413]);
  const event = await receiver.waitFor("file failed", (e) => e.type === "message.failed");
  const data = event.data as MessageEventData;
  assertEquals([data.status, data.error], ["failed", {
    code: 413,
    reason: "larger than the offered size",
  }]);
  assertEquals([data.contentUrl, data.hashVerified], [undefined, null]);
  const ended = await receiver.waitFor("session ended", (e) => e.type === "session.ended");
  assertEquals(
    (ended.data as SessionEventData).endReason,
    "file transfer failed: larger than the offered size",
  );
});

Deno.test("api: a file wrapped in message/cpim is received and its offered hash checked against the file inside", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();
  const file = new TextEncoder().encode("hello file\n");
  const hash = { algorithm: "sha-1", value: sha1Selector(file) };
  const { session } = await offerFile(h, peer, { name: "a.txt", size: file.length, hash });
  const cpim = "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\r\n" +
    "Content-Type: text/plain\r\n\r\nhello file\n";
  session.send(cpim, { contentType: "message/cpim" });
  const event = await receiver.waitFor("file received", (e) => e.type === "message.received");
  const data = event.data as MessageEventData;
  assertEquals([data.status, data.hashVerified, data.file?.name], ["received", true, "a.txt"]);
  const ended = await receiver.waitFor("session ended", (e) => e.type === "session.ended");
  assertEquals((ended.data as SessionEventData).endReason, "file received");
});

Deno.test("api: the content of a file received wrapped in message/cpim is the file inside, with its type; ?raw=true serves the CPIM document", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();
  // Bigger than a CPIM head and a chunk, with CRLFs and blank lines inside, as a file may have.
  const file = random.bytes(300 * 1024);
  file.set(new TextEncoder().encode("\r\n\r\nContent-Type: x/y\r\n\r\n"), 1000);
  const hash = { algorithm: "sha-1", value: sha1Selector(file) };
  const { session } = await offerFile(h, peer, {
    name: "scan.pdf",
    type: "application/pdf",
    size: file.length,
    hash,
  });
  const head = new TextEncoder().encode(
    "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n" +
      "DateTime: 2026-12-02T07:10:20Z\r\n\r\n" +
      "Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\n",
  );
  const cpim = new Uint8Array(head.length + file.length);
  cpim.set(head);
  cpim.set(file, head.length);
  session.send(cpim, { contentType: "message/cpim" });
  const event = await receiver.waitFor("file received", (e) => e.type === "message.received");
  const data = event.data as MessageEventData;
  assertEquals([data.status, data.hashVerified, data.contentType], [
    "received",
    true,
    "message/cpim",
  ]);

  const content = await h.request(data.contentUrl!);
  assertEquals(content.status, 200);
  assertEquals(content.headers.get("content-type"), "application/pdf");
  assertEquals(content.headers.get("content-length"), String(file.length));
  assertEquals(new Uint8Array(await content.arrayBuffer()), file);

  const raw = await h.request(`${data.contentUrl!}?raw=true`);
  assertEquals(raw.headers.get("content-type"), "message/cpim");
  assertEquals(raw.headers.get("content-length"), String(cpim.length));
  assertEquals(new Uint8Array(await raw.arrayBuffer()), cpim);
});

Deno.test("api: a CPIM message of a chat session is served as stored, CPIM headers included", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { session } = await openPeerSession(h, peer);
  const cpim = "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n\r\n" +
    "Content-Type: text/plain\r\n\r\nhello\r\n";
  await session.send(cpim, { contentType: "message/cpim" }).done;
  await waitUntil(
    async () => (await h.bridge.listSessions()).items.length === 1,
    "the chat session",
  );
  const [row] = (await h.bridge.listSessions()).items;
  let message: MessageRecord | undefined;
  await waitUntil(async () => {
    message = (await h.bridge.listMessages(row.id)).items.find((m) => m.status === "received");
    return message !== undefined;
  }, "the message received");
  const content = await h.request(`/v1/messages/${message!.id}/content`);
  assertEquals(content.headers.get("content-type"), "message/cpim");
  assertEquals(await content.text(), cpim);
});

Deno.test("api: a chat offer stays of kind chat, without file", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const session = peer.createSession();
  const local: LocalMsrpOffer = {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["text/plain"],
  };
  const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  const { id } = await created.json();
  const row = await (await h.request(`/v1/sessions/${id}`)).json();
  assertEquals([row.kind, row.file], ["chat", null]);
  session.close("done");
});
