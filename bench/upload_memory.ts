/**
 * Memory of a large upload: the service (`src/main.ts`) and a CLI `listen`
 * peer run as separate processes; `--size` bytes are POSTed to the
 * API as a stream with a Content-Length (as curl or a browser sends a file) and
 * delivered over MSRP to the peer (2 GiB by default). Samples the service's
 * RSS from /proc and writes bench/results/upload_memory.json.
 *
 * Run: `deno run -A bench/upload_memory.ts [--size BYTES]`
 *
 * @module
 */

import { buildAnswer } from "../src/sdp/mod.ts";
import { machine, writeResult } from "./_util.ts";
import { freePorts, startService } from "../test/_service_process.ts";

const i = Deno.args.indexOf("--size");
const size = i >= 0 ? Number(Deno.args[i + 1]) : 2 * 1024 ** 3;
const root = new URL("../", import.meta.url);
const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-upload-" });

const [httpPort, msrpPort] = freePorts(2);
const service = await startService({
  DATA_DIR: dataDir,
  HTTP_PORT: String(httpPort),
  MSRP_PORT: String(msrpPort),
});
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

function rssMB(): number {
  const status = Deno.readTextFileSync(`/proc/${service.child.pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const { id, offer } = await (await service.json("POST", "/v1/sessions", { createOffer: true }))
  .json();
const { sdp: answer } = buildAnswer(offer, {
  path: [peerUri],
  address: "127.0.0.1",
  port: Number(/:(\d+)\//.exec(peerUri)![1]),
  acceptTypes: ["*"],
});
await service.json("PUT", `/v1/sessions/${id}/answer`, { answer }).then((r) => r.body?.cancel());

const before = rssMB();
let peak = before;
const sampler = setInterval(() => peak = Math.max(peak, rssMB()), 100);
const piece = new Uint8Array(1024 * 1024).fill(42);
const started = performance.now();
async function* pieces(): AsyncGenerator<Uint8Array> {
  for (let left = size; left > 0; left -= piece.length) {
    yield piece.subarray(0, Math.min(left, piece.length));
  }
}
const res = await service.upload(
  `/v1/sessions/${id}/messages?report=true`,
  pieces(),
  size,
  "application/octet-stream",
);
const { messageId } = await res.json();
let status = "";
while (!["delivered", "sent", "failed"].includes(status)) {
  await new Promise((r) => setTimeout(r, 200));
  status = (await (await service.request(`/v1/messages/${messageId}`)).json()).status;
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

await service.kill("SIGTERM");
peer.kill("SIGTERM");
await peerLines.cancel();
await peer.status;
await Deno.remove(dataDir, { recursive: true });
await Deno.remove(peerDir, { recursive: true });
