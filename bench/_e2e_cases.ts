/**
 * One measurement each of the cases of `bench/e2e.ts`, every side its own
 * `deno run` process on loopback: the CLI (`src/cli.ts`) sending to a
 * library session or to the CLI's `listen`, pipelined small SENDs, the
 * baselines (raw TCP sender and receiver processes writing the same number
 * of bytes in the same write sizes, `dd` to the same disk), and the API and
 * session-count benchmarks run as they are.
 *
 * @module
 */

import { type Child, denoRun } from "./_proc.ts";

const here = (file: string): string => new URL(file, import.meta.url).pathname;
const CLI = here("../src/cli.ts");
const SINK_RECEIVER = here("./_sink_receiver.ts");
const RAW_RECEIVER = here("./_raw_receiver.ts");
const RAW_SENDER = here("./_raw_sender.ts");
const SMALL_SENDER = here("./_small_sender.ts");
const API_LOAD = here("./api_load.ts");
const SESSIONS = here("./sessions.ts");
/** The permissions of `deno task cli`. */
const CLI_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** Where a case runs and what it may add to its MSRP processes' `deno run`. */
export interface CaseContext {
  /** A scratch directory on the disk under test, emptied by the caller. */
  readonly dir: string;
  /** The file the CLI sends. */
  readonly file: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** Extra `deno run` flags of the MSRP process named (e.g. `--cpu-prof`). */
  denoArgs(role: string): string[];
  /** Records a child so that a failed or stuck case can stop it. */
  track(child: Child): Child;
}

/** A rate in MB/s (10^6 bytes per second). */
function mbps(bytes: number, ms: number): number {
  return bytes / ms / 1e3;
}

/** Raw TCP: a sender process writes `bytes` in `write`-byte writes to a receiver process. */
export async function rawStream(ctx: CaseContext, bytes: number, write: number): Promise<number> {
  const rx = ctx.track(denoRun("raw receiver", RAW_RECEIVER, ["--bytes", String(bytes)], {
    denoArgs: ["--allow-net"],
  }));
  const { port } = await rx.json<{ port: number }>(0);
  const tx = ctx.track(denoRun("raw sender", RAW_SENDER, [
    "--port",
    String(port),
    "--bytes",
    String(bytes),
    "--write",
    String(write),
  ], { denoArgs: ["--allow-net"] }));
  const sent = await tx.json<{ startAt: number }>(0);
  const got = await rx.json<{ bytes: number; lastAt: number }>(1);
  await Promise.all([tx.done(), rx.done()]);
  if (got.bytes !== bytes) throw new Error(`raw receiver got ${got.bytes} of ${bytes} bytes`);
  return mbps(bytes, got.lastAt - sent.startAt);
}

interface SendOutput {
  bytes: number;
  seconds: number;
  status: string;
  reason?: string;
  arrivedAt: number;
}

/** `cli send --file` to `to`; resolves with its report and when it started (epoch ms). */
async function cliSend(
  ctx: CaseContext,
  to: string,
  chunk: number,
  role: string,
): Promise<{ startAt: number; output: SendOutput; child: Child }> {
  const child = ctx.track(denoRun("cli send", CLI, [
    "send",
    "--to",
    to,
    "--file",
    ctx.file,
    "--chunk",
    String(chunk),
  ], { denoArgs: [...CLI_PERMISSIONS, ...ctx.denoArgs(role)] }));
  const output = await child.json<SendOutput>(0);
  if (output.status === "failed" || output.bytes !== ctx.bytes) {
    throw new Error(`cli send: ${JSON.stringify(output)}`);
  }
  // Its clock starts before it connects; its report arrives as it finishes.
  return { startAt: output.arrivedAt - output.seconds * 1000, output, child };
}

/**
 * Case 1 and 2: `cli send` of the file at `chunk` bytes per chunk to a
 * library session in another process whose sink discards; MB/s from the
 * sender's start to the receiver's last message.
 */
export async function cliToSink(ctx: CaseContext, chunk: number): Promise<number> {
  const rx = ctx.track(denoRun("sink receiver", SINK_RECEIVER, ["--messages", "1", "--sink"], {
    denoArgs: ["--allow-net", ...ctx.denoArgs(`sink-${chunk}`)],
  }));
  const { uri } = await rx.json<{ uri: string }>(0);
  const { startAt, child } = await cliSend(ctx, uri, chunk, `send-${chunk}`);
  const got = await rx.json<{ bytes: number; lastAt: number }>(1);
  await child.done();
  await rx.stop();
  if (got.bytes !== ctx.bytes) throw new Error(`sink got ${got.bytes} of ${ctx.bytes} bytes`);
  return mbps(ctx.bytes, got.lastAt - startAt);
}

/** Writes dirty pages back first, so that no case pays for an earlier one's writes. */
async function settleDisk(): Promise<void> {
  await new Deno.Command("sync").output();
}

/**
 * Case 3: `cli send` to `cli listen --dir` (which writes the file and its
 * sidecar, without fsync), after a `sync`; MB/s from the sender's start to the listener's
 * line saying the file is saved.
 */
