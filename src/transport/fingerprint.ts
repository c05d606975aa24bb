/**
 * SHA-256 certificate fingerprints in the form SDP `a=fingerprint` uses
 * (RFC 8122 §5): 32 uppercase hex byte values joined by colons.
 *
 * @module
 */

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;
const FINGERPRINT = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}$/;

/**
 * The SHA-256 fingerprint of a certificate, e.g. `"AB:CD:…"` (95 characters),
 * for an SDP `a=fingerprint:sha-256` attribute or for
 * the `fingerprint` option of `connect`.
 *
 * @param cert PEM text (its first certificate is used) or DER bytes.
 * @throws {TypeError} when PEM text holds no certificate.
 */
export async function certificateFingerprint(cert: string | Uint8Array): Promise<string> {
  let der: Uint8Array<ArrayBuffer>;
  if (typeof cert === "string") {
    const match = PEM_CERTIFICATE.exec(cert);
    if (match === null) throw new TypeError("no PEM certificate found");
    der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } else {
    der = cert.slice();
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":");
}

/**
 * A SHA-256 fingerprint in canonical form (uppercase), checked for shape.
 *
 * @throws {TypeError} unless `text` is 32 colon-separated hex byte values;
 * other hash functions than SHA-256 are not supported.
 */
export function normalizeFingerprint(text: string): string {
  if (!FINGERPRINT.test(text)) {
    throw new TypeError(
      `invalid SHA-256 fingerprint ${JSON.stringify(text)}: expected 32 hex bytes joined by ":"`,
    );
  }
  return text.toUpperCase();
}
