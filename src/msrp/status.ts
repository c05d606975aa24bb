/**
 * MSRP status codes and the typed error that carries one.
 *
 * @module
 */

/** Status codes defined by RFC 4975 §10 and RFC 4976 §8. */
export const Status = {
  /** The request was successful. */
  OK: 200,
  /** The request could not be understood (RFC 4975 §7.3.1). */
  BadRequest: 400,
  /** Authentication is required (RFC 4976 §5.1). */
  Unauthorized: 401,
  /** The action is not allowed. */
  Forbidden: 403,
  /** The transaction timed out (only ever reported, never sent on the wire). */
  RequestTimeout: 408,
  /** The receiver wishes the sender to stop sending this message. */
  RequestEntityTooLarge: 413,
  /** The media type is outside what the session accepts. */
  UnsupportedMediaType: 415,
  /** A parameter was out of bounds. */
  IntervalOutOfBounds: 423,
  /** The session does not exist. */
  SessionDoesNotExist: 481,
  /** The method is not understood. */
  NotImplemented: 501,
  /** The session is bound to another connection. */
  WrongConnection: 506,
} as const;

/** One of the status codes in {@linkcode Status}. */
export type StatusCode = typeof Status[keyof typeof Status];

const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  408: "Request Timeout",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  423: "Interval Out-of-Bounds",
  481: "Session Does Not Exist",
  501: "Not Implemented",
  506: "Wrong Connection",
};

/**
 * The reason phrase for a status code, as in RFC 4975 §10; a generic phrase for
 * codes it does not name.
 */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status >= 200 && status < 300 ? "OK" : "Error");
}

/** Options of an {@linkcode MsrpError}. */
export interface MsrpErrorOptions {
  /** The transaction the error belongs to, when known. */
  transactionId?: string;
  /**
   * True when the byte stream can no longer be split into frames, so the
   * connection must be closed (RFC 4975 §7.3.1 lets a receiver close then).
   */
  framingLost?: boolean;
  /** The underlying cause. */
  cause?: unknown;
}

/** An error that maps to an MSRP status code. */
export class MsrpError extends Error {
  /** The MSRP status code to answer or report with. */
  readonly status: number;
  /** The transaction the error belongs to, when known. */
  readonly transactionId: string | undefined;
  /** True when the connection's framing is lost and it must be closed. */
  readonly framingLost: boolean;

  /** Creates an error with an MSRP status code and a human-readable message. */
  constructor(status: number, message: string, options: MsrpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MsrpError";
    this.status = status;
    this.transactionId = options.transactionId;
    this.framingLost = options.framingLost ?? false;
  }
}
