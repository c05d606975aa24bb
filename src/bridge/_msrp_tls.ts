/**
 * The MSRP listener's TLS material, read from the files `MSRP_TLS_CERT`,
 * `MSRP_TLS_KEY` and `MSRP_TLS_CLIENT_CA` name and checked when the service
 * starts.
 *
 * @module
 */

import { type Config, ConfigError } from "../config.ts";
import type { EndpointTlsOptions } from "../session/mod.ts";
import { checkKeyPair, pemCertificates } from "../transport/pem.ts";

/** What the MSRP listener serves `msrps` with, and what our SDP says of it. */
export interface MsrpTls {
  /** Certificate, key and client CA for the endpoint. */
  readonly endpoint: EndpointTlsOptions;
  /** SHA-256 fingerprint of our certificate, for `a=fingerprint` (RFC 8122). */
  readonly fingerprint: string;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readPem(variable: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${reason(e)}`);
  }
}

function check<T>(variable: string, path: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    throw new ConfigError(`${variable}: ${path}: ${reason(e)}`);
  }
}

/**
 * Reads and checks the MSRP TLS files; `undefined` when `MSRP_TLS_CERT` is
 * not set (plain TCP).
 *
 * @throws {ConfigError} naming the variable whose file cannot be read,
 * holds no usable certificate or key, or whose key is not the certificate's.
 */
export function readMsrpTls(config: Config): MsrpTls | undefined {
  const { msrpTlsCert, msrpTlsKey, msrpTlsClientCa } = config;
  if (msrpTlsCert === undefined || msrpTlsKey === undefined) return undefined;
  const cert = readPem("MSRP_TLS_CERT", msrpTlsCert);
  const [leaf] = check("MSRP_TLS_CERT", msrpTlsCert, () => pemCertificates(cert));
  const key = readPem("MSRP_TLS_KEY", msrpTlsKey);
  check("MSRP_TLS_KEY", msrpTlsKey, () => checkKeyPair(cert, key));
  let clientCa: string | undefined;
  if (msrpTlsClientCa !== undefined) {
    const ca = readPem("MSRP_TLS_CLIENT_CA", msrpTlsClientCa);
    check("MSRP_TLS_CLIENT_CA", msrpTlsClientCa, () => pemCertificates(ca));
    clientCa = ca;
  }
  return { endpoint: { cert, key, clientCa }, fingerprint: leaf.fingerprint256 };
}
