import { assertEquals } from "../_assert.ts";
import { buildAnswer, buildOffer, type LocalMsrpOffer, parseAnswer } from "../../src/sdp/mod.ts";
import type { IncomingMessage, MessageEvent } from "../../src/session/mod.ts";
import { SqliteStore } from "../../src/store/mod.ts";
import type { MessageEventData, SessionEventData } from "../../src/webhooks/mod.ts";
import {
  HashSink,
  peerEndpoint,
  randomStream,
  SECRET,
  sha256Of,
  startHarness,
  waitUntil,
  WebhookReceiver,
} from "./_harness.ts";

const MiB = 1024 * 1024;

/** Collects the messages a peer session receives. */
function collect(session: EventTarget): IncomingMessage[] {
  const messages: IncomingMessage[] = [];
  session.addEventListener("message", (e) => messages.push((e as MessageEvent).message));
  return messages;
}

Deno.test("api: offer from the bridge, answer from a peer, text and a 100 MiB streamed upload delivered", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();

  const created = await h.json("POST", "/v1/sessions", { createOffer: true });
  assertEquals(created.status, 201);
  const { id, offer } = await created.json();
  assertEquals(created.headers.get("location"), `/v1/sessions/${id}`);

  const peerSession = peer.createSession({ sink: (info) => new HashSink(info) });
  const received = collect(peerSession);
  const { sdp: answer } = buildAnswer(offer, {
    path: peerSession.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
  });
  const applied = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer });
  assertEquals(applied.status, 200);
  const session = await applied.json();
  assertEquals(session.state, "active");
  assertEquals(session.remotePath, [...peerSession.localPath]);
  await receiver.waitFor("session.started", (e) => e.type === "session.started");

  const text = await h.json("POST", `/v1/sessions/${id}/messages`, { text: "hello", report: true });
  assertEquals(text.status, 202);
  const { messageId: textId } = await text.json();
  const textDelivered = await receiver.waitFor(
    "text delivered",
    (e) => e.type === "message.delivered" && e.data.messageId === textId,
  );
  assertEquals((textDelivered.data as MessageEventData).status, "delivered");

  const file = randomStream(100 * MiB);
  const upload = await h.upload(
    `/v1/sessions/${id}/messages?report=true`,
    file.stream,
    100 * MiB,
    "application/octet-stream",
  );
  assertEquals(upload.status, 202);
  const { messageId: fileId } = await upload.json();
  assertEquals(upload.headers.get("location"), `/v1/messages/${fileId}`);
  const delivered = await receiver.waitFor(
    "file delivered",
    (e) => e.type === "message.delivered" && e.data.messageId === fileId,
  );
  const data = delivered.data as MessageEventData;
  assertEquals(data.status, "delivered");
  assertEquals(data.bytes, 100 * MiB);

  const row = await (await h.request(`/v1/messages/${fileId}`)).json();
  assertEquals(row.status, "delivered");
  assertEquals(row.bytes, 100 * MiB);
  assertEquals(row.contentType, "application/octet-stream");
  assertEquals(row.contentUrl, null);

  await waitUntil(() => received.length === 2, "the peer to receive both messages");
  const [first, second] = received;
  assertEquals((first.sink as HashSink).sha256, await sha256Of(new TextEncoder().encode("hello")));
  assertEquals((second.sink as HashSink).bytes, 100 * MiB);
  assertEquals((second.sink as HashSink).sha256, file.sha256());

  const list = await (await h.request(`/v1/sessions/${id}/messages`)).json();
  assertEquals(list.items.map((m: { id: string }) => m.id), [textId, fileId]);
  assertEquals(receiver.rejected, 0);

  assertEquals((await h.request(`/v1/sessions/${id}`, { method: "DELETE" })).status, 204);
  const ended = await receiver.waitFor("session.ended", (e) => e.type === "session.ended");
  assertEquals((ended.data as SessionEventData).sessionId, id);
});

