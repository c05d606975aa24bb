/**
 * Outgoing MSRP connections over TCP or TLS (RFC 4975 §6: `msrps` URIs need
 * TLS).
 *
 * @module
 */

import { fingerprintFrom, type FingerprintSpec } from "./fingerprint.ts";
import { connectTcp } from "./_tcp_connect.ts";
import { connectTls, type PeerCheck } from "./_tls.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** IP address or host name to connect to; IPv6 without brackets, e.g. `"::1"`. */
  hostname: string;
  /** TCP port. */
  port: number;
  /**
   * Use TLS 1.2 or 1.3. By default the peer's chain is validated against
   * the default (Mozilla) roots plus `caCerts` and its name against `hostname`.
   */
  tls?: boolean;
  /** PEM certificates to trust besides the default roots (TLS only). */
  caCerts?: string[];
  /**
   * Accept only a peer certificate with this fingerprint: a SHA-256 one as
   * `"AB:CD:…"`, or any as SDP `a=fingerprint` gives it, e.g.
   * `{ hash: "sha-384", value: "AB:CD:…" }` (SHA-1, SHA-256, SHA-384 or
   * SHA-512; any case). Replaces chain and name validation, so self-signed
   * certificates work (RFC 8122). TLS only; excludes `caCerts` and `insecure`.
   */
  fingerprint?: FingerprintSpec;
  /**
   * Accept any peer certificate: encrypted, but open to an active attacker.
   * TLS only; excludes `caCerts` and `fingerprint`.
   */
  insecure?: boolean;
  /** Deadline for the TCP connection and the TLS handshake together (default 10 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Opens a TCP or TLS connection for an {@linkcode MsrpConnection}. With TLS
 * the handshake is complete, and the certificate checked, before it resolves;
 * the result is then a `Deno.TlsConn`.
 *
 * @example Pin the certificate from the peer's SDP
 * ```ts ignore
 * const conn = await connect({ hostname: "::1", port, tls: true, fingerprint });
 * ```
 *
 * @throws {TypeError} (as a rejection, like all errors) for contradictory
 * options (TLS options without `tls: true`, or more than one of `caCerts`,
 * `fingerprint`, `insecure`), a malformed fingerprint, or one with an
 * unsupported hash function (MD5, MD2).
 * @throws {RangeError} for a `timeoutMs` that is not positive.
 * @throws {TransportError} `connect-timeout`; `tls-handshake-failed`, e.g.
 * for a certificate that fails validation (the `cause` is `node:tls`'s error,
 * with a code such as `DEPTH_ZERO_SELF_SIGNED_CERT`); `fingerprint-mismatch`.
 * @throws {Deno.errors.ConnectionRefused} and Deno's other errors for the TCP
 * connection.
 */
export async function connect(options: ConnectOptions): Promise<Deno.Conn> {
  const { hostname, port, tls = false, caCerts, fingerprint, insecure = false } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
  }
  const trust = [caCerts !== undefined, fingerprint !== undefined, insecure].filter(Boolean);
  if (!tls && trust.length > 0) {
    throw new TypeError("caCerts, fingerprint and insecure need tls: true");
  }
  if (trust.length > 1) throw new TypeError("caCerts, fingerprint and insecure exclude each other");
  if (!tls) return await connectTcp(hostname, port, timeoutMs);
  const check: PeerCheck = fingerprint !== undefined
    ? { kind: "fingerprint", fingerprint: fingerprintFrom(fingerprint) }
    : insecure
    ? { kind: "none" }
    : { kind: "chain", caCerts };
  return await connectTls(hostname, port, check, timeoutMs);
}
