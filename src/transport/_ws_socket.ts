/**
 * A WebSocket that carries MSRP (RFC 7977): one MSRP frame per message both
 * ways (§4.2), received messages queued up to a limit, sends paced by
 * `bufferedAmount`. See `websocket.ts` for the handshake and the behaviour.
 *
 * @module
 */

import { MsrpWebSocketError } from "./errors.ts";

/** Options of an {@linkcode MsrpWebSocket}, also accepted by the upgrade and connect functions. */
export interface MsrpWebSocketOptions {
  /**
   * Most received bytes waiting to be read (default 16 MiB). Going over it
   * closes the WebSocket (code 1008) and makes
   * {@linkcode MsrpWebSocket.receive} reject with an `unread-limit`
   * {@linkcode MsrpWebSocketError}: the WebSocket cannot slow its peer down,
   * so a reader that pauses (a slow message sink) must not pause for longer
   * than this much data.
   */
  maxUnreadBytes?: number;
  /**
   * {@linkcode MsrpWebSocket.send} resolves once fewer bytes than this wait
   * in the WebSocket's send buffer (`bufferedAmount`; default 1 MiB).
   */
  maxBufferedBytes?: number;
  /** How often `send()` looks at `bufferedAmount` while it waits, in ms (default 4). */
  drainPollMs?: number;
  /**
   * Send a frame that is valid UTF-8 as a text message (the default);
   * false sends every frame as a binary message.
   */
  textFrames?: boolean;
  /**
   * The WebSocket runs over TLS (`wss:`, or TLS ended by a proxy in front of
   * us): {@linkcode MsrpWebSocket.secure}, and so `MsrpConnection.secure`.
   */
  secure?: boolean;
}

const DEFAULT_MAX_UNREAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const DEFAULT_DRAIN_POLL_MS = 4;
// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL = 1000;
/** The peer broke the protocol (RFC 6455 §7.4.1): for MSRP, a message that is not one frame. */
export const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_POLICY_VIOLATION = 1008;
/** Longest close reason, in UTF-8 bytes (RFC 6455 §5.5: 125 bytes of payload, 2 for the code). */
const MAX_REASON_BYTES = 123;

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

// `reason` cut to what a close frame holds, at a character boundary.
function fitReason(reason: string): string {
  let fitted = reason;
  while (encoder.encode(fitted).length > MAX_REASON_BYTES) fitted = fitted.slice(0, -1);
  return fitted;
}

function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  const fitted = fitReason(reason);
  try {
    ws.close(code, fitted);
  } catch {
    try {
      // The browser API (our client side) allows only 1000 and 3000-4999; 4000-4999 are private.
      ws.close(code === CLOSE_NORMAL ? CLOSE_NORMAL : 4000 + code % 1000, fitted);
    } catch {
      // Not open yet on the server side: the open handler closes it.
    }
  }
}

/**
 * A WebSocket carrying MSRP (RFC 7977): each received message, text or
 * binary, is one frame for {@linkcode receive}, and each frame given to
 * {@linkcode send} goes out as one message. `new MsrpConnection(socket,
 * handler)` runs MSRP over it; {@linkcode upgradeMsrpWebSocket} and
 * {@linkcode connectWebSocket} make one. Sets `ws.binaryType` to
 * `"arraybuffer"`. The addresses are reported as given.
 *
 * @example Serve an MSRP endpoint over WebSocket
 * ```ts ignore
 * Deno.serve((request, info) =>
 *   upgradeMsrpWebSocket(request, (socket) => endpoint.adopt(socket), { remoteAddr: info.remoteAddr })
 * );
 * ```
 */
export class MsrpWebSocket {
  /** Our address. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** True when the WebSocket runs over TLS (see {@linkcode MsrpWebSocketOptions.secure}). */
  readonly secure: boolean;
  /** Resolves when the WebSocket opens; rejects when it closes first. */
  readonly opened: Promise<void>;
  /** Resolves when the WebSocket has closed. */
  readonly ended: Promise<void>;

