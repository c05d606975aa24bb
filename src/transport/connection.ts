/**
 * One MSRP connection over a TCP or TLS socket: a read loop feeding the
 * streaming parser and a writer that coalesces queued frames, with
 * backpressure both ways and an optional idle timeout.
 *
 * @module
 */

import { type FrameHandler, MsrpParser, type ParserLimits } from "../msrp/parser.ts";
import type { MsrpError } from "../msrp/status.ts";
import { TransportError } from "./errors.ts";
import { WriteQueue } from "./_write_queue.ts";

/** Options of an {@linkcode MsrpConnection}. */
export interface ConnectionOptions {
  /** Limits for the frame parser; the parser's defaults for those not given. */
  parserLimits?: Partial<ParserLimits>;
  /**
   * Hard cap on bytes waiting to be written (default 16 MiB). Going over it
   * closes the connection with a `write-queue-overflow` {@linkcode TransportError}:
   * the peer does not read, or the sender ignores {@linkcode MsrpConnection.send}'s promise.
   */
  maxQueuedBytes?: number;
  /**
   * {@linkcode MsrpConnection.send} resolves once fewer bytes than this wait
   * to be written (default 1 MiB). Must not exceed `maxQueuedBytes`.
   */
  highWaterMark?: number;
  /** Close after this long without reading or writing a byte; 0 (the default) never. */
  idleTimeoutMs?: number;
  /**
   * Close when a frame's start line and headers have not all arrived this
   * long after their first byte; 0 (the default) never. Cuts a peer that
   * trickles a head byte by byte (slow-loris), which the idle timeout cannot.
   */
  headTimeoutMs?: number;
  /** Bytes asked for in each read (default 64 KiB). */
  readBufferSize?: number;
  /**
   * Called after the frames of each read were handed to the handler. When it
   * returns a promise, nothing more is read until it settles, so a slow
   * consumer slows the peer down through TCP flow control. A rejection closes
   * the connection with that error.
   */
  backpressure?: () => Promise<void> | undefined;
}

/** How a connection ended; see {@linkcode MsrpConnection.closed}. */
export interface ConnectionCloseInfo {
  /**
   * Why it closed; `undefined` after {@linkcode MsrpConnection.close} without
   * an error or a clean end of stream from the peer.
   */
  readonly error?: Error;
  /** Bytes read from the socket. */
  readonly bytesRead: number;
  /** Bytes written to the socket. */
  readonly bytesWritten: number;
}

const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_READ_BUFFER_SIZE = 64 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();

let nextId = 1;

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * An MSRP connection: reads frames into a {@linkcode FrameHandler} and writes
 * queued byte arrays in order. It starts reading at once; it closes on peer
 * end of stream, a socket error, lost framing, a write queue overflow, the
 * idle timeout, or {@linkcode MsrpConnection.close}, and
 * {@linkcode MsrpConnection.closed} tells which.
 *
 * @example Send a frame
 * ```ts ignore
 * import { encodeRequest } from "../msrp/serializer.ts";
 * const connection = new MsrpConnection(await connect({ hostname: "::1", port }), handler);
 * await connection.send(encodeRequest(request));
 * ```
 */
export class MsrpConnection {
  /** A number unique among the connections of this process. */
  readonly id: number = nextId++;
  /** The local address of the socket. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** True when the socket is a TLS connection. */
  readonly secure: boolean;
  /** Resolves once the socket is closed and no read or write is in progress. */
  readonly closed: Promise<ConnectionCloseInfo>;

  readonly #conn: Deno.Conn;
  readonly #handler: FrameHandler;
  readonly #parser: MsrpParser;
  readonly #maxQueuedBytes: number;
  readonly #highWaterMark: number;
  readonly #idleTimeoutMs: number;
  readonly #headTimeoutMs: number;
  #headSince = 0;
  #headTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #readBufferSize: number;
  readonly #backpressure: (() => Promise<void> | undefined) | undefined;
  readonly #resolveClosed: (info: ConnectionCloseInfo) => void;

  readonly #queue = new WriteQueue();
  #queued = 0; // sent and not yet written, including the chunk being written
  #drain: PromiseWithResolvers<void> | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;
  #reading = false;
  #writing = false;
  #writeScheduled = false;
  #framingError: MsrpError | undefined;
  #closing = false;
  #settled = false;
  #closeError: Error | undefined;
  #closedError: TransportError | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastActivity = 0;

