/**
 * `src/bridge/imdn.ts` against real parts: a peer library session on TCP
 * loopback and the bridge. Our CPIM messages ask for notifications and the
 * peer's delivered/displayed ones update the row and are published; the
 * peer's requests get `delivered` (or `failed`) automatically and
 * `displayed` when told; notifications about unknown messages are dropped.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { scratchSchema, skipUnlessPostgres } from "../_postgres.ts";
import { until } from "../_until.ts";
import { peerEndpoint } from "../api/_harness.ts";
import { BridgeError } from "../../src/bridge/mod.ts";
import { imdnRequestOf, wrapWithImdnRequest } from "../../src/cpim/mod.ts";
import { cpimOf, notificationsOf, notify } from "../_imdn.ts";
import { openPeer } from "./_peer.ts";

const dec = new TextDecoder();

const pgSkip = await skipUnlessPostgres("bridge/imdn_test");

/** Runs `fn` on a bridge over SQLite, and over PostgreSQL when there is one (the imdn column). */
function onBothStores(name: string, fn: (env: Record<string, string>) => Promise<void>): void {
  Deno.test(`${name} [sqlite]`, () => fn({}));
  Deno.test({
    name: `${name} [postgres]`,
    ignore: pgSkip !== undefined,
    async fn() {
      await using pg = (await scratchSchema())!;
      await fn({ DATABASE_URL: pg.url });
    },
  });
}

onBothStores(
  "imdn: our CPIM message asks for notifications; delivered and displayed come back as events",
  async (env) => {
    await using b = await startBridge(env);
    await using peer = peerEndpoint();
    const { id, session, received } = await openPeer(b.bridge, peer);
    const sent = await b.bridge.sendMessage(id, "Hello Bob", {
      contentType: "text/plain",
      imdn: ["positive-delivery", "display"],
    });
    assertEquals(sent.record.contentType, "message/cpim");
    const imdnId = sent.record.imdn!.messageId;
    await until(() => received.length === 1, "the peer to receive the message");
    const [cpim] = cpimOf(received);
    assertEquals([cpim.contentType, dec.decode(cpim.body)], ["text/plain", "Hello Bob"]);
    assertEquals(imdnRequestOf(cpim)?.messageId, imdnId);
    assertEquals(imdnRequestOf(cpim)?.dispositions, ["positive-delivery", "display"]);
    await sent.settled;

    // A notification about a message nobody sent is dropped, and never a message.received.
    await notify(
      session,
      "nobody-sent-this",
      { kind: "delivery", status: "delivered" },
      "im:alice@example.com",
    );
    await notify(
      session,
      imdnId,
      { kind: "delivery", status: "delivered" },
      "im:alice@example.com",
    );
    await until(
      () => b.events.some((e) => e.type === "message.delivered" && e.payload.includes('"imdn"')),
      "message.delivered with imdn",
    );
    await notify(session, imdnId, { kind: "display", status: "displayed" }, "im:alice@example.com");
    const displayed = JSON.parse((await b.next("message.displayed")).payload);
    assertEquals([displayed.data.messageId, displayed.data.imdn], [sent.record.id, "displayed"]);
    const delivered = b.events.filter((e) => e.type === "message.delivered")
      .map((e) => JSON.parse(e.payload).data);
    assertEquals(delivered.map((d) => d.imdn ?? null), [null, "delivered"]);
    assertEquals(delivered[1].status, "delivered");
    assertEquals(b.events.filter((e) => e.type === "message.received").length, 0);

    const row = await b.bridge.getMessage(sent.record.id);
    assertEquals([row?.status, row?.imdn?.delivery, row?.imdn?.display], [
      "delivered",
      "delivered",
      "displayed",
    ]);
  },
);

onBothStores(
  "imdn: a peer's request gets delivered at once and displayed when told, once",
  async (env) => {
    await using b = await startBridge(env);
    await using peer = peerEndpoint();
    const { id, session, received } = await openPeer(b.bridge, peer);
    const { body, contentType } = wrapWithImdnRequest({
      from: { uri: "im:bob@example.com" },
      to: { uri: "im:alice@example.com" },
      messageId: "bob-1",
      dateTime: new Date("2025-05-04T10:00:00Z"),
      dispositions: ["positive-delivery", "display"],
      contentType: "text/plain",
      body: "Hi Alice",
    });
    await session.send(body, { contentType }).done;
    const event = JSON.parse((await b.next("message.received")).payload);
    assertEquals(event.data.imdnRequested, ["positive-delivery", "display"]);
    const messageId: string = event.data.messageId;
    await until(() => notificationsOf(received).length === 1, "the delivery notification");
    const [delivered] = notificationsOf(received);
    assertEquals([delivered.messageId, delivered.kind, delivered.status], [
      "bob-1",
      "delivery",
      "delivered",
    ]);
    assertEquals(delivered.dateTime, "2025-05-04T10:00:00.000Z");
    const [wrapper] = cpimOf(received);
    assertEquals(wrapper.to, [{ uri: "im:bob@example.com" }], "To the sender");
    assertEquals(imdnRequestOf(wrapper)?.dispositions, [], "asks for no notification itself");

    await Promise.all([b.bridge.markDisplayed(messageId), b.bridge.markDisplayed(messageId)]);
    await b.bridge.markDisplayed(messageId);
    // What the bridge sends next comes after any notification on the same session.
    await b.bridge.sendMessage(id, "end", { contentType: "text/plain" });
    await until(() => received.some((m) => m.info.contentType === "text/plain"), "the end");
    assertEquals(notificationsOf(received).map((n) => n.status), ["delivered", "displayed"]);
    const row = await b.bridge.getMessage(messageId);
    assertEquals([row?.imdn?.delivery, row?.imdn?.display], ["delivered", "displayed"]);
  },
);

