/**
 * The MSRP transport (RFC 4975 §6, §8; RFC 8996; RFC 7977): TCP and TLS
 * listeners and outgoing connections, MSRP WebSockets, and
 * {@linkcode MsrpConnection}, which reads frames into the streaming parser
 * and writes queued frames with backpressure.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./connection.ts";
export * from "./connection_options.ts";
export * from "./listener.ts";
export * from "./connection_limits.ts";
export * from "./connect.ts";
export * from "./fingerprint.ts";
export * from "./websocket.ts";
