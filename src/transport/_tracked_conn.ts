/**
 * Connections handed out by a listener, which learns through them when each
 * one is closed so that it can count them.
 *
 * @module
 */

import { peerCertificateOf, type PeerCertificateSource } from "./fingerprint.ts";

/** A `Deno.Conn` that calls `release` once, when it is closed or disposed. */
export class TrackedConn implements Deno.Conn<Deno.NetAddr> {
  readonly #conn: Deno.Conn<Deno.NetAddr>;
  #release: (() => void) | undefined;

  /** Wraps `conn`; `release` runs on the first `close()` or dispose. */
  constructor(conn: Deno.Conn<Deno.NetAddr>, release: () => void) {
    this.#conn = conn;
    this.#release = release;
  }

  /** The local address of the socket. */
  get localAddr(): Deno.NetAddr {
    return this.#conn.localAddr;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.NetAddr {
    return this.#conn.remoteAddr;
  }

  /** The received bytes as a stream. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#conn.readable;
  }

  /** A stream to write to. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#conn.writable;
  }

  /** Reads from the socket. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#conn.read(p);
  }

  /** Writes to the socket. */
  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  /** Shuts the write side down. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  /** Closes the socket and releases its place in the listener's counts. */
  close(): void {
    try {
      this.#conn.close();
    } finally {
      this.#releaseOnce();
    }
  }

  /** Makes the socket keep the event loop alive (the default). */
  ref(): void {
    this.#conn.ref();
  }

  /** Lets the event loop finish while the socket is open. */
  unref(): void {
    this.#conn.unref();
  }

  /** Closes the socket unless already closed, and releases its place. */
  [Symbol.dispose](): void {
    try {
      this.#conn[Symbol.dispose]();
    } finally {
      this.#releaseOnce();
    }
  }

  #releaseOnce(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

/** A {@linkcode TrackedConn} over a TLS connection. */
export class TrackedTlsConn extends TrackedConn implements Deno.TlsConn, PeerCertificateSource {
  readonly #tls: Deno.TlsConn;
  /** The DER of the certificate the client presented, if any. */
  readonly peerCertificate: Uint8Array | undefined;

  /** Wraps `conn`; `release` runs on the first `close()` or dispose. */
  constructor(conn: Deno.TlsConn, release: () => void) {
    super(conn, release);
    this.#tls = conn;
    this.peerCertificate = peerCertificateOf(conn);
  }

  /** The handshake result (complete before the listener hands the connection out). */
  handshake(): Promise<Deno.TlsHandshakeInfo> {
    return this.#tls.handshake();
  }
}
