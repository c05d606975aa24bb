/**
 * MSRP over WebSocket (RFC 7977): a WebSocket as the byte stream an
 * {@linkcode MsrpConnection} reads and writes, the server side of the
 * handshake with the `msrp` subprotocol (for `Deno.serve` or Hono), and
 * outgoing WebSocket connections.
 *
 * Received WebSocket messages, text or binary, are read as one byte stream:
 * a peer may split a frame over several messages or pack several frames into
 * one, and the streaming parser copes with both. What we send goes out as one
 * WebSocket message per MSRP frame (RFC 7977 §4.2), as text when the whole
 * frame is valid UTF-8 and as binary otherwise (binary content needs a binary
 * message).
 *
 * Flow control: the WebSocket API has none on the receiving side (neither
 * the browser API nor Deno's server-side WebSocket can pause a peer), so
 * received bytes that nobody reads pile up in memory; past `maxUnreadBytes`
 * the WebSocket is closed with an error. Sending waits for
 * `WebSocket.bufferedAmount` to drop below `maxBufferedBytes`.
 *
 * @module
 */

import { TransportError } from "./errors.ts";
import { type AlignedMessage, FrameAligner } from "./_ws_frames.ts";

/** The WebSocket subprotocol of MSRP (RFC 7977 §4.1, §9.1). */
export const MSRP_SUBPROTOCOL = "msrp";

/** What went wrong on an MSRP WebSocket; see {@linkcode MsrpWebSocketError}. */
export type MsrpWebSocketErrorCode =
  /** More than `maxUnreadBytes` received bytes waited to be read: the WebSocket was closed. */
  | "unread-limit"
  /** The WebSocket is closed or closing; nothing more can be written. */
  | "closed"
  /** The WebSocket connection could not be opened (refused, HTTP error, bad handshake). */
  | "connect-failed"
  /** The server did not select the `msrp` subprotocol. */
  | "subprotocol";

/** Options of an {@linkcode MsrpWebSocketError}. */
export interface MsrpWebSocketErrorOptions {
  /** The underlying cause. */
  cause?: unknown;
}

/** An error of the WebSocket transport, told apart by its {@linkcode MsrpWebSocketError.code}. */
export class MsrpWebSocketError extends Error {
  /** What went wrong. */
  readonly code: MsrpWebSocketErrorCode;

