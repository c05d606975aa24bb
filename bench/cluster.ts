/**
 * API messages per second with one and with two instances on this machine
 * (issue 18): `POST /v1/sessions/{id}/messages` of short texts, delivered
 * over MSRP to peers that answer, against (1) one instance on SQLite, (2)
 * one instance on PostgreSQL, (3) two instances on PostgreSQL with the
 * requests spread over both (sessions owned by both, so that half the
 * requests are forwarded to the owner), and (4) the same two instances with
 * each request sent to its session's owner. Every bridge is the service
 * (`src/main.ts`) in its own process, with a fresh data directory (and a
 * fresh PostgreSQL schema); the MSRP peers and the load generator are one
 * more process (`bench/_cluster_client.ts`), keeping a fixed number of
 * requests in flight. Each round runs every case once (1 2 3 4 1 2 3 4 …);
 * the table gives medians. Writes bench/results/cluster.json (`--quick`:
 * cluster_quick.json) with every round's numbers and the CPU time the
 * bridges (and PostgreSQL, when `PG_RUN_DIR` names its cluster) used.
 *
 * Needs PostgreSQL: `bash .ci/postgres.sh start`, and export the
 * `PG_TEST_URL` (and `PG_RUN_DIR`) it prints.
 *
 * Run: `deno task bench:cluster [--quick] [--rounds N] [--seconds S] [--concurrency C]
 * [--sessions N] [--cases 1,2,3,4] [--label TEXT]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Child, denoRun, guarded, median } from "./_proc.ts";
import { machine } from "./_util.ts";
import { freePorts } from "../test/_service_process.ts";
import { pgTestUrl, scratchSchema } from "../test/_postgres.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    concurrency: { type: "string", default: "32" },
    sessions: { type: "string", default: "8" },
    cases: { type: "string", default: "1,2,3,4" },
    label: { type: "string" },
  },
});
const quick = values.quick;
const chosen = new Set(values.cases.split(","));
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const seconds = Number(values.seconds ?? (quick ? 4 : 15));
const here = (file: string): string => new URL(file, import.meta.url).pathname;
const MAIN = here("../src/main.ts");
const CLIENT = here("./_cluster_client.ts");
const TOKEN = "bench-cluster-token-0123456789";
/** A hang guard for one measurement, not a timing check. */
const CASE_GUARD_MS = 180_000;
/** A hang guard for a bridge to answer `/readyz`. */
const READY_GUARD_MS = 60_000;

if (pgTestUrl() === undefined) {
  console.error(
    "bench/cluster.ts needs PostgreSQL: start it with `bash .ci/postgres.sh start` and export " +
      "the PG_TEST_URL (and PG_RUN_DIR) it prints",
  );
  Deno.exit(2);
}

/** One configuration measured. */
interface Case {
  readonly id: string;
  readonly name: string;
  readonly instances: 1 | 2;
  readonly database: "sqlite" | "postgres";
  readonly route: "any" | "owner";
}

const ALL_CASES: readonly Case[] = [
  { id: "1", name: "one instance, SQLite", instances: 1, database: "sqlite", route: "owner" },
  { id: "2", name: "one instance, PostgreSQL", instances: 1, database: "postgres", route: "owner" },
  {
    id: "3",
    name: "two instances, PostgreSQL, requests spread over both (half forwarded)",
    instances: 2,
    database: "postgres",
    route: "any",
  },
  {
    id: "4",
    name: "two instances, PostgreSQL, each request to its session's owner",
    instances: 2,
    database: "postgres",
    route: "owner",
  },
];

const CASES = ALL_CASES.filter((c) => chosen.has(c.id));

/** What the client process reports (see `_cluster_client.ts`). */
interface ClientResult {
  readonly accepted: number;
  readonly httpFailures: number;
  readonly firstError?: string;
  readonly delivered: number;
  readonly undelivered: number;
  readonly forwardedShare: number;
  readonly acceptedPerSecond: number;
  readonly messagesPerSecond: number;
  readonly answerLatencyMs: { p50: number; p90: number; p99: number; max: number };
  readonly deliveryLatencyMs: { p50: number; p90: number; p99: number; max: number };
}