Deno.test("imdn: display only for received CPIM asking for it; imdn only to peers accepting CPIM", async () => {
  await using b = await startBridge();
  await using peer = peerEndpoint();
  const { id, session } = await openPeer(b.bridge, peer);
  await session.send("plain", { contentType: "text/plain" }).done;
  const plain = JSON.parse((await b.next("message.received")).payload).data.messageId;
  const code = async (messageId: string) =>
    (await assertRejects(() => b.bridge.markDisplayed(messageId), BridgeError)).code;
  assertEquals(await code(plain), "imdn-not-requested");
  assertEquals(await code("no-such-message"), "not-found");
  const sent = await b.bridge.sendMessage(id, "x", {
    contentType: "text/plain",
    imdn: ["display"],
  });
  assertEquals(await code(sent.record.id), "imdn-not-requested", "ours, not received");

  await using textOnly = peerEndpoint();
  const other = await openPeer(b.bridge, textOnly, { offer: { acceptTypes: ["text/plain"] } });
  const refused = await assertRejects(
    () => b.bridge.sendMessage(other.id, "x", { contentType: "text/plain", imdn: ["display"] }),
    BridgeError,
    "did not accept message/cpim",
  );
  assertEquals([refused.code, refused.field], ["validation", "imdn"]);
});

Deno.test("imdn: a request for negative-delivery gets failed when the message ends partial", async () => {
  await using b = await startBridge();
  await using peer = peerEndpoint();
  const { id, session, received } = await openPeer(b.bridge, peer, {
    session: { chunkSize: 1024 },
  });
  const { body } = wrapWithImdnRequest({
    from: { uri: "im:bob@example.com" },
    to: { uri: "im:alice@example.com" },
    messageId: "bob-2",
    dateTime: new Date(),
    dispositions: ["negative-delivery", "positive-delivery"],
    contentType: "application/octet-stream",
    body: new Uint8Array(4096),
  });
  const more = Promise.withResolvers<void>();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      controller.enqueue(body);
      await more.promise;
      controller.close();
    },
  });
  const outgoing = session.send(stream, { contentType: "message/cpim", size: body.length * 2 });
  await until(
    async () => (await b.bridge.listMessages(id)).items.some((m) => m.status === "receiving"),
    "the bridge to store the first part",
  );
  outgoing.cancel("test cancels");
  more.resolve();
  await outgoing.done;
  const failed = JSON.parse((await b.next("message.failed")).payload).data;
  assert(failed.status === "partial" || failed.status === "failed", failed.status);
  await until(() => notificationsOf(received).length === 1, "the failed notification");
  assertEquals(notificationsOf(received).map((n) => [n.messageId, n.status]), [[
    "bob-2",
    "failed",
  ]]);
});

Deno.test("imdn: hostile notifications (entity bombs, oversized, forged ids) change nothing", async () => {
  await using b = await startBridge();
  await using peer = peerEndpoint();
  const { id, session } = await openPeer(b.bridge, peer);
  const sent = await b.bridge.sendMessage(id, "x", {
    contentType: "text/plain",
    imdn: ["display"],
  });
  await sent.settled;
  const imdnId = sent.record.imdn!.messageId;
  const doc = (inner: string, prolog = "") =>
    `${prolog}<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>${imdnId}</message-id>` +
    `<datetime>2025-01-01T00:00:00Z</datetime>${inner}</imdn>`;
  const displayed = "<display-notification><status><displayed/></status></display-notification>";
  const bomb = '<!DOCTYPE imdn [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>';
  const hostile = [
    doc(`<x>&b;</x>${displayed}`, bomb),
    doc(`<x>${"y".repeat(32 * 1024)}</x>${displayed}`),
    doc(`${"<a>".repeat(50)}${"</a>".repeat(50)}${displayed}`),
    doc(displayed).replace(imdnId, `${imdnId}</message-id><message-id>x`),
  ];
  const head = "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: n1\r\n\r\n" +
    "Content-Type: message/imdn+xml\r\n\r\n";
  for (const body of hostile) {
    const result = await session.send(head + body, { contentType: "message/cpim" }).done;
    assertEquals(result.status, "sent");
  }
  // A valid notification after them (status error) is applied; none of the hostile ones was.
  const ok = head + doc(displayed.replace("displayed/", "error/"));
  await session.send(ok, { contentType: "message/cpim" }).done;
  await b.next("message.displayed");
  const statuses = b.events.filter((e) => e.type === "message.displayed")
    .map((e) => JSON.parse(e.payload).data.imdn);
  assertEquals(statuses, ["error"]);
  assertEquals(b.events.filter((e) => e.type === "message.received").length, 0);
});
