/**
 * A WebSocket as the byte stream an {@linkcode MsrpConnection} reads and
 * writes (see `websocket.ts` for the behaviour): received messages queue up
 * to `maxUnreadBytes`, writes go out one message per MSRP frame and wait for
 * `bufferedAmount` to drain.
 *
 * @module
 */

import { MsrpWebSocketError } from "./errors.ts";
import { type AlignedMessage, FrameAligner } from "./_ws_frames.ts";

/** Options of {@linkcode webSocketConn}, also accepted by the upgrade and connect functions. */
export interface WebSocketConnOptions {
  /**
   * Most received bytes waiting to be read (default 16 MiB). Going over it
   * closes the WebSocket (code 1008) and makes `read()` reject with an
   * `unread-limit` {@linkcode MsrpWebSocketError}: the WebSocket cannot
   * slow its peer down, so a reader that pauses (a slow message sink) must
   * not pause for longer than this much data.
   */
  maxUnreadBytes?: number;
  /**
   * `write()` resolves once fewer bytes than this wait in the WebSocket's
   * send buffer (`bufferedAmount`; default 1 MiB).
   */
  maxBufferedBytes?: number;
  /** How often `write()` looks at `bufferedAmount` while it waits, in ms (default 4). */
  drainPollMs?: number;
  /**
   * Send each MSRP frame as one WebSocket message (RFC 7977 §4.2; the
   * default). When false, each write goes out as it comes, so a message may
   * hold several frames or part of one.
   */
  frameAligned?: boolean;
  /**
   * Largest WebSocket message sent (default 16 MiB): a longer frame goes
   * out in several messages.
   */
  maxMessageBytes?: number;
  /**
   * Send a frame that is valid UTF-8 as a text message (the default);
   * false sends every message as binary.
   */
  textFrames?: boolean;
  /**
   * The WebSocket runs over TLS (`wss:`): the connection then has a
   * `handshake` member, so {@linkcode MsrpConnection.secure} is true.
   */
  secure?: boolean;
}

const DEFAULT_MAX_UNREAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const DEFAULT_DRAIN_POLL_MS = 4;
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const CLOSE_NORMAL = 1000;
const CLOSE_POLICY_VIOLATION = 1008;
// The browser API allows only 1000 and 3000-4999 in close(); 4000-4999 are private.
const CLOSE_POLICY_VIOLATION_PRIVATE = 4008;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    ws.close(code, reason);
  } catch {
    try {
      ws.close(code === CLOSE_POLICY_VIOLATION ? CLOSE_POLICY_VIOLATION_PRIVATE : CLOSE_NORMAL);
    } catch {
      // Not open yet on the server side: the open handler closes it.
    }
  }
}

/** The members of `Deno.Conn` that {@linkcode MsrpConnection} uses. */
type ByteStream = Pick<Deno.Conn, "read" | "write" | "close" | "localAddr" | "remoteAddr">;

/** A WebSocket as a byte stream; see {@linkcode webSocketConn}. */
export class WebSocketByteStream implements ByteStream {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  /** Resolves when the WebSocket opens; rejects when it closes first. */
  readonly opened: Promise<void>;
  /** Resolves when the WebSocket has closed. */
  readonly ended: Promise<void>;

  readonly #ws: WebSocket;
  readonly #maxUnreadBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #drainPollMs: number;
  readonly #textFrames: boolean;
  readonly #aligner: FrameAligner | undefined;
  #queue: (Uint8Array | Promise<Uint8Array>)[] = [];
  #head = 0; // index of the first unread entry of #queue
  #offset = 0; // bytes of #queue[#head] already read
  #unread = 0;
  #ended = false; // the WebSocket closed or failed
  #closed = false; // close() was called
  #error: MsrpWebSocketError | undefined;
  #failure = ""; // the message of the last error event
  #wake: PromiseWithResolvers<void> | undefined;
  readonly #sleepers = new Set<() => void>();
  readonly #open: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  readonly #end: PromiseWithResolvers<void> = Promise.withResolvers<void>();

