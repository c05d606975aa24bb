/**
 * Smoke test of the compiled binary (`deno task compile`), run by `.ci/run`:
 * `--version` prints `msrp-bridge <version of deno.json>`; started with a
 * fresh DATA_DIR, free ports, `ESL_MODE=off` and the `echo` plugin (a module
 * the binary carries), it answers `GET /healthz` with 200, its WAL
 * checkpoint worker runs, and SIGTERM stops it with exit code 0.
 *
 * With `--source` instead of a binary it runs the same checks on
 * `src/main.ts` under exactly the permissions of the compile task, for a
 * machine where `deno compile` cannot fetch its runtime (denort).
 *
 * Usage: `deno run --allow-run --allow-read --allow-write --allow-net --allow-env
 * tools/smoke_binary.ts [dist/msrp-bridge | --source]`; prints one line per
 * check and exits 1 at the first that fails.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** Largest wait for `/healthz` and for the exit after SIGTERM: hang guards, not timings. */
const GUARD_MS = 30_000;

function fail(message: string): never {
  console.error(`binary smoke test: ${message}`);
  Deno.exit(1);
}

/** How to start the service: a program and the arguments before its own. */
interface Service {
  readonly program: string;
  readonly args: readonly string[];
  readonly name: string;
}

/** `src/main.ts` run with the `--allow-*` flags of the compile task in deno.json. */
function fromSource(): Service {
  const permissions = denoJson.tasks.compile.split(/\s+/).filter((w) => w.startsWith("--allow-"));
  const main = new URL("../src/main.ts", import.meta.url).pathname;
  return {
    program: Deno.execPath(),
    args: ["run", ...permissions, main],
    name: `deno run ${permissions.join(" ")} src/main.ts`,
  };
}

/** `count` distinct ports on 127.0.0.1 that were free a moment ago. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => l.addr.port);
  for (const l of listeners) l.close();
  return ports;
}

async function checkVersion(service: Service): Promise<void> {
  const out = await new Deno.Command(service.program, {
    args: [...service.args, "--version"],
    stdout: "piped",
  }).output();
  const printed = new TextDecoder().decode(out.stdout).trim();
  const expected = `msrp-bridge ${denoJson.version}`;
  if (out.code !== 0 || printed !== expected) {
    fail(`--version: exit ${out.code}, printed ${JSON.stringify(printed)}, want "${expected}"`);
  }
  console.log(`ok: ${service.name} --version → ${printed}`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function checkServe(service: Service): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-smoke-" });
  const [httpPort, msrpPort] = freePorts(2);
  const child = new Deno.Command(service.program, {
    args: [...service.args],
    env: {
      DATA_DIR: dataDir,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(httpPort),
      MSRP_PORT: String(msrpPort),
      ESL_MODE: "off",
      PLUGINS: "echo",
      LOG_LEVEL: "info",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]).then((texts) => texts.join(""));
  let exited = false;
  const status = child.status.finally(() => exited = true);
  try {
    const url = `http://127.0.0.1:${httpPort}/healthz`;
    const deadline = Date.now() + GUARD_MS;
    while (!await healthy(url)) {
      if (exited) fail(`exited while starting:\n${await output}`);
      if (Date.now() > deadline) fail("no 200 from /healthz");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(`ok: GET /healthz → 200 (DATA_DIR ${dataDir}, HTTP ${httpPort}, MSRP ${msrpPort})`);
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), GUARD_MS);
    const { code } = await status;
    clearTimeout(timer);
    const log = await output;
    if (code !== 0) fail(`exit code ${code} after SIGTERM:\n${log}`);
    // The worker stops by saying so; one that failed to load is logged as a failed checkpoint.
    if (log.includes("wal checkpoint failed")) fail(`the checkpoint worker failed:\n${log}`);
    if (!log.includes('"plugins loaded"')) fail(`the echo plugin was not loaded:\n${log}`);
    console.log("ok: plugins load, the checkpoint worker runs, SIGTERM → exit 0");
  } finally {
    if (!exited) child.kill("SIGKILL");
    await status;
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) {
  const target = Deno.args[0] ?? "dist/msrp-bridge";
  const service = target === "--source"
    ? fromSource()
    : { program: target, args: [], name: target };
  await checkVersion(service);
  await checkServe(service);
}
