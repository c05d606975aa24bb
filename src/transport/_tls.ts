/**
 * TLS handshakes, client and server, over TCP connections made by Deno.
 *
 * Deno's TLS is rustls, which implements TLS 1.2 and 1.3 only: TLS 1.0 and
 * 1.1 can be neither offered nor accepted, as RFC 8996 requires. That holds
 * for `node:tls` in Deno too, which is rustls underneath (`minVersion` is set
 * to TLS 1.2 anyway).
 *
 * Why `node:tls` and not `Deno.connectTls` / `Deno.startTls` / `Deno.listenTls`:
 * - A `Deno.TlsConn` closed while its handshake is pending keeps its socket
 *   open until the peer finishes or aborts the handshake (rustls-tokio-stream
 *   waits for the handshake task, without a deadline), so a handshake timeout
 *   could not free the socket of a silent peer. Here the TCP connection stays
 *   a `Deno.Conn` this module owns (wrapped as a Duplex for `node:tls`), and
 *   closing it on timeout always releases it.
 * - Deno's own API always validates chain and name and exposes no peer
 *   certificate. `node:tls` with `rejectUnauthorized: false` records chain
 *   and name errors instead, still checks the handshake signature against the
 *   presented certificate's key, and gives the certificate's DER: enough to
 *   pin it by SHA-256 fingerprint (RFC 8122, as SDP `a=fingerprint` offers).
 *
 * @module
 */

import { isIP } from "node:net";
import {
  connect as nodeTlsConnect,
  rootCertificates,
  type SecureContext,
  TLSSocket,
} from "node:tls";
import { TransportError } from "./errors.ts";
import { certificateFingerprint } from "./fingerprint.ts";
import { duplexOf, ReadGate } from "./_conn_duplex.ts";
import { NodeTlsConn } from "./_node_tls_conn.ts";
import { connectTcp, connectTimeout } from "./_tcp_connect.ts";

/** How a client checks the server's certificate. */
export type PeerCheck =
  /** Chain to the default roots or `caCerts`, and the name. */
  | { readonly kind: "chain"; readonly caCerts?: readonly string[] }
  /** SHA-256 of the certificate equal to `fingerprint` (canonical form). */
  | { readonly kind: "fingerprint"; readonly fingerprint: string }
  /** No check at all. */
  | { readonly kind: "none" };

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

interface Handshake {
  /** The event that ends the handshake: `secureConnect` (client) or `secure` (server). */
  readonly event: "secureConnect" | "secure";
  readonly timeoutMs: number;
  readonly timeoutError: () => Error;
  readonly failure: (cause: Error) => Error;
  readonly signal?: AbortSignal;
  /** A last check once the handshake is done; an error fails it. */
  readonly check?: () => Promise<Error | undefined>;
}

// Waits for the handshake on `socket`, which runs over `tcp`; on any failure
// the socket is destroyed, which closes `tcp`.
function awaitHandshake(
  socket: TLSSocket,
  gate: ReadGate,
  tcp: Deno.TcpConn,
  h: Handshake,
): Promise<NodeTlsConn> {
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      h.signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off("end", onClose);
      socket.off("close", onClose);
      return true;
    };
    const fail = (error: Error): void => {
      if (!settle()) return;
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(h.failure(error));
    const onClose = (): void => fail(h.failure(new Error("the peer closed the connection")));
    const onAbort = (): void => fail(toError(h.signal?.reason));
    const timer = setTimeout(() => fail(h.timeoutError()), h.timeoutMs);
    h.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("error", onError);
    socket.on("end", onClose);
    socket.on("close", onClose);
    socket.once(h.event, async () => {
      try {
        const error = await h.check?.();
        if (error !== undefined) return fail(error);
      } catch (e) {
        return fail(toError(e));
      }
      if (settle()) resolve(new NodeTlsConn(socket, gate, tcp.localAddr, tcp.remoteAddr));
    });
  });
}

/**
 * Connects over TCP and runs a TLS client handshake, checking the server as
 * `check` says; all within `timeoutMs`.
 *
 * @throws {TransportError} `connect-timeout`, `tls-handshake-failed` (the
 * `cause` is `node:tls`'s error, e.g. code `DEPTH_ZERO_SELF_SIGNED_CERT` or
 * `ERR_TLS_CERT_ALTNAME_INVALID`) or `fingerprint-mismatch`; Deno's errors
 * for the TCP connection.
 */
export async function connectTls(
  hostname: string,
  port: number,
  check: PeerCheck,
  timeoutMs: number,
): Promise<Deno.TlsConn> {
  const deadline = performance.now() + timeoutMs;
  const tcp = await connectTcp(hostname, port, timeoutMs);
  const chain = check.kind === "chain";
  const gate = new ReadGate();
  const socket = nodeTlsConnect({
    socket: duplexOf(tcp, gate),
    host: hostname, // the name the certificate must match
    ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    minVersion: "TLSv1.2",
    rejectUnauthorized: chain,
    ...(chain
      ? check.caCerts === undefined ? {} : { ca: [...rootCertificates, ...check.caCerts] }
      : { checkServerIdentity: () => undefined }),
  });
  return await awaitHandshake(socket, gate, tcp, {
    event: "secureConnect",
    timeoutMs: Math.max(0, deadline - performance.now()),
    timeoutError: () => connectTimeout(hostname, port, timeoutMs),
    failure: (cause) =>
      new TransportError(
        "tls-handshake-failed",
        `TLS handshake with ${hostname} port ${port} failed: ${cause.message}`,
        { cause },
      ),
    check: check.kind === "fingerprint"
      ? async () => {
        const raw: Uint8Array | undefined = socket.getPeerCertificate().raw;
        const actual = raw === undefined ? "none" : await certificateFingerprint(raw);
        return actual === check.fingerprint ? undefined : new TransportError(
          "fingerprint-mismatch",
          `peer certificate fingerprint ${actual} is not the expected ${check.fingerprint}`,
        );
      }
      : undefined,
  });
}

/**
 * Runs a TLS server handshake on an accepted TCP connection. Resolves
 * `undefined`, with `tcp` closed, when it fails, takes longer than
 * `timeoutMs`, or `signal` aborts.
 */
export async function acceptTls(
  tcp: Deno.TcpConn,
  secureContext: SecureContext,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Deno.TlsConn | undefined> {
  const gate = new ReadGate();
  const socket = new TLSSocket(duplexOf(tcp, gate), { isServer: true, secureContext });
  try {
    return await awaitHandshake(socket, gate, tcp, {
      event: "secure",
      timeoutMs,
      signal,
      timeoutError: () => new Error("TLS handshake timeout"),
      failure: (cause) => cause,
    });
  } catch {
    return undefined; // a client that failed its handshake is simply dropped
  }
}
