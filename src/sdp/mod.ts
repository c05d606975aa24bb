/**
 * SDP for MSRP sessions (RFC 4975 §8): parsing offers and answers, building
 * our own offer or answer with `a=path`, `a=accept-types` and the connection
 * roles of RFC 6135, CEMA (RFC 7701), WebSocket (RFC 7977), TLS fingerprints
 * (RFC 8122) and file transfer (RFC 5547). No I/O.
 *
 * @module
 */

export * from "./error.ts";
export * from "./types.ts";
export * from "./parse.ts";
export * from "./negotiate.ts";
export * from "./build.ts";
export * from "./file_hash.ts";
