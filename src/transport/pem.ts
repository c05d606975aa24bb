/**
 * Checks of PEM certificates and private keys before a TLS listener uses
 * them, so that a bad file is reported when the listener starts rather than
 * at each handshake.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The certificates of PEM text, in order, each checked to parse as X.509.
 *
 * @throws {TypeError} when the text holds no certificate or one does not parse.
 */
export function pemCertificates(text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TypeError("no PEM certificate found");
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new TypeError(`certificate ${i + 1} does not parse: ${reason(e)}`);
    }
  });
}

/**
 * Checks a server certificate chain (leaf first) and its private key: both
 * parse, and the key is the leaf's.
 *
 * @throws {TypeError} naming `"certificate"` or `"key"` as the culprit.
 */
export function checkKeyPair(cert: string, key: string): void {
  let leaf: X509Certificate;
  try {
    leaf = pemCertificates(cert)[0];
  } catch (e) {
    throw new TypeError(`certificate: ${reason(e)}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TypeError(`key: no usable PEM private key: ${reason(e)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TypeError(`key: not the private key of the certificate (${leaf.subject})`);
  }
}
