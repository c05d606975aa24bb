/**
 * Small-message rate: pipelined text SENDs on one loopback connection, each
 * answered by a 200 (and, in the second case, a success REPORT). Writes
 * bench/results/messages.json.
 *
 * Run: `deno run -A bench/messages.ts [--count N]`
 *
 * @module
 */

import { MsrpEndpoint } from "../src/session/mod.ts";
import { machine, writeResult } from "./_util.ts";

const i = Deno.args.indexOf("--count");
const count = i >= 0 ? Number(Deno.args[i + 1]) : 100_000;

async function rate(successReport: boolean): Promise<number> {
  const rx = new MsrpEndpoint({ port: 0 }).listen();
  const tx = new MsrpEndpoint({ port: 0 }).listen();
  const b = rx.createSession();
  const a = tx.createSession();
  await tx.connectSession(a, [b.localUri]);
  const started = performance.now();
  const pending = [];
  for (let n = 0; n < count; n++) {
    pending.push(a.send("hello, this is message", { successReport }).done);
  }
  const results = await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  await tx.close();
  await rx.close();
  const failed = results.filter((r) => r.status === "failed").length;
  if (failed > 0) throw new Error(`${failed} messages failed`);
  return count / seconds;
}

const plain = await rate(false);
const reported = await rate(true);
await writeResult("messages", {
  date: new Date().toISOString(),
  machine: await machine(),
  count,
  target: { messagesPerSecond: 50_000 },
  sendTo200PerSecond: Math.round(plain),
  withSuccessReportPerSecond: Math.round(reported),
});
