/**
 * The one rule for connecting a session once SDP offer/answer is done, used
 * for sessions answered through the PBX and through the HTTP API alike: the
 * active side dials the peer and checks its certificate against the SDP's
 * `a=fingerprint`; the passive side binds only the peer its SDP named and,
 * for a direct TLS peer, only one presenting that certificate.
 *
 * @module
 */

import type { FingerprintSpec } from "../transport/mod.ts";
import type { MsrpEndpoint } from "./endpoint.ts";
import type { MsrpSession } from "./session.ts";

/** What offer/answer settled about the peer's connection. */
export interface NegotiatedPeer {
  /** Our role (RFC 6135): `active` dials, `passive` waits for the peer. */
  readonly setup: "active" | "passive";
  /** The peer's `a=path`. */
  readonly remotePath: readonly string[];
  /** The m-line protocol, e.g. `TCP/MSRP` or `TCP/TLS/MSRP`. */
  readonly protocol: string;
  /** The peer's certificate fingerprint (`a=fingerprint`, RFC 8122). */
  readonly fingerprint?: FingerprintSpec;
}

/**
 * Before our answer goes out, when we are passive: lets only the peer the
 * SDP named bind `session` (RFC 4975 §14) and, for a direct TLS peer, only
 * one presenting the certificate of its `a=fingerprint` (RFC 8122, RFC 4975
 * §14.1; behind a relay the connection is the relay's). Does nothing when
 * we are active.
 */
export function expectNegotiatedPeer(
  endpoint: MsrpEndpoint,
  session: MsrpSession,
  peer: NegotiatedPeer,
): void {
  if (peer.setup === "active") return;
  session.expectPeer(peer.remotePath);
  if (
    peer.fingerprint !== undefined && peer.protocol === "TCP/TLS/MSRP" &&
    peer.remotePath.length === 1
  ) {
    endpoint.expectPeerCertificate(session, peer.fingerprint);
  }
}

/**
 * Connects `session` to the peer its SDP described: dials it when we are
 * active (an `msrps` peer must present the certificate of its
 * `a=fingerprint`), otherwise waits for it as
 * {@linkcode expectNegotiatedPeer} says. Resolves once the session is
 * bound; rejects as `connectSession` does, or when the session closes first.
 */
export function connectNegotiated(
  endpoint: MsrpEndpoint,
  session: MsrpSession,
  peer: NegotiatedPeer,
): Promise<void> {
  if (peer.setup === "active") {
    return endpoint.connectSession(session, peer.remotePath, { fingerprint: peer.fingerprint });
  }
  expectNegotiatedPeer(endpoint, session, peer);
  return session.ready;
}
