/**
 * What an {@linkcode MsrpConnection} reads from and writes to: a byte stream
 * (TCP, TLS), where frames are bytes back to back, or an MSRP WebSocket,
 * where each message is one whole frame both ways (RFC 7977 §4.2).
 *
 * @module
 */

import { concatBytes } from "../msrp/parser.ts";
import { MsrpError } from "../msrp/status.ts";
import { CLOSE_PROTOCOL_ERROR, MsrpWebSocket } from "./_ws_socket.ts";
import { WriteQueue } from "./_write_queue.ts";

/** One transport under a connection: its input for the parser, its queue and writer. */
export interface Wire {
  /** Our address. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** True over TLS. */
  readonly secure: boolean;
  /** True when each input is one whole frame, and the parts of each `queue()` must be one. */
  readonly framed: boolean;
  /** The next input for the parser (possibly empty); `null` at the end of the stream. */
  read(): Promise<Uint8Array | null>;
  /** Queues the parts of one `send()`; returns how many bytes that was. */
  queue(parts: readonly Uint8Array[]): number;
  /** Bytes queued and not yet written. */
  readonly pending: number;
  /** Writes some of the queued bytes, resolving with how many; one call at a time, while `pending`. */
  write(): Promise<number>;
  /** Drops everything queued. */
  clear(): void;
  /** Closes the transport; `error`, when given, is why. */
  close(error: Error | undefined): void;
}

const EMPTY = new Uint8Array(0);

/** The wire of `socket`: reads of `readBufferSize` bytes from a byte stream. */
export function wireOf(socket: Deno.Conn | MsrpWebSocket, readBufferSize: number): Wire {
  return socket instanceof MsrpWebSocket
    ? new WebSocketWire(socket)
    : new StreamWire(socket, readBufferSize);
}

/** TCP or TLS: reads as they come, small frames coalesced into large writes. */
class StreamWire implements Wire {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  readonly secure: boolean;
  readonly framed = false;
  readonly #conn: Deno.Conn;
  readonly #size: number;
  #buf: Uint8Array;
  readonly #queue = new WriteQueue();
  #chunk: Uint8Array = EMPTY; // taken from the queue, written up to #offset
  #offset = 0;

  constructor(conn: Deno.Conn, readBufferSize: number) {
    this.#conn = conn;
    this.#size = readBufferSize;
    this.#buf = new Uint8Array(readBufferSize);
    this.localAddr = conn.localAddr as Deno.NetAddr;
    this.remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.secure = "handshake" in conn;
  }

  async read(): Promise<Uint8Array | null> {
    const n = await this.#conn.read(this.#buf);
    if (n === null) return null;
    // The parser hands out views of its input, which handlers may keep: never
    // reuse memory it saw. A small read is copied out so that a kept view does
    // not pin a whole read buffer; after a large one the buffer is given away.
    if (n * 4 <= this.#size) return this.#buf.slice(0, n);
    const input = this.#buf.subarray(0, n);
    this.#buf = new Uint8Array(this.#size);
    return input;
  }

  queue(parts: readonly Uint8Array[]): number {
    let n = 0;
    for (const part of parts) {
      if (part.length === 0) continue;
      this.#queue.push(part);
      n += part.length;
    }
    return n;
  }

  get pending(): number {
    return this.#queue.bytes + this.#chunk.length - this.#offset;
  }

  async write(): Promise<number> {
    if (this.#offset === this.#chunk.length) {
      this.#chunk = this.#queue.take();
      this.#offset = 0;
    }
    // Deno's write may take only part of the chunk.
    const n = await this.#conn.write(
      this.#offset === 0 ? this.#chunk : this.#chunk.subarray(this.#offset),
    );
    this.#offset += n;
    return n;
  }

  clear(): void {
    this.#queue.clear();
    this.#chunk = EMPTY;
    this.#offset = 0;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // The socket was already closed by its other owner; nothing is left to release.
    }
  }
}

/** A WebSocket: one message per frame both ways (RFC 7977 §4.2). */
class WebSocketWire implements Wire {
  readonly framed = true;
  readonly #socket: MsrpWebSocket;
  #messages: Uint8Array[] = [];
  #head = 0; // index of the next message to send
  #pending = 0;

  constructor(socket: MsrpWebSocket) {
    this.#socket = socket;
  }

  get localAddr(): Deno.NetAddr {
    return this.#socket.localAddr;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#socket.remoteAddr;
  }

  get secure(): boolean {
    return this.#socket.secure;
  }

  read(): Promise<Uint8Array | null> {
    return this.#socket.receive();
  }

  // The parts of one send() are one frame: they go out as one message.
  queue(parts: readonly Uint8Array[]): number {
    let n = 0;
    for (const part of parts) n += part.length;
    if (n === 0) return 0;
    this.#messages.push(concatBytes(parts));
    this.#pending += n;
    return n;
  }

  get pending(): number {
    return this.#pending;
  }

  async write(): Promise<number> {
    const message = this.#messages[this.#head];
    this.#messages[this.#head++] = EMPTY;
    if (this.#head === this.#messages.length) {
      this.#messages = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#messages.length) {
      this.#messages = this.#messages.slice(this.#head);
      this.#head = 0;
    }
    this.#pending -= message.length;
    await this.#socket.send(message);
    return message.length;
  }

  clear(): void {
    this.#messages = [];
    this.#head = 0;
    this.#pending = 0;
  }

  // Lost framing (the peer's fault) closes with 1002 and says why; anything else is a normal close.
  close(error: Error | undefined): void {
    if (error instanceof MsrpError && error.framingLost) {
      this.#socket.close(CLOSE_PROTOCOL_ERROR, error.message);
    } else this.#socket.close();
  }
}