export async function cliToDisk(ctx: CaseContext, chunk: number): Promise<number> {
  const dir = `${ctx.dir}/listen`;
  await settleDisk();
  const listen = ctx.track(denoRun("cli listen", CLI, ["listen", "--port", "0", "--dir", dir], {
    denoArgs: [...CLI_PERMISSIONS, ...ctx.denoArgs(`listen-${chunk}`)],
  }));
  const uri = (await listen.line(0)).text;
  const { startAt, child } = await cliSend(ctx, uri, chunk, `send-disk-${chunk}`);
  const saved = await listen.json<{ bytes: number; complete: boolean; arrivedAt: number }>(1);
  await child.done();
  await listen.stop();
  if (!saved.complete || saved.bytes !== ctx.bytes) {
    throw new Error(`listen saved ${JSON.stringify(saved)}`);
  }
  await Deno.remove(dir, { recursive: true });
  return mbps(ctx.bytes, saved.arrivedAt - startAt);
}

/**
 * Case 3's baseline: `dd` of as many bytes in 64 KiB writes into the same
 * directory, without fsync as `listen` does not sync (with `fdatasync`, for
 * information, when `sync`), after a `sync`; MB/s as dd reports its time.
 */
export async function ddWrite(ctx: CaseContext, sync = false): Promise<number> {
  const out = `${ctx.dir}/dd.bin`;
  await settleDisk();
  const count = `count=${Math.ceil(ctx.bytes / 65536)}`;
  const { success, stderr } = await new Deno.Command("dd", {
    args: ["if=/dev/zero", `of=${out}`, "bs=64K", count, ...(sync ? ["conv=fdatasync"] : [])],
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr);
  const m = /(\d+) bytes .*copied, ([\d.e+-]+) s/.exec(text);
  if (!success || !m) throw new Error(`dd: ${text}`);
  await Deno.remove(out);
  return mbps(Number(m[1]), Number(m[2]) * 1000);
}

/**
 * Case 4: `count` small SENDs pipelined on one connection into a library
 * session (messages kept in memory); messages per second from the first
 * write to the last 200.
 */
export async function smallSends(ctx: CaseContext, count: number): Promise<number> {
  const rx = ctx.track(denoRun("receiver", SINK_RECEIVER, ["--messages", String(count)], {
    denoArgs: ["--allow-net", ...ctx.denoArgs("small-receiver")],
  }));
  const { uri } = await rx.json<{ uri: string }>(0);
  const port = new URL(uri.replace(/^msrp:/, "http:")).port;
  const tx = ctx.track(denoRun("small sender", SMALL_SENDER, [
    "--port",
    port,
    "--to",
    uri,
    "--count",
    String(count),
  ], { denoArgs: ["--allow-net"] }));
  const sent = await tx.json<{ startAt: number; doneAt: number; ok: number; firstOther?: string }>(
    0,
  );
  await tx.done();
  await rx.json(1);
  await rx.stop();
  if (sent.ok !== count) throw new Error(`${sent.ok} of ${count} 200s; ${sent.firstOther}`);
  return count / (sent.doneAt - sent.startAt) * 1000;
}

/** Case 4's baseline: the same bytes in the same writes to a raw TCP receiver process. */
export async function smallSendsRaw(ctx: CaseContext, count: number): Promise<number> {
  const rx = ctx.track(denoRun("raw receiver", RAW_RECEIVER, [], { denoArgs: ["--allow-net"] }));
  const { port } = await rx.json<{ port: number }>(0);
  const tx = ctx.track(denoRun("small raw sender", SMALL_SENDER, [
    "--port",
    String(port),
    "--count",
    String(count),
    "--raw",
  ], { denoArgs: ["--allow-net"] }));
  const sent = await tx.json<{ startAt: number }>(0);
  const got = await rx.json<{ lastAt: number }>(1);
  await Promise.all([tx.done(), rx.done()]);
  return count / (got.lastAt - sent.startAt) * 1000;
}

/** What `bench/api_load.ts` measured (its JSON result). */
export interface ApiLoadResult {
  /** Messages POSTed. */
  readonly sent: number;
  /** Messages the peer received. */
  readonly delivered: number;
  /** POSTs not answered 202. */
  readonly httpFailures: number;
  /** Delivered per second. */
  readonly achievedRate: number;
  /** API-to-peer latency, ms. */
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/** Runs a benchmark script that writes `<name>.json` into a scratch directory; returns it. */
async function runBenchScript<T>(
  ctx: CaseContext,
  name: string,
  script: string,
  args: string[],
  denoArgs: string[],
): Promise<T> {
  const out = await Deno.makeTempDir({ dir: ctx.dir, prefix: name });
  const child = ctx.track(denoRun(name, script, args, {
    denoArgs: ["-A", ...denoArgs],
    env: { BENCH_RESULTS_DIR: out },
  }));
  await child.done();
  const result = JSON.parse(await Deno.readTextFile(`${out}/${name}.json`));
  await Deno.remove(out, { recursive: true });
  return result;
}

/** Case 5: `bench/api_load.ts` (the service as its own process) at `rate` msg/s for `seconds`. */
export function apiLoad(ctx: CaseContext, rate: number, seconds: number): Promise<ApiLoadResult> {
  return runBenchScript(ctx, "api_load", API_LOAD, [
    "--rate",
    String(rate),
    "--seconds",
    String(seconds),
  ], []);
}

/** Case 6: `bench/sessions.ts`; heap bytes per session per side. */
export async function sessionHeap(ctx: CaseContext, count: number): Promise<number> {
  const result = await runBenchScript<{ heapBytesPerSessionPerSide: number }>(
    ctx,
    "sessions",
    SESSIONS,
    ["--count", String(count)],
    ["--v8-flags=--expose-gc"],
  );
  return result.heapBytesPerSessionPerSide;
}
