/**
 * Persistence: sessions, messages, the webhook outbox, the event log and
 * claims behind one asynchronous {@linkcode Store} interface, on SQLite
 * (`node:sqlite`, the embedded default) or PostgreSQL (several bridges, one
 * state), with received content streamed to files.
 *
 * @module
 */

export * from "./error.ts";
export * from "./types.ts";
export * from "./store.ts";
export * from "./open.ts";
export * from "./sqlite.ts";
export * from "./postgres.ts";
export * from "./sink.ts";
export * from "./quota.ts";
export * from "./checkpointer.ts";
export * from "./wrapped.ts";
