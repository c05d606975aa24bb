/**
 * Scale: N concurrent sessions (10 000 by default) between two endpoints on
 * one shared loopback connection, each bound by its first SEND, and the heap
 * each session costs on both sides. Writes bench/results/sessions.json.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/sessions.ts [--count N]`
 *
 * @module
 */

import { MsrpEndpoint, type MsrpSession } from "../src/session/mod.ts";
import { machine, writeResult } from "./_util.ts";

const i = Deno.args.indexOf("--count");
const count = i >= 0 ? Number(Deno.args[i + 1]) : 10_000;
const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  gc?.();
  return Deno.memoryUsage().heapUsed;
}

const rx = new MsrpEndpoint({ port: 0, maxSessions: count + 1 }).listen();
const tx = new MsrpEndpoint({ port: 0, maxSessions: count + 1 }).listen();
const before = heap();
const started = performance.now();
const pairs: [MsrpSession, MsrpSession][] = [];
for (let n = 0; n < count; n += 500) {
  const batch = [];
  for (let k = n; k < Math.min(count, n + 500); k++) {
    const b = rx.createSession();
    const a = tx.createSession();
    pairs.push([a, b]);
    batch.push(tx.connectSession(a, [b.localUri], { reuse: true }));
  }
  await Promise.all(batch);
}
const setupSeconds = (performance.now() - started) / 1000;
const after = heap();
// Every session still works: one message each way on a sample.
for (const [a, b] of pairs.filter((_, k) => k % 1000 === 0)) {
  const got = new Promise((resolve) => b.addEventListener("message", resolve, { once: true }));
  await a.send("ping").done;
  await got;
}
await writeResult("sessions", {
  date: new Date().toISOString(),
  machine: await machine(),
  sessions: count,
  connections: tx.connectionCount,
  setupSeconds: Number(setupSeconds.toFixed(2)),
  heapBytesPerSessionBothSides: Math.round((after - before) / count),
  heapBytesPerSessionPerSide: Math.round((after - before) / count / 2),
  gcForced: gc !== undefined,
  target: { heapBytesPerSession: 20_000 },
});
await tx.close();
await rx.close();
