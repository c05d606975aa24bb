/**
 * What an {@linkcode MsrpConnection} runs over, the options it takes and
 * what it tells once closed.
 *
 * @module
 */

import type { ParserLimits } from "../msrp/parser.ts";
import type { MsrpWebSocket } from "./_ws_socket.ts";

/**
 * What an {@linkcode MsrpConnection} runs over: a TCP or TLS connection, a
 * byte stream, or an {@linkcode MsrpWebSocket}, one frame per message.
 */
export type MsrpSocket = Deno.Conn | MsrpWebSocket;

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
  /** Bytes asked for in each read from a TCP or TLS socket (default 64 KiB). */
  readBufferSize?: number;
  /**
   * Called after the frames of each read (each WebSocket message) were handed
   * to the handler. When it returns a promise, nothing more is read until it
   * settles, so a slow consumer slows the peer down through TCP flow control.
   * A rejection closes the connection with that error.
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
