/**
 * The client process of `bench/cluster.ts`: MSRP peers that answer, and an
 * HTTP load generator. It opens `--sessions` sessions, session `i` offered
 * to instance `i mod n` of `--instances` (which then owns it), warms up, and
 * then keeps `--concurrency` `POST /v1/sessions/{id}/messages` (short JSON
 * texts) in flight for `--seconds`, sessions taken in turn. With `--route
 * owner` each request goes to its session's owner (a balancer that knows
 * owners); with `--route any` the instance changes after every round of the
 * sessions, so that with two instances half the requests reach the
 * instance that does not own the session and are forwarded.
 *
 * Prints JSON lines: `{"measuring": true}` as the measured run starts, then
 * the result: accepted and delivered messages, their rate from the first
 * request to the last delivery, the API answer (request → 202) and delivery
 * (request → peer) latency percentiles, and how many requests went to a
 * non-owner.
 *
 * Run: `deno run -A bench/_cluster_client.ts --instances URL[,URL] --sessions N
 * --route any|owner --concurrency C --seconds S [--warmup S]` (`API_TOKEN` from the environment)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { apiClient } from "../test/_api_client.ts";
import { negotiatePeer } from "../test/bridge/_peer.ts";
import { type MessageEvent, MsrpEndpoint } from "../src/session/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    instances: { type: "string" },
    sessions: { type: "string", default: "8" },
    route: { type: "string", default: "any" },
    concurrency: { type: "string", default: "32" },
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
  },
});
const urls = (values.instances ?? "").split(",").filter(Boolean);
if (urls.length === 0) throw new Error("--instances URL[,URL] is required");
if (values.route !== "any" && values.route !== "owner") throw new Error("--route any|owner");
const token = Deno.env.get("API_TOKEN");
const clients = urls.map((url) => apiClient(url, token));
const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
/** A hang guard for the deliveries of one run, not a timing check. */
const DRAIN_GUARD_MS = 120_000;

const peer = new MsrpEndpoint({ port: 0 }).listen();
/** Send time (`performance.now()`) of each text, by text; the peer takes them out. */
const pending = new Map<string, number>();
const deliveryMs: number[] = [];
let lastDeliveryAt = 0;
const sessions: { id: string; owner: number }[] = [];
for (let i = 0; i < Number(values.sessions); i++) {
  const owner = i % clients.length;
  const client = clients[owner];
  const { id, session } = await negotiatePeer(peer, {}, async (offer) => {
    const res = await client.json("POST", "/v1/sessions", { offer });
    if (res.status !== 201) throw new Error(`POST /v1/sessions: ${res.status} ${await res.text()}`);
    return await res.json();
  });
  session.addEventListener("message", (e) => {
    const text = (e as MessageEvent).message.text();
    const sentAt = pending.get(text);
    if (sentAt === undefined) return;
    pending.delete(text);
    lastDeliveryAt = performance.now();
    deliveryMs.push(lastDeliveryAt - sentAt);
  });
  sessions.push({ id, owner });
}

/** Requests to a non-owner, answers other than 202, and answer latencies of one run. */
interface RunStats {
  accepted: number;
  forwarded: number;
  failures: number;
  firstError?: string;
  answerMs: number[];
}

/** Keeps `concurrency` requests in flight for `seconds`; returns once all are answered. */
async function run(seconds: number, tag: string): Promise<RunStats> {
  const stats: RunStats = { accepted: 0, forwarded: 0, failures: 0, answerMs: [] };
  const end = performance.now() + seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const n = next++;
      const session = sessions[n % sessions.length];
      const target = values.route === "owner"
        ? session.owner
        : Math.floor(n / sessions.length) % clients.length;
      if (target !== session.owner) stats.forwarded++;
      const text = `${tag}${n}`;
      const sentAt = performance.now();
      pending.set(text, sentAt);
      try {
        const res = await fetch(`${urls[target]}/v1/sessions/${session.id}/messages`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ text }),
        });
        const body = await res.text();
        stats.answerMs.push(performance.now() - sentAt);
        if (res.status === 202) stats.accepted++;
        else {
          stats.failures++;
          pending.delete(text);
          stats.firstError ??= `${res.status} ${body.slice(0, 200)}`;
        }
      } catch (e) {
        stats.failures++;
        pending.delete(text);
        stats.firstError ??= String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  return stats;
}

/** Waits until every accepted text reached the peer (or the guard passes). */
async function drain(): Promise<void> {
  const guard = performance.now() + DRAIN_GUARD_MS;
  while (pending.size > 0 && performance.now() < guard) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => Number((sorted[Math.floor((sorted.length - 1) * p)] ?? NaN).toFixed(2));
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

await run(Number(values.warmup), "w");
await drain();
pending.clear();
deliveryMs.length = 0;

console.log(JSON.stringify({ measuring: true }));
const started = performance.now();
const stats = await run(Number(values.seconds), "m");
const answeredAt = performance.now();
await drain();
const delivered = deliveryMs.length;
console.log(JSON.stringify({
  sessions: sessions.length,
  instances: urls.length,
  route: values.route,
  concurrency: Number(values.concurrency),
  seconds: Number(values.seconds),
  accepted: stats.accepted,
  httpFailures: stats.failures,
  firstError: stats.firstError,
  delivered,
  undelivered: pending.size,
  forwardedShare: Number(
    (stats.forwarded / Math.max(1, stats.accepted + stats.failures)).toFixed(3),
  ),
  acceptedPerSecond: Math.round(stats.accepted / ((answeredAt - started) / 1000)),
  messagesPerSecond: Math.round(delivered / ((lastDeliveryAt - started) / 1000)),
  answerLatencyMs: percentiles(stats.answerMs),
  deliveryLatencyMs: percentiles(deliveryMs),
}));
await peer.close();
