/**
 * API load: text messages POSTed to the HTTP API at a fixed rate (1 000/s by
 * default) for a bounded time, delivered over MSRP to a peer on loopback;
 * reports achieved rate, API answer and API-to-peer latency percentiles.
 * The service runs as its own process (`src/main.ts`, SQLite store in a
 * temporary DATA_DIR, as `deno task start` runs it); this process holds the
 * HTTP client and the MSRP peer. Writes bench/results/api_load.json.
 *
 * The first `--warmup` seconds (2) at the same rate are not measured: the
 * service's code is compiled as it first runs.
 *
 * Run: `deno run -A bench/api_load.ts [--rate N] [--seconds S] [--warmup S] [--profile DIR]`
 * (60 s with `--full`; `--profile` writes the service's CPU profile to DIR)
 *
 * @module
 */

import { buildAnswer } from "../src/sdp/mod.ts";
import { type MessageEvent, MsrpEndpoint } from "../src/session/mod.ts";
import { freePorts, startService } from "../test/_service_process.ts";
import { machine, writeResult } from "./_util.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const rate = arg("--rate", 1000);
const seconds = Deno.args.includes("--full") ? 60 : arg("--seconds", 10);
const warmup = arg("--warmup", 2);

const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-load-" });
const [httpPort, msrpPort] = freePorts(2);
const profile = Deno.args.indexOf("--profile");
const service = await startService(
  { DATA_DIR: dir, HTTP_PORT: String(httpPort), MSRP_PORT: String(msrpPort) },
  profile >= 0 ? ["--cpu-prof", `--cpu-prof-dir=${Deno.args[profile + 1]}`] : [],
);
const base = service.url;
const peer = new MsrpEndpoint({ port: 0 }).listen();
const peerSession = peer.createSession();

const { id, offer } = await (await service.json("POST", "/v1/sessions", { createOffer: true }))
  .json();
const { sdp: answer } = buildAnswer(offer, {
  path: peerSession.localPath,
  address: "127.0.0.1",
  port: peer.port,
  acceptTypes: ["*"],
});
await service.json("PUT", `/v1/sessions/${id}/answer`, { answer }).then((r) => r.body?.cancel());
await peerSession.ready;

// Each text carries its send time and whether it is measured; the peer
// measures API-to-peer latency.
const latencies: number[] = [];
let warmDelivered = 0;
peerSession.addEventListener("message", (e) => {
  const [phase, sentAt] = (e as MessageEvent).message.text().split(":");
  if (phase === "m") latencies.push(performance.now() - Number(sentAt));
  else warmDelivered++;
});

let failures = 0;
const answerMs: number[] = [];

/** POSTs `rate` texts a second for `seconds`; with `measured`, records their latencies. */
async function load(seconds: number, measured: boolean): Promise<number> {
  const count = rate * seconds;
  const started = performance.now();
  const requests: Promise<void>[] = [];
  for (let n = 0; n < count; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sentAt = performance.now();
    requests.push(
      fetch(`${base}/v1/sessions/${id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: `${measured ? "m" : "w"}:${sentAt}` }),
      }).then(async (r) => {
        if (measured) answerMs.push(performance.now() - sentAt);
        if (r.status !== 202 && measured) failures++;
        await r.body?.cancel();
      }, () => {
        if (measured) failures++;
      }),
    );
  }
  await Promise.all(requests);
  return count;
}

/** Resolves once `delivered()` reaches `count` (or after 30 s). */
async function deliveredAll(delivered: () => number, count: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (delivered() < count && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The service's code is compiled as it first runs: the warm-up is not measured.
const warmCount = await load(warmup, false);
await deliveredAll(() => warmDelivered, warmCount);
const started = performance.now();
const total = await load(seconds, true);
await deliveredAll(() => latencies.length, total - failures);
const elapsed = (performance.now() - started) / 1000;
function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const pct = (p: number) =>
    Number((sorted[Math.floor((sorted.length - 1) * p)] ?? NaN).toFixed(2));
  return { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: pct(1) };
}
const rssKB = Number(
  /VmRSS:\s+(\d+)/.exec(
    Deno.readTextFileSync(`/proc/${service.child.pid}/status`),
  )![1],
);

await writeResult("api_load", {
  date: new Date().toISOString(),
  machine: await machine(),
  targetRate: rate,
  seconds,
  warmupSeconds: warmup,
  sent: total,
  httpFailures: failures,
  delivered: latencies.length,
  achievedRate: Math.round(latencies.length / elapsed),
  answerLatencyMs: percentiles(answerMs),
  latencyMs: percentiles(latencies),
  target: { p99LatencyMs: 2, rate: 1000 },
  serviceRssMB: Math.round(rssKB / 1024),
});

await peer.close();
await service.kill("SIGTERM");
await Deno.remove(dir, { recursive: true });
