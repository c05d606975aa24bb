/**
 * API load: text messages POSTed to the HTTP API at a fixed rate (1 000/s by
 * default) for a bounded time, delivered over MSRP to a peer on loopback;
 * reports achieved rate and API-to-peer latency percentiles. The bridge, its
 * API and the peer run in this process on 127.0.0.1. Writes
 * bench/results/api_load.json.
 *
 * Run: `deno run -A bench/api_load.ts [--rate N] [--seconds S]` (60 s with `--full`)
 *
 * @module
 */

import { createApp } from "../src/api/mod.ts";
import { loadConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { buildAnswer } from "../src/sdp/mod.ts";
import { Bridge } from "../src/service.ts";
import { type MessageEvent, MsrpEndpoint } from "../src/session/mod.ts";
import { machine, writeResult } from "./_util.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const rate = arg("--rate", 1000);
const seconds = Deno.args.includes("--full") ? 60 : arg("--seconds", 10);

const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-load-" });
const config = loadConfig({ DATA_DIR: dir, MSRP_PORT: "0", ESL_MODE: "off", LOG_LEVEL: "error" });
const bridge = new Bridge(config, new Logger("error"));
await bridge.start();
const app = createApp(bridge, config);
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req, info) => app.fetch(req, { info }),
);
const base = `http://127.0.0.1:${server.addr.port}`;
const peer = new MsrpEndpoint({ port: 0 }).listen();
const peerSession = peer.createSession();

const { id, offer } = await (await fetch(`${base}/v1/sessions`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ createOffer: true }),
})).json();
const { sdp: answer } = buildAnswer(offer, {
  path: peerSession.localPath,
  address: "127.0.0.1",
  port: peer.port,
  acceptTypes: ["*"],
});
await fetch(`${base}/v1/sessions/${id}/answer`, {
  method: "PUT",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ answer }),
}).then((r) => r.body?.cancel());

// Each text carries its send time; the peer measures API-to-peer latency.
const latencies: number[] = [];
peerSession.addEventListener("message", (e) => {
  const sentAt = Number((e as MessageEvent).message.text());
  latencies.push(performance.now() - sentAt);
});

const total = rate * seconds;
const started = performance.now();
let failures = 0;
const requests: Promise<void>[] = [];
for (let n = 0; n < total; n++) {
  const due = started + (n * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  requests.push(
    fetch(`${base}/v1/sessions/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: String(performance.now()) }),
    }).then(async (r) => {
      if (r.status !== 202) failures++;
      await r.body?.cancel();
    }, () => {
      failures++;
    }),
  );
}
await Promise.all(requests);
const deadline = performance.now() + 30_000;
while (latencies.length < total - failures && performance.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
const elapsed = (performance.now() - started) / 1000;
const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p: number) => Number((sorted[Math.floor((sorted.length - 1) * p)] ?? NaN).toFixed(2));

await writeResult("api_load", {
  date: new Date().toISOString(),
  machine: await machine(),
  targetRate: rate,
  seconds,
  sent: total,
  httpFailures: failures,
  delivered: latencies.length,
  achievedRate: Math.round(latencies.length / elapsed),
  latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: pct(1) },
  target: { p99LatencyMs: 2, rate: 1000 },
  rssMB: Math.round(Deno.memoryUsage().rss / 1e6),
});

await peer.close();
await bridge.stop();
await server.shutdown();
await Deno.remove(dir, { recursive: true });
