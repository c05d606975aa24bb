/**
 * {@linkcode BridgeError}: why a use case of the bridge failed, and the
 * translations of lower-layer errors (SDP, SIP URIs) into it.
 *
 * @module
 */

import { parseDialTarget, SipUriError } from "../pbx/sip_uri.ts";
import { SdpError } from "../sdp/mod.ts";

/**
 * Why an operation of the bridge failed:
 * - `not-found`: no session or message with that id.
 * - `session-closed`: the session has ended.
 * - `not-awaiting-answer`: the session did not make an offer that is still unanswered.
 * - `invalid-sdp`: the SDP text does not parse.
 * - `sdp-not-acceptable`: the SDP parses but cannot be negotiated.
 * - `invalid-sip-uri`: a SIP URI is malformed or holds what may not reach the PBX.
 * - `connect-failed`: the MSRP connection to the peer failed.
 * - `session-limit`: `MAX_SESSIONS` sessions are open.
 * - `pbx-unavailable`: the operation needs the PBX integration, which is not available.
 * - `validation`: a request field holds a value the operation cannot use.
 * - `payload-too-large`: content does not fit under `DATA_QUOTA_BYTES`.
 * - `imdn-not-requested`: the message is not a received CPIM message asking for
 *   that disposition notification (RFC 5438).
 * - `not-resumable`: a file transfer cannot be resumed (not failed, or its copy is gone).
 * - `shutting-down`: the service is stopping.
 */
export type BridgeErrorCode =
  | "not-found"
  | "session-closed"
  | "not-awaiting-answer"
  | "invalid-sdp"
  | "sdp-not-acceptable"
  | "invalid-sip-uri"
  | "connect-failed"
  | "session-limit"
  | "pbx-unavailable"
  | "validation"
  | "payload-too-large"
  | "imdn-not-requested"
  | "not-resumable"
  | "shutting-down";

/**
 * An operation of the bridge that failed, told apart by its {@linkcode BridgeError.code}.
 *
 * @example
 * ```ts
 * import { BridgeError } from "./errors.ts";
 *
 * const error = new BridgeError("not-found", "no session abc", "id");
 * console.log(`${error.field}: ${error.message}`); // "id: no session abc"
 * ```
 */
export class BridgeError extends Error {
  /** What went wrong. */
  readonly code: BridgeErrorCode;
  /** The request field at fault, when there is one. */
  readonly field: string | undefined;

  /** Creates an error with a code, a human-readable message and the field at fault. */
  constructor(code: BridgeErrorCode, message: string, field?: string) {
    super(message);
    this.name = "BridgeError";
    this.code = code;
    this.field = field;
  }
}

/** The error text of `e`, whatever was thrown. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * `e` as the bridge reports it: an {@linkcode SdpError} becomes `invalid-sdp`
 * (it does not parse) or `sdp-not-acceptable` (it cannot be negotiated),
 * naming `field`; anything else is returned as it is.
 */
export function sdpFailure(e: unknown, field: string): unknown {
  if (!(e instanceof SdpError)) return e;
  const code = e.code === "malformed" ? "invalid-sdp" : "sdp-not-acceptable";
  return new BridgeError(code, e.message, field);
}

/**
 * `text` as a dialable SIP URI with a lower-case scheme (RFC 3261 §25.1,
 * stricter for dial strings: see `parseDialTarget`).
 *
 * @throws {BridgeError} `invalid-sip-uri` naming `field`.
 */
export function dialTarget(text: string, field: string): string {
  try {
    return parseDialTarget(text).text;
  } catch (e) {
    if (!(e instanceof SipUriError)) throw e;
    const message = `not a SIP URI the bridge may dial: ${e.message}`;
    throw new BridgeError("invalid-sip-uri", message, field);
  }
}
