/**
 * Accepting MSRP connections over TCP or TLS, with limits on how many are
 * open in all and from one IP address.
 *
 * @module
 */

import { acceptTls, type ServerTls } from "./_tls.ts";
import { ConnectionLimits } from "./connection_limits.ts";
import { checkKeyPair, pemCertificates } from "./pem.ts";
import { TrackedConn, TrackedTlsConn } from "./_tracked_conn.ts";

/** A server certificate chain and its private key, both PEM text. */
export interface TlsCertificate {
  /** The certificate chain, leaf first. */
  cert: string;
  /** The private key of the leaf certificate. */
  key: string;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** The IP address to listen on, e.g. `"127.0.0.1"` or `"::1"`. */
  hostname: string;
  /** The port; 0 picks a free one (see {@linkcode MsrpListener.addr}). */
  port: number;
  /**
   * Listen for TLS 1.2 or 1.3 with this certificate instead of plain TCP.
   * Every client is asked for its certificate (its DER is then
   * `peerCertificateOf(conn)`), which is optional unless `clientCa` is set.
   */
  tls?: TlsCertificate;
  /**
   * With TLS, mutual TLS: CA certificates (PEM) one of which must have
   * issued the client's certificate. A client without a certificate, or
   * with one that does not chain to them, fails the handshake and is closed
   * without being handed out.
   */
  clientCa?: string;
  /** Most open connections; further ones are closed at once. Unlimited by default. */
  maxConnections?: number;
  /** Most open connections from one IP address; further ones are closed at once. */
  maxConnectionsPerIp?: number;
  /**
   * Count connections in these limits, shared with connections that arrive
   * elsewhere (e.g. WebSockets), instead of `maxConnections` and
   * `maxConnectionsPerIp`.
   */
  limits?: ConnectionLimits;
  /** With TLS: close a connection whose handshake takes longer than this (default 10 s). */
  handshakeTimeoutMs?: number;
}

/** A listening socket; see {@linkcode listen}. */
export interface MsrpListener {
  /** The address listened on, with the real port when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** True when listening for TLS. */
  readonly secure: boolean;
  /**
   * Open connections: handed out and not yet closed, or in their TLS
   * handshake (with shared `limits`, every connection they count).
   */
  readonly connectionCount: number;
  /** Connections closed at once because a limit was reached. */
  readonly rejectedCount: number;
  /**
   * TLS connections closed because their handshake failed, timed out, was
   * refused (e.g. a client certificate `clientCa` did not issue) or was cut
   * short by `close()`; none of them was handed out.
   */
  readonly failedHandshakeCount: number;
  /**
   * Resolves once the listener is closed and no handshake is pending; rejects
   * when accepting failed for good (the listener is then closed) or
   * `onConnection` threw.
   */
  readonly closed: Promise<void>;
  /** Open connections from `hostname`, an IP address as in `remoteAddr`. */
  connectionsFrom(hostname: string): number;
  /**
   * Stops listening and aborts pending TLS handshakes. Connections already
   * handed out stay open. Does nothing when already closed.
   */
  close(): void;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

function timeout(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Listens for TCP or, with `options.tls`, TLS connections and hands each one
 * to `onConnection`, typically to wrap it in an {@linkcode MsrpConnection}.
 * A TLS connection is handed out once its handshake is complete. A connection
 * counts against the limits until its `close()` is called.
 *
 * @example
 * ```ts ignore
 * const listener = listen({ hostname: "::1", port: 0 }, (conn) => {
 *   new MsrpConnection(conn, handler);
 * });
 * ```
 *
 * @throws {RangeError} for a limit or timeout that is not a positive integer.
 * @throws {TypeError} when the certificate, key or client CA does not parse,
 * the key is not the certificate's, or `clientCa` is given without `tls`.
 * @throws {Deno.errors.AddrInUse} and Deno's other errors when the socket
 * cannot be opened.
 */
export function listen(
  options: ListenOptions,
  onConnection: (conn: Deno.Conn) => void,
): MsrpListener {
  return new Listener(options, onConnection);
}

class Listener implements MsrpListener {
  readonly addr: Deno.NetAddr;
  readonly secure: boolean;
  readonly closed: Promise<void>;

  readonly #listener: Deno.TcpListener;
  readonly #onConnection: (conn: Deno.Conn) => void;
  readonly #tls: ServerTls | undefined;
  readonly #limits: ConnectionLimits;
  readonly #handshakeTimeoutMs: number;
  readonly #handshakes = new Set<Promise<void>>();
  readonly #abort = new AbortController(); // aborts pending handshakes on close
  #rejected = 0;
  #failedHandshakes = 0;
  #closing = false;
  #failure: { error: unknown } | undefined;

  constructor(options: ListenOptions, onConnection: (conn: Deno.Conn) => void) {
    this.#limits = options.limits ?? new ConnectionLimits(options);
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs === undefined
      ? DEFAULT_HANDSHAKE_TIMEOUT_MS
      : timeout("handshakeTimeoutMs", options.handshakeTimeoutMs);
    this.#onConnection = onConnection;
    const { hostname, port, tls, clientCa } = options;
    if (clientCa !== undefined) {
      if (tls === undefined) throw new TypeError("clientCa needs tls");
      pemCertificates(clientCa);
    }
    if (tls !== undefined) checkKeyPair(tls.cert, tls.key);
    // TLS runs in node:tls over the accepted TCP connection, TLS 1.2 or 1.3 only (see _tls.ts).
    this.#tls = tls === undefined ? undefined : { cert: tls.cert, key: tls.key, clientCa };
    this.secure = tls !== undefined;
    this.#listener = Deno.listen({ hostname, port });
    this.addr = this.#listener.addr;
    this.closed = this.#acceptLoop();
    // `closed` may go unobserved; a failure is still reported to whoever awaits it.
    this.closed.catch(() => {});
  }

  get connectionCount(): number {
    return this.#limits.count;
  }

  get rejectedCount(): number {
    return this.#rejected;
  }

  get failedHandshakeCount(): number {
    return this.#failedHandshakes;
  }

  connectionsFrom(hostname: string): number {
    return this.#limits.countFrom(hostname);
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#listener.close();
    this.#abort.abort(new Error("the listener is closed"));
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closing) break;
        // The peer gave up before we accepted: nothing to do with it.
        if (
          e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.ConnectionReset
        ) {
          continue;
        }
        this.#failure ??= { error: e };
        this.close();
        break;
      }
      this.#admit(conn);
    }
    await Promise.all(this.#handshakes);
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  #admit(conn: Deno.TcpConn): void {
    const release = this.#limits.admit(conn.remoteAddr.hostname);
    if (release === undefined) {
      this.#rejected++;
      conn.close();
      return;
    }
    if (this.#tls === undefined) {
      this.#deliver(new TrackedConn(conn, release));
      return;
    }
    const done = acceptTls(conn, this.#tls, this.#handshakeTimeoutMs, this.#abort.signal)
      .then((tls) => {
        this.#handshakes.delete(done);
        if (tls === undefined) {
          this.#failedHandshakes++;
          release(); // acceptTls closed the connection
        } else {
          this.#deliver(new TrackedTlsConn(tls, release));
        }
      });
    this.#handshakes.add(done);
  }

  #deliver(conn: TrackedConn): void {
    try {
      this.#onConnection(conn);
    } catch (e) {
      conn[Symbol.dispose]();
      this.#failure ??= { error: e };
      this.close();
    }
  }
}
