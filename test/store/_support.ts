/**
 * Temporary data directories and stores for tests, on SQLite or on
 * PostgreSQL (a scratch schema on the `PG_TEST_URL` server), and
 * {@linkcode storeSuite}, which runs a test once per store.
 *
 * @module
 */

import { openStore, type Store, type StoreOptions } from "../../src/store/mod.ts";
import { scratchSchema, skipUnlessPostgres } from "../_postgres.ts";

/** Which store a test runs on. */
export type Backend = "sqlite" | "postgres";

/** A temporary directory, removed on dispose. */
export interface TempDir extends AsyncDisposable {
  /** Its path. */
  readonly path: string;
}

/** Creates a temporary directory that `await using` removes. */
export async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "msrp-bridge-store-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/**
 * A store in a temporary directory (and, for PostgreSQL, a scratch schema);
 * dispose closes it and every store `reopen` opened, then removes the
 * directory and the schema.
 */
export interface TempStore extends AsyncDisposable {
  /** The store. */
  readonly store: Store;
  /** Its data directory. */
  readonly dir: string;
  /** The database it keeps its state in. */
  readonly backend: Backend;
  /** Opens another store on the same database and directory (options added to the first's). */
  reopen(options?: StoreOptions): Promise<Store>;
}

/** Opens a store of `backend` (SQLite when omitted) in a new temporary directory. */
export async function tempStore(
  options: StoreOptions = {},
  backend: Backend = "sqlite",
): Promise<TempStore> {
  const cleanup = new AsyncDisposableStack();
  try {
    const dir = cleanup.use(await tempDir());
    let databaseUrl: string | undefined;
    if (backend === "postgres") {
      const pg = await scratchSchema();
      if (pg === undefined) throw new Error("PG_TEST_URL is not set: no PostgreSQL to test on");
      cleanup.use(pg);
      databaseUrl = pg.url;
    }
    const opened: Store[] = [];
    cleanup.defer(async () => {
      for (const store of opened) await store.close();
    });
    const reopen = async (more: StoreOptions = {}) => {
      const store = await openStore(dir.path, { ...options, ...more, databaseUrl });
      opened.push(store);
      return store;
    };
    const store = await reopen();
    const stack = cleanup.move();
    return {
      store,
      dir: dir.path,
      backend,
      reopen,
      [Symbol.asyncDispose]: () => stack.disposeAsync(),
    };
  } catch (e) {
    await cleanup.disposeAsync();
    throw e;
  }
}

/** Registers a test once per store; see {@linkcode storeSuite}. */
export type ForEachStore = (name: string, fn: (backend: Backend) => Promise<void>) => void;

/**
 * The registrar of `file`'s tests of store behaviour: each runs as
 * `<name> [sqlite]` and `<name> [postgres]`. Without PostgreSQL the
 * PostgreSQL runs are ignored after one skip line for the file (a failure
 * under `REQUIRE_SERVICES=1`; see `../_postgres.ts`).
 */
export async function storeSuite(file: string): Promise<ForEachStore> {
  const skip = await skipUnlessPostgres(file);
  return (name, fn) => {
    for (const backend of ["sqlite", "postgres"] as const) {
      Deno.test({
        name: `${name} [${backend}]`,
        ignore: backend === "postgres" && skip !== undefined,
        fn: () => fn(backend),
      });
    }
  };
}
