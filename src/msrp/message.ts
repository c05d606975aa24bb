/**
 * MSRP message types (RFC 4975 §7, §9) and header value parsers.
 *
 * @module
 */

import { MsrpError, Status } from "./status.ts";

/** The continuation flag at the end-line: more chunks, last chunk, or aborted (RFC 4975 §7.1). */
export type ContinuationFlag = "+" | "$" | "#";

/**
 * A `Byte-Range` value `start-end/total` (RFC 4975 §9): `start` is 1-based,
 * `end` and `total` may be unknown (`*`).
 */
export interface ByteRange {
  /** First byte of this chunk in the message, counting from 1. */
  readonly start: number;
  /** Last byte of this chunk, or `"*"` when not known when the chunk began. */
  readonly end: number | "*";
  /** Size of the whole message, or `"*"` when not known. */
  readonly total: number | "*";
}

/** `Success-Report` and `Failure-Report` values (RFC 4975 §7.2). */
export type ReportRequest = "yes" | "no" | "partial";

/** The `Status` header of a REPORT: `namespace SP code [SP comment]` (RFC 4975 §9). */
export interface StatusHeader {
  /** Three-digit namespace; `000` for MSRP status codes. */
  readonly namespace: string;
  /** The status code. */
  readonly code: number;
  /** Optional comment text. */
  readonly comment: string;
}

/**
 * Ordered, case-insensitive header list. Names keep their original case for
 * output; look-ups ignore case (RFC 4975 §9: header names are case-insensitive).
 */
export class MsrpHeaders {
  readonly #names: string[] = [];
  readonly #keys: string[] = [];
  readonly #values: string[] = [];

  /** Creates a header list from name/value pairs. */
  constructor(init?: Iterable<readonly [string, string]>) {
    if (init) { for (const [name, value] of init) this.append(name, value); }
  }

  /** Adds a header at the end. */
  append(name: string, value: string): void {
    this.#names.push(name);
    this.#keys.push(name.toLowerCase());
    this.#values.push(value);
  }

  /** The first value of a header, or `undefined`. */
  get(name: string): string | undefined {
    const i = this.#keys.indexOf(name.toLowerCase());
    return i < 0 ? undefined : this.#values[i];
  }

  /** True when the header is present. */
  has(name: string): boolean {
    return this.#keys.includes(name.toLowerCase());
  }

  /** Every value of a header, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === key) out.push(this.#values[i]);
    }
    return out;
  }

  /** Replaces every value of a header by one value (appends when absent). */
  set(name: string, value: string): void {
    this.delete(name);
    this.append(name, value);
  }

  /** Removes every value of a header. */
  delete(name: string): void {
    const key = name.toLowerCase();
    for (let i = this.#keys.length - 1; i >= 0; i--) {
      if (this.#keys[i] === key) {
        this.#names.splice(i, 1);
        this.#keys.splice(i, 1);
        this.#values.splice(i, 1);
      }
    }
  }

  /** Number of header lines. */
  get size(): number {
    return this.#names.length;
  }

