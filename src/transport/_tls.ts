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
 *   pin it by fingerprint (RFC 8122, as SDP `a=fingerprint` offers).
 * - Deno's listener cannot ask clients for a certificate. Our server side
 *   always asks (RFC 4975 §14.1: a peer may be known by the fingerprint of
 *   its certificate); with a client CA the certificate is required and must
 *   chain to it (mutual TLS).
 *
 * @module
 */

import { isIP } from "node:net";
import {
  connect as nodeTlsConnect,
  createServer,
  rootCertificates,
  type TLSSocket,
} from "node:tls";
import { TransportError } from "./errors.ts";
import { type CertificateFingerprint, fingerprintMatches } from "./fingerprint.ts";
import { duplexOf, ReadGate } from "./_conn_duplex.ts";
import { NodeTlsConn } from "./_node_tls_conn.ts";
import { connectTcp, connectTimeout } from "./_tcp_connect.ts";

/** How a client checks the server's certificate. */
export type PeerCheck =
  /** Chain to the default roots or `caCerts`, and the name. */
  | { readonly kind: "chain"; readonly caCerts?: readonly string[] }
  /** The certificate's fingerprint equal to `fingerprint` (RFC 8122). */
  | { readonly kind: "fingerprint"; readonly fingerprint: CertificateFingerprint }
  /** No check at all. */
  | { readonly kind: "none" };

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

interface Handshake {
  readonly timeoutMs: number;
  readonly timeoutError: () => Error;
  readonly failure: (cause: Error) => Error;
  /** A last check once the handshake is done; an error fails it. */
  readonly check?: () => Error | undefined;
}

// Waits for the client handshake on `socket`, which runs over `tcp`; on any
// failure the socket is destroyed, which closes `tcp`.
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
    const timer = setTimeout(() => fail(h.timeoutError()), h.timeoutMs);
    socket.on("error", onError);
    socket.on("end", onClose);
    socket.on("close", onClose);
    socket.once("secureConnect", () => {
      let error: Error | undefined;
      try {
        error = h.check?.();
      } catch (e) {
        error = toError(e);
      }
      if (error !== undefined) return fail(error);
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
    timeoutMs: Math.max(0, deadline - performance.now()),
    timeoutError: () => connectTimeout(hostname, port, timeoutMs),
    failure: (cause) =>
      new TransportError(
        "tls-handshake-failed",
        `TLS handshake with ${hostname} port ${port} failed: ${cause.message}`,
        { cause },
      ),
    check: check.kind === "fingerprint"
      ? () => {
        const raw: Uint8Array | undefined = socket.getPeerCertificate()?.raw;
        const { hash, value } = check.fingerprint;
        return raw !== undefined && fingerprintMatches(check.fingerprint, raw)
          ? undefined
          : new TransportError(
            "fingerprint-mismatch",
            `peer certificate ${
              raw === undefined ? "missing" : "does not match"
            }: expected ${hash} fingerprint ${value}`,
          );
      }
      : undefined,
  });
}

/** What a TLS server presents, and what it asks of its clients. */
export interface ServerTls {
  /** The certificate chain, PEM, leaf first. */
  readonly cert: string;
  /** The leaf's private key, PEM. */
  readonly key: string;
  /**
   * CA certificates, PEM: a client must present a certificate that chains
   * to one of them. Without it a client's certificate is asked for but
   * optional, and not validated.
   */
  readonly clientCa?: string;
}

/**
 * Runs a TLS server handshake on an accepted TCP connection, asking the
 * client for its certificate. Resolves `undefined`, with `tcp` closed, when
 * it fails — with `tls.clientCa`, also when the client presents no
 * certificate or one that does not chain to that CA — takes longer than
 * `timeoutMs`, or `signal` aborts.
 */
export function acceptTls(
  tcp: Deno.TcpConn,
  tls: ServerTls,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Deno.TlsConn | undefined> {
  const gate = new ReadGate();
  const duplex = duplexOf(tcp, gate);
  const mutual = tls.clientCa !== undefined;
  // A server that never listens, fed this one connection: unlike a bare
  // TLSSocket it acts on rejectUnauthorized. Deno's node:tls refuses a
  // missing client certificate in the handshake itself but only records a
  // certificate that fails validation; the server then closes the
  // connection as the handshake ends, and it is never handed out.
  const server = createServer({
    cert: tls.cert,
    key: tls.key,
    minVersion: "TLSv1.2",
    requestCert: true,
    rejectUnauthorized: mutual,
    handshakeTimeout: timeoutMs,
    ...(mutual ? { ca: tls.clientCa } : {}),
  });
  return new Promise((resolve) => {
    let done = false;
    const finish = (socket?: TLSSocket): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      duplex.off("end", onAbort);
      duplex.off("close", onAbort);
      server.removeAllListeners();
      if (socket === undefined || socket.destroyed || (mutual && !socket.authorized)) {
        socket?.destroy();
        duplex.destroy(); // a client that failed its handshake is simply dropped
        resolve(undefined);
        return;
      }
      resolve(new NodeTlsConn(socket, gate, tcp.localAddr, tcp.remoteAddr));
    };
    const onAbort = (): void => finish();
    const timer = setTimeout(onAbort, timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    // The server's socket does not notice a client that hangs up mid-handshake.
    duplex.once("end", onAbort);
    duplex.once("close", onAbort);
    server.on("secureConnection", (socket: TLSSocket) => finish(socket));
    server.on("tlsClientError", (_error: Error, socket: TLSSocket) => {
      socket.destroy();
      finish();
    });
    if (signal.aborted) finish();
    else server.emit("connection", duplex);
  });
}
