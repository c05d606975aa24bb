/**
 * End to end, every side its own process on loopback (issue 16's measuring
 * stick): the CLI sending a file to a library session that discards it (64
 * KiB and 2 KiB chunks) against raw TCP sender and receiver processes
 * writing as many bytes in the same write sizes; the CLI sending to the
 * CLI's `listen` writing to disk against `dd` to the same disk; pipelined
 * small SENDs into a library session against the same bytes over raw TCP;
 * API-to-peer latency at 1 000 msg/s and the highest rate keeping p99 ≤ 10
 * ms; heap per session with 10 000 sessions. Each round runs every baseline
 * right before its case (A B A B …); the table gives medians and the median
 * of the rounds' ratios. Writes bench/results/e2e.json (`--quick`:
 * e2e_quick.json) with every round's numbers.
 *
 * Run: `deno task bench:e2e [--quick] [--rounds N] [--cases 1,2,3,4,5,6]
 * [--profile DIR] [--label TEXT]` (`--profile` writes CPU profiles of the
 * MSRP processes of cases 1–4 into DIR)
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  apiLoad,
  type ApiLoadResult,
  type CaseContext,
  cliToDisk,
  cliToSink,
  ddWrite,
  rawStream,
  sessionHeap,
  smallSends,
  smallSendsRaw,
} from "./_e2e_cases.ts";
import { type Child, guarded, median } from "./_proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    cases: { type: "string", default: "1,2,3,4,5,6" },
    profile: { type: "string" },
    label: { type: "string" },
  },
});
const quick = values.quick;
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const cases = new Set(values.cases.split(","));
const MiB = 1024 * 1024;
const size = quick
  ? { file: 64 * MiB, small: 20_000, apiSeconds: 3, searchSeconds: 2, sessions: 2_000 }
  : { file: 512 * MiB, small: 100_000, apiSeconds: 10, searchSeconds: 5, sessions: 10_000 };
/** Rates tried upwards while p99 stays ≤ 10 ms; downwards when the first misses. */
const SEARCH_RATES = [500, 1000, 2000, 4000];
const SEARCH_RATES_BELOW = [250, 100];
/** A hang guard for one measurement, not a timing check. */
const CASE_GUARD_MS = 180_000;

/** One row of the table: a case measured in every round. */
interface Row {
  readonly id: string;
  readonly name: string;
  readonly unit: string;
  readonly baselineName?: string;
  readonly target: string;
  readonly met: (msrp: number, ratio: number | undefined) => boolean | undefined;
  readonly rounds: {
    msrp?: number;
    baseline?: number;
    ratio?: number;
    error?: string;
    ddFdatasync?: number;
  }[];
}

const fileLabel = `${size.file / MiB} MiB`;
const rows: Row[] = [
  {
    id: "1",
    name: `${fileLabel}, 64 KiB chunks: CLI send → library sink`,
    unit: "MB/s",
    baselineName: "raw TCP, 64 KiB writes",
    target: "≥ 0.5× raw TCP",
    met: (_, ratio) => (ratio ?? 0) >= 0.5,
    rounds: [],
  },
  {
    id: "2",
    name: `${fileLabel}, 2 KiB chunks: CLI send → library sink`,
    unit: "MB/s",
    baselineName: "raw TCP, 2 KiB writes",
    target: "≥ 500 MB/s",
    met: (msrp) => msrp >= 500,
    rounds: [],
  },
  {
    id: "3a",
    name: `${fileLabel}, 64 KiB: CLI send → CLI listen to disk`,
    unit: "MB/s",
    baselineName: "dd bs=64K, no fsync",
    target: "≥ 0.8× dd",
    met: (_, ratio) => (ratio ?? 0) >= 0.8,
    rounds: [],
  },
  {
    id: "3b",
    name: `${fileLabel}, 2 KiB: CLI send → CLI listen to disk`,
    unit: "MB/s",
    baselineName: "dd bs=64K, no fsync",
    target: "—",
    met: () => undefined,
    rounds: [],
  },
  {
    id: "4",
    name: `${size.small} small SENDs pipelined → library session`,
    unit: "msg/s",
    baselineName: "raw TCP, same bytes and writes",
    target: "≥ 150 000 msg/s",
    met: (msrp) => msrp >= 150_000,
    rounds: [],
  },
  {
    id: "5",
    name: `1 000 msg/s via HTTP API for ${size.apiSeconds} s, p99`,
    unit: "ms",
    target: "p99 ≤ 2 ms",
    met: (msrp) => msrp <= 2,
    rounds: [],
  },
  {
    id: "6",
    name: `${size.sessions} sessions, heap per session per side`,
    unit: "KB",
    target: "≤ 20 KB",
    met: (msrp) => msrp <= 20,
    rounds: [],
  },
];
const apiRounds: ApiLoadResult[] = [];

