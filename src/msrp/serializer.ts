/**
 * Encodes MSRP requests and responses (RFC 4975 §7.1, §7.2, §9).
 *
 * Bodies are not copied: a request encodes to a list of byte arrays (head,
 * body parts, end-line) ready for a vectored write.
 *
 * @module
 */

import type { OutgoingRequest, OutgoingResponse } from "./message.ts";
import { compilePattern, indexOfPattern } from "./_search.ts";
import { concatBytes } from "./parser.ts";
import { reasonPhrase } from "./status.ts";

const encoder = new TextEncoder();

// Heads are nearly always ASCII: a plain loop is cheaper than TextEncoder's
// call into the runtime for a few hundred bytes.
function encodeText(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127) return encoder.encode(text);
    out[i] = c;
  }
  return out;
}
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
// Long ids also make the end-line search cheap: Horspool skips up to 7 + 24 bytes a step.
const TRANSACTION_ID_LENGTH = 24;

/**
 * A new random transaction id: 24 characters of `[a-z0-9]` (about 124 bits),
 * within the RFC 4975 §9 `ident` grammar (4 to 32 characters).
 */
export function newTransactionId(): string {
  let id = "";
  while (id.length < TRANSACTION_ID_LENGTH) {
    const b = randomByte();
    // 252 = 7 × 36: reject higher bytes so every character is equally likely.
    if (b < 252) id += ALPHABET[b % 36];
  }
  return id;
}

// Random bytes are drawn in batches: one system call per 4 KiB, not per id.
const pool = new Uint8Array(4096);
let poolUsed = pool.length;

function randomByte(): number {
  if (poolUsed === pool.length) {
    crypto.getRandomValues(pool);
    poolUsed = 0;
  }
  return pool[poolUsed++];
}

const DASH = 45;
const SMALL_BODY = 8192;
// The search's shift table, reused: one search runs at a time.
const shiftTable = new Int32Array(256);

/** True when `-------<id>` occurs in the body, within one part or across any number of them. */
export function bodyContainsEndLine(
  transactionId: string,
  body: Uint8Array | readonly Uint8Array[],
): boolean {
  const parts = body instanceof Uint8Array ? [body] : body;
  // Transaction ids are ASCII (RFC 4975 §9 ident), so no text encoder is needed.
  const m = 7 + transactionId.length;
  const bytes = new Uint8Array(m).fill(DASH);
  for (let i = 0; i < transactionId.length; i++) bytes[7 + i] = transactionId.charCodeAt(i);
  let size = 0;
  for (const p of parts) size += p.length;
  if (size < m) return parts.length > 1 && containsAcross(parts, bytes);
  if (parts.length > 1 && size <= SMALL_BODY) return containsAcross(parts, bytes);
  const pattern = compilePattern(bytes, shiftTable);
  // The last m - 1 bytes before the current part, gathered over as many parts as it takes:
  // an occurrence that spans part boundaries ends in some part and starts in this tail.
  let tail: Uint8Array = new Uint8Array(0);
  for (const part of parts) {
    if (indexOfPattern(part, pattern, 0, part.length) >= 0) return true;
    const seam = concatBytes([tail, part.subarray(0, m - 1)]);
    if (tail.length > 0 && indexOfPattern(seam, pattern, 0, seam.length) >= 0) return true;
    tail = part.length >= m - 1
      ? part.subarray(part.length - m + 1)
      : seam.subarray(Math.max(0, seam.length - m + 1));
  }
  return false;
}

// Plain search over the parts as one sequence; for small bodies.
function containsAcross(parts: readonly Uint8Array[], pattern: Uint8Array): boolean {
  const all = parts.length === 1 ? parts[0] : concatBytes(parts);
  for (
    let k = all.indexOf(DASH);
    k >= 0 && k + pattern.length <= all.length;
    k = all.indexOf(DASH, k + 1)
  ) {
    let j = 1;
    while (j < pattern.length && all[k + j] === pattern[j]) j++;
    if (j === pattern.length) return true;
  }
  return false;
}

/**
 * A transaction id whose end-line does not occur in `body`, as RFC 4975 §7.1
 * requires of senders.
 */
export function transactionIdFor(body: Uint8Array | readonly Uint8Array[]): string {
  while (true) {
    const id = newTransactionId();
    if (!bodyContainsEndLine(id, body)) return id;
  }
}

// CR or LF would end the line early and start a header of the sender's choosing; NUL is
// never valid in a head (RFC 4975 §9 allows neither in any header, comment or URI).
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
// A name holding ":" would move the boundary between name and value.
const BAD_NAME = /^$|[:\r\n\0]/;

function checkText(text: string, what: string): string {
  if (LINE_BREAK_OR_NUL.test(text)) {
    throw new TypeError(`${what} must not contain CR, LF or NUL`);
  }
  return text;
}

/**
 * Throws unless `name: value` can be written as one MSRP header line: a
 * non-empty name without `:`, and neither holding CR, LF or NUL.
 *
 * @throws {TypeError} naming the header.
 */
export function checkHeader(name: string, value: string): void {
  if (BAD_NAME.test(name)) throw new TypeError(`bad header name ${JSON.stringify(name)}`);
  checkText(value, `header ${name}`);
}

