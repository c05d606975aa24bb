/**
 * FreeSWITCH integration: the Event Socket codec, the inbound client and the
 * outbound-socket server, and inbound MSRP calls answered with the bridge's
 * own SDP.
 *
 * @module
 */

export * from "./esl_codec.ts";
export * from "./esl_client.ts";
export * from "./calls.ts";
export * from "./esl_outbound.ts";
