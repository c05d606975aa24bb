/**
 * File-transfer throughput: one MSRP sender and one receiver session on
 * loopback TCP, 256 MiB (1 GiB with `--full`) at 2 KiB, 64 KiB and 1 MiB
 * chunks, against raw Deno TCP with the same write sizes in the same run.
 * Writes bench/results/throughput.json.
 *
 * Run: `deno run -A bench/throughput.ts [--full]`
 *
 * @module
 */

import { MsrpEndpoint } from "../src/session/mod.ts";
import { countingSink, machine, rawTcpMBps, writeResult } from "./_util.ts";

const total = Deno.args.includes("--full") ? 1024 ** 3 : 256 * 1024 ** 2;

async function msrpMBps(chunkSize: number): Promise<number> {
  let received = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => resolveDone = r);
  const rx = new MsrpEndpoint({ port: 0 }).listen();
  const tx = new MsrpEndpoint({ port: 0, session: { chunkSize } }).listen();
  const b = rx.createSession({
    sink: () =>
      countingSink((n) => {
        received += n;
        if (received >= total) resolveDone();
      }),
  });
  const a = tx.createSession();
  await tx.connectSession(a, [b.localUri]);
  // A source of `total` bytes from one reused 1 MiB buffer, as a file read would give.
  const piece = new Uint8Array(1024 * 1024).fill(9);
  let left = total;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (left === 0) return c.close();
      const n = Math.min(left, piece.length);
      left -= n;
      c.enqueue(piece.subarray(0, n));
    },
  });
  const started = performance.now();
  const result = await a.send(source, { contentType: "application/octet-stream", size: total })
    .done;
  await done;
  const seconds = (performance.now() - started) / 1000;
  await tx.close();
  await rx.close();
  if (result.status === "failed") throw new Error(`transfer failed: ${result.reason}`);
  return total / seconds / 1e6;
}

const rows = [];
for (const size of [2 * 1024, 64 * 1024, 1024 * 1024]) {
  const raw = await rawTcpMBps(total, size);
  const msrp = await msrpMBps(size);
  rows.push({
    chunkBytes: size,
    msrpMBps: Math.round(msrp),
    rawTcpMBps: Math.round(raw),
    ratio: Number((msrp / raw).toFixed(3)),
  });
  console.error(rows.at(-1));
}
await writeResult("throughput", {
  date: new Date().toISOString(),
  machine: await machine(),
  totalBytes: total,
  targets: { "64KiB ratio": 0.5, "2KiB MBps": 500 },
  rows,
});
