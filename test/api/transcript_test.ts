/**
 * What the operator console builds a transcript from: a session's messages
 * in both directions with status and short text (`GET /v1/sessions/{id}/messages`),
 * and the peer's composing state as `session.composing` events (RFC 3994).
 */

import { assert, assertEquals } from "../_assert.ts";
import { buildIsComposing, IS_COMPOSING_TYPE } from "../../plugins/is-composing.ts";
import type { MessageView } from "../../src/api/views.ts";
import {
  EventStreamReader,
  type Harness,
  openPeerSession,
  peerEndpoint,
  startHarness,
  waitUntil,
} from "./_harness.ts";

async function events(h: Harness): Promise<EventStreamReader> {
  const res = await h.request("/v1/events");
  assertEquals(res.status, 200);
  return new EventStreamReader(res.body!);
}

/** The next event of `type`, skipping others. */
async function nextOf(reader: EventStreamReader, type: string) {
  while (true) {
    const e = await reader.next();
    if (e.event === type) return JSON.parse(e.data);
  }
}

Deno.test("api transcript: a session's messages list sent and received text with status, plugin replies included", async () => {
  await using h = await startHarness({ PLUGINS: "echo", PLUGIN_ECHO_PREFIX: "echo: " });
  await using peer = peerEndpoint();
  const p = await openPeerSession(h, peer);
  const stream = await events(h);

  // Sent through the API, with a success REPORT asked for.
  const sent = await h.json("POST", `/v1/sessions/${p.id}/messages`, {
    text: "<b>from the API</b>",
    report: true,
  });
  assertEquals(sent.status, 202);
  const { messageId: apiId } = await sent.json();
  // Received from the peer; the echo plugin answers it in the same session.
  await p.session.send("from the peer").done;
  // Binary content is listed without text.
  const blob = await h.request(`/v1/sessions/${p.id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array([0, 1, 2, 3]),
  });
  assertEquals(blob.status, 202);
  const { messageId: blobId } = await blob.json();

  const settled = new Map<string, string>();
  while (settled.size < 3) {
    const e = await stream.next();
    const data = JSON.parse(e.data).data;
    if (e.event === "message.delivered" && data.direction === "out") {
      settled.set(data.messageId, data.status);
    }
  }
  await stream.close();
  assertEquals(settled.get(apiId), "delivered");
  assertEquals(settled.get(blobId), "sent");
  await waitUntil(() => p.received.length === 3, "the three messages at the peer");

  const res = await h.request(`/v1/sessions/${p.id}/messages`);
  assertEquals(res.status, 200);
  const items: MessageView[] = (await res.json()).items;
  const byId = new Map(items.map((m) => [m.id, m]));
  const api = byId.get(apiId)!;
  assertEquals([api.direction, api.status, api.text], ["out", "delivered", "<b>from the API</b>"]);
  const fromPeer = items.find((m) => m.direction === "in")!;
  assertEquals([fromPeer.status, fromPeer.text], ["received", "from the peer"]);
  const echo = items.find((m) => m.direction === "out" && m.id !== apiId && m.id !== blobId)!;
  assertEquals([echo.status, echo.text], ["sent", "echo: from the peer"]);
  const binary = byId.get(blobId)!;
  assertEquals([binary.contentType, binary.text, binary.contentUrl], [
    "application/octet-stream",
    undefined,
    null,
  ]);

  // One message shows the same; the sent text is also served as content.
  const one = await (await h.request(`/v1/messages/${apiId}`)).json();
  assertEquals(one.text, "<b>from the API</b>");
  const content = await h.request(api.contentUrl!);
  assertEquals(content.status, 200);
  assertEquals(content.headers.get("content-type"), "text/plain");
  assertEquals(await content.text(), "<b>from the API</b>");
});

Deno.test("api transcript: with is-composing on, the peer's indications arrive as session.composing events", async () => {
  await using h = await startHarness({ PLUGINS: "is-composing" });
  await using peer = peerEndpoint();
  const p = await openPeerSession(h, peer);
  const stream = await events(h);

  const active = buildIsComposing({ state: "active", contentType: "text/plain", refresh: 60 });
  await p.session.send(active, { contentType: IS_COMPOSING_TYPE }).done;
  const first = await nextOf(stream, "session.composing");
  assertEquals(first.type, "session.composing");
  assertEquals(first.data, {
    sessionId: p.id,
    from: null,
    to: null,
    fromDisplay: null,
    callId: null,
    state: "active",
    refresh: 60,
    contentType: "text/plain",
    lastActive: null,
  });

  const lastActive = new Date("2025-05-07T10:00:00.000Z");
  await p.session.send(buildIsComposing({ state: "idle", lastActive }), {
    contentType: IS_COMPOSING_TYPE,
  }).done;
  const second = await nextOf(stream, "session.composing");
  assertEquals([second.data.state, second.data.refresh, second.data.lastActive], [
    "idle",
    null,
    lastActive.toISOString(),
  ]);

  // Indications are consumed by the plugin: no message.received for them.
  await p.session.send("done typing").done;
  const received = await nextOf(stream, "message.received");
  assertEquals(received.data.text, "done typing");
  await stream.close();
});

Deno.test("api transcript: without the is-composing plugin no session.composing is published", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const p = await openPeerSession(h, peer);
  const stream = await events(h);
  await p.session.send(buildIsComposing({ state: "active" }), { contentType: IS_COMPOSING_TYPE })
    .done;
  const seen: string[] = [];
  let data;
  do {
    const e = await stream.next();
    seen.push(e.event ?? "");
    data = JSON.parse(e.data).data;
  } while (seen.at(-1) !== "message.received");
  assert(!seen.includes("session.composing"), seen.join());
  assertEquals(data.contentType, IS_COMPOSING_TYPE);
  await stream.close();
});
