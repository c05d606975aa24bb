/**
 * Accepting MSRP connections over TCP or TLS, with limits on how many are
 * open in all and from one IP address.
 *
 * @module
 */

import { createSecureContext, type SecureContext } from "node:tls";
import { acceptTls } from "./_tls.ts";
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
  /** Listen for TLS 1.2 or 1.3 with this certificate instead of plain TCP. */
  tls?: TlsCertificate;
  /** Most open connections; further ones are closed at once. Unlimited by default. */
  maxConnections?: number;
  /** Most open connections from one IP address; further ones are closed at once. */
  maxConnectionsPerIp?: number;
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
   * handshake.
   */
  readonly connectionCount: number;
  /** Connections closed at once because a limit was reached. */
  readonly rejectedCount: number;
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

function limit(name: string, value: number | undefined): number {
  if (value === undefined) return Infinity;
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
 * @throws {Deno.errors.AddrInUse} and Deno's other errors when the socket
 * cannot be opened; `node:tls`'s error when the certificate or key is invalid.
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
  readonly #secureContext: SecureContext | undefined;
  readonly #maxConnections: number;
  readonly #maxPerIp: number;
  readonly #handshakeTimeoutMs: number;
  readonly #perIp = new Map<string, number>();
  readonly #handshakes = new Set<Promise<void>>();
  readonly #abort = new AbortController(); // aborts pending handshakes on close
  #count = 0;
  #rejected = 0;
  #closing = false;
  #failure: { error: unknown } | undefined;

  constructor(options: ListenOptions, onConnection: (conn: Deno.Conn) => void) {
    this.#maxConnections = limit("maxConnections", options.maxConnections);
    this.#maxPerIp = limit("maxConnectionsPerIp", options.maxConnectionsPerIp);
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs === undefined
      ? DEFAULT_HANDSHAKE_TIMEOUT_MS
      : limit("handshakeTimeoutMs", options.handshakeTimeoutMs);
    this.#onConnection = onConnection;
    const { hostname, port, tls } = options;
    // TLS runs in node:tls over the accepted TCP connection, TLS 1.2 or 1.3 only (see _tls.ts).
    this.#secureContext = tls === undefined
      ? undefined
      : createSecureContext({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" });
    this.secure = tls !== undefined;
    this.#listener = Deno.listen({ hostname, port });
    this.addr = this.#listener.addr;
    this.closed = this.#acceptLoop();
    // `closed` may go unobserved; a failure is still reported to whoever awaits it.
    this.closed.catch(() => {});
  }

  get connectionCount(): number {
    return this.#count;
  }

  get rejectedCount(): number {
    return this.#rejected;
  }

  connectionsFrom(hostname: string): number {
    return this.#perIp.get(hostname) ?? 0;
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
    const ip = conn.remoteAddr.hostname;
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (this.#count >= this.#maxConnections || fromIp >= this.#maxPerIp) {
      this.#rejected++;
      conn.close();
      return;
    }
    this.#count++;
    this.#perIp.set(ip, fromIp + 1);
    const release = (): void => {
      this.#count--;
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    };
    if (this.#secureContext === undefined) {
      this.#deliver(new TrackedConn(conn, release));
      return;
    }
    const done = acceptTls(conn, this.#secureContext, this.#handshakeTimeoutMs, this.#abort.signal)
      .then((tls) => {
        this.#handshakes.delete(done);
        if (tls === undefined) release(); // acceptTls closed the connection
        else this.#deliver(new TrackedTlsConn(tls, release));
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
