/**
 * Memory of RFC 5547 file transfers of `--size` bytes (64 MiB and 1 GiB by
 * default) each way, the service (`src/main.ts`) and the peers running as separate
 * processes; each direction gets a fresh service, so its peak RSS
 * (`VmHWM` in `/proc/<pid>/status`) is that transfer's:
 *
 * - **received**: a peer offers a file push (`a=sendonly`, `a=file-selector`
 *   with its sha-1) with `POST /v1/sessions {"offer"}` and streams the file
 *   over MSRP; the service stores it and verifies the hash.
 * - **sent**: `POST /v1/files` with the file as a raw body (Content-Length);
 *   the service spools and hashes it, calls the peer through the PBX (an ESL
 *   double and a SIP UAS in the peer process) and streams it over MSRP; the
 *   peer checks the SHA-256 of what arrived.
 *
 * Writes bench/results/file_memory.json.
 *
 * Run: `deno run -A bench/file_memory.ts [--size BYTES]` (64 MiB, then 1 GiB, by default)
 *
 * @module
 */

import { createHash } from "node:crypto";
import { buildAnswer, buildOffer, type LocalMsrpOffer, parseAnswer } from "../src/sdp/mod.ts";
import { type IncomingMessageSink, MsrpEndpoint } from "../src/session/mod.ts";
import { apiClient } from "../test/_api_client.ts";
import { freePorts, startService } from "../test/_service_process.ts";
import { FakeFreeSwitch } from "../test/pbx/_fake_freeswitch.ts";
import { FakeUas } from "../test/pbx/_fake_uas.ts";
import { machine, writeResult } from "./_util.ts";

const PIECE = 1024 * 1024;
/** Above the transfers, so neither the offer nor the upload is refused for its size. */
const LIMIT = String(4 * 1024 ** 3);

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

/** 1 MiB of random bytes (getRandomValues gives 64 KiB at a time). */
function randomBlock(): Uint8Array {
  const block = new Uint8Array(PIECE);
  for (let i = 0; i < PIECE; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  return block;
}

/** `size` bytes in 1 MiB pieces: one random block, each piece stamped with its index. */
async function* content(size: number, block: Uint8Array): AsyncGenerator<Uint8Array> {
  let index = 0;
  for (let left = size; left > 0; left -= PIECE, index++) {
    const piece = block.slice(0, Math.min(left, PIECE));
    new DataView(piece.buffer).setUint32(0, index);
    yield piece;
  }
}

async function digest(
  algorithm: string,
  pieces: AsyncIterable<Uint8Array>,
): Promise<string> {
  const hash = createHash(algorithm);
  for await (const piece of pieces) hash.update(piece);
  return hash.digest("hex");
}

/** Peer process, `--peer push`: offers the file to the service at `--api` and sends it. */
async function pushPeer(api: string, size: number): Promise<void> {
  const block = randomBlock();
  const sha1 = (await digest("sha1", content(size, block))).toUpperCase().match(/../g)!.join(":");
  const endpoint = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const session = endpoint.createSession({ chunkSize: 64 * 1024 });
  const local: LocalMsrpOffer = {
    path: session.localPath,
    address: "127.0.0.1",
    port: endpoint.port,
    acceptTypes: ["application/octet-stream"],
    setup: "active",
    direction: "sendonly",
    fileTransfer: {
      selector: {
        name: "big.bin",
        type: "application/octet-stream",
        size,
        hash: { algorithm: "sha-1", value: sha1 },
      },
      transferId: crypto.randomUUID().replaceAll("-", ""),
    },
  };
  const created = await apiClient(api).json("POST", "/v1/sessions", { offer: buildOffer(local) });
  if (created.status !== 201) throw new Error(`POST /v1/sessions: ${created.status}`);
  const { id, answer } = await created.json();
  console.log(JSON.stringify({ sessionId: id }));
  await endpoint.connectSession(session, parseAnswer(answer, local).remotePath);
  const sent = await session.send(content(size, block), {
    contentType: "application/octet-stream",
    size,
  }).done;
  console.log(JSON.stringify({ status: sent.status }));
  await endpoint.close();
}

/**
 * Peer process, `--peer callee`: an ESL double and a SIP UAS that answers the
 * service's file offer; prints their ports, then the size and SHA-256 of the
 * file once it is in.
 */
async function calleePeer(): Promise<void> {
  const esl = new FakeFreeSwitch();
  const endpoint = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const done = Promise.withResolvers<{ bytes: number; sha256: string }>();
  const hash = createHash("sha256");
  let bytes = 0;
  const sink: IncomingMessageSink = {
    write(_offset, piece) {
      hash.update(piece);
      bytes += piece.length;
    },
    close() {
      done.resolve({ bytes, sha256: hash.digest("hex") });
    },
  };
  const callee = endpoint.createSession({
    acceptTypes: ["*"],
    maxMessageBytes: Number(LIMIT),
    sink: () => sink,
  });
  const uas = new FakeUas((invite) => ({
    status: 200,
    reason: "OK",
    sdp: buildAnswer(invite.body, {
      path: callee.localPath,
      address: "127.0.0.1",
      port: endpoint.port,
      acceptTypes: ["*"],
    }).sdp,
  }));
  console.log(JSON.stringify({ eslPort: esl.port, sipPort: uas.port }));
  console.log(JSON.stringify(await done.promise));
  await uas.request("BYE");
  await uas.close();
  await endpoint.close();
  await esl.close();
}

/** A peer process of this script and its stdout, one JSON object a line. */
function spawnPeer(args: string[]): { lines: AsyncIterator<string>; child: Deno.ChildProcess } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = (async function* () {
    let buffer = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        yield buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
      }
    }
  })();
  return { lines, child };
}

