/**
 * Shared pieces of the end-to-end benchmarks: a counting sink, raw TCP
 * baselines, machine facts and JSON result files.
 *
 * @module
 */

import type { IncomingMessageSink } from "../src/session/mod.ts";

/** A sink that counts bytes and keeps nothing. */
export function countingSink(onBytes: (n: number) => void): IncomingMessageSink {
  return {
    write(_offset, bytes) {
      onBytes(bytes.length);
    },
    close() {},
  };
}

/** Sends `total` bytes over raw loopback TCP in `writeSize` writes; returns MB/s. */
export async function rawTcpMBps(total: number, writeSize: number): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = (async () => {
    const conn = await listener.accept();
    let n = 0;
    const buf = new Uint8Array(64 * 1024);
    while (n < total) {
      const r = await conn.read(buf);
      if (r === null) break;
      n += r;
    }
    conn.close();
    return n;
  })();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const chunk = new Uint8Array(writeSize).fill(7);
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const piece = chunk.subarray(0, Math.min(writeSize, total - sent));
    let done = 0;
    while (done < piece.length) done += await client.write(piece.subarray(done));
    sent += piece.length;
  }
  const n = await received;
  const seconds = (performance.now() - started) / 1000;
  client.close();
  listener.close();
  return n / seconds / 1e6;
}

/** Facts about the machine for result files. */
export async function machine(): Promise<Record<string, unknown>> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
  return { cpu, cores: navigator.hardwareConcurrency, deno: Deno.version.deno, os: Deno.build.os };
}

/**
 * Writes `bench/results/<name>.json` (or `$BENCH_RESULTS_DIR/<name>.json`,
 * as `bench/e2e.ts` asks of the benchmarks it runs) and prints it.
 */
export async function writeResult(name: string, result: unknown): Promise<void> {
  const other = Deno.env.get("BENCH_RESULTS_DIR");
  const dir = other ? new URL(`file://${other}/`) : new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const text = JSON.stringify(result, null, 2) + "\n";
  await Deno.writeTextFile(new URL(`${name}.json`, dir), text);
  console.log(text);
}