function headerLines(headers: readonly (readonly [string, string])[] | undefined): string {
  let out = "";
  if (headers) {
    for (const [name, value] of headers) {
      checkHeader(name, value);
      out += `${name}: ${value}\r\n`;
    }
  }
  return out;
}

function pathLines(toPath: readonly string[], fromPath: readonly string[]): string {
  const to = checkText(toPath.join(" "), "To-Path");
  return `To-Path: ${to}\r\nFrom-Path: ${checkText(fromPath.join(" "), "From-Path")}\r\n`;
}

/**
 * Encodes the start line and headers of a request, up to and including the
 * blank line before the body when there is one.
 *
 * @throws {TypeError} when the start line, a path, a header name or value, or
 * the Content-Type holds CR, LF or NUL, or a header name is empty or holds `:`.
 */
export function encodeRequestHead(req: OutgoingRequest, hasBody: boolean): Uint8Array {
  let text = checkText(`MSRP ${req.transactionId} ${req.method}`, "start line") + "\r\n" +
    pathLines(req.toPath, req.fromPath) + headerLines(req.headers);
  if (req.contentType !== undefined) {
    text += `Content-Type: ${checkText(req.contentType, "Content-Type")}\r\n`;
  }
  if (hasBody) text += "\r\n";
  return encodeText(text);
}

/**
 * Encodes the end-line; with a body it is preceded by the CRLF that ends the
 * body (RFC 4975 §9 `content-stuff`).
 */
export function encodeEndLine(
  transactionId: string,
  flag: "+" | "$" | "#",
  hasBody: boolean,
): Uint8Array {
  return encodeText(`${hasBody ? "\r\n" : ""}-------${transactionId}${flag}\r\n`);
}

/**
 * A request's body as parts, their total size, and whether there is a body
 * (bytes, or an empty body with a Content-Type).
 *
 * @throws {TypeError} when a body has no Content-Type.
 */
function bodyOf(
  req: Pick<OutgoingRequest, "body" | "contentType">,
): { parts: readonly Uint8Array[]; size: number; hasBody: boolean } {
  const parts = req.body === undefined
    ? []
    : req.body instanceof Uint8Array
    ? [req.body]
    : req.body;
  let size = 0;
  for (const p of parts) size += p.length;
  const hasBody = size > 0 || (req.contentType !== undefined && req.body !== undefined);
  if (hasBody && req.contentType === undefined) {
    throw new TypeError("a request with a body needs a Content-Type");
  }
  return { parts, size, hasBody };
}

/**
 * Encodes a request as byte arrays to write back to back: head, body parts
 * (not copied) and end-line.
 *
 * @throws {TypeError} when a body has no Content-Type, or holds the
 * transaction's end-line `-------<id>` (within a part or across parts): RFC
 * 4975 §7.1 has the sender pick an id whose end-line the body does not hold
 * ({@linkcode transactionIdFor}), else the receiver would end the body there
 * and read the rest as frames of the body's choosing.
 */
export function encodeRequest(req: OutgoingRequest): Uint8Array[] {
  const { parts, size, hasBody } = bodyOf(req);
  if (size > 0 && bodyContainsEndLine(req.transactionId, parts)) {
    throw new TypeError(`the body holds the end-line of transaction ${req.transactionId}`);
  }
  return encodeParts(req, parts, hasBody);
}

/** A request encoded by {@linkcode encodeRequestWithNewId}. */
export interface EncodedRequest {
  /** The transaction id chosen. */
  readonly transactionId: string;
  /** Head, body parts (not copied) and end-line, to write back to back. */
  readonly parts: Uint8Array[];
}

/**
 * Encodes a request under a new random transaction id whose end-line the
 * body does not hold (RFC 4975 §7.1), searching the body once: what
 * {@linkcode transactionIdFor} and {@linkcode encodeRequest} do together,
 * for the sender's hot path.
 *
 * @throws {TypeError} as {@linkcode encodeRequest} does, but never for the end-line.
 */
export function encodeRequestWithNewId(
  req: Omit<OutgoingRequest, "transactionId">,
): EncodedRequest {
  const { parts, size, hasBody } = bodyOf(req);
  const transactionId = size > 0 ? transactionIdFor(parts) : newTransactionId();
  return { transactionId, parts: encodeParts({ ...req, transactionId }, parts, hasBody) };
}

function encodeParts(
  req: OutgoingRequest,
  parts: readonly Uint8Array[],
  hasBody: boolean,
): Uint8Array[] {
  const out = [encodeRequestHead(req, hasBody)];
  for (const p of parts) if (p.length > 0) out.push(p);
  out.push(encodeEndLine(req.transactionId, req.flag ?? "$", hasBody));
  return out;
}

/**
 * Encodes a response (no body) as one byte array.
 *
 * @throws {TypeError} when the start line (comment included), a path or a
 * header holds CR, LF or NUL, or a header name is empty or holds `:`.
 */
export function encodeResponse(res: OutgoingResponse): Uint8Array {
  const comment = res.comment ?? reasonPhrase(res.status);
  const start = `MSRP ${res.transactionId} ${res.status}${comment ? ` ${comment}` : ""}`;
  return encodeText(
    checkText(start, "start line") + "\r\n" + pathLines(res.toPath, res.fromPath) +
      headerLines(res.headers) +
      `-------${res.transactionId}$\r\n`,
  );
}
