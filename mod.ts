/**
 * msrp-bridge as a library: the MSRP protocol stack (RFC 4975/4976) without a
 * PBX or HTTP server.
 *
 * @example Parse a frame
 * ```ts
 * import { parseFrames } from "./mod.ts";
 *
 * const text = "MSRP a786hjs2 SEND\r\n" +
 *   "To-Path: msrp://127.0.0.1:2855/abc;tcp\r\n" +
 *   "From-Path: msrp://127.0.0.1:40000/def;tcp\r\n" +
 *   "Message-ID: 1\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------a786hjs2$\r\n";
 * const { frames } = parseFrames(new TextEncoder().encode(text));
 * console.log(frames[0].head.kind); // "request"
 * ```
 *
 * @module
 */

export * from "./src/msrp/mod.ts";
export * from "./src/session/mod.ts";
export * from "./src/relay/mod.ts";
export * from "./src/sdp/mod.ts";
export {
  certificateFingerprint,
  connectWebSocket,
  type ConnectWebSocketOptions,
  type FingerprintHash,
  type FingerprintSpec,
  type MsrpSocket,
  MsrpWebSocket,
  type MsrpWebSocketOptions,
  TransportError,
  type TransportErrorCode,
  upgradeMsrpWebSocket,
  type UpgradeMsrpWebSocketOptions,
} from "./src/transport/mod.ts";
export {
  addressAllowed,
  type AddressRule,
  parseAddressRules,
} from "./src/transport/address_rule.ts";
