/**
 * FreeSWITCH integration: the Event Socket codec, the inbound client and the
 * outbound-socket server, inbound MSRP calls answered with the bridge's own
 * SDP, and the SIP URI rules for what may reach the PBX.
 *
 * @module
 */

export * from "./esl_codec.ts";
export * from "./esl_client.ts";
export * from "./calls.ts";
export * from "./esl_outbound.ts";
export * from "./sip_uri.ts";
