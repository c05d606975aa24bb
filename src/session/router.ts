/**
 * The relay role an endpoint can take on (RFC 4976 §6.4): one
 * {@linkcode RequestRouter} an endpoint consults for requests that are not
 * for its own sessions, and the view of the endpoint's connections it gets.
 * The router lives outside this package (e.g. `WebSocketRelay` in
 * src/relay); the endpoint knows it only through this interface.
 *
 * @module
 */

import type { FrameHandler, RequestHead, ResponseHead } from "../msrp/mod.ts";
import type { ChunkReceiver } from "./_session_link.ts";

/** The byte side of a connection: a framed socket, or one a router provides. */
export interface LinkConnection {
  /**
   * Queues whole frames (with `framed`, exactly one per call); resolves when
   * the queue has room again.
   */
  send(parts: readonly Uint8Array[]): Promise<void>;
  /**
   * True when each frame goes out on its own, as one WebSocket message (RFC
   * 7977 §4.2): writers then send one whole frame per call.
   */
  readonly framed: boolean;
  /** Closes the connection. */
  close(error?: Error): void;
  /** Bytes waiting to be written. */
  readonly queuedBytes: number;
  /** Queued bytes from which `send` waits for the queue to drain. */
  readonly highWaterMark: number;
  /**
   * Bytes written to the socket so far, for a connection that keeps no view
   * of what it wrote: a buffer sent is free again once this passes its end
   * (`bytesWritten + queuedBytes` right after the send). Absent otherwise.
   */
  readonly bytesWritten?: number;
}

/**
 * One connection of an endpoint as a router and a relay client use it. Its
 * frame-handler methods take frames as if read from the connection.
 */
export interface RouterLink extends FrameHandler {
  /** The byte side. */
  readonly connection: LinkConnection;
  /** True once the connection is gone. */
  readonly closed: boolean;
  /** True while a session of ours is bound to it or it is {@linkcode pinned}. */
  readonly inUse: boolean;
  /** Keep the connection open with no session on it (e.g. a relay registration's). */
  pinned: boolean;
  /** Called once when the connection is gone. */
  onClosed: (() => void) | undefined;
  /** True while the write queue is at or above its high-water mark (a send would wait). */
  readonly behind: boolean;
  /** Queues one whole frame without waiting; a closed connection drops it. */
  post(parts: readonly Uint8Array[]): void;
  /**
   * Sends a request that is not part of a message (e.g. AUTH) and resolves
   * with its response; rejects with a 408 `MsrpError` on timeout.
   */
  request(transactionId: string, parts: readonly Uint8Array[]): Promise<ResponseHead>;
  /** Pauses reading from the connection until `wait` settles, however it settles. */
  hold(wait: Promise<unknown>): void;
  /** A promise while reading should pause: something holds it, or sinks or output are behind. */
  backpressure(): Promise<void> | undefined;
  /** The connection ended: every session on it ends, and the router hears of it. */
  connectionClosed(error?: Error): void;
}

/**
 * What an endpoint asks of its router (see `MsrpEndpoint.useRouter`): the
 * relay role, consulted before the endpoint's own sessions.
 */
export interface RequestRouter {
  /**
   * Takes a request received on `link` when it is the router's business
   * (e.g. AUTH on a WebSocket it serves, a To-Path through one of its
   * Use-Path URIs): returns where its body goes (`undefined` when it was
   * answered at once), or `false` when it is not, and the endpoint routes it
   * to its sessions.
   */
  route(link: RouterLink, head: RequestHead): ChunkReceiver | undefined | false;
  /** A response on `link` that matched no transaction of the endpoint: maybe one forwarded. */
  response(link: RouterLink, head: ResponseHead): void;
  /** A connection of the endpoint ended. */
  linkClosed(link: RouterLink): void;
  /**
   * The link that reaches a peer path starting with `uri` without dialing
   * (e.g. a client of the router behind one of its Use-Path URIs), or
   * `undefined`.
   */
  linkFor(uri: string): RouterLink | undefined;
}