async function nextJson(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  const { value, done } = await lines.next();
  if (done) throw new Error("the peer process ended early");
  return JSON.parse(value);
}

/** Resident-set figures of `pid`, MB: now (`VmRSS`) and the peak so far (`VmHWM`). */
function memory(pid: number): { rssMB: number; peakMB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)![1]);
  return { rssMB: Math.round(kb("VmRSS") / 1024), peakMB: Math.round(kb("VmHWM") / 1024) };
}

async function poll<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function measureReceived(size: number): Promise<Record<string, unknown>> {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-file-in-" });
  const [httpPort, msrpPort] = freePorts(2);
  const service = await startService({
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    MSRP_PORT: String(msrpPort),
    MAX_MESSAGE_BYTES: LIMIT,
  });
  const pid = service.child.pid;
  const before = memory(pid);
  const started = performance.now();
  const peer = spawnPeer([
    "--peer",
    "push",
    "--api",
    `http://127.0.0.1:${httpPort}`,
    "--size",
    String(size),
  ]);
  const { sessionId } = await nextJson(peer.lines);
  const { status: peerStatus } = await nextJson(peer.lines);
  const message = await poll(async () => {
    const items = (await (await service.request(`/v1/sessions/${sessionId}/messages`)).json())
      .items;
    const m = items[0];
    return m && m.status !== "receiving" ? m : undefined;
  });
  const seconds = (performance.now() - started) / 1000;
  const after = memory(pid);
  await peer.child.status;
  await service.kill("SIGTERM");
  await Deno.remove(dataDir, { recursive: true });
  return {
    bytes: message.bytes,
    status: message.status,
    hashVerified: message.hashVerified,
    peerStatus,
    seconds: Number(seconds.toFixed(1)),
    MBps: Math.round(size / seconds / 1e6),
    serviceRssBeforeMB: before.rssMB,
    serviceRssPeakBeforeMB: before.peakMB,
    serviceRssPeakMB: after.peakMB,
    serviceRssGrowthMB: after.peakMB - before.rssMB,
  };
}

async function measureSent(size: number): Promise<Record<string, unknown>> {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-file-out-" });
  const peer = spawnPeer(["--peer", "callee"]);
  const { eslPort, sipPort } = await nextJson(peer.lines);
  const [httpPort, msrpPort] = freePorts(2);
  const service = await startService({
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    MSRP_PORT: String(msrpPort),
    MAX_MESSAGE_BYTES: LIMIT,
    MAX_UPLOAD_BYTES: LIMIT,
    ESL_MODE: "inbound",
    ESL_PORT: String(eslPort),
    SIP_URI: `sip:127.0.0.1:${sipPort};transport=tcp`,
  });
  const pid = service.child.pid;
  await poll(async () => {
    const ready = await service.request("/readyz");
    await ready.body?.cancel();
    return ready.ok ? true : undefined;
  });
  const before = memory(pid);
  const block = randomBlock();
  const started = performance.now();
  const query = new URLSearchParams({
    to: "sip:bob@127.0.0.1:5090",
    name: "big.bin",
    type: "application/octet-stream",
  });
  const hash = createHash("sha256");
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const piece of content(size, block)) {
      hash.update(piece);
      yield piece;
    }
  }
  const res = await service.upload(
    `/v1/files?${query}`,
    hashed(),
    size,
    "application/octet-stream",
  );
  if (res.status !== 202) throw new Error(`POST /v1/files: ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const received = await nextJson(peer.lines);
  const transfer = await poll(async () => {
    const t = await (await service.request(`/v1/files/${id}`)).json();
    return t.status === "sending" ? undefined : t;
  });
  const seconds = (performance.now() - started) / 1000;
  const after = memory(pid);
  await peer.child.status;
  await service.kill("SIGTERM");
  await Deno.remove(dataDir, { recursive: true });
  return {
    bytes: received.bytes,
    status: transfer.status,
    sha256Matches: received.sha256 === hash.digest("hex"),
    seconds: Number(seconds.toFixed(1)),
    MBps: Math.round(size / seconds / 1e6),
    serviceRssBeforeMB: before.rssMB,
    serviceRssPeakBeforeMB: before.peakMB,
    serviceRssPeakMB: after.peakMB,
    serviceRssGrowthMB: after.peakMB - before.rssMB,
  };
}

const role = arg("--peer");
if (role === "push") {
  await pushPeer(arg("--api")!, Number(arg("--size")));
} else if (role === "callee") {
  await calleePeer();
} else {
  // Two sizes by default, so the file shows whether the peak grows with the file.
  const sizes = arg("--size") ? [Number(arg("--size"))] : [64 * 1024 ** 2, 1024 ** 3];
  const runs = [];
  for (const size of sizes) {
    const received = await measureReceived(size);
    console.log(size, "received", received);
    const sent = await measureSent(size);
    console.log(size, "sent", sent);
    runs.push({ bytes: size, received, sent });
  }
  await writeResult("file_memory", {
    date: new Date().toISOString(),
    machine: await machine(),
    runs,
  });
}
