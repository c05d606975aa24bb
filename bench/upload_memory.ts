/**
 * Memory of a large upload: the service (`src/main.ts`) and a CLI `listen`
 * peer run as separate processes; `--size` bytes are POSTed to the
 * API as a stream and delivered over MSRP to the peer (256 MiB by default). Samples the service's
 * RSS from /proc and writes bench/results/upload_memory.json.
 *
 * Run: `deno run -A bench/upload_memory.ts [--size BYTES]`
 *
 * @module
 */

import { buildAnswer } from "../src/sdp/mod.ts";
import { machine, writeResult } from "./_util.ts";

const i = Deno.args.indexOf("--size");
const size = i >= 0 ? Number(Deno.args[i + 1]) : 256 * 1024 ** 2;
const root = new URL("../", import.meta.url);
const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-upload-" });

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

const httpPort = freePort();
const service = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("src/main.ts", root).pathname],
  env: {
    HTTP_PORT: String(httpPort),
    MSRP_PORT: String(freePort()),
    ESL_MODE: "off",
    DATA_DIR: dataDir,
    LOG_LEVEL: "error",
  },
  stdout: "null",
  stderr: "null",
}).spawn();
const peerDir = await Deno.makeTempDir();
const peer = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    new URL("src/cli.ts", root).pathname,
    "listen",
    "--port",
    "0",
    "--dir",
    peerDir,
  ],
  stdout: "piped",
  stderr: "null",
}).spawn();
const peerLines = peer.stdout.pipeThrough(new TextDecoderStream()).getReader();
let peerOut = "";
while (!peerOut.includes("\n")) peerOut += (await peerLines.read()).value ?? "";
const peerUri = peerOut.split("\n")[0];

const base = `http://127.0.0.1:${httpPort}`;
for (let tries = 0; tries < 100; tries++) {
  if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
  await new Promise((r) => setTimeout(r, 100));
}

function rssMB(): number {
  const status = Deno.readTextFileSync(`/proc/${service.pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const { id, offer } = await (await fetch(`${base}/v1/sessions`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ createOffer: true }),
})).json();
const { sdp: answer } = buildAnswer(offer, {
  path: [peerUri],
  address: "127.0.0.1",
  port: Number(/:(\d+)\//.exec(peerUri)![1]),
  acceptTypes: ["*"],
});
await fetch(`${base}/v1/sessions/${id}/answer`, {
  method: "PUT",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ answer }),
}).then((r) => r.body?.cancel());

const before = rssMB();
let peak = before;
const sampler = setInterval(() => peak = Math.max(peak, rssMB()), 100);
const piece = new Uint8Array(1024 * 1024).fill(42);
let left = size;
const started = performance.now();
const res = await fetch(`${base}/v1/sessions/${id}/messages?report=true`, {
  method: "POST",
  headers: { "content-type": "application/octet-stream", "content-length": String(size) },
  body: new ReadableStream<Uint8Array>({
    pull(c) {
      if (left === 0) return c.close();
      const n = Math.min(left, piece.length);
      left -= n;
      c.enqueue(piece.subarray(0, n));
    },
  }),
});
const { messageId } = await res.json();
let status = "";
while (!["delivered", "sent", "failed"].includes(status)) {
  await new Promise((r) => setTimeout(r, 200));
  status = (await (await fetch(`${base}/v1/messages/${messageId}`)).json()).status;
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);

await writeResult("upload_memory", {
  date: new Date().toISOString(),
  machine: await machine(),
  bytes: size,
  status,
  seconds: Number(seconds.toFixed(1)),
  MBps: Math.round(size / seconds / 1e6),
  serviceRssBeforeMB: Math.round(before),
  serviceRssPeakMB: Math.round(peak),
  serviceRssGrowthMB: Math.round(peak - before),
  target: { rssGrowthMB: 64 },
});

service.kill("SIGTERM");
peer.kill("SIGTERM");
await service.status;
await peerLines.cancel();
await peer.status;
await Deno.remove(dataDir, { recursive: true });
await Deno.remove(peerDir, { recursive: true });
