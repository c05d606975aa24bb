/**
 * A `Deno.TlsConn` over a `node:tls` socket: the form in which this module
 * hands out TLS connections (see `_tls.ts` for why not Deno's own).
 *
 * @module
 */

import type { TLSSocket } from "node:tls";
import type { ReadGate } from "./_conn_duplex.ts";
import type { PeerCertificateSource } from "./fingerprint.ts";

const STREAM_CHUNK_BYTES = 16 * 1024;

function badResource(): Error {
  return new Deno.errors.BadResource("Bad resource ID");
}

/**
 * Adapts a connected `TLSSocket` to `Deno.TlsConn`, with the same semantics
 * as Deno's own connections where callers can tell: `close()` twice throws
 * `BadResource`, a read or write pending at `close()` rejects with
 * `Interrupted`, `read` resolves `null` at end of stream. Reads are
 * sequential (a second concurrent read throws `Busy`). While received bytes
 * wait to be read, the socket is paused and the read gate of the TCP stream
 * below is closed, so TCP flow control reaches the peer.
 */
export class NodeTlsConn implements Deno.TlsConn, PeerCertificateSource {
  /** The local address of the socket. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The DER of the certificate the peer presented in the handshake, if any. */
  readonly peerCertificate: Uint8Array | undefined;

  readonly #socket: TLSSocket;
  readonly #gate: ReadGate;
  readonly #chunks: Uint8Array[] = []; // received, not yet read
  #offset = 0; // bytes of #chunks[0] already read
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  #reader: PromiseWithResolvers<void> | undefined;
  readonly #writers = new Set<(error: Error) => void>();
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #writable: WritableStream<Uint8Array<ArrayBufferLike>> | undefined;

  /**
   * Takes over a socket whose TLS handshake is complete and which runs over
   * a stream read through `gate`.
   */
  constructor(
    socket: TLSSocket,
    gate: ReadGate,
    localAddr: Deno.NetAddr,
    remoteAddr: Deno.NetAddr,
  ) {
    this.#socket = socket;
    this.#gate = gate;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    const raw: unknown = socket.getPeerCertificate()?.raw;
    this.peerCertificate = raw instanceof Uint8Array && raw.length > 0 ? raw.slice() : undefined;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      socket.pause();
      gate.close();
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#wake();
      this.#failWrites(error);
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
      this.#failWrites(new Deno.errors.BrokenPipe("the connection is closed"));
    });
  }

  /** Reads received bytes into `p`; `null` at end of stream. */
  async read(p: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#closed) throw badResource();
      if (this.#chunks.length > 0) return this.#copyOut(p);
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return null;
      if (this.#reader !== undefined) throw new Deno.errors.Busy("a read is already pending");
      this.#reader = Promise.withResolvers<void>();
      await this.#reader.promise;
    }
  }

  /** Writes all of `p`; resolves with its length once the socket took it. */
  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(badResource());
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#writers.add(reject);
      this.#socket.write(p, (error?: Error | null) => {
        this.#writers.delete(reject);
        if (error) reject(error);
        else resolve(p.length);
      });
    });
  }

  /** Sends a TLS close_notify and shuts the write side down. */
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(badResource());
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  /** Sends a TLS close_notify when it can, then closes the socket at once. */
  close(): void {
    if (this.#closed) throw badResource();
    this.#closed = true;
    if (this.#socket.writable) this.#socket.end(); // queues close_notify ahead of the close
    this.#socket.destroy();
    const interrupted = new Deno.errors.Interrupted("operation canceled");
    this.#reader?.reject(interrupted);
    this.#reader = undefined;
    this.#failWrites(interrupted);
  }

  /** The handshake is complete when a `NodeTlsConn` exists. */
  handshake(): Promise<Deno.TlsHandshakeInfo> {
    const alpn = this.#socket.alpnProtocol;
    return Promise.resolve({ alpnProtocol: typeof alpn === "string" ? alpn : null });
  }

  /** Makes the socket keep the event loop alive (the default). */
  ref(): void {
    this.#socket.ref();
  }

  /** Lets the event loop finish while the socket is open. */
  unref(): void {
    this.#socket.unref();
  }

  /** The received bytes as a stream; cancelling it closes the connection. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        const buf = new Uint8Array(STREAM_CHUNK_BYTES);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
      cancel: () => this[Symbol.dispose](),
    });
  }

  /** A stream to write to; closing it shuts the write side down. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#writable ??= new WritableStream<Uint8Array<ArrayBufferLike>>({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.closeWrite(),
      abort: () => this[Symbol.dispose](),
    });
  }

  /** Closes the socket unless already closed. */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }

  #copyOut(p: Uint8Array): number {
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(p.length - n, chunk.length - this.#offset);
      p.set(chunk.subarray(this.#offset, this.#offset + take), n);
      n += take;
      this.#offset += take;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    if (this.#chunks.length === 0 && !this.#ended) {
      this.#socket.resume();
      this.#gate.open();
    }
    return n;
  }

  #wake(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.resolve();
  }

  #failWrites(error: Error): void {
    for (const reject of this.#writers) reject(error);
    this.#writers.clear();
  }
}
