/**
 * Checkpoints a WAL database from a worker thread. A checkpoint copies the
 * WAL into the database and syncs it: milliseconds that SQLite would
 * otherwise spend inside whichever commit crosses `wal_autocheckpoint`, on
 * the event loop, in the middle of MSRP and HTTP work.
 *
 * @module
 */

import type { CheckpointStart } from "./_checkpoint_worker.ts";

/** A worker checkpointing one database every `intervalMs`. */
export class Checkpointer {
  readonly #worker: Worker;
  readonly #stopped: Promise<void>;

  /** Starts checkpointing the database at `path`; `onError` hears of checkpoints that failed. */
  constructor(path: string, intervalMs: number, onError: (message: string) => void) {
    this.#worker = new Worker(new URL("./_checkpoint_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#stopped = new Promise((resolve) => {
      this.#worker.onmessage = (e: MessageEvent<{ error?: string; stopped?: true }>) => {
        if (e.data.stopped) resolve();
        else onError(e.data.error ?? "unknown");
      };
      this.#worker.onerror = (e) => {
        e.preventDefault();
        onError(e.message);
        resolve();
      };
    });
    this.#worker.postMessage({ path, intervalMs } satisfies CheckpointStart);
  }

  /** Stops checkpointing; resolves once the worker has closed its connection. */
  async stop(): Promise<void> {
    this.#worker.postMessage("stop");
    await this.#stopped;
    this.#worker.terminate();
  }
}
