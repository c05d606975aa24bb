/**
 * Temporary data directories and stores for tests.
 *
 * @module
 */

import { openStore, type Store, type StoreOptions } from "../../src/store/mod.ts";

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

/** A store in a temporary directory; dispose closes it and removes the directory. */
export interface TempStore extends AsyncDisposable {
  /** The store. */
  readonly store: Store;
  /** Its data directory. */
  readonly dir: string;
}

/** Opens a store in a new temporary directory. */
export async function tempStore(options: StoreOptions = {}): Promise<TempStore> {
  const dir = await tempDir();
  const store = openStore(dir.path, options);
  return {
    store,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}
