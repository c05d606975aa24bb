/**
 * MSRP sessions over connections: sending with chunking and interruption,
 * receiving with reassembly, responses, REPORTs and delivery status.
 *
 * @module
 */

export * from "./endpoint.ts";
export * from "./session.ts";
export * from "./outgoing.ts";
export * from "./incoming.ts";
export * from "./file_sink.ts";
export * from "./negotiated.ts";
export { type RelayGrant, type RelayOptions, RelayRegistration } from "./relay.ts";
