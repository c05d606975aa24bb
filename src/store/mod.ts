/**
 * Persistence on SQLite (`node:sqlite`): sessions, messages, the webhook
 * outbox and the event log, with received content streamed to files.
 *
 * @module
 */

export * from "./error.ts";
export * from "./types.ts";
export * from "./store.ts";
export * from "./sink.ts";
export * from "./quota.ts";
export * from "./checkpointer.ts";
