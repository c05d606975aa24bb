/**
 * IMDN (RFC 5438) through the HTTP API, two real bridges on loopback: A's
 * `POST /v1/sessions/{id}/messages {text, imdn}` reaches B as CPIM asking
 * for notifications, and A serves the CPIM document it sent as the
 * message's content; B sends `delivered` on its own and `displayed` on
 * `POST /v1/messages/{id}/displayed`; A's webhooks and server-sent events
 * carry `message.delivered` (`imdn: "delivered"`) and `message.displayed`.
 * Also the 409 and 422 answers, and hostile text that cannot inject CPIM
 * header lines.
 */

import { assertEquals } from "../_assert.ts";
import { negotiatePeer } from "../bridge/_peer.ts";
import { imdnRequestOf, parseCpim } from "../../src/cpim/mod.ts";
import type { WebhookEvent } from "../../src/webhooks/mod.ts";
import {
  EventStreamReader,
  type Harness,
  openPeerSession,
  peerEndpoint,
  SECRET,
  startHarness,
  waitUntil,
  WebhookReceiver,
} from "./_harness.ts";

/** A session between two bridges: A offers, B answers, A applies the answer. */
async function connect(a: Harness, b: Harness): Promise<{ idA: string; idB: string }> {
  const offered = await (await a.json("POST", "/v1/sessions", { createOffer: true })).json();
  const answered = await (await b.json("POST", "/v1/sessions", { offer: offered.offer })).json();
  const applied = await a.json("PUT", `/v1/sessions/${offered.id}/answer`, {
    answer: answered.answer,
  });
  assertEquals(applied.status, 200);
  await applied.body?.cancel();
  return { idA: offered.id, idB: answered.id };
}

/** The received events of `hooks` of `type`. */
function eventsOf(hooks: WebhookReceiver, type: string): WebhookEvent[] {
  return hooks.deliveries.filter((d) => d.event.type === type).map((d) => d.event);
}

Deno.test("api imdn: delivered and displayed round trip between two bridges, as webhooks and SSE", async () => {
  await using hooksA = new WebhookReceiver();
  await using hooksB = new WebhookReceiver();
  await using a = await startHarness({ WEBHOOK_URL: hooksA.url, WEBHOOK_SECRET: SECRET });
  await using b = await startHarness({ WEBHOOK_URL: hooksB.url, WEBHOOK_SECRET: SECRET });
  const stream = await a.request("/v1/events");
  const sse = new EventStreamReader(stream.body!);
  try {
    const { idA } = await connect(a, b);
    const sent = await a.json("POST", `/v1/sessions/${idA}/messages`, {
      text: "Hello B",
      imdn: ["positive-delivery", "negative-delivery", "display"],
    });
    assertEquals(sent.status, 202);
    const { messageId } = await sent.json();

    const received = await hooksB.waitFor("message.received", (e) => e.type === "message.received");
    assertEquals(received.type === "message.received" && received.data.imdnRequested, [
      "positive-delivery",
      "negative-delivery",
      "display",
    ]);
    const idInB = received.type === "message.received" ? received.data.messageId : "";
    const content = await b.request(`/v1/messages/${idInB}/content`);
    assertEquals(content.headers.get("content-type"), "message/cpim");
    assertEquals((await content.text()).endsWith("\r\n\r\nHello B"), true);

    await hooksA.waitFor(
      "message.delivered imdn",
      (e) => e.type === "message.delivered" && e.data.imdn === "delivered",
    );
    const shown = await b.request(`/v1/messages/${idInB}/displayed`, { method: "POST" });
    assertEquals(shown.status, 204);
    const again = await b.request(`/v1/messages/${idInB}/displayed`, { method: "POST" });
    assertEquals(again.status, 204, "idempotent");
    const displayed = await hooksA.waitFor(
      "message.displayed",
      (e) => e.type === "message.displayed",
    );
    assertEquals(displayed.type === "message.displayed" && displayed.data.messageId, messageId);
    assertEquals(displayed.type === "message.displayed" && displayed.data.imdn, "displayed");

    // The same events on the event stream, in order.
    const types: string[] = [];
    while (!types.includes("message.displayed")) {
      const event = await sse.next();
      if (event.event?.startsWith("message.")) types.push(event.event);
    }
    assertEquals(types, ["message.delivered", "message.delivered", "message.displayed"]);

    const row = await (await a.request(`/v1/messages/${messageId}`)).json();
    assertEquals([row.status, row.contentType], ["delivered", "message/cpim"]);
    // A keeps the CPIM document it sent: its content, not `text` (which is for text/*).
    assertEquals([row.text, row.contentUrl], [undefined, `/v1/messages/${messageId}/content`]);
    const sentContent = await a.request(row.contentUrl);
    assertEquals(sentContent.headers.get("content-type"), "message/cpim");
    const sentCpim = parseCpim(new Uint8Array(await sentContent.arrayBuffer()));
    assertEquals(new TextDecoder().decode(sentCpim.body), "Hello B");
    assertEquals(imdnRequestOf(sentCpim)?.messageId, row.imdn.messageId);
    assertEquals(row.imdn.requested, ["positive-delivery", "negative-delivery", "display"]);
    assertEquals([row.imdn.delivery, row.imdn.display], ["delivered", "displayed"]);
    const rowB = await (await b.request(`/v1/messages/${idInB}`)).json();
    assertEquals([rowB.imdn.delivery, rowB.imdn.display], ["delivered", "displayed"]);
    // B's notifications are not messages received by A, and B publishes none of its own.
    assertEquals(eventsOf(hooksA, "message.received").length, 0);
    assertEquals(eventsOf(hooksB, "message.displayed").length, 0);
  } finally {
    await sse.close();
  }
});

