/**
 * Worker side of {@linkcode Checkpointer}: its own connection to the
 * database, checkpointing the WAL (PASSIVE: never waits for readers or the
 * writer) every `intervalMs`; on "stop" it closes the database and says
 * "stopped".
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { DatabaseSync } from "node:sqlite";

/** The first message: which database, how often. */
export interface CheckpointStart {
  readonly path: string;
  readonly intervalMs: number;
}

self.onmessage = (e: MessageEvent<CheckpointStart>) => {
  const { path, intervalMs } = e.data;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 1000");
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  let failing: string | undefined;
  const timer = setInterval(() => {
    try {
      checkpoint.get();
      failing = undefined;
    } catch (error) {
      // Busy or locked: the next round tries again; the owner logs why, once per spell.
      const message = error instanceof Error ? error.message : String(error);
      if (message !== failing) self.postMessage({ error: message });
      failing = message;
    }
  }, intervalMs);
  self.onmessage = () => {
    clearInterval(timer);
    db.close();
    self.postMessage({ stopped: true });
    self.close();
  };
};