  constructor(
    ws: WebSocket,
    localAddr: Deno.NetAddr,
    remoteAddr: Deno.NetAddr,
    options: WebSocketConnOptions,
  ) {
    this.#maxUnreadBytes = positive(
      "maxUnreadBytes",
      options.maxUnreadBytes,
      DEFAULT_MAX_UNREAD_BYTES,
    );
    this.#maxBufferedBytes = positive(
      "maxBufferedBytes",
      options.maxBufferedBytes,
      DEFAULT_MAX_BUFFERED_BYTES,
    );
    this.#drainPollMs = positive("drainPollMs", options.drainPollMs, DEFAULT_DRAIN_POLL_MS);
    const maxMessageBytes = positive(
      "maxMessageBytes",
      options.maxMessageBytes,
      DEFAULT_MAX_MESSAGE_BYTES,
    );
    this.#aligner = options.frameAligned === false ? undefined : new FrameAligner(maxMessageBytes);
    this.#textFrames = options.textFrames ?? true;
    this.#ws = ws;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.opened = this.#open.promise;
    this.opened.catch(() => {});
    this.ended = this.#end.promise;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("open", this.#onOpen);
    ws.addEventListener("message", this.#onMessage);
    ws.addEventListener("error", this.#onError);
    ws.addEventListener("close", this.#onClose);
    if (ws.readyState === WebSocket.OPEN) this.#open.resolve();
    else if (ws.readyState !== WebSocket.CONNECTING) this.#onClose();
  }

  /** The WebSocket's error message, when an error event came. */
  get failure(): string {
    return this.#failure;
  }

  /**
   * Copies received bytes into `buf`: resolves with their number once there
   * are some, or `null` once the WebSocket closed (after the bytes received
   * before) or after {@linkcode close}.
   *
   * @throws {MsrpWebSocketError} (as a rejection) `unread-limit` after the
   * unread limit closed the WebSocket.
   */
  async read(buf: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#closed) return null;
      if (this.#head < this.#queue.length) {
        const first = this.#queue[this.#head];
        if (first instanceof Promise) {
          const bytes = await first; // a Blob being read: later messages wait for it
          if (this.#queue[this.#head] === first) this.#queue[this.#head] = bytes;
          continue;
        }
        return this.#copyOut(buf);
      }
      if (this.#ended) return null;
      this.#wake ??= Promise.withResolvers<void>();
      await this.#wake.promise;
    }
  }

  /**
   * Sends `p` (see the module documentation for how it is cut into
   * messages) and resolves with its length once `bufferedAmount` is below
   * `maxBufferedBytes`. Waits for the WebSocket to open first. `p` is copied.
   *
   * @throws {MsrpWebSocketError} (as a rejection) `closed` when the
   * WebSocket is closed or closes while waiting; `unread-limit` after the
   * unread limit closed it.
   */
  async write(p: Uint8Array): Promise<number> {
    this.#checkWritable();
    if (p.length === 0) return 0;
    if (this.#ws.readyState === WebSocket.CONNECTING) await this.opened;
    this.#checkWritable();
    const messages: AlignedMessage[] = this.#aligner === undefined
      ? [{ bytes: p.slice(), whole: false }]
      : this.#aligner.push(p);
    for (const message of messages) this.#send(message);
    while (this.#ws.bufferedAmount >= this.#maxBufferedBytes) {
      this.#checkWritable();
      await this.#sleep();
    }
    return p.length;
  }

  /**
   * Closes the WebSocket (code 1000) and drops unread bytes; a pending
   * `read()` resolves with `null`. Does nothing when already closed.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropQueue();
    closeSocket(this.#ws, CLOSE_NORMAL, "");
    this.#notify();
  }

  #checkWritable(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#closed || this.#ended || this.#ws.readyState > WebSocket.OPEN) {
      throw new MsrpWebSocketError("closed", "the WebSocket is closed");
    }
  }

  #send(message: AlignedMessage): void {
    let data: string | Uint8Array = message.bytes;
    if (message.whole && this.#textFrames) {
      try {
        data = utf8.decode(message.bytes);
      } catch {
        // Not UTF-8: RFC 7977 §4.2 wants a binary message for binary content.
      }
    }
    try {
      this.#ws.send(data);
    } catch (e) {
      throw new MsrpWebSocketError("closed", "the WebSocket is closed", { cause: e });
    }
  }

  #copyOut(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head];
      if (entry instanceof Promise) break;
      const take = Math.min(buf.length - n, entry.length - this.#offset);
      buf.set(entry.subarray(this.#offset, this.#offset + take), n);
      n += take;
      this.#offset += take;
      if (this.#offset === entry.length) {
        this.#offset = 0;
        this.#head++;
      }
    }
    this.#unread -= n;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return n;
  }

  #dropQueue(): void {
    this.#queue = [];
    this.#head = 0;
    this.#offset = 0;
    this.#unread = 0;
  }

  // Wakes a waiting read and a waiting write.
  #notify(): void {
    this.#wake?.resolve();
    this.#wake = undefined;
    for (const wake of [...this.#sleepers]) wake();
  }

  // Resolves after drainPollMs, or at once when the WebSocket closes.
  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.#drainPollMs);
      this.#sleepers.add(done);
    });
  }

  readonly #onOpen = (): void => {
    this.#open.resolve();
    if (this.#closed) closeSocket(this.#ws, CLOSE_NORMAL, "");
  };

  readonly #onMessage = (event: MessageEvent): void => {
    if (this.#closed || this.#error !== undefined) return;
    const data: unknown = event.data;
    let entry: Uint8Array | Promise<Uint8Array>;
    let size: number;
    if (typeof data === "string") {
      entry = encoder.encode(data);
      size = entry.length;
    } else if (data instanceof ArrayBuffer) {
      entry = new Uint8Array(data);
      size = entry.length;
    } else if (ArrayBuffer.isView(data)) {
      entry = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      size = entry.length;
    } else if (data instanceof Blob) {
      // binaryType was changed to "blob" by someone else: read it, keeping the order.
      size = data.size;
      entry = data.arrayBuffer().then((b) => new Uint8Array(b));
      entry.catch(() => {});
    } else {
      return;
    }
    if (size === 0) return;
    this.#unread += size;
    if (this.#unread > this.#maxUnreadBytes) {
      this.#error = new MsrpWebSocketError(
        "unread-limit",
        `more than ${this.#maxUnreadBytes} received bytes were waiting to be read`,
      );
      this.#dropQueue();
      closeSocket(this.#ws, CLOSE_POLICY_VIOLATION, "MSRP receive buffer limit exceeded");
    } else {
      this.#queue.push(entry);
    }
    this.#notify();
  };

  readonly #onError = (event: Event): void => {
    this.#failure = event instanceof ErrorEvent ? event.message : "WebSocket error";
    this.#ended = true;
    this.#notify();
  };

  readonly #onClose = (): void => {
    this.#ended = true;
    this.#open.reject(
      new MsrpWebSocketError(
        "connect-failed",
        `the WebSocket closed before it opened${this.#failure ? `: ${this.#failure}` : ""}`,
      ),
    );
    this.#end.resolve();
    this.#notify();
  };
}

/** A {@linkcode WebSocketByteStream} over TLS: `MsrpConnection.secure` looks for `handshake`. */
class SecureWebSocketByteStream extends WebSocketByteStream {
  /** The browser API tells nothing about the TLS handshake; no ALPN is used. */
  handshake(): Promise<Deno.TlsHandshakeInfo> {
    return Promise.resolve({ alpnProtocol: null });
  }
}

/** The byte stream of `ws`, with a `handshake` member when `options.secure`. */
export function byteStream(
  ws: WebSocket,
  localAddr: Deno.NetAddr,
  remoteAddr: Deno.NetAddr,
  options: WebSocketConnOptions,
): WebSocketByteStream {
  return options.secure
    ? new SecureWebSocketByteStream(ws, localAddr, remoteAddr, options)
    : new WebSocketByteStream(ws, localAddr, remoteAddr, options);
}

/**
 * The one cast of this module. `MsrpConnection` (and so
 * `MsrpEndpoint.adopt`) uses only `read`, `write`, `close`, `localAddr`,
 * `remoteAddr` and whether `handshake` exists; the stream has those and
 * nothing else of `Deno.Conn` (no `readable`, `writable`, `closeWrite`,
 * `ref`, `unref` or `Symbol.dispose`).
 */
export function asConn(stream: WebSocketByteStream): Deno.Conn {
  return stream as ByteStream as Deno.Conn;
}