  readonly #ws: WebSocket;
  readonly #maxUnreadBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #drainPollMs: number;
  readonly #textFrames: boolean;
  #queue: (Uint8Array | Promise<Uint8Array>)[] = [];
  #head = 0; // index of the first message of #queue not yet received
  #unread = 0;
  #ended = false; // the WebSocket closed or failed
  #closed = false; // close() was called
  #error: MsrpWebSocketError | undefined;
  #failure = ""; // the message of the last error event
  #wake: PromiseWithResolvers<void> | undefined;
  readonly #sleepers = new Set<() => void>();
  readonly #open: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  readonly #end: PromiseWithResolvers<void> = Promise.withResolvers<void>();

  /**
   * Takes over `ws`, open or opening.
   *
   * @throws {RangeError} when a size or interval option is not a positive integer.
   */
  constructor(
    ws: WebSocket,
    localAddr: Deno.NetAddr,
    remoteAddr: Deno.NetAddr,
    options: MsrpWebSocketOptions = {},
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
    this.#textFrames = options.textFrames ?? true;
    this.secure = options.secure ?? false;
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
   * The next received message's bytes (a text message as UTF-8): resolves
   * once there is one, or with `null` once the WebSocket closed (after the
   * messages received before) or after {@linkcode close}. Empty messages
   * are skipped.
   *
   * @throws {MsrpWebSocketError} (as a rejection) `unread-limit` after the
   * unread limit closed the WebSocket.
   */
  async receive(): Promise<Uint8Array | null> {
    while (true) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#closed) return null;
      if (this.#head < this.#queue.length) {
        const entry = this.#queue[this.#head];
        // A Blob being read: later messages wait for it.
        const bytes = entry instanceof Promise ? await entry : entry;
        if (this.#queue[this.#head] !== entry) continue; // dropped meanwhile
        this.#queue[this.#head++] = EMPTY; // the message is the caller's now
        this.#unread -= bytes.length;
        this.#compact();
        return bytes;
      }
      if (this.#ended) return null;
      this.#wake ??= Promise.withResolvers<void>();
      await this.#wake.promise;
    }
  }

  /**
   * Sends `frame`, one whole MSRP frame, as one WebSocket message (RFC 7977
   * §4.2): text when it is valid UTF-8 (unless `textFrames` is false),
   * binary otherwise, as binary content needs. Waits for the WebSocket to
   * open first, and resolves once `bufferedAmount` is below
   * `maxBufferedBytes`. `frame` may be changed once the call returned.
   *
   * @throws {MsrpWebSocketError} (as a rejection) `closed` when the
   * WebSocket is closed or closes while waiting; `unread-limit` after the
   * unread limit closed it.
   */
  async send(frame: Uint8Array): Promise<void> {
    this.#checkWritable();
    if (frame.length === 0) return;
    if (this.#ws.readyState === WebSocket.CONNECTING) await this.opened;
    this.#checkWritable();
    let data: string | Uint8Array = frame;
    if (this.#textFrames) {
      try {
        data = utf8.decode(frame);
      } catch {
        // Not UTF-8: RFC 7977 §4.2 wants a binary message for binary content.
      }
    }
    try {
      this.#ws.send(data);
    } catch (e) {
      throw new MsrpWebSocketError("closed", "the WebSocket is closed", { cause: e });
    }
    while (this.#ws.bufferedAmount >= this.#maxBufferedBytes) {
      this.#checkWritable();
      await this.#sleep();
    }
  }

  /**
   * Closes the WebSocket with `code` (default 1000) and `reason` (cut to
   * 123 bytes), and drops the messages not yet received: a pending
   * {@linkcode receive} resolves with `null`. Does nothing when already
   * closed. From the client side, where the platform allows only 1000 and
   * 3000-4999, a code such as 1002 goes out as 4002.
   */
  close(code: number = CLOSE_NORMAL, reason = ""): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropQueue();
    closeSocket(this.#ws, code, reason);
    this.#notify();
  }

  #checkWritable(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#closed || this.#ended || this.#ws.readyState > WebSocket.OPEN) {
      throw new MsrpWebSocketError("closed", "the WebSocket is closed");
    }
  }

  // Drops the received entries from the queue once they pile up.
  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #dropQueue(): void {
    this.#queue = [];
    this.#head = 0;
    this.#unread = 0;
  }

  // Wakes a waiting receive and a waiting send.
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
