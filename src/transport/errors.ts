/**
 * The error types of the transport layer.
 *
 * @module
 */

/** What went wrong in the transport layer; see {@linkcode TransportError}. */
export type TransportErrorCode =
  /** The connection is closed; nothing more can be sent. */
  | "closed"
  /** More than `maxQueuedBytes` waited to be written: the peer does not read. */
  | "write-queue-overflow"
  /** Nothing was read or written for `idleTimeoutMs`. */
  | "idle-timeout"
  /** A frame's start line and headers took longer than `headTimeoutMs` (slow-loris). */
  | "head-timeout"
  /** The peer closed the connection in the middle of a frame. */
  | "truncated"
  /** Connecting (TCP and, with TLS, the handshake) took longer than `timeoutMs`. */
  | "connect-timeout"
  /** The TLS handshake failed, e.g. the server's certificate was not valid; see `cause`. */
  | "tls-handshake-failed"
  /** The peer's certificate does not have the pinned SHA-256 fingerprint. */
  | "fingerprint-mismatch";

/** Options of a {@linkcode TransportError}. */
export interface TransportErrorOptions {
  /** The underlying cause. */
  cause?: unknown;
}

/** An error of the transport layer, told apart by its {@linkcode TransportError.code}. */
export class TransportError extends Error {
  /** What went wrong. */
  readonly code: TransportErrorCode;

  /** Creates an error with a code and a human-readable message. */
  constructor(code: TransportErrorCode, message: string, options: TransportErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.code = code;
  }
}

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
