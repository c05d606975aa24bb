/**
 * Opening the store the configuration names: PostgreSQL for a
 * `postgres://` URL, SQLite under the data directory otherwise.
 *
 * @module
 */

import { openPostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store, StoreOptions } from "./store.ts";

/**
 * Opens the store: PostgreSQL when `options.databaseUrl` is set, SQLite in
 * `<dataDir>/msrp-bridge.db` otherwise; either way migrated to the current
 * schema, with received content kept under `<dataDir>/content/`.
 */
export async function openStore(dataDir: string, options: StoreOptions = {}): Promise<Store> {
  if (options.databaseUrl !== undefined) {
    return await openPostgresStore(options.databaseUrl, dataDir, options);
  }
  return SqliteStore.open(dataDir, options);
}
