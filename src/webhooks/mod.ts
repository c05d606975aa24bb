/**
 * Webhooks: typed events, HMAC-SHA256 signatures and durable delivery from
 * the store's outbox with retries.
 *
 * @module
 */

export * from "./error.ts";
export * from "./event.ts";
export * from "./signature.ts";
export * from "./dispatcher.ts";
