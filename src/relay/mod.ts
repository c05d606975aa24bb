/**
 * The MSRP relay roles (RFC 4976) on top of an endpoint: registering with a
 * relay as its client ({@linkcode registerWithRelay}), and serving the
 * clients of our WebSocket server as their relay ({@linkcode WebSocketRelay},
 * RFC 7977 §5). The endpoint knows the server only as its `RequestRouter`.
 *
 * @module
 */

export {
  registerWithRelay,
  type RelayGrant,
  type RelayOptions,
  RelayRegistration,
} from "./client.ts";
export { WebSocketRelay } from "./server.ts";
export { type RelayAuthThrottle, type WebSocketRelayOptions } from "./policy.ts";
