/**
 * PostgreSQL for tests: the server `PG_TEST_URL` names (`.ci/postgres.sh
 * start` prints it) and a fresh, uniquely named schema per test, which the
 * store's connections select with `search_path` and which is dropped after.
 * Without `PG_TEST_URL` the PostgreSQL tests skip with one line, or fail
 * under `REQUIRE_SERVICES=1` (see `_services.ts`):
 *
 * ```ts
 * const skip = await skipUnlessPostgres("postgres_test");
 * Deno.test({ name: "...", ignore: skip !== undefined, async fn() {
 *   await using pg = (await scratchSchema())!;
 *   const store = await openPostgresStore(pg.url, dir, {});
 * } });
 * ```
 *
 * @module
 */

import { connect } from "../src/store/_pg_pool.ts";
import { skipUnless, tcpProblem } from "./_services.ts";

const HINT = "start it with `bash .ci/postgres.sh start` and export the PG_TEST_URL it prints";

/** The server of the tests, when `PG_TEST_URL` is set. */
export function pgTestUrl(): string | undefined {
  return Deno.env.get("PG_TEST_URL") || undefined;
}

/**
 * The skip rule of the PostgreSQL tests: `undefined` when `PG_TEST_URL` is
 * set and its host accepts connections, else the printed skip line (thrown
 * under `REQUIRE_SERVICES=1`).
 */
export async function skipUnlessPostgres(file: string): Promise<string | undefined> {
  const url = pgTestUrl();
  let problem: string | undefined;
  if (url === undefined) {
    problem = "is not configured (PG_TEST_URL not set)";
  } else {
    const { hostname, port } = new URL(url);
    problem = await tcpProblem(hostname, Number(port || 5432));
  }
  return skipUnless(file, "PostgreSQL", problem, HINT);
}

/** A schema of its own on the test server; `await using` drops it with everything in it. */
export interface ScratchSchema extends AsyncDisposable {
  /** `PG_TEST_URL` with `search_path` set to the schema: stores opened on it use only it. */
  readonly url: string;
  /** The schema's name. */
  readonly schema: string;
}

/** Runs `sql` (one statement, no parameters) on the test server. */
async function admin(sql: string): Promise<void> {
  const pool = connect(pgTestUrl()!, 1);
  try {
    await pool.unsafe(sql);
  } finally {
    await pool.end();
  }
}

/** Creates a fresh schema on the `PG_TEST_URL` server; `undefined` when it is not set. */
export async function scratchSchema(): Promise<ScratchSchema | undefined> {
  const base = pgTestUrl();
  if (base === undefined) return undefined;
  const schema = `t_${crypto.randomUUID().replaceAll("-", "")}`;
  await admin(`CREATE SCHEMA ${schema}`);
  const url = new URL(base);
  url.searchParams.set("search_path", schema);
  return {
    url: url.href,
    schema,
    async [Symbol.asyncDispose]() {
      await admin(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}
