/**
 * Runs bench/codec_bench.ts with `deno bench --json` and writes MB/s and
 * frames/s per case to bench/results/codec.json.
 *
 * @module
 */

import { CASES } from "./codec_bench.ts";

interface BenchResult {
  name: string;
  results: { ok?: { avg: number; p75: number; p99: number } }[];
}

const out = await new Deno.Command(Deno.execPath(), {
  args: ["bench", "--json", "-A", new URL("./codec_bench.ts", import.meta.url).pathname],
  stdout: "piped",
  stderr: "inherit",
}).output();
if (!out.success) Deno.exit(1);
const report = JSON.parse(new TextDecoder().decode(out.stdout)) as { benches: BenchResult[] };

const rows = [];
for (const b of report.benches) {
  const avgNs = b.results[0]?.ok?.avg;
  if (avgNs === undefined) continue;
  const [op, name] = b.name.split(" ");
  const c = CASES[name as keyof typeof CASES];
  const frames = c?.frames ?? 10_000;
  const bytes = c ? c.bodySize * c.frames : 0;
  rows.push({
    bench: b.name,
    op,
    avgMs: avgNs / 1e6,
    framesPerSecond: Math.round(frames / (avgNs / 1e9)),
    bodyMBps: bytes ? Math.round(bytes / (avgNs / 1e9) / 1e6) : null,
  });
}
const result = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cpu: (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.*)/)
    ?.[1] ?? "unknown",
  rows,
};
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/codec.json", import.meta.url),
  JSON.stringify(result, null, 2) + "\n",
);
console.table(rows);
