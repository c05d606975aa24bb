// Long for a reason: the general encoders and their cached fast paths, kept byte-identical side by side.
/**
 * Encodes MSRP requests and responses (RFC 4975 §7.1, §7.2, §9).
 *
 * Bodies are not copied: a request encodes to a list of byte arrays (head,
 * body parts, end-line) ready for a vectored write.
 *
 * @module
 */

import type { ContinuationFlag, OutgoingRequest, OutgoingResponse } from "./message.ts";
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
  let n = 0;
  while (n < TRANSACTION_ID_LENGTH) {
    const b = randomByte();
    // 252 = 7 × 36: reject higher bytes so every character is equally likely.
    if (b < 252) idCodes[n++] = ALPHABET_CODES[b % 36];
  }
  // One flat string, not a chain of 24 concatenations.
  return String.fromCharCode.apply(null, idCodes as unknown as number[]);
}

const ALPHABET_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const idCodes = new Uint8Array(TRANSACTION_ID_LENGTH);

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
  let size = 0;
  for (const p of parts) size += p.length;
  if (size <= SMALL_BODY) {
    return containsEndLine(parts.length === 1 ? parts[0] : concatBytes(parts), transactionId);
  }
  // Transaction ids are ASCII (RFC 4975 §9 ident), so no text encoder is needed.
  const m = 7 + transactionId.length;
  const bytes = new Uint8Array(m).fill(DASH);
  for (let i = 0; i < transactionId.length; i++) bytes[7 + i] = transactionId.charCodeAt(i);
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

// Small bodies: an end-line's seven dashes cover one of every seven positions, so
// only those are looked at; no pattern to compile.
function containsEndLine(all: Uint8Array, transactionId: string): boolean {
  const m = 7 + transactionId.length;
  const last = all.length - m; // the last position an end-line can start at
  for (let i = 6; i < all.length; i += 7) {
    if (all[i] !== DASH) continue;
    for (let k = i - 6; k <= i && k <= last; k++) {
      let j = 0;
      while (j < 7 && all[k + j] === DASH) j++;
      if (j < 7) continue;
      while (j < m && all[k + j] === transactionId.charCodeAt(j - 7)) j++;
      if (j === m) return true;
    }
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

// Writes ASCII `text` at `out[at]`; returns the position after it, or -1 when
// a character is not ASCII or is CR, LF or NUL (the slow encoder decides then).
function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || c === 13 || c === 10 || c === 0) return -1;
    out[at++] = c;
  }
  return at;
}

function writeCrlf(out: Uint8Array, at: number): number {
  out[at] = 13;
  out[at + 1] = 10;
  return at + 2;
}

/**
 * The requests of one message, encoded from a template: every header line
 * but the start line and one varying header (e.g. `Byte-Range`) is checked
 * and encoded once, so that a chunk costs only its transaction id and that
 * header's value. The bytes are those {@linkcode encodeRequest} gives for the
 * same request.
 */
export class RequestTemplate {
  readonly #method: string;
  readonly #varying: string;
  readonly #before: Uint8Array;
  readonly #after: Uint8Array;
  readonly #hasContentType: boolean;