  /**
   * Wraps `conn` and starts reading. The connection owns the socket from now
   * on and closes it.
   *
   * @throws {RangeError} when a size or timeout option is out of range.
   */
  constructor(conn: Deno.Conn, handler: FrameHandler, options: ConnectionOptions = {}) {
    this.#maxQueuedBytes = positive(
      "maxQueuedBytes",
      options.maxQueuedBytes,
      DEFAULT_MAX_QUEUED_BYTES,
    );
    this.#highWaterMark = positive(
      "highWaterMark",
      options.highWaterMark,
      Math.min(DEFAULT_HIGH_WATER_MARK, this.#maxQueuedBytes),
    );
    if (this.#highWaterMark > this.#maxQueuedBytes) {
      throw new RangeError(
        `highWaterMark (${this.#highWaterMark}) exceeds maxQueuedBytes (${this.#maxQueuedBytes})`,
      );
    }
    this.#readBufferSize = positive(
      "readBufferSize",
      options.readBufferSize,
      DEFAULT_READ_BUFFER_SIZE,
    );
    const idle = options.idleTimeoutMs ?? 0;
    if (!(idle >= 0) || !Number.isFinite(idle)) {
      throw new RangeError(`idleTimeoutMs must be 0 or more, got ${idle}`);
    }
    this.#idleTimeoutMs = idle;
    const head = options.headTimeoutMs ?? 0;
    if (!(head >= 0) || !Number.isFinite(head)) {
      throw new RangeError(`headTimeoutMs must be 0 or more, got ${head}`);
    }
    this.#headTimeoutMs = head;
    this.#backpressure = options.backpressure;
    this.#conn = conn;
    this.#handler = handler;
    this.localAddr = conn.localAddr as Deno.NetAddr;
    this.remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.secure = "handshake" in conn;
    this.#parser = new MsrpParser({
      head: (head) => {
        if (!this.#closing) this.#handler.head(head);
      },
      body: (bytes) => {
        if (!this.#closing) this.#handler.body(bytes);
      },
      end: (flag) => {
        if (!this.#closing) this.#handler.end(flag);
      },
      error: (failure) => {
        if (failure.error.framingLost) this.#framingError = failure.error;
        if (!this.#closing) this.#handler.error(failure);
      },
    }, options.parserLimits);
    const { promise, resolve } = Promise.withResolvers<ConnectionCloseInfo>();
    this.closed = promise;
    this.#resolveClosed = resolve;
    if (idle > 0) {
      this.#lastActivity = performance.now();
      this.#idleTimer = setTimeout(this.#onIdle, idle);
    }
    this.#readLoop();
  }

  /** Bytes passed to {@linkcode MsrpConnection.send} and not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Queued bytes from which {@linkcode MsrpConnection.send} waits for the queue to drain. */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  /** Bytes read from the socket so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes written to the socket so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * Queues byte arrays to write after everything queued before, typically the
   * parts of one frame from `encodeRequest`. Parts of 16 KiB or more are
   * written from the caller's memory: do not modify them afterwards.
   *
   * Resolves once fewer than `highWaterMark` bytes wait to be written (at
   * once when that is already so); a sender that awaits each call never
   * queues much more than that.
   *
   * @throws {TransportError} (as a rejection) `closed`, whose `cause` is the
   * close reason, when the connection is closed or closes before the queue
   * drains; `write-queue-overflow` when this call took the queue past
   * `maxQueuedBytes`, which closes the connection.
   */
  send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError);
    for (const part of parts) {
      if (part.length === 0) continue;
      this.#queue.push(part);
      this.#queued += part.length;
    }
    if (this.#queued > this.#maxQueuedBytes) {
      const error = new TransportError(
        "write-queue-overflow",
        `write queue overflow: ${this.#queued} bytes queued, limit ${this.#maxQueuedBytes}`,
      );
      this.#close(error);
      return Promise.reject(error);
    }
    if (!this.#writing && !this.#writeScheduled && this.#queue.bytes > 0) {
      // Start on a microtask so that frames sent in the same tick share a write.
      this.#writeScheduled = true;
      queueMicrotask(this.#startWriting);
    }
    if (this.#queued < this.#highWaterMark) return RESOLVED;
    this.#drain ??= Promise.withResolvers<void>();
    return this.#drain.promise;
  }

  /**
   * Closes the socket at once, dropping queued bytes and rejecting pending
   * {@linkcode MsrpConnection.send} promises. `error` becomes the close
   * reason. Does nothing when already closed.
   */
  close(error?: Error): void {
    this.#close(error);
  }

  #close(error: Error | undefined): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closeError = error;
    this.#closedError = new TransportError(
      "closed",
      error === undefined ? "connection closed" : `connection closed: ${error.message}`,
      { cause: error },
    );
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#headTimer);
    this.#queue.clear();
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch {
      // The socket was already closed by its other owner; nothing is left to release.
    }
    this.#drain?.reject(this.#closedError);
    this.#drain = undefined;
    this.#settle();
  }

  // Resolves `closed` once closing and no socket operation is pending.
  #settle(): void {
    if (!this.#closing || this.#reading || this.#writing || this.#settled) return;
    this.#settled = true;
    this.#resolveClosed({
      ...(this.#closeError === undefined ? {} : { error: this.#closeError }),
      bytesRead: this.#bytesRead,
      bytesWritten: this.#bytesWritten,
    });
  }

  // After each read: start, keep or stop the clock of a head in progress.
  #watchHead(): void {
    if (this.#headTimeoutMs === 0) return;
    if (!this.#parser.inHead) {
      this.#headSince = 0;
      return;
    }
    if (this.#headSince === 0) this.#headSince = performance.now();
    this.#headTimer ??= setTimeout(this.#onHeadTimer, this.#headTimeoutMs);
  }

  readonly #onHeadTimer = (): void => {
    this.#headTimer = undefined;
    if (this.#headSince === 0) return;
    const elapsed = performance.now() - this.#headSince;
    if (elapsed >= this.#headTimeoutMs) {
      this.#close(
        new TransportError(
          "head-timeout",
          `a frame head took longer than ${this.#headTimeoutMs} ms`,
        ),
      );
    } else {
      this.#headTimer = setTimeout(this.#onHeadTimer, this.#headTimeoutMs - elapsed);
    }
  };

  readonly #onIdle = (): void => {
    const idle = performance.now() - this.#lastActivity;
    if (idle >= this.#idleTimeoutMs) {
      this.#close(
        new TransportError("idle-timeout", `no data read or written for ${this.#idleTimeoutMs} ms`),
      );
    } else {
      this.#idleTimer = setTimeout(this.#onIdle, this.#idleTimeoutMs - idle);
    }
  };

  async #readLoop(): Promise<void> {
    const size = this.#readBufferSize;
    let buf = new Uint8Array(size);
    try {
      while (!this.#closing) {
        this.#reading = true;
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } finally {
          this.#reading = false;
        }
        if (this.#closing) break;
        if (n === null) {
          this.#close(
            this.#parser.idle ? undefined : new TransportError(
              "truncated",
              "the peer closed the connection in the middle of a frame",
            ),
          );
          break;
        }
        if (n === 0) continue;
        this.#bytesRead += n;
        if (this.#idleTimeoutMs > 0) this.#lastActivity = performance.now();
        // The parser hands out views of its input, which handlers may keep: never
        // reuse memory it saw. A small read is copied out so that a kept view does
        // not pin a whole read buffer; after a large one the buffer is given away.
        let input: Uint8Array;
        if (n * 4 <= size) {
          input = buf.slice(0, n);
        } else {
          input = buf.subarray(0, n);
          buf = new Uint8Array(size);
        }
        this.#parser.push(input);
        this.#watchHead();
        if (this.#framingError !== undefined) {
          this.#close(this.#framingError);
          break;
        }
        const wait = this.#backpressure?.();
        if (wait !== undefined) await wait;
      }
    } catch (e) {
      this.#close(toError(e));
    }
    this.#settle();
  }

  readonly #startWriting = (): void => {
    this.#writeScheduled = false;
    if (!this.#closing) this.#writeLoop();
  };

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (!this.#closing && this.#queue.bytes > 0) {
        const chunk = this.#queue.take();
        // Deno's write may take only part of the chunk.
        for (let offset = 0; offset < chunk.length;) {
          const n = await this.#conn.write(offset === 0 ? chunk : chunk.subarray(offset));
          this.#bytesWritten += n;
          if (this.#closing) return;
          offset += n;
          this.#queued -= n;
          if (this.#idleTimeoutMs > 0) this.#lastActivity = performance.now();
          if (this.#drain !== undefined && this.#queued < this.#highWaterMark) {
            this.#drain.resolve();
            this.#drain = undefined;
          }
        }
      }
    } catch (e) {
      this.#close(toError(e));
    } finally {
      this.#writing = false;
      this.#settle();
    }
  }
}
