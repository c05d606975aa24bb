/**
 * FreeSWITCH integration: the Event Socket codec and inbound client, and
 * inbound MSRP calls answered with the bridge's own SDP.
 *
 * @module
 */

export * from "./esl_codec.ts";
export * from "./esl_client.ts";
export * from "./calls.ts";
