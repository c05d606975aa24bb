/**
 * The error thrown for SDP that cannot be parsed or negotiated.
 *
 * @module
 */

/**
 * Why an SDP operation failed:
 * - `malformed`: the text is not a valid session description, or an MSRP media
 *   line breaks RFC 4975 §8 (missing `a=path`, bad URI, missing `a=accept-types` …).
 * - `no-acceptable-media`: no media line can be served (a SIP user agent answers
 *   488 Not Acceptable Here), or the answer rejected the offered MSRP line.
 * - `negotiation-failed`: an answer contradicts its offer (setup roles, protocol).
 * - `invalid-argument`: the local endpoint description is unusable.
 */
export type SdpErrorCode =
  | "malformed"
  | "no-acceptable-media"
  | "negotiation-failed"
  | "invalid-argument";

/** Options of an {@linkcode SdpError}. */
export interface SdpErrorOptions {
  /** The 1-based line of the SDP text at fault, when there is one. */
  line?: number;
  /** The underlying cause, such as the `MsrpError` of a bad `a=path` URI. */
  cause?: unknown;
}

/** An SDP description that could not be parsed, answered or matched to its offer. */
export class SdpError extends Error {
  /** What kind of failure this is. */
  readonly code: SdpErrorCode;
  /** The 1-based line of the SDP text at fault, or `undefined`. */
  readonly line: number | undefined;

  /** Creates an error; the message should name the line or attribute at fault. */
  constructor(code: SdpErrorCode, message: string, options: SdpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SdpError";
    this.code = code;
    this.line = options.line;
  }
}
