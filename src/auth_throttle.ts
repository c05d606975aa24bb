/**
 * Slows down guessing of credentials: after `limit` failed logins from one
 * client within `windowMs`, that client is refused without its credentials
 * being checked until the window has passed (HTTP `429`, relay AUTH `403`).
 * A client is its IPv4 address (also when it arrives IPv4-mapped) or the /64
 * prefix of its IPv6 address: one end site's network (RFC 6177), whose host
 * bits a client chooses freely.
 *
 * @example
 * ```ts
 * import { AuthThrottle } from "./auth_throttle.ts";
 * const throttle = new AuthThrottle(10, 60_000);
 * if (throttle.blocked("192.0.2.1") === 0) {
 *   // check the credentials; then throttle.failed(…) or throttle.succeeded(…)
 * }
 * ```
 *
 * @module
 */

import { ipBytes } from "./transport/address_rule.ts";

/** Most clients remembered at once; the oldest are forgotten first beyond it. */
const MAX_KEYS = 10_000;

interface Failures {
  /** Failures in the current window. */
  count: number;
  /** When the current window started (ms since the epoch). */
  since: number;
}

/**
 * Who a failed login from `address` counts against: the IPv4 address, or
 * `xxxx:xxxx:xxxx:xxxx::/64` for IPv6; anything that is not an IP address
 * (a Unix socket's name) as it is.
 */
export function clientKey(address: string): string {
  const bytes = ipBytes(address);
  if (!bytes) return address;
  if (bytes.length === 4) return bytes.join(".");
  const groups = [];
  for (let i = 0; i < 8; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${groups.join(":")}::/64`;
}

/** Counts failed logins per client (see {@linkcode clientKey}) in a fixed window. */
export class AuthThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  /** In insertion order, so the first entry is the oldest. */
  readonly #failures = new Map<string, Failures>();

  /**
   * Creates a throttle that blocks a client after `limit` failures within
   * `windowMs`. `now` is the clock (for tests).
   *
   * @throws {RangeError} when `limit` or `windowMs` is not a positive number.
   */
  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    if (!(limit >= 1) || !(windowMs >= 1)) {
      throw new RangeError(`expected limit ≥ 1 and windowMs ≥ 1, got ${limit} and ${windowMs}`);
    }
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Milliseconds until the client at `address` may try again; 0 when it may try now. */
  blocked(address: string): number {
    const entry = this.#current(clientKey(address));
    if (!entry || entry.count < this.#limit) return 0;
    return Math.max(1, entry.since + this.#windowMs - this.#now());
  }

  /** Records a failed login of the client at `address`. */
  failed(address: string): void {
    const key = clientKey(address);
    let entry = this.#current(key);
    if (!entry) {
      entry = { count: 0, since: this.#now() };
      this.#failures.set(key, entry);
      while (this.#failures.size > MAX_KEYS) {
        this.#failures.delete(this.#failures.keys().next().value!);
      }
    }
    entry.count++;
  }

  /** Forgets the failures of the client at `address` after a successful login. */
  succeeded(address: string): void {
    this.#failures.delete(clientKey(address));
  }

  #current(key: string): Failures | undefined {
    const entry = this.#failures.get(key);
    if (entry && this.#now() - entry.since >= this.#windowMs) {
      this.#failures.delete(key);
      return undefined;
    }
    return entry;
  }
}
