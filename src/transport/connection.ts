/**
 * One MSRP connection over a TCP or TLS socket or an MSRP WebSocket: a read
 * loop feeding the streaming parser and a writer of queued frames, with
 * backpressure both ways and an optional idle timeout.
 *
 * @module
 */

import { MsrpHeaders } from "../msrp/message.ts";
import { type FrameHandler, MsrpParser } from "../msrp/parser.ts";
import { MsrpError, Status } from "../msrp/status.ts";
import type { ConnectionCloseInfo, ConnectionOptions, MsrpSocket } from "./connection_options.ts";
import { TransportError } from "./errors.ts";
import { type Wire, wireOf } from "./_wire.ts";

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
 * queued frames in order. It starts reading at once; it closes on peer end
 * of stream, a socket error, lost framing, a write queue overflow, the idle
 * timeout, or {@linkcode MsrpConnection.close}, and
 * {@linkcode MsrpConnection.closed} tells which.
 *
 * Over TCP and TLS frames are bytes back to back: they may be read in any
 * pieces, and frames sent close together share writes. Over a WebSocket
 * ({@linkcode MsrpConnection.framed}) each message is one whole frame both
 * ways (RFC 7977 §4.2): each {@linkcode MsrpConnection.send} goes out as one
 * message, and a received message that is not exactly one frame loses
 * framing (a 400 {@linkcode MsrpError} to the handler, then the close).
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
  /** True when the socket is a TLS connection (or a WebSocket over TLS). */
  readonly secure: boolean;
  /**
   * True over a WebSocket, where each {@linkcode MsrpConnection.send} must
   * hold exactly one whole frame (RFC 7977 §4.2); false over TCP and TLS.
   */
  readonly framed: boolean;
  /** Resolves once the socket is closed and no read or write is in progress. */
  readonly closed: Promise<ConnectionCloseInfo>;

  readonly #wire: Wire;
  readonly #handler: FrameHandler;
  readonly #parser: MsrpParser;
  readonly #maxQueuedBytes: number;
  readonly #highWaterMark: number;
  readonly #idleTimeoutMs: number;
  readonly #headTimeoutMs: number;
  #headSince = 0;
  #headTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #backpressure: (() => Promise<void> | undefined) | undefined;
  readonly #resolveClosed: (info: ConnectionCloseInfo) => void;

  #queued = 0; // sent and not yet written, including what is being written
  #drain: PromiseWithResolvers<void> | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;
  #frames = 0; // frames ended (or failed) in the current input
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
   * Wraps `socket` and starts reading. The connection owns the socket from
   * now on and closes it.
   *
   * @throws {RangeError} when a size or timeout option is out of range.
   */
  constructor(socket: MsrpSocket, handler: FrameHandler, options: ConnectionOptions = {}) {
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
    const readBufferSize = positive(
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
    this.#wire = wireOf(socket, readBufferSize);
    this.#handler = handler;
    this.localAddr = this.#wire.localAddr;
    this.remoteAddr = this.#wire.remoteAddr;
    this.secure = this.#wire.secure;
    this.framed = this.#wire.framed;
    this.#parser = new MsrpParser({
      head: (head) => {
        if (this.#closing) return;
        if (this.framed && this.#frames > 0) {
          this.#notOneFrame("it holds more than one");
        } else this.#handler.head(head);
      },
      body: (bytes) => {
        if (!this.#closing) this.#handler.body(bytes);
      },
      end: (flag) => {
        this.#frames++;
        if (!this.#closing) this.#handler.end(flag);
      },
      error: (failure) => {
        if (this.framed && this.#frames > 0) {
          this.#notOneFrame("it holds more than one");
          return;
        }
        this.#frames++;
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
   * Queues byte arrays to write after everything queued before: whole
   * frames, e.g. the parts of one from `encodeRequest`. Over TCP and TLS a
   * call may hold several frames, or none (`[]`, to wait for the queue to
   * drain); over a WebSocket ({@linkcode MsrpConnection.framed}) the parts
   * of one call are exactly one frame, sent as one message (RFC 7977 §4.2),
   * or none. Parts of 16 KiB or more (over a WebSocket, all parts) are
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
    this.#queued += this.#wire.queue(parts);
    if (this.#queued > this.#maxQueuedBytes) {
      const error = new TransportError(
        "write-queue-overflow",
        `write queue overflow: ${this.#queued} bytes queued, limit ${this.#maxQueuedBytes}`,
      );
      this.#close(error);
      return Promise.reject(error);
    }
    if (!this.#writing && !this.#writeScheduled && this.#wire.pending > 0) {
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
    this.#wire.clear();
    this.#queued = 0;
    this.#wire.close(error);
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

  // RFC 7977 §4.2: a WebSocket message holds exactly one frame. One that
  // holds a part of one or more than one loses framing, like garbage would.
  #notOneFrame(why: string): void {
    const error = new MsrpError(
      Status.BadRequest,
      `a WebSocket message must hold exactly one MSRP frame (RFC 7977 §4.2), but ${why}`,
      { framingLost: true },
    );
    this.#framingError = error;
    if (!this.#closing) {
      this.#handler.error({
        error,
        method: undefined,
        headers: new MsrpHeaders(),
        head: undefined,
      });
    }
    this.#close(error);
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
    try {
      while (!this.#closing) {
        this.#reading = true;
        let input: Uint8Array | null;
        try {
          input = await this.#wire.read();
        } finally {
          this.#reading = false;
        }
        if (this.#closing) break;
        if (input === null) {
          this.#close(
            this.#parser.idle ? undefined : new TransportError(
              "truncated",
              "the peer closed the connection in the middle of a frame",
            ),
          );
          break;
        }
        if (input.length === 0) continue;
        this.#bytesRead += input.length;
        if (this.#idleTimeoutMs > 0) this.#lastActivity = performance.now();
        this.#frames = 0;
        this.#parser.push(input);
        // A message of blank lines only (a keep-alive) holds no frame and is let be.
        if (this.framed && !this.#parser.idle && this.#framingError === undefined) {
          this.#notOneFrame("it ends inside one");
        }
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
      while (!this.#closing && this.#wire.pending > 0) {
        const n = await this.#wire.write();
        this.#bytesWritten += n;
        if (this.#closing) return;
        this.#queued -= n;
        if (this.#idleTimeoutMs > 0) this.#lastActivity = performance.now();
        if (this.#drain !== undefined && this.#queued < this.#highWaterMark) {
          this.#drain.resolve();
          this.#drain = undefined;
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