/** One round of one case. */
interface Measurement extends ClientResult {
  /** CPU seconds per second of the measured run, per bridge. */
  readonly bridgeCpu: number[];
  /** The same for PostgreSQL's processes, when known. */
  readonly postgresCpu?: number;
}

/** utime + stime of process `pid` in seconds, 0 when it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5), counted from the state (field 3) here, in clock ticks
  // (USER_HZ, 100 on Linux).
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/** The postmaster's pid of the `.ci/postgres.sh` cluster in `PG_RUN_DIR`, if any. */
async function postmaster(): Promise<number | undefined> {
  const dir = Deno.env.get("PG_RUN_DIR");
  if (!dir) return undefined;
  const text = await Deno.readTextFile(`${dir}/data/postmaster.pid`).catch(() => "");
  const pid = Number(text.split("\n")[0]);
  return pid > 0 ? pid : undefined;
}

/** CPU seconds of the postmaster and its children (the backends). */
async function postgresCpuSeconds(root: number): Promise<number> {
  let total = await cpuSeconds(root);
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === root) total += await cpuSeconds(Number(entry.name));
  }
  return total;
}

/** Starts a bridge process and waits until `/readyz` answers 200. */
async function startBridge(
  id: string,
  databaseUrl: string | undefined,
  dataDir: string,
): Promise<{ child: Child; url: string }> {
  const [httpPort, msrpPort] = freePorts(2);
  const url = `http://127.0.0.1:${httpPort}`;
  const child = denoRun(`bridge ${id}`, MAIN, [], {
    denoArgs: ["-A"],
    env: {
      // Empty values override the caller's environment: SQLite, no webhooks.
      DATABASE_URL: databaseUrl ?? "",
      WEBHOOK_URL: "",
      INSTANCE_ID: id,
      INSTANCE_URL: url,
      API_TOKEN: TOKEN,
      DATA_DIR: dataDir,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(httpPort),
      MSRP_HOST: "127.0.0.1",
      MSRP_PORT: String(msrpPort),
      ESL_MODE: "off",
      LOG_LEVEL: "warn",
    },
  });
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  const deadline = Date.now() + READY_GUARD_MS;
  while (true) {
    const ok = await fetch(`${url}/readyz`).then(async (r) => {
      await r.body?.cancel();
      return r.ok;
    }, () => false);
    if (ok) return { child, url };
    if (exited) {
      await child.done();
      throw new Error(`bridge ${id} exited while starting`);
    }
    if (Date.now() > deadline) {
      await child.stop("SIGKILL");
      throw new Error(`bridge ${id} did not become ready`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One measurement of `c`: fresh bridges (and schema), the client, CPU over the measured run. */
async function measure(c: Case): Promise<Measurement> {
  await using schema = c.database === "postgres" ? await scratchSchema() : undefined;
  const dirs: string[] = [];
  const children: Child[] = [];
  try {
    const bridges = [];
    for (const id of ["a", "b"].slice(0, c.instances)) {
      const dir = await Deno.makeTempDir({ prefix: `msrp-bridge-bench-${id}-` });
      dirs.push(dir);
      const bridge = await startBridge(id, schema?.url, dir);
      children.push(bridge.child);
      bridges.push(bridge);
    }
    const client = denoRun("client", CLIENT, [
      "--instances",
      bridges.map((b) => b.url).join(","),
      "--sessions",
      values.sessions,
      "--route",
      c.route,
      "--concurrency",
      values.concurrency,
      "--seconds",
      String(seconds),
    ], { denoArgs: ["-A"], env: { API_TOKEN: TOKEN } });
    children.push(client);
    const pg = c.database === "postgres" ? await postmaster() : undefined;
    await client.line(0);
    const t0 = performance.now();
    const cpu0 = await Promise.all(bridges.map((b) => cpuSeconds(b.child.pid)));
    const pg0 = pg === undefined ? undefined : await postgresCpuSeconds(pg);
    const result = await client.json<ClientResult>(1);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = await Promise.all(bridges.map((b) => cpuSeconds(b.child.pid)));
    const pg1 = pg === undefined ? undefined : await postgresCpuSeconds(pg);
    await client.done();
    const share = (x: number) => Number((x / elapsed).toFixed(2));
    const { arrivedAt: _, ...reported } = result;
    return {
      ...reported,
      bridgeCpu: cpu1.map((c, i) => share(c - cpu0[i])),
      ...(pg0 === undefined || pg1 === undefined ? {} : { postgresCpu: share(pg1 - pg0) }),
    };
  } finally {
    await Promise.all(children.map((child) => child.stop("SIGTERM")));
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const loadBefore = await Deno.readTextFile("/proc/loadavg").catch(() => "");
const started = performance.now();
const results = new Map<string, (Measurement | { error: string })[]>(CASES.map((c) => [c.id, []]));
for (let round = 1; round <= rounds; round++) {
  for (const c of CASES) {
    const m = await guarded(() => measure(c), CASE_GUARD_MS);
    const entry = m instanceof Error ? { error: m.message } : m;
    results.get(c.id)!.push(entry);
    console.error(`round ${round} case ${c.id}: ${JSON.stringify(entry)}`);
  }
}

function medianOf(id: string, pick: (m: Measurement) => number | undefined): number | undefined {
  const xs = results.get(id)!.filter((m): m is Measurement => !("error" in m)).map(pick)
    .filter((x): x is number => x !== undefined);
  return xs.length > 0 ? median(xs) : undefined;
}

function show(n: number | undefined, digits = 0): string {
  return n === undefined ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

const table = CASES.map((c) => ({
  case: c.id,
  name: c.name,
  "msg/s": show(medianOf(c.id, (m) => m.messagesPerSecond)),
  "answer p50 / p99 ms": `${show(medianOf(c.id, (m) => m.answerLatencyMs.p50), 1)} / ${
    show(medianOf(c.id, (m) => m.answerLatencyMs.p99), 1)
  }`,
  "delivery p50 / p99 ms": `${show(medianOf(c.id, (m) => m.deliveryLatencyMs.p50), 1)} / ${
    show(medianOf(c.id, (m) => m.deliveryLatencyMs.p99), 1)
  }`,
  "bridge CPU": show(medianOf(c.id, (m) => m.bridgeCpu.reduce((a, b) => a + b, 0)), 2),
  "PostgreSQL CPU": show(medianOf(c.id, (m) => m.postgresCpu), 2),
}));
const header = Object.keys(table[0]) as (keyof (typeof table)[0])[];
const widths = header.map((h) => Math.max(h.length, ...table.map((t) => t[h].length)));
const line = (cells: readonly string[]) =>
  `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const t of table) console.log(line(header.map((h) => t[h])));
console.log(
  `medians of ${rounds} round(s), ${seconds} s each, ${values.concurrency} requests in flight, ` +
    `${values.sessions} sessions; CPU in cores busy (all bridges together)`,
);

const file = new URL(`./results/${quick ? "cluster_quick" : "cluster"}.json`, import.meta.url);
await Deno.mkdir(new URL(".", file), { recursive: true });
await Deno.writeTextFile(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      label: values.label,
      machine: {
        ...await machine(),
        loadavgBefore: loadBefore.trim(),
        loadavgAfter: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).trim(),
      },
      quick,
      rounds,
      seconds,
      concurrency: Number(values.concurrency),
      sessions: Number(values.sessions),
      minutes: Number(((performance.now() - started) / 60_000).toFixed(1)),
      table,
      cases: CASES.map((c) => ({ ...c, rounds: results.get(c.id) })),
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${file.pathname}`);