Deno.test("api: offer from a peer (setup active), 10 MiB received, content served, webhook reply sent back", async () => {
  await using receiver = new WebhookReceiver((event) =>
    event.type === "message.received" && event.data.text === "ping"
      ? { reply: { text: "pong" } }
      : undefined
  );
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  await using peer = peerEndpoint();

  const peerSession = peer.createSession();
  const received = collect(peerSession);
  const local: LocalMsrpOffer = {
    path: peerSession.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    setup: "active",
  };
  const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  assertEquals(created.status, 201);
  const { id, answer } = await created.json();
  const accepted = parseAnswer(answer, local);
  assertEquals(accepted.setup, "active");
  assertEquals(accepted.remotePath, [`msrp://127.0.0.1:${h.bridge.endpoint.port}/${id};tcp`]);
  await peer.connectSession(peerSession, accepted.remotePath);
  await receiver.waitFor("session.started", (e) => e.type === "session.started");
  assertEquals((await (await h.request(`/v1/sessions/${id}`)).json()).state, "active");

  const file = crypto.getRandomValues(new Uint8Array(10 * MiB).subarray(0, 65536));
  const body = new Uint8Array(10 * MiB);
  for (let at = 0; at < body.length; at += file.length) body.set(file, at);
  body[body.length - 1] ^= 0xff;
  const sent = await peerSession.send(body, { contentType: "application/x-test" }).done;
  assertEquals(sent.status, "sent");

  const event = await receiver.waitFor(
    "message.received",
    (e) => e.type === "message.received" && e.data.contentType === "application/x-test",
  );
  const data = event.data as MessageEventData;
  assertEquals(data.sessionId, id);
  assertEquals(data.bytes, 10 * MiB);
  assertEquals(data.sha256, await sha256Of(body));
  assertEquals(data.text, undefined);
  assertEquals(data.contentUrl, `/v1/messages/${data.messageId}/content`);
  const content = await h.request(data.contentUrl!);
  assertEquals(content.status, 200);
  assertEquals(content.headers.get("content-type"), "application/x-test");
  assertEquals(content.headers.get("content-length"), String(10 * MiB));
  assertEquals(await sha256Of(content.body!), data.sha256);

  // A small text is inlined in the event, and the receiver's reply goes back into the session.
  await peerSession.send("ping").done;
  const ping = await receiver.waitFor(
    "ping received",
    (e) => e.type === "message.received" && e.data.text === "ping",
  );
  const pingData = ping.data as MessageEventData;
  assertEquals(pingData.contentUrl, `/v1/messages/${pingData.messageId}/content`);
  await waitUntil(() => received.length === 1, "the reply at the peer");
  assertEquals(received[0].text(), "pong");
  await receiver.waitFor(
    "reply delivered",
    (e) => e.type === "message.delivered" && e.data.direction === "out",
  );
  assertEquals(receiver.rejected, 0);
});

Deno.test("api: stop fails messages in flight with reason shutdown and ends sessions", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  await using peer = peerEndpoint();
  try {
    await using h = await startHarness();
    const created = await h.json("POST", "/v1/sessions", { createOffer: true });
    const { id, offer } = await created.json();
    // The peer stalls on the first bytes, so the message stays in flight.
    const peerSession = peer.createSession({ sink: (info) => new HashSink(info, gate) });
    const { sdp } = buildAnswer(offer, {
      path: peerSession.localPath,
      address: "127.0.0.1",
      port: peer.port,
      acceptTypes: ["*"],
    });
    assertEquals((await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: sdp })).status, 200);
    const sent = await h.json("POST", `/v1/sessions/${id}/messages`, {
      text: "x".repeat(6 * MiB),
    });
    const { messageId } = await sent.json();
    await waitUntil(
      async () => (await h.bridge.getMessage(messageId))?.status === "sending",
      "the message to be sending",
    );
    await h.bridge.stop();

    await using store = SqliteStore.open(h.config.dataDir);
    const message = (await store.getMessage(messageId))!;
    assertEquals(message.status, "failed");
    assertEquals(message.errorReason, "shutdown");
    const session = (await store.getSession(id))!;
    assertEquals(session.state, "ended");
    assertEquals(session.endReason, "shutdown");
    assertEquals(
      (await store.eventsSince(0, 100)).map((e) => e.type),
      ["session.started", "message.failed", "session.ended"],
    );
  } finally {
    release();
  }
});