  /** Lower-cased names to values; a repeated header has its last value. */
  toMap(): Map<string, string> {
    const map = new Map<string, string>();
    for (let i = 0; i < this.#keys.length; i++) map.set(this.#keys[i], this.#values[i]);
    return map;
  }

  /** The headers as `[name, value]` pairs in order. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i], this.#values[i]];
  }
}

/** What requests and responses share: transaction id, headers and paths. */
export interface HeadBase {
  /** The transaction identifier from the start line. */
  readonly transactionId: string;
  /** Every header, in wire order. */
  readonly headers: MsrpHeaders;
  /** URIs of `To-Path`, in order, unparsed. */
  readonly toPath: readonly string[];
  /** URIs of `From-Path`, in order, unparsed. */
  readonly fromPath: readonly string[];
}

/** Start line and headers of a request (`MSRP tid METHOD`). */
export interface RequestHead extends HeadBase {
  /** Discriminates requests from responses. */
  readonly kind: "request";
  /** The method, e.g. `SEND`, `REPORT`, `AUTH`. */
  readonly method: string;
  /** Parsed `Byte-Range`, when present. */
  readonly byteRange: ByteRange | undefined;
  /** `Content-Type` value (with parameters), when present. */
  readonly contentType: string | undefined;
  /** `Message-ID`, when present. */
  readonly messageId: string | undefined;
}

/** Start line and headers of a response (`MSRP tid code [comment]`). */
export interface ResponseHead extends HeadBase {
  /** Discriminates requests from responses. */
  readonly kind: "response";
  /** The three-digit status code. */
  readonly status: number;
  /** The comment after the code, possibly empty. */
  readonly comment: string;
}

/** A parsed start line and header block. */
export type FrameHead = RequestHead | ResponseHead;

/** A whole frame with its body collected, convenient for small frames and tests. */
export interface Frame {
  /** Start line and headers. */
  readonly head: FrameHead;
  /** The body bytes (empty when the frame has none). */
  readonly body: Uint8Array;
  /** The continuation flag of the end-line. */
  readonly flag: ContinuationFlag;
}

// One field of a Byte-Range from `from` to the character `stop` (or the end):
// 1 to 15 digits, or "*" when `star`; its value and where it ends, or
// undefined when malformed.
function byteRangeField(
  v: string,
  from: number,
  stop: number,
  star: boolean,
): [number | "*", number] | undefined {
  const to = stop < 0 ? v.length : v.indexOf(String.fromCharCode(stop), from);
  if (to < 0) return undefined;
  if (star && to === from + 1 && v.charCodeAt(from) === 42) return ["*", to];
  if (to === from || to - from > 15) return undefined;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return [n, to];
}

/** Parses a `Byte-Range` value; throws {@linkcode MsrpError} 400 when malformed. */
export function parseByteRange(value: string): ByteRange {
  // range-start "-" range-end "/" total, each 1 to 15 digits; end and total may be "*".
  const v = value.trim();
  const first = byteRangeField(v, 0, 45, false);
  const second = first && byteRangeField(v, first[1] + 1, 47, true);
  const third = second && byteRangeField(v, second[1] + 1, -1, true);
  if (!third) throw new MsrpError(Status.BadRequest, `malformed Byte-Range: ${value}`);
  const start = first[0] as number;
  const end = second[0];
  const total = third[0];
  if (start < 1) throw new MsrpError(Status.BadRequest, `Byte-Range start must be ≥ 1: ${value}`);
  if (end !== "*" && end < start - 1) {
    throw new MsrpError(Status.BadRequest, `Byte-Range end before start: ${value}`);
  }
  if (total !== "*" && end !== "*" && end > total) {
    throw new MsrpError(Status.BadRequest, `Byte-Range end beyond total: ${value}`);
  }
  return { start, end, total };
}

/** Formats a {@linkcode ByteRange} as `start-end/total`. */
export function formatByteRange(range: ByteRange): string {
  return `${range.start}-${range.end}/${range.total}`;
}

/** Splits a `To-Path`/`From-Path`/`Use-Path` value into its URIs (RFC 4975 §9). */
export function parsePath(value: string): string[] {
  // Fast path: one URI, or URIs separated by single spaces.
  if (value.indexOf("\t") < 0 && value.indexOf("  ") < 0) {
    const v = value.trim();
    return v === "" ? [] : v.indexOf(" ") < 0 ? [v] : v.split(" ");
  }
  return value.split(/[ \t]+/).filter((s) => s.length > 0);
}

/** Parses a `Success-Report`/`Failure-Report` value; throws 400 for others. */
export function parseReportRequest(value: string): ReportRequest {
  const v = value.trim().toLowerCase();
  if (v === "yes" || v === "no" || v === "partial") return v;
  throw new MsrpError(Status.BadRequest, `bad report request value: ${value}`);
}

const STATUS_HEADER = /^(\d{3}) (\d{3})(?: (.*))?$/;

/** Parses a REPORT `Status` value such as `000 200 OK`; throws 400 when malformed. */
export function parseStatusHeader(value: string): StatusHeader {
  const m = STATUS_HEADER.exec(value.trim());
  if (!m) throw new MsrpError(Status.BadRequest, `malformed Status: ${value}`);
  return { namespace: m[1], code: Number(m[2]), comment: m[3] ?? "" };
}

/** Formats a REPORT `Status` value; the namespace is `000` (RFC 4975 §9). */
export function formatStatusHeader(code: number, comment: string): string {
  return `000 ${code}${comment ? ` ${comment}` : ""}`;
}

/** The media type of a `Content-Type` value, lower-cased and without parameters. */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(";");
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/**
 * True when a media type is allowed by an `accept-types` list, which may hold
 * `*`, `type/*` and exact types (RFC 4975 §8.6).
 */
export function isAcceptedType(type: string, acceptTypes: readonly string[]): boolean {
  const t = mediaType(type);
  const slash = t.indexOf("/");
  const major = slash < 0 ? t : t.slice(0, slash);
  for (const raw of acceptTypes) {
    const a = raw.trim().toLowerCase();
    if (a === "*" || a === t || a === `${major}/*`) return true;
  }
  return false;
}

/** A request to encode: the serializer writes `To-Path` and `From-Path` first (RFC 4975 §7.1). */
export interface OutgoingRequest {
  /** Transaction id; see `newTransactionId` in the serializer. */
  readonly transactionId: string;
  /** Method name, e.g. `SEND`. */
  readonly method: string;
  /** `To-Path` URIs. */
  readonly toPath: readonly string[];
  /** `From-Path` URIs. */
  readonly fromPath: readonly string[];
  /** Further headers in order, without To-Path, From-Path and Content-Type. */
  readonly headers?: readonly (readonly [string, string])[];
  /** `Content-Type`; required when there is a body. */
  readonly contentType?: string;
  /** The body, whole or as parts written back to back (no copy). */
  readonly body?: Uint8Array | readonly Uint8Array[];
  /** End-line flag; `$` when omitted. */
  readonly flag?: ContinuationFlag;
}

/** A response to encode (RFC 4975 §7.2). */
export interface OutgoingResponse {
  /** Transaction id of the request answered. */
  readonly transactionId: string;
  /** Status code. */
  readonly status: number;
  /** Comment after the code; the RFC reason phrase when omitted. */
  readonly comment?: string;
  /** `To-Path` URIs. */
  readonly toPath: readonly string[];
  /** `From-Path` URIs. */
  readonly fromPath: readonly string[];
  /** Further headers in order. */
  readonly headers?: readonly (readonly [string, string])[];
}
