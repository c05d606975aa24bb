/**
 * Certificate fingerprints in the form SDP `a=fingerprint` uses (RFC 8122
 * §5, RFC 4572): a hash function name and the hash as uppercase hex byte
 * values joined by colons. SHA-1, SHA-256, SHA-384 and SHA-512 are
 * supported; MD5 and MD2, which RFC 8122 §5 forbids, and any other hash
 * function are refused.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { MsrpWebSocket } from "./_ws_socket.ts";

/** A hash function of `a=fingerprint` that we compute and check (RFC 8122 §5). */
export type FingerprintHash = "sha-1" | "sha-256" | "sha-384" | "sha-512";

/** A certificate fingerprint: which hash function, and the hash. */
export interface CertificateFingerprint {
  /** The hash function, lowercase as RFC 8122 registers it. */
  readonly hash: FingerprintHash;
  /** Uppercase hex byte values joined by colons, e.g. `"4A:AD:B9:…"`. */
  readonly value: string;
}

/** Hash length in bytes and the name `node:crypto` knows each function by. */
const HASHES: Readonly<Record<FingerprintHash, { bytes: number; algorithm: string }>> = {
  "sha-1": { bytes: 20, algorithm: "sha1" },
  "sha-256": { bytes: 32, algorithm: "sha256" },
  "sha-384": { bytes: 48, algorithm: "sha384" },
  "sha-512": { bytes: 64, algorithm: "sha512" },
};

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;
const HEX_BYTES = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$/;

function isFingerprintHash(name: string): name is FingerprintHash {
  return Object.hasOwn(HASHES, name);
}

function derOf(cert: string | Uint8Array): Uint8Array {
  if (typeof cert !== "string") return cert;
  const match = PEM_CERTIFICATE.exec(cert);
  if (match === null) throw new TypeError("no PEM certificate found");
  return Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

function digestOf(der: Uint8Array, hash: FingerprintHash): string {
  const digest = createHash(HASHES[hash].algorithm).update(der).digest();
  return Array.from(digest, (b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":");
}

/**
 * The fingerprint of a certificate with `hash` (SHA-256 by default), e.g.
 * `"AB:CD:…"` (95 characters for SHA-256), for an SDP `a=fingerprint`
 * attribute or for the `fingerprint` option of `connect`.
 *
 * @param cert PEM text (its first certificate is used) or DER bytes.
 * @throws {TypeError} when PEM text holds no certificate.
 */
export function certificateFingerprint(
  cert: string | Uint8Array,
  hash: FingerprintHash = "sha-256",
): Promise<string> {
  try {
    return Promise.resolve(digestOf(derOf(cert), hash));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Checks a fingerprint as an SDP `a=fingerprint` gives it (any case) and
 * puts it in canonical form.
 *
 * @example
 * ```ts
 * parseFingerprint("SHA-256", "4a:ad:…"); // { hash: "sha-256", value: "4A:AD:…" }
 * ```
 *
 * @throws {TypeError} for a hash function other than SHA-1, SHA-256,
 * SHA-384 and SHA-512 (RFC 8122 §5: MD5 and MD2 must not be used), or a
 * value that is not as many colon-separated hex bytes as the hash has.
 */
export function parseFingerprint(hash: string, value: string): CertificateFingerprint {
  const name = hash.toLowerCase();
  if (!isFingerprintHash(name)) {
    const why = name === "md5" || name === "md2"
      ? "RFC 8122 §5 forbids it"
      : "supported are sha-1, sha-256, sha-384 and sha-512";
    throw new TypeError(`unsupported fingerprint hash function ${JSON.stringify(hash)}: ${why}`);
  }
  const { bytes } = HASHES[name];
  if (!HEX_BYTES.test(value) || value.length !== bytes * 3 - 1) {
    throw new TypeError(
      `invalid ${name} fingerprint ${
        JSON.stringify(value)
      }: expected ${bytes} hex bytes joined by ":"`,
    );
  }
  return { hash: name, value: value.toUpperCase() };
}

/**
 * A fingerprint as options take it: SHA-256 as `"AB:CD:…"` text, or the
 * hash function and value as an SDP `a=fingerprint` gives them.
 */
export type FingerprintSpec = string | { readonly hash: string; readonly value: string };

/**
 * The canonical form of a fingerprint given as options take it.
 *
 * @throws {TypeError} as {@linkcode parseFingerprint}.
 */
export function fingerprintFrom(spec: FingerprintSpec): CertificateFingerprint {
  return typeof spec === "string"
    ? parseFingerprint("sha-256", spec)
    : parseFingerprint(spec.hash, spec.value);
}

/**
 * A SHA-256 fingerprint in canonical form (uppercase), checked for shape.
 *
 * @throws {TypeError} unless `text` is 32 colon-separated hex byte values.
 */
export function normalizeFingerprint(text: string): string {
  return parseFingerprint("sha-256", text).value;
}

/**
 * True when the certificate `der` has the fingerprint `expected` (its hash
 * function applied to the DER bytes, RFC 8122 §5).
 */
export function fingerprintMatches(expected: CertificateFingerprint, der: Uint8Array): boolean {
  return digestOf(der, expected.hash) === expected.value;
}

/** A connection that knows the certificate its TLS peer presented. */
export interface PeerCertificateSource {
  /** The DER of the peer's certificate; `undefined` when it presented none. */
  readonly peerCertificate: Uint8Array | undefined;
}

/**
 * The DER of the certificate the peer of `conn` presented in the TLS
 * handshake: the server's for a connection from `connect`, the client's
 * for one a TLS listener accepted (listeners ask every client for one).
 * `undefined` for TCP, WebSocket connections, or when there was none.
 */
export function peerCertificateOf(conn: Deno.Conn | MsrpWebSocket): Uint8Array | undefined {
  const der = (conn as Partial<PeerCertificateSource>).peerCertificate;
  return der instanceof Uint8Array ? der : undefined;
}