Deno.test("api imdn: 409 for a message that did not ask for display, 422 for a peer without CPIM", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, session } = await openPeerSession(h, peer, {});
  await session.send("plain text", { contentType: "text/plain" }).done;
  let incoming = "";
  await waitUntil(async () => {
    const page = await (await h.request(`/v1/sessions/${id}/messages`)).json();
    incoming = page.items.find((m: { direction: string }) => m.direction === "in")?.id ?? "";
    return incoming !== "";
  }, "the message to be stored");
  const refused = await h.request(`/v1/messages/${incoming}/displayed`, { method: "POST" });
  assertEquals(refused.status, 409);
  assertEquals((await refused.json()).type, "https://msrp-bridge.dev/problems/imdn-not-requested");
  const missing = await h.request("/v1/messages/nope/displayed", { method: "POST" });
  assertEquals(missing.status, 404);
  await missing.body?.cancel();

  const bad = await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: "x",
    imdn: ["sometimes"],
  });
  assertEquals(bad.status, 422);
  await bad.body?.cancel();

  // A peer whose SDP accepts only text/plain is refused CPIM.
  await using textOnly = peerEndpoint();
  const narrow = await negotiatePeer(
    textOnly,
    { offer: { acceptTypes: ["text/plain"] } },
    async (offer) => {
      const created = await h.json("POST", "/v1/sessions", { offer });
      return await created.json();
    },
  );
  const unaccepted = await h.json("POST", `/v1/sessions/${narrow.id}/messages`, {
    text: "x",
    imdn: ["display"],
  });
  assertEquals(unaccepted.status, 422);
  const problem = await unaccepted.json();
  assertEquals(problem.field, "imdn");
  assertEquals(problem.detail.includes("did not accept message/cpim"), true);
});

Deno.test("api imdn: text and content types cannot add CPIM header lines", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, received } = await openPeerSession(h, peer, {});
  const hostile = "x\r\n\r\nFrom: <im:evil@x>\r\nimdn.Message-ID: forged\r\n";
  const sent = await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: hostile,
    imdn: ["display"],
  });
  assertEquals(sent.status, 202);
  await sent.body?.cancel();
  await waitUntil(() => received.length === 1, "the peer to receive it");
  const cpim = parseCpim(received[0].body());
  assertEquals(new TextDecoder().decode(cpim.body), hostile, "the text stays body");
  assertEquals(cpim.headers.filter(([n]) => n === "From").length, 1);
  assertEquals(imdnRequestOf(cpim)?.messageId === "forged", false);
  const injected = await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: "x",
    contentType: "text/plain\r\nX-Evil: 1",
    imdn: ["display"],
  });
  assertEquals(injected.status, 422);
  await injected.body?.cancel();
});
