/**
 * Message and byte counts of sessions through the API: `GET /v1/sessions`
 * and `GET /v1/sessions/{id}` with a live MSRP peer, and the counts already
 * up to date when a message event is streamed.
 */

import { assert, assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { Random } from "../_random.ts";
import {
  EventStreamReader,
  type Harness,
  openPeerSession,
  peerEndpoint,
  startHarness,
} from "./_harness.ts";

interface Counts {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  messagesFailed: number;
}

async function countsOf(h: Harness, id: string): Promise<Counts> {
  const res = await h.request(`/v1/sessions/${id}`);
  assertEquals(res.status, 200);
  const s = await res.json();
  return {
    messagesIn: s.messagesIn,
    bytesIn: s.bytesIn,
    messagesOut: s.messagesOut,
    bytesOut: s.bytesOut,
    messagesFailed: s.messagesFailed,
  };
}

/** Polls `GET path` until `done` holds for its JSON; the last answer. */
async function pollUntil<T>(h: Harness, path: string, done: (body: T) => boolean): Promise<T> {
  let body: T | undefined;
  await until(async () => done(body = await (await h.request(path)).json() as T), `GET ${path}`);
  return body!;
}

Deno.test("api sessions: message and byte counts each way, failures apart, in show and list", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  // The peer takes text and PNG only: anything else it refuses with 415 (RFC 4975 §7.3.1).
  const { id, session } = await openPeerSession(h, peer, { acceptTypes: ["text/*", "image/png"] });
  assertEquals(await countsOf(h, id), {
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    messagesFailed: 0,
  });

  // In: a text and a 200 000-byte file from the peer.
  const png = new Random(2).bytes(200_000);
  await session.send("hello").done;
  await session.send(png, { contentType: "image/png" }).done;
  await pollUntil<Counts>(h, `/v1/sessions/${id}`, (c) => c.messagesIn === 2);

  // Out: a reply confirmed by a REPORT, and one the peer refuses.
  const reply = await (await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: "hi there",
    report: true,
  })).json();
  const refused = await (await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: "<x/>",
    contentType: "application/xml",
  })).json();
  const final = (m: { status: string }) => m.status === "delivered" || m.status === "failed";
  const replied = await pollUntil(h, `/v1/messages/${reply.messageId}`, final);
  const refusal = await pollUntil(h, `/v1/messages/${refused.messageId}`, final);
  assertEquals([replied.status, refusal.status], ["delivered", "failed"]);

  const expected = {
    messagesIn: 2,
    bytesIn: 5 + 200_000,
    messagesOut: 1,
    bytesOut: 8,
    messagesFailed: 1,
  };
  assertEquals(await countsOf(h, id), expected);
  const list = await (await h.request("/v1/sessions")).json();
  assertEquals(list.items.length, 1);
  const { messagesIn, bytesIn, messagesOut, bytesOut, messagesFailed } = list.items[0];
  assertEquals({ messagesIn, bytesIn, messagesOut, bytesOut, messagesFailed }, expected);

  const doc = await (await fetch(`${h.url}/openapi.json`)).json();
  const schema = doc.components.schemas.Session;
  for (const field of Object.keys(expected)) {
    assert(schema.required.includes(field), `${field} is required in the Session schema`);
    assertEquals(schema.properties[field].type, "integer", field);
  }
});

Deno.test("api sessions: a message event is streamed after the session's counts include it", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, session } = await openPeerSession(h, peer);
  const res = await h.request("/v1/events");
  const events = new EventStreamReader(res.body!);
  try {
    for (let n = 1; n <= 3; n++) {
      await session.send("x".repeat(n * 1000)).done;
      let event;
      do event = await events.next(); while (event.event !== "message.received");
      assertEquals(JSON.parse(event.data).data.sessionId, id);
      const counts = await countsOf(h, id);
      assertEquals([counts.messagesIn, counts.bytesIn], [n, 1000 * n * (n + 1) / 2]);
    }
  } finally {
    await events.close();
  }
});
