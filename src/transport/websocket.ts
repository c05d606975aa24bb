/**
 * MSRP over WebSocket (RFC 7977): {@linkcode MsrpWebSocket}, which an
 * {@linkcode MsrpConnection} runs over, the server side of the handshake
 * with the `msrp` subprotocol (for `Deno.serve` or Hono), and outgoing
 * WebSocket connections.
 *
 * Each WebSocket message is one whole MSRP frame, both ways (RFC 7977
 * §4.2): a received message, text or binary, goes to the parser as one
 * frame, and one that holds part of a frame or more than one loses framing
 * (the connection closes with 1002). What we send goes out one frame per
 * message, as text when the frame is valid UTF-8 and as binary otherwise
 * (binary content needs a binary message).
 *
 * Flow control: the WebSocket API has none on the receiving side (neither
 * the browser API nor Deno's server-side WebSocket can pause a peer), so
 * received messages that nobody reads pile up in memory; past
 * `maxUnreadBytes` the WebSocket is closed with an error. Sending waits for
 * `WebSocket.bufferedAmount` to drop below `maxBufferedBytes`.
 *
 * @module
 */

import { MsrpWebSocketError, TransportError } from "./errors.ts";
import { MsrpWebSocket, type MsrpWebSocketOptions } from "./_ws_socket.ts";

export { MsrpWebSocket, type MsrpWebSocketOptions } from "./_ws_socket.ts";

/** The WebSocket subprotocol of MSRP (RFC 7977 §4.1, §9.1). */
export const MSRP_SUBPROTOCOL = "msrp";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Options of {@linkcode upgradeMsrpWebSocket}. */
export interface UpgradeMsrpWebSocketOptions extends MsrpWebSocketOptions {
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
 * answer selects it. Calls `onConnection` with the {@linkcode MsrpWebSocket}
 * before returning the `101` response; it waits for the WebSocket to open
 * before it sends.
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
 *   upgradeMsrpWebSocket(c.req.raw, (socket) => endpoint.adopt(socket), {
 *     remoteAddr: getConnInfo(c).remote as Deno.NetAddr,
 *   }));
 * ```
 *
 * @throws {RangeError} for a bad size or interval option. What
 * `onConnection` throws is thrown on, after the connection was closed.
 */
export function upgradeMsrpWebSocket(
  request: Request,
  onConnection: (socket: MsrpWebSocket) => void,
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
  const socket = new MsrpWebSocket(upgraded.socket, localAddr, remoteAddr, { ...options, secure });
  socket.ended.then(release);
  try {
    onConnection(socket);
  } catch (e) {
    socket.close();
    release();
    throw e;
  }
  return upgraded.response;
}

/** Options of {@linkcode connectWebSocket}. */
export interface ConnectWebSocketOptions extends MsrpWebSocketOptions {
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
 * subprotocol (RFC 7977 §4.1) and resolves, once it is open, with the
 * {@linkcode MsrpWebSocket} for an {@linkcode MsrpConnection}. The remote
 * address is the URL's host and port;
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
): Promise<MsrpWebSocket> {
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
  const socket = new MsrpWebSocket(ws, localAddr, remoteAddr, { ...options, secure });
  const started = performance.now();
  let failure: Error | undefined;
  try {
    await deadline(
      socket.opened,
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
        `cannot open a WebSocket to ${target.href}: ${socket.failure || e.message}`,
        { cause: e },
      )
      : e as Error;
  }
  if (failure === undefined) return socket;
  // Let the WebSocket finish closing, so that nothing of it outlives the call.
  socket.close();
  const left = Math.max(1, timeoutMs - (performance.now() - started));
  await deadline(socket.ended, left, () => failure!).catch(() => {});
  throw failure;
}
