/**
 * What the WebSocket relay grants and where it may forward (RFC 4976 §5,
 * §6.4): its options, checked once, and the one rule for the next hops it
 * may dial.
 *
 * @module
 */

import { effectivePort, type MsrpUri, parseMsrpUri } from "../msrp/mod.ts";
import { addressAllowed, type AddressRule } from "../transport/address_rule.ts";

/**
 * How the WebSocket relay answers AUTH (RFC 4976 §5.1, RFC 7977 §5) and
 * where it forwards.
 */
export interface WebSocketRelayOptions {
  /**
   * When set, AUTH must carry digest credentials (any user name) for this
   * password, the relay's own; when unset (and `refuseAuth` too), every AUTH
   * is granted and the HTTP layer is trusted to admit clients (RFC 7977 §5).
   */
  readonly password?: string;
  /**
   * Without `password`: when set, every AUTH is refused 403 with this
   * comment, e.g. because the HTTP API needs a token but the relay has no
   * password of its own.
   */
  readonly refuseAuth?: string;
  /**
   * Next hops a client may send to besides sessions of this endpoint and
   * other clients of this server (none by default). Every other next hop is
   * refused 403 without being dialed.
   */
  readonly allow?: readonly AddressRule[];
  /**
   * Most grants (Use-Path URIs) one WebSocket holds at once, 8 by default:
   * an AUTH from a further From-Path URI is refused 403; refreshes are not.
   */
  readonly maxGrants?: number;
  /**
   * Counts failed digest AUTHs per client IP address; while it blocks an
   * address, its AUTHs are refused 403 without their credentials being
   * checked. Share one throttle between the WebSockets of a server.
   */
  readonly throttle?: RelayAuthThrottle;
  /** Digest realm; `msrp-bridge` by default. */
  readonly realm?: string;
  /** Shortest grant accepted, in seconds (60 by default); below it: 423 with Min-Expires. */
  readonly minExpires?: number;
  /** Longest grant accepted, in seconds (3600 by default); above it: 423 with Max-Expires. */
  readonly maxExpires?: number;
  /** Grant when AUTH has no Expires; 600 s by default, kept within the bounds. */
  readonly defaultExpires?: number;
  /**
   * How long a connection the relay dialed to a next hop stays open once
   * unused: no request or response in flight on it, no session of ours on
   * it, and every client grant that sent through it gone; 30 s by default.
   */
  readonly hopIdleMs?: number;
}

/**
 * Failed-login counting per client, as the relay uses it for digest AUTH
 * (the service's `AuthThrottle` is one).
 */
export interface RelayAuthThrottle {
  /** Milliseconds until `key` may try again; 0 when it may try now. */
  blocked(key: string): number;
  /** Records a failed AUTH of `key`. */
  failed(key: string): void;
  /** Forgets the failures of `key` after a successful AUTH. */
  succeeded(key: string): void;
}

/** {@linkcode WebSocketRelayOptions} checked, with their defaults filled in. */
export interface Policy {
  /** See {@linkcode WebSocketRelayOptions.password}. */
  readonly password: string | undefined;
  /** See {@linkcode WebSocketRelayOptions.refuseAuth}. */
  readonly refuseAuth: string | undefined;
  /** Digest realm. */
  readonly realm: string;
  /** Shortest grant, in seconds. */
  readonly minExpires: number;
  /** Longest grant, in seconds. */
  readonly maxExpires: number;
  /** Grant when AUTH has no Expires, in seconds. */
  readonly defaultExpires: number;
  /** Next hops that may be dialed. */
  readonly allow: readonly AddressRule[];
  /** Most grants per WebSocket. */
  readonly maxGrants: number;
  /** Failed digest AUTHs per client address. */
  readonly throttle: RelayAuthThrottle | undefined;
  /** How long an unused next-hop connection stays open, in milliseconds. */
  readonly hopIdleMs: number;
}

/** The one answer to a next hop we may not dial, whatever listens there. */
export const HOP_NOT_ALLOWED = "next hop not allowed";

const DEFAULT_MIN_EXPIRES = 60;
const DEFAULT_MAX_EXPIRES = 3600;
const DEFAULT_EXPIRES = 600;
const DEFAULT_MAX_GRANTS = 8;
const DEFAULT_HOP_IDLE_MS = 30_000;

/**
 * Checks `options` and fills in their defaults.
 *
 * @throws {RangeError} when the Expires bounds are not 0 < min <= max, or
 * `maxGrants` is not a whole number ≥ 1.
 */
export function policyOf(options: WebSocketRelayOptions): Policy {
  const minExpires = options.minExpires ?? DEFAULT_MIN_EXPIRES;
  const maxExpires = options.maxExpires ?? DEFAULT_MAX_EXPIRES;
  if (!(minExpires > 0) || !(maxExpires >= minExpires)) {
    throw new RangeError(
      `expected 0 < minExpires <= maxExpires, got ${minExpires} and ${maxExpires}`,
    );
  }
  const maxGrants = options.maxGrants ?? DEFAULT_MAX_GRANTS;
  if (!Number.isInteger(maxGrants) || maxGrants < 1) {
    throw new RangeError(`expected maxGrants to be a whole number ≥ 1, got ${maxGrants}`);
  }
  const defaultExpires = options.defaultExpires ?? DEFAULT_EXPIRES;
  return {
    password: options.password,
    refuseAuth: options.refuseAuth,
    realm: options.realm ?? "msrp-bridge",
    minExpires,
    maxExpires,
    defaultExpires: Math.max(minExpires, Math.min(maxExpires, defaultExpires)),
    allow: options.allow ?? [],
    maxGrants,
    throttle: options.throttle,
    hopIdleMs: options.hopIdleMs ?? DEFAULT_HOP_IDLE_MS,
  };
}

/**
 * `uri` parsed when `policy` lets the relay dial it as a next hop, else
 * `undefined`. A host with percent-encoding is refused: connections are
 * shared by the decoded host (`authorityKey`), and the name checked must be
 * the name dialed.
 */
export function allowedHop(policy: Policy, uri: string): MsrpUri | undefined {
  if (policy.allow.length === 0) return undefined;
  let hop: MsrpUri;
  try {
    hop = parseMsrpUri(uri);
  } catch {
    return undefined;
  }
  if (hop.host.includes("%")) return undefined;
  return addressAllowed(policy.allow, hop.host, effectivePort(hop)) ? hop : undefined;
}
