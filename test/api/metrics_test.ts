/**
 * `/metrics` after real traffic through the API harness: each message in,
 * out, refused by the peer or aborted by it moves exactly the counters it
 * should, by exactly its count and body bytes, and nothing else.
 *
 * @module
 */

import { assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { type Harness, openPeerSession, peerEndpoint, startHarness } from "./_harness.ts";

const enc = new TextEncoder();

/** Every sample of `/metrics`, by series (name and labels). */
async function metrics(h: Harness): Promise<Map<string, number>> {
  const res = await h.request("/metrics");
  assertEquals(res.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The series whose value changed from `before` to `after`, with the change. */
function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const changes: Record<string, number> = {};
  for (const series of new Set([...before.keys(), ...after.keys()])) {
    const change = (after.get(series) ?? 0) - (before.get(series) ?? 0);
    if (change !== 0) changes[series] = change;
  }
  return changes;
}

/** Waits until `series` has moved from `before` (a hang guard, not a timing check), then every change. */
async function movesAfter(
  h: Harness,
  before: Map<string, number>,
  series: string,
): Promise<Record<string, number>> {
  let after = before;
  await until(async () => {
    after = await metrics(h);
    return after.get(series) !== before.get(series);
  }, `${series} to move`);
  return moved(before, after);
}

Deno.test("api metrics: a message in, one out, one refused by the peer and one aborted by it move exactly their counters", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, session, received } = await openPeerSession(h, peer, {
    acceptTypes: ["text/plain"],
    chunkSize: 1024,
  });
  await session.ready;
  const idle = await metrics(h);
  assertEquals(
    [idle.get("msrp_bridge_sessions_open"), idle.get("msrp_bridge_msrp_connections")],
    [1, 1],
  );
  const info = [...idle].filter(([series]) => series.startsWith("msrp_bridge_instance_info"));
  assertEquals(info, [[
    `msrp_bridge_instance_info{instance="${h.config.instanceId}",database="sqlite"}`,
    1,
  ]]);

  // In: the peer sends a text to the bridge.
  const inText = "Grüße from the peer";
  assertEquals((await session.send(inText).done).status, "sent");
  assertEquals(
    await movesAfter(h, idle, 'msrp_bridge_messages_total{direction="in"}'),
    {
      'msrp_bridge_messages_total{direction="in"}': 1,
      'msrp_bridge_message_bytes_total{direction="in"}': enc.encode(inText).length,
    },
  );

  // Out: the API sends a text to the peer.
  const beforeOut = await metrics(h);
  const outText = "and back — über the API";
  const sent = await h.json("POST", `/v1/sessions/${id}/messages`, { text: outText });
  assertEquals(sent.status, 202);
  await sent.body?.cancel();
  assertEquals(
    await movesAfter(h, beforeOut, 'msrp_bridge_messages_total{direction="out"}'),
    {
      'msrp_bridge_messages_total{direction="out"}': 1,
      'msrp_bridge_message_bytes_total{direction="out"}': enc.encode(outText).length,
    },
  );
  assertEquals(received.map((m) => m.text()), [outText]);

  // Refused: the peer accepts only text/plain and answers 415 (RFC 4975 §7.3.1).
  const beforeRefused = await metrics(h);
  const refused = await h.json("POST", `/v1/sessions/${id}/messages`, {
    text: "{}",
    contentType: "application/json",
  });
  assertEquals(refused.status, 202);
  await refused.body?.cancel();
  assertEquals(
    await movesAfter(h, beforeRefused, 'msrp_bridge_message_failures_total{code="415"}'),
    { 'msrp_bridge_message_failures_total{code="415"}': 1 },
  );

  // Aborted: the peer's body fails after four chunks, so it ends the message with "#".
  const beforeAborted = await metrics(h);
  let pulls = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      if (++pulls === 5) c.error(new Error("the source failed"));
      else c.enqueue(new Uint8Array(1024).fill(65));
    },
  });
  const aborted = await session.send(failing, { contentType: "text/plain", size: 100_000 }).done;
  assertEquals(aborted.status, "failed");
  assertEquals(
    await movesAfter(h, beforeAborted, "msrp_bridge_incoming_failures_total"),
    { msrp_bridge_incoming_failures_total: 1 },
  );
});