const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-e2e-" });
const file = `${dir}/send.bin`;
{
  // Random content (a 1 MiB block repeated), read by the sender as any file.
  const block = new Uint8Array(MiB);
  for (let i = 0; i < MiB; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  for (let n = 0; n < size.file / MiB; n++) await f.write(block);
  f.close();
}
let children: Child[] = [];
const ctx: CaseContext = {
  dir,
  file,
  bytes: size.file,
  denoArgs(role) {
    if (values.profile === undefined) return [];
    return ["--cpu-prof", `--cpu-prof-dir=${values.profile}`, `--cpu-prof-name=${role}.cpuprofile`];
  },
  track(child) {
    children.push(child);
    return child;
  },
};

/** Runs one measurement with a hang guard; a failure is recorded and its children stopped. */
async function measure<T>(what: () => Promise<T>): Promise<T | Error> {
  try {
    return await guarded(what, CASE_GUARD_MS);
  } finally {
    await Promise.all(children.map((c) => c.stop("SIGKILL")));
    children = [];
  }
}

async function pair(
  id: string,
  baseline: () => Promise<number>,
  msrp: () => Promise<number>,
  round: number,
): Promise<void> {
  if (!cases.has(id.replace(/[ab]$/, ""))) return;
  const r = rows.find((r) => r.id === id)!;
  const b = await measure(baseline);
  const m = await measure(msrp);
  const error = [b, m].filter((x) => x instanceof Error).map((e) => (e as Error).message);
  const entry = {
    baseline: typeof b === "number" ? b : undefined,
    msrp: typeof m === "number" ? m : undefined,
    ratio: typeof b === "number" && typeof m === "number" ? m / b : undefined,
    ...(error.length > 0 ? { error: error.join("; ") } : {}),
  };
  r.rounds.push(entry);
  console.error(`round ${round} case ${id}: ${JSON.stringify(entry)}`);
}

async function single(id: string, what: () => Promise<number>, round: number): Promise<void> {
  if (!cases.has(id)) return;
  const m = await measure(what);
  const entry = typeof m === "number" ? { msrp: m } : { error: m.message };
  rows.find((r) => r.id === id)!.rounds.push(entry);
  console.error(`round ${round} case ${id}: ${JSON.stringify(entry)}`);
}

const loadBefore = await Deno.readTextFile("/proc/loadavg").catch(() => "");
const started = performance.now();
for (let round = 1; round <= rounds; round++) {
  await pair(
    "1",
    () => rawStream(ctx, size.file, 64 * 1024),
    () => cliToSink(ctx, 64 * 1024),
    round,
  );
  await pair("2", () => rawStream(ctx, size.file, 2 * 1024), () => cliToSink(ctx, 2 * 1024), round);
  await pair("3a", () => ddWrite(ctx), () => cliToDisk(ctx, 64 * 1024), round);
  if (cases.has("3")) {
    // For information: the same dd with fdatasync, since listen's bytes may still be in the page cache.
    const synced = await measure(() => ddWrite(ctx, true));
    const last = rows.find((r) => r.id === "3a")!.rounds.at(-1);
    if (last && typeof synced === "number") last.ddFdatasync = synced;
  }
  await pair("3b", () => ddWrite(ctx), () => cliToDisk(ctx, 2 * 1024), round);
  await pair("4", () => smallSendsRaw(ctx, size.small), () => smallSends(ctx, size.small), round);
  await single("5", async () => {
    const result = await apiLoad(ctx, 1000, size.apiSeconds);
    apiRounds.push(result);
    return result.latencyMs.p99;
  }, round);
  await single("6", async () => await sessionHeap(ctx, size.sessions) / 1000, round);
}

// The highest rate keeping p99 ≤ 10 ms with every message delivered.
const search: { rate: number; result?: ApiLoadResult; error?: string; kept: boolean }[] = [];
async function tryRate(rate: number): Promise<boolean> {
  const result = await measure(() => apiLoad(ctx, rate, size.searchSeconds));
  const entry = result instanceof Error ? { rate, error: result.message, kept: false } : {
    rate,
    result,
    kept: result.latencyMs.p99 <= 10 && result.delivered === result.sent &&
      result.httpFailures === 0,
  };
  search.push(entry);
  console.error(`rate search ${rate} msg/s: p99 ${entry.result?.latencyMs.p99} ms`);
  return entry.kept;
}
if (cases.has("5")) {
  let kept = 0;
  for (const rate of SEARCH_RATES) {
    if (!await tryRate(rate)) break;
    kept++;
  }
  for (const rate of kept === 0 ? SEARCH_RATES_BELOW : []) {
    if (await tryRate(rate)) break;
  }
}
await Deno.remove(dir, { recursive: true });

function medianOf(r: Row, key: "msrp" | "baseline" | "ratio"): number | undefined {
  const xs = r.rounds.map((x) => x[key]).filter((x): x is number => x !== undefined);
  return xs.length > 0 ? median(xs) : undefined;
}

function show(n: number | undefined, unit = ""): string {
  if (n === undefined) return "—";
  const digits = n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return n.toLocaleString("en-US", { maximumFractionDigits: digits }) + unit;
}

const table = rows.filter((r) => r.rounds.length > 0).map((r) => {
  const msrp = medianOf(r, "msrp");
  const ratio = medianOf(r, "ratio");
  const met = msrp === undefined ? undefined : r.met(msrp, ratio);
  return {
    case: r.id,
    name: r.name,
    msrp: show(msrp, ` ${r.unit}`),
    baseline: r.baselineName
      ? `${show(medianOf(r, "baseline"), ` ${r.unit}`)} (${r.baselineName})`
      : "—",
    ratio: ratio === undefined ? "—" : `${show(ratio)}×`,
    target: r.target,
    met: msrp === undefined ? "error" : met === undefined ? "—" : met ? "yes" : "no",
  };
});
const kept = search.filter((s) => s.kept).reduce<number | undefined>(
  (best, s) => Math.max(best ?? 0, s.rate),
  undefined,
);
if (cases.has("5")) {
  const p = (k: "p50" | "p90" | "p99") => median(apiRounds.map((a) => a.latencyMs[k]));
  table.splice(table.findIndex((t) => t.case === "5") + 1, 0, {
    case: "5",
    name:
      `  p50 / p90 at 1 000 msg/s; highest rate with p99 ≤ 10 ms (${size.searchSeconds} s each)`,
    msrp: apiRounds.length ? `${show(p("p50"))} / ${show(p("p90"))} ms` : "—",
    baseline: "—",
    ratio: "—",
    target: kept === undefined ? `< ${SEARCH_RATES_BELOW.at(-1)} msg/s` : `${kept} msg/s`,
    met: "report",
  });
}

const header = ["case", "name", "msrp", "baseline", "ratio", "target", "met"] as const;
const widths = header.map((h) => Math.max(h.length, ...table.map((t) => t[h].length)));
const line = (cells: readonly string[]) =>
  `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const t of table) console.log(line(header.map((h) => t[h])));
console.log(`medians of ${rounds} round(s); ratio is the median of each round's msrp/baseline`);
const synced = rows.find((r) => r.id === "3a")!.rounds.map((r) => r.ddFdatasync);
if (synced.some((x) => x !== undefined)) {
  const mbps = median(synced.filter((x): x is number => x !== undefined));
  console.log(`for information, dd bs=64K conv=fdatasync to the same disk: ${show(mbps)} MB/s`);
}

const nproc = new TextDecoder().decode((await new Deno.Command("nproc").output()).stdout).trim();
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown";
const results = new URL(`./results/${quick ? "e2e_quick" : "e2e"}.json`, import.meta.url);
await Deno.mkdir(new URL(".", results), { recursive: true });
await Deno.writeTextFile(
  results,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      label: values.label,
      machine: {
        nproc: Number(nproc),
        cpu,
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        os: Deno.build.os,
        loadavgBefore: loadBefore.trim(),
        loadavgAfter: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).trim(),
      },
      quick,
      rounds,
      minutes: Number(((performance.now() - started) / 60_000).toFixed(1)),
      sizes: size,
      table,
      cases: rows.filter((r) => r.rounds.length > 0).map((r) => ({
        id: r.id,
        name: r.name,
        unit: r.unit,
        baseline: r.baselineName,
        target: r.target,
        median: {
          msrp: medianOf(r, "msrp"),
          baseline: medianOf(r, "baseline"),
          ratio: medianOf(r, "ratio"),
        },
        rounds: r.rounds,
      })),
      api: { at1000: apiRounds, rateSearch: search, highestRateP99Under10ms: kept ?? null },
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${results.pathname}`);