  /** Creates an error with a code and a human-readable message. */
  constructor(
    code: MsrpWebSocketErrorCode,
    message: string,
    options: MsrpWebSocketErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MsrpWebSocketError";
    this.code = code;
  }
}

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
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
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
class WebSocketByteStream implements ByteStream {
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

function byteStream(
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
function asConn(stream: WebSocketByteStream): Deno.Conn {
  return stream as ByteStream as Deno.Conn;
}

/**
 * Adapts an open or opening WebSocket to the `Deno.Conn` members an
 * {@linkcode MsrpConnection} uses: received messages (binary, or text as
 * UTF-8) are queued and read as one byte stream; writes are sent as one
 * message per MSRP frame and resolve when `bufferedAmount` is low; closing
 * it closes the WebSocket, and the WebSocket closing or failing ends the
 * stream (`read()` resolves with `null`). Sets `ws.binaryType` to
 * `"arraybuffer"`. The addresses are reported as given.
 *
 * @example Serve an MSRP endpoint over WebSocket
 * ```ts ignore
 * Deno.serve((request, info) =>
 *   upgradeMsrpWebSocket(request, (conn) => endpoint.adopt(conn), { remoteAddr: info.remoteAddr })
 * );
 * ```
 *
 * @throws {RangeError} when a size or interval option is not a positive integer.
 */
export function webSocketConn(
  ws: WebSocket,
  localAddr: Deno.NetAddr,
  remoteAddr: Deno.NetAddr,
  options: WebSocketConnOptions = {},
): Deno.Conn {
  return asConn(byteStream(ws, localAddr, remoteAddr, options));
}

/** Options of {@linkcode upgradeMsrpWebSocket}. */
export interface UpgradeMsrpWebSocketOptions extends WebSocketConnOptions {
  /**
   * The client's address, e.g. `info.remoteAddr` from `Deno.serve`'s
   * handler or `getConnInfo(c)` in Hono; `0.0.0.0:0` when not given.
   */
  remoteAddr?: Deno.NetAddr;
  /** Our address; by default the host and port of the request URL. */
  localAddr?: Deno.NetAddr;
  /**
   * Seconds without a pong before Deno closes the WebSocket; Deno pings in
   * between (RFC 7977 §5.4 keepalive). Deno's default (120) when not given;
   * 0 turns pings off.
   */
  idleTimeout?: number;
  /**
   * Counts the WebSocket against a connection limit before the handshake
   * is accepted (e.g. `ConnectionLimits.admit`): returns the
   * function that gives its place back — called once the WebSocket has
   * closed, or at once when the upgrade fails — or the response refusing
   * the upgrade (e.g. a 503), which is then returned without a handshake.
   */
  admit?: () => (() => void) | Response;
}

function plainResponse(status: number, text: string, headers: Record<string, string> = {}) {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function urlAddr(url: URL): Deno.NetAddr {
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  return {
    transport: "tcp",
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
  };
}

/**
 * Accepts an MSRP WebSocket handshake (RFC 7977 §4.1) inside a `Deno.serve`
 * or Hono handler: the client must offer the `msrp` subprotocol, and the
 * answer selects it. Calls `onConnection` with the connection before
 * returning the `101` response; the connection waits for the WebSocket to
 * open before it writes.
 *
 * Answers `426` (with `Upgrade: websocket`) to a request that is not a
 * WebSocket upgrade, `400` with a plain-text reason when the client does
 * not offer `msrp` or the handshake is invalid, and what `options.admit`
 * returns when it refuses the connection; `onConnection` is not called
 * then.
 *
 * @example With Hono
 * ```ts ignore
 * app.get("/msrp", (c) =>
 *   upgradeMsrpWebSocket(c.req.raw, (conn) => endpoint.adopt(conn), {
 *     remoteAddr: getConnInfo(c).remote as Deno.NetAddr,
 *   }));
 * ```
 *
 * @throws {RangeError} for a bad size or interval option. What
 * `onConnection` throws is thrown on, after the connection was closed.
 */
export function upgradeMsrpWebSocket(
  request: Request,
  onConnection: (conn: Deno.Conn) => void,
  options: UpgradeMsrpWebSocketOptions = {},
): Response {
  const upgrade = request.headers.get("upgrade");
  if (upgrade === null || upgrade.trim().toLowerCase() !== "websocket") {
    return plainResponse(
      426,
      `MSRP is served here over WebSocket (RFC 7977): send a WebSocket upgrade request ` +
        `offering the subprotocol "${MSRP_SUBPROTOCOL}"`,
      { upgrade: "websocket" },
    );
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (!offered.includes(MSRP_SUBPROTOCOL)) {
    return plainResponse(
      400,
      offered.length === 0
        ? `the WebSocket subprotocol "${MSRP_SUBPROTOCOL}" is required (RFC 7977 §4.1), ` +
          `but the request has no Sec-WebSocket-Protocol header`
        : `the WebSocket subprotocol "${MSRP_SUBPROTOCOL}" is required (RFC 7977 §4.1), ` +
          `but the request offers only ${offered.map((p) => JSON.stringify(p)).join(", ")}`,
    );
  }
  const url = new URL(request.url);
  const localAddr = options.localAddr ?? urlAddr(url);
  const remoteAddr = options.remoteAddr ?? { transport: "tcp", hostname: "0.0.0.0", port: 0 };
  const secure = options.secure ?? url.protocol === "https:";
  const admission = options.admit?.();
  if (admission instanceof Response) return admission;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    admission?.();
  };
  let upgraded: Deno.WebSocketUpgrade;
  try {
    upgraded = Deno.upgradeWebSocket(request, {
      protocol: MSRP_SUBPROTOCOL,
      ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
    });
  } catch (e) {
    release();
    return plainResponse(400, `invalid WebSocket handshake: ${e instanceof Error ? e.message : e}`);
  }
  const stream = byteStream(upgraded.socket, localAddr, remoteAddr, { ...options, secure });
  stream.ended.then(release);
  try {
    onConnection(asConn(stream));
  } catch (e) {
    stream.close();
    release();
    throw e;
  }
  return upgraded.response;
}

/** Options of {@linkcode connectWebSocket}. */
export interface ConnectWebSocketOptions extends WebSocketConnOptions {
  /** Deadline for the WebSocket to open (default 10 s). */
  timeoutMs?: number;
}

// Settles like `promise`, or rejects with `error()` after `ms`.
async function deadline<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(error()), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a WebSocket to `url` (`ws:` or `wss:`) offering the `msrp`
 * subprotocol (RFC 7977 §4.1) and resolves, once it is open, with a
 * connection for an {@linkcode MsrpConnection} (see
 * {@linkcode webSocketConn}). The remote address is the URL's host and port;
 * the local address is not known to the WebSocket API and reads as port 0.
 * With `wss:` the platform validates the server's certificate.
 *
 * @example
 * ```ts ignore
 * const connection = new MsrpConnection(await connectWebSocket("wss://relay.example.com/msrp"), handler);
 * ```
 *
 * @throws {TypeError} (as a rejection, like all errors) for a URL that is
 * not `ws:` or `wss:`.
 * @throws {RangeError} for a bad size, interval or timeout option.
 * @throws {TransportError} `connect-timeout` when it is not open within `timeoutMs`.
 * @throws {MsrpWebSocketError} `connect-failed` when the connection or the
 * handshake failed (the message tells why, e.g. an HTTP 400); `subprotocol`
 * when the server did not select `msrp`.
 */
export async function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions = {},
): Promise<Deno.Conn> {
  const target = new URL(url);
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    throw new TypeError(`expected a ws: or wss: URL, got ${JSON.stringify(target.href)}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
  }
  const remoteAddr = urlAddr(target);
  const localAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: remoteAddr.hostname.includes(":") ? "::" : "0.0.0.0",
    port: 0,
  };
  const secure = options.secure ?? target.protocol === "wss:";
  const ws = new WebSocket(target, MSRP_SUBPROTOCOL);
  const stream = byteStream(ws, localAddr, remoteAddr, { ...options, secure });
  const started = performance.now();
  let failure: Error | undefined;
  try {
    await deadline(
      stream.opened,
      timeoutMs,
      () =>
        new TransportError(
          "connect-timeout",
          `the WebSocket to ${target.href} did not open within ${timeoutMs} ms`,
        ),
    );
    if (ws.protocol !== MSRP_SUBPROTOCOL) {
      failure = new MsrpWebSocketError(
        "subprotocol",
        `the server at ${target.href} did not select the WebSocket subprotocol ` +
          `"${MSRP_SUBPROTOCOL}" (RFC 7977 §4.1)` + (ws.protocol ? `, but "${ws.protocol}"` : ""),
      );
    }
  } catch (e) {
    failure = e instanceof MsrpWebSocketError
      ? new MsrpWebSocketError(
        "connect-failed",
        `cannot open a WebSocket to ${target.href}: ${stream.failure || e.message}`,
        { cause: e },
      )
      : e as Error;
  }
  if (failure === undefined) return asConn(stream);
  // Let the WebSocket finish closing, so that nothing of it outlives the call.
  stream.close();
  const left = Math.max(1, timeoutMs - (performance.now() - started));
  await deadline(stream.ended, left, () => failure!).catch(() => {});
  throw failure;
}
