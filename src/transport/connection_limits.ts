/**
 * Counting open connections against a limit in all and one per IP address,
 * shared by every way connections arrive (the MSRP listener, WebSockets
 * upgraded by an HTTP server).
 *
 * @module
 */

import { ipBytes } from "./address_rule.ts";

function limit(name: string, value: number | undefined): number {
  if (value === undefined) return Infinity;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The key of an address: IPv4-mapped IPv6 counts as its IPv4 address, brackets are dropped. */
function addressKey(hostname: string): string {
  const bytes = ipBytes(hostname);
  return bytes?.length === 4 ? bytes.join(".") : hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * Open connections in all and per IP address, each under its limit.
 * {@linkcode ConnectionLimits.admit} takes a place; the function it returns
 * gives it back.
 *
 * @example
 * ```ts
 * const limits = new ConnectionLimits({ maxConnections: 1 });
 * const release = limits.admit("127.0.0.1");
 * limits.admit("::1"); // undefined: the limit is reached
 * release?.();
 * ```
 */
export class ConnectionLimits {
  /** Most open connections. */
  readonly maxConnections: number;
  /** Most open connections from one IP address. */
  readonly maxConnectionsPerIp: number;
  readonly #perIp = new Map<string, number>();
  #count = 0;

  /**
   * Creates the counters; a limit left out is unlimited.
   *
   * @throws {RangeError} for a limit that is not a positive integer.
   */
  constructor(options: { maxConnections?: number; maxConnectionsPerIp?: number } = {}) {
    this.maxConnections = limit("maxConnections", options.maxConnections);
    this.maxConnectionsPerIp = limit("maxConnectionsPerIp", options.maxConnectionsPerIp);
  }

  /** Open connections counted. */
  get count(): number {
    return this.#count;
  }

  /** Open connections counted from `hostname` (an IP address). */
  countFrom(hostname: string): number {
    return this.#perIp.get(addressKey(hostname)) ?? 0;
  }

  /**
   * Counts a connection from `hostname` (an IP address): returns the
   * function that gives its place back (calling it again does nothing), or
   * `undefined`, counting nothing, when a limit is reached.
   */
  admit(hostname: string): (() => void) | undefined {
    const ip = addressKey(hostname);
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (this.#count >= this.maxConnections || fromIp >= this.maxConnectionsPerIp) return undefined;
    this.#count++;
    this.#perIp.set(ip, fromIp + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#count--;
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    };
  }
}
