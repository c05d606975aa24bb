/**
 * MSRP sessions over connections: sending with chunking and interruption,
 * receiving with reassembly, responses, REPORTs and delivery status; and the
 * {@linkcode RequestRouter} interface through which an endpoint takes on a
 * relay role it does not implement itself (see src/relay).
 *
 * @module
 */

export * from "./endpoint.ts";
export * from "./endpoint_options.ts";
export * from "./session.ts";
export * from "./outgoing.ts";
export * from "./incoming.ts";
export * from "./file_sink.ts";
export * from "./negotiated.ts";
export * from "./router.ts";
export type { ChunkReceiver } from "./_session_link.ts";