  /**
   * Checks and encodes the constant lines of `req`; `varying` names the one
   * header of `req.headers` whose value each request gives (its value in
   * `req.headers` is not used).
   *
   * @throws {TypeError} as {@linkcode encodeRequestHead} does, or when no
   * header is named `varying`.
   */
  constructor(req: Omit<OutgoingRequest, "transactionId" | "body" | "flag">, varying: string) {
    const headers = req.headers ?? [];
    const at = headers.findIndex(([name]) => name === varying);
    if (at < 0) throw new TypeError(`no ${varying} header in the template`);
    checkText(`MSRP 0000 ${req.method}`, "start line");
    checkHeader(varying, "");
    this.#method = req.method;
    this.#varying = varying;
    this.#before = encoder.encode(
      `\r\n${pathLines(req.toPath, req.fromPath)}${headerLines(headers.slice(0, at))}${varying}: `,
    );
    let after = `\r\n${headerLines(headers.slice(at + 1))}`;
    if (req.contentType !== undefined) {
      after += `Content-Type: ${checkText(req.contentType, "Content-Type")}\r\n`;
    }
    this.#after = encoder.encode(after);
    this.#hasContentType = req.contentType !== undefined;
  }

  /** Bytes of the head (blank line included when `hasBody`) for these varying parts. */
  headLength(transactionId: string, value: string, hasBody: boolean): number {
    return 5 + transactionId.length + 1 + this.#method.length + this.#before.length +
      value.length + this.#after.length + (hasBody ? 2 : 0);
  }

  /**
   * Writes a whole request at `out[at]`: head, body parts and end-line; returns
   * the position after it. `out` must have room for {@linkcode headLength}
   * plus the body plus `transactionId.length + 12`. The caller answers for
   * the body not holding the end-line (RFC 4975 §7.1, {@linkcode transactionIdFor}).
   * As with {@linkcode encodeRequest}, an empty body given with a
   * Content-Type is a body (a blank line and CRLF frame it).
   *
   * @throws {TypeError} when a body has no Content-Type, or the id or value is
   * not ASCII or holds CR, LF or NUL.
   */
  writeRequest(
    out: Uint8Array,
    at: number,
    transactionId: string,
    value: string,
    body: readonly Uint8Array[] | undefined,
    flag: ContinuationFlag,
  ): number {
    let size = 0;
    for (const p of body ?? []) size += p.length;
    const hasBody = size > 0 || (this.#hasContentType && body !== undefined);
    if (size > 0 && !this.#hasContentType) {
      throw new TypeError("a request with a body needs a Content-Type");
    }
    at = this.#writeHead(out, at, transactionId, value, hasBody);
    for (const p of body ?? []) {
      out.set(p, at);
      at += p.length;
    }
    if (hasBody) {
      out[at++] = 13;
      out[at++] = 10;
    }
    at = writeAscii(out, writeAscii(out, at, "-------"), transactionId);
    out[at++] = flag.charCodeAt(0);
    out[at++] = 13;
    out[at++] = 10;
    return at;
  }

  /**
   * The head alone, as {@linkcode encodeRequestHead} encodes it.
   *
   * @throws {TypeError} when the id or value is not ASCII or holds CR, LF or NUL.
   */
  encodeHead(transactionId: string, value: string, hasBody: boolean): Uint8Array {
    const out = new Uint8Array(this.headLength(transactionId, value, hasBody));
    this.#writeHead(out, 0, transactionId, value, hasBody);
    return out;
  }

  #writeHead(
    out: Uint8Array,
    at: number,
    transactionId: string,
    value: string,
    hasBody: boolean,
  ): number {
    at = writeAscii(out, at, "MSRP ");
    at = writeAscii(out, at, transactionId);
    if (at >= 0) out[at++] = 32;
    at = at < 0 ? -1 : writeAscii(out, at, this.#method);
    if (at < 0) throw new TypeError("the transaction id must be ASCII without CR, LF or NUL");
    out.set(this.#before, at);
    at = writeAscii(out, at + this.#before.length, value);
    if (at < 0) throw new TypeError(`${this.#varying} must be ASCII without CR, LF or NUL`);
    out.set(this.#after, at);
    at += this.#after.length;
    if (hasBody) {
      out[at++] = 13;
      out[at++] = 10;
    }
    return at;
  }
}

/**
 * Encodes responses that come from one place: the `To-Path` and `From-Path`
 * lines of the last response and its status and comment are kept and reused
 * while they stay the same (a session answering the chunks of one peer), so
 * that a response costs little more than its transaction id and headers. The
 * bytes are those {@linkcode encodeResponse} gives.
 */
export class ResponseEncoder {
  #toPath: readonly string[] = [];
  #fromPath: readonly string[] = [];
  // The To-Path and From-Path lines; undefined until first used.
  #paths: Uint8Array | undefined;
  #status = 0;
  #comment: string | undefined;
  // " <status> <comment>" CRLF.
  #statusLine = new Uint8Array(0);

  /**
   * Encodes `res` as {@linkcode encodeResponse} does.
   *
   * @throws {TypeError} as {@linkcode encodeResponse} does.
   */
  encode(res: OutgoingResponse): Uint8Array {
    const comment = res.comment ?? reasonPhrase(res.status);
    if (res.status !== this.#status || comment !== this.#comment) {
      const status = ` ${res.status}${comment ? ` ${comment}` : ""}`;
      // Lines that need checking or encoding go the general way (which throws what it must).
      if (LINE_BREAK_OR_NUL.test(status)) return encodeResponse(res);
      this.#statusLine = encoder.encode(`${status}\r\n`);
      this.#status = res.status;
      this.#comment = comment;
    }
    if (
      this.#paths === undefined || !samePath(res.toPath, this.#toPath) ||
      !samePath(res.fromPath, this.#fromPath)
    ) {
      try {
        this.#paths = encoder.encode(pathLines(res.toPath, res.fromPath));
      } catch {
        this.#paths = undefined;
        return encodeResponse(res);
      }
      this.#toPath = [...res.toPath];
      this.#fromPath = [...res.fromPath];
    }
    const tid = res.transactionId;
    const headers = res.headers ?? [];
    let size = 5 + tid.length + this.#statusLine.length + this.#paths.length + 7 + tid.length + 3;
    for (const [name, value] of headers) size += name.length + value.length + 4;
    const out = freshBytes(size);
    for (let i = 0; i < 5; i++) out[i] = MSRP_SP[i];
    let at = writeAscii(out, 5, tid);
    if (at < 0) return encodeResponse(res);
    out.set(this.#statusLine, at);
    at += this.#statusLine.length;
    out.set(this.#paths, at);
    at += this.#paths.length;
    for (const [name, value] of headers) {
      if (name === "" || name.indexOf(":") >= 0) return encodeResponse(res);
      at = writeAscii(out, at, name);
      if (at >= 0) at = writeAscii(out, at, ": ");
      if (at >= 0) at = writeAscii(out, at, value);
      // Not plain ASCII, or not allowed: the general encoder encodes or throws.
      if (at < 0) return encodeResponse(res);
      at = writeCrlf(out, at);
    }
    at = writeAscii(out, writeAscii(out, at, "-------"), tid);
    out[at++] = 36; // "$"
    writeCrlf(out, at);
    return out;
  }
}

const MSRP_SP = Uint8Array.of(77, 83, 82, 80, 32);

// Responses are cut from 64 KiB slabs: a view costs a tenth of a new small
// Uint8Array. A slab is never written twice; it is freed with its last view.
const SLAB_BYTES = 64 * 1024;
const SLAB_MAX_TAKE = 4 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

// `size` bytes of fresh memory, to be filled by the caller.
function freshBytes(size: number): Uint8Array {
  if (size > SLAB_MAX_TAKE) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return out;
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
