import { assert, assertEquals } from "../_assert.ts";
import { EventStreamReader, type Harness, startHarness } from "./_harness.ts";

/** Creates an offered session and closes it: one `session.ended` event. */
async function endOne(h: Harness): Promise<string> {
  const { id } = await (await h.json("POST", "/v1/sessions", { createOffer: true })).json();
  assertEquals((await h.request(`/v1/sessions/${id}`, { method: "DELETE" })).status, 204);
  return id;
}

async function open(h: Harness, lastEventId?: string): Promise<EventStreamReader> {
  const res = await h.request("/v1/events", {
    headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId },
  });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  return new EventStreamReader(res.body!);
}

Deno.test("api events: live events, then a resume with Last-Event-ID replays only later ones", async () => {
  await using h = await startHarness();
  const before = await endOne(h); // logged before anyone listens: not sent without Last-Event-ID

  const live = await open(h);
  const a = await endOne(h);
  const first = await live.next();
  assertEquals(first.event, "session.ended");
  const event = JSON.parse(first.data);
  assertEquals([event.type, event.data.sessionId, event.data.endReason], [
    "session.ended",
    a,
    "closed by API",
  ]);
  assert(/^[0-9]+$/.test(first.id ?? ""), "numeric id");
  await live.close();

  const b = await endOne(h); // happens while nobody listens
  const resumed = await open(h, first.id);
  const replayed = await resumed.next();
  assertEquals(JSON.parse(replayed.data).data.sessionId, b);
  assert(Number(replayed.id) > Number(first.id), "later id");
  const c = await endOne(h);
  const next = await resumed.next();
  assertEquals(JSON.parse(next.data).data.sessionId, c);
  assert(Number(next.id) > Number(replayed.id), "increasing ids");
  await resumed.close();

  const all = await open(h, "0");
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(JSON.parse((await all.next()).data).data.sessionId);
  assertEquals(ids, [before, a, b, c]);
  await all.close();

  const bad = await h.request("/v1/events", { headers: { "last-event-id": "abc" } });
  assertEquals(bad.status, 422);
  assertEquals((await bad.json()).field, "last-event-id");
});

Deno.test("api events: stopping the bridge ends open streams; /readyz then answers 503", async () => {
  await using h = await startHarness();
  const stream = await open(h);
  await h.bridge.stop();
  let ended = false;
  try {
    await stream.next();
  } catch {
    ended = true;
  }
  assert(ended, "the stream ended");
  const ready = await fetch(`${h.url}/readyz`);
  assertEquals(ready.status, 503);
  const problem = await ready.json();
  assertEquals(problem.type, "https://msrp-bridge.dev/problems/not-ready");
  assertEquals(problem.checks, { store: false, msrp: false, esl: "off" });
});
