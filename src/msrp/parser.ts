// Long for a reason: one incremental byte-level state machine over shared buffers.
/**
 * Incremental, binary-safe MSRP frame parser (RFC 4975 §7, §9).
 *
 * Feed it byte slices split anywhere; it calls a {@linkcode FrameHandler} with
 * each frame's head, its body as slices of the input (no copy), and the
 * end-line's flag. Limits are enforced with {@linkcode MsrpError}s that say
 * whether framing is lost.
 *
 * @module
 */

import { type ContinuationFlag, type Frame, type FrameHead, MsrpHeaders } from "./message.ts";
import { parseHead, salvageHeaders } from "./_head.ts";
import { MsrpError, Status } from "./status.ts";
import { type BytePattern, compilePattern, indexOfPattern } from "./_search.ts";

/** Size limits the parser enforces. */
export interface ParserLimits {
  /** Longest start line, CRLF included (framing is lost beyond it). */
  readonly maxStartLineBytes: number;
  /** Largest header block (start line and headers), CRLFs included. */
  readonly maxHeaderBytes: number;
  /** Most header lines in one frame. */
  readonly maxHeaderCount: number;
  /** Largest body of one chunk (413 beyond it). */
  readonly maxChunkBodyBytes: number;
}

/** Limits used when none are given. */
export const DEFAULT_PARSER_LIMITS: ParserLimits = {
  maxStartLineBytes: 512,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 64,
  maxChunkBodyBytes: 4 * 1024 * 1024 * 1024,
};

/** What the parser knows of a frame that failed. */
export interface FrameFailure {
  /** The error; `error.framingLost` tells whether the stream is unusable. */
  readonly error: MsrpError;
  /** Request method, when the start line was a request. */
  readonly method: string | undefined;
  /** Headers read before the failure (possibly none). */
  readonly headers: MsrpHeaders;
  /** The head, when it was complete and already delivered. */
  readonly head: FrameHead | undefined;
}

/** Receives what the parser finds, in stream order. */
export interface FrameHandler {
  /** A frame's start line and headers are complete and valid. */
  head(head: FrameHead): void;
  /**
   * Body bytes of the current frame. The slice is a view of the input given
   * to {@linkcode MsrpParser.push} (or of a small internal copy): copy it to
   * keep it after the caller reuses that input.
   */
  body(bytes: Uint8Array): void;
  /** The end-line was read. */
  end(flag: ContinuationFlag): void;
  /**
   * The frame is malformed or over a limit. When framing is kept, the parser
   * skips to this transaction's end-line and then goes on; `end` is not
   * called for the failed frame. When framing is lost, the parser stops.
   */
  error(failure: FrameFailure): void;
}

const enum State {
  Start,
  Headers,
  Body,
  Dead,
}

const CR = 13;
const LF = 10;
const DASH = 45;
const utf8 = new TextDecoder("utf-8", { fatal: false });
const EMPTY = new Uint8Array(0);
const SHORT_BODY = 256;

function flagOf(byte: number): ContinuationFlag | undefined {
  return byte === 36 ? "$" : byte === 43 ? "+" : byte === 35 ? "#" : undefined;
}

// The ASCII bytes arr[from, to) as a string.
function asciiString(arr: Uint8Array, from: number, to: number): string {
  return from >= to
    ? ""
    : String.fromCharCode.apply(null, arr.subarray(from, to) as unknown as number[]);
}

function isTransactionIdByte(b: number): boolean {
  // ident-char (RFC 4975 §9): ALPHANUM / "." / "-" / "+" / "%" / "="
  return (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) ||
    b === 46 || b === 45 || b === 43 || b === 37 || b === 61;
}

/**
 * The streaming parser. One instance per connection; not reusable after
 * framing is lost.
 */
export class MsrpParser {
  readonly #handler: FrameHandler;
  readonly #limits: ParserLimits;
  #state: State = State.Start;

  // Head bytes carried over between pushes; empty while a head lies in one input slice.
  #acc: Uint8Array = new Uint8Array(512);
  #accLength = 0;
  #lineLength = 0; // bytes of the current, unfinished line
  #headFrom = 0; // where the head starts in the current input slice (when not carried)

  // Current frame.
  // CRLF "-------" transaction-id: what ends a body; the end-line from index 2.
  readonly #terminatorBytes = new Uint8Array(2 + 7 + 32);
  #endLineLength = 0; // of "-------" + id
  #terminator: BytePattern | undefined; // compiled on the frame's first long body scan
  readonly #shift = new Int32Array(256);
  // The start line's tentative method (A-Z), for failures before the head is read.
  #methodBytes = new Uint8Array(16);
  #methodLength = 0;
  #headers = new MsrpHeaders();
  #headerBytes = 0;
  #headerCount = 0;
  #head: FrameHead | undefined;
  #bodyBytes = 0;
  #discard = false;
  #held: Uint8Array = EMPTY;

  /** Creates a parser that reports to `handler`. */
  constructor(handler: FrameHandler, limits: Partial<ParserLimits> = {}) {
    this.#handler = handler;
    this.#limits = { ...DEFAULT_PARSER_LIMITS, ...limits };
    this.#terminatorBytes.set([CR, LF, DASH, DASH, DASH, DASH, DASH, DASH, DASH]);
  }

  /** True after an error that lost framing; further input is ignored. */
  get failed(): boolean {
    return this.#state === State.Dead;
  }

  /** True when the parser is between frames (nothing partial is buffered). */
  get idle(): boolean {
    return this.#state === State.Start && this.#accLength === 0;
  }

  /** True while a frame's start line or headers are partly read. */
  get inHead(): boolean {
    return this.#state === State.Headers || (this.#state === State.Start && this.#accLength > 0);
  }

  /** Feeds the next bytes of the stream. Never throws for bad input. */
  push(buf: Uint8Array): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.#state) {
        case State.Start:
        case State.Headers:
          pos = this.#lines(buf, pos);
          break;
        case State.Body:
          pos = this.#body(buf, pos);
          break;
        case State.Dead:
          return;
      }
    }
  }

  // Reads the lines of a head; returns the position after what it used.
  #lines(buf: Uint8Array, pos: number): number {
    const len = buf.length;
    while (pos < len && (this.#state === State.Start || this.#state === State.Headers)) {
      if (this.#state === State.Start && this.#accLength === 0) {
        // Tolerate blank lines between frames.
        if (buf[pos] === LF) {
          pos++;
          continue;
        }
        if (buf[pos] === CR && pos + 1 < len && buf[pos + 1] === LF) {
          pos += 2;
          continue;
        }
        this.#headFrom = pos;
      }
      const limit = this.#state === State.Start
        ? this.#limits.maxStartLineBytes
        : this.#limits.maxHeaderBytes - this.#headerBytes;
      const lf = buf.indexOf(LF, pos);
      if (lf < 0) {
        if (this.#lineLength + len - pos > limit) return this.#lineTooLong(buf, pos, len);
        this.#carry(buf, this.#accLength === 0 ? this.#headFrom : pos, len);
        this.#lineLength += len - pos;
        return len;
      }
      const lineBytes = this.#lineLength + lf + 1 - pos;
      if (lineBytes > limit) return this.#lineTooLong(buf, pos, len);
      this.#lineLength = 0;
      if (this.#accLength > 0) {
        this.#carry(buf, pos, lf + 1);
        this.#onLine(this.#acc, this.#accLength - lineBytes, this.#accLength - 1, lineBytes, buf);
      } else {
        this.#onLine(buf, pos, lf, lineBytes, buf);
      }
      pos = lf + 1;
    }
    // The input ended exactly at a line end inside a head: keep the head so far.
    if (this.#state === State.Headers && this.#accLength === 0 && pos === len) {
      this.#carry(buf, this.#headFrom, len);
    }
    return pos;
  }

  #carry(buf: Uint8Array, from: number, to: number): void {
    const need = this.#accLength + to - from;
    if (need > this.#acc.length) {
      const grown = new Uint8Array(Math.max(need, this.#acc.length * 2));
      grown.set(this.#acc.subarray(0, this.#accLength));
      this.#acc = grown;
    }
    this.#acc.set(buf.subarray(from, to), this.#accLength);
    this.#accLength = need;
  }

  // One line in `arr` from `start` to the LF at `lf`; `input` is the current input slice.
  #onLine(arr: Uint8Array, start: number, lf: number, lineBytes: number, input: Uint8Array): void {
    const end = lf > start && arr[lf - 1] === CR ? lf - 1 : lf;
    if (this.#state === State.Start) {
      if (end === start) {
        this.#accLength = 0; // a blank line carried over from the previous input
        return;
      }
      this.#headerBytes = lineBytes;
      this.#startLine(arr, start, end);
      return;
    }
    this.#headerBytes += lineBytes;
    if (end === start) {
      // Blank line: the body follows (RFC 4975 §9 content-stuff).
      this.#finishHead(this.#headText(arr, start, input), true);
      return;
    }
    if (arr[start] === DASH && this.#isEndLine(arr, start, end)) {
      const flag = flagOf(arr[end - 1])!;
      if (this.#finishHead(this.#headText(arr, start, input), false)) this.#handler.end(flag);
      this.#state = State.Start;
      return;
    }
    if (arr[start] === 32 || arr[start] === 9) {
      salvageHeaders(this.#headers, this.#headText(arr, start, input));
      this.#failFrame(Status.BadRequest, "header folding is not allowed", true);
      return;
    }
    if (++this.#headerCount > this.#limits.maxHeaderCount) {
      salvageHeaders(this.#headers, this.#headText(arr, start, input));
      this.#failFrame(Status.BadRequest, "too many header fields", true);
    }
  }

  // The head's text: start line and header lines, up to the line at `lineStart`.
  #headText(arr: Uint8Array, lineStart: number, input: Uint8Array): string {
    const carried = arr === this.#acc && arr !== input;
    const text = utf8.decode(
      carried ? arr.subarray(0, lineStart) : arr.subarray(this.#headFrom, lineStart),
    );
    this.#accLength = 0;
    return text;
  }

  // The current frame's transaction id (for failures: a head read has it as a string).
  #transactionId(): string {
    return asciiString(this.#terminatorBytes, 9, 2 + this.#endLineLength);
  }

  #isEndLine(arr: Uint8Array, start: number, end: number): boolean {
    const e = this.#terminatorBytes;
    const n = this.#endLineLength;
    if (end - start !== n + 1) return false;
    for (let i = 0; i < n; i++) if (arr[start + i] !== e[i + 2]) return false;
    return flagOf(arr[end - 1]) !== undefined;
  }

  // Checks "MSRP <transaction-id> " in bytes; the rest is parsed with the head.
  #startLine(arr: Uint8Array, start: number, end: number): void {
    let i = start + 5;
    let ok = end - start > 5 && arr[start] === 77 && arr[start + 1] === 83 &&
      arr[start + 2] === 82 && arr[start + 3] === 80 && arr[start + 4] === 32;
    while (ok && i < end && arr[i] !== 32) {
      if (!isTransactionIdByte(arr[i]) || i - start - 5 >= 32) ok = false;
      i++;
    }
    const idLength = i - start - 5;
    if (!ok || idLength < 4 || arr[start + 5] === 46 || arr[start + 5] === 45) {
      this.#fail(new MsrpError(Status.BadRequest, "malformed start line", { framingLost: true }));
      return;
    }
    const t = this.#terminatorBytes;
    for (let k = 0; k < idLength; k++) t[9 + k] = arr[start + 5 + k];
    this.#endLineLength = 7 + idLength;
    this.#terminator = undefined;
    // A tentative method, so failures before the head is complete can name it.
    let m = i + 1;
    while (m < end && arr[m] >= 65 && arr[m] <= 90) m++;
    if (m - i - 1 > this.#methodBytes.length) this.#methodBytes = new Uint8Array(m - i - 1);
    for (let k = i + 1; k < m; k++) this.#methodBytes[k - i - 1] = arr[k];
    this.#methodLength = m - i - 1;
    this.#headers = new MsrpHeaders();
    this.#headerCount = 0;
    this.#head = undefined;
    this.#bodyBytes = 0;
    this.#discard = false;
    this.#state = State.Headers;
  }

  // Builds and delivers the head; returns false when it was invalid.
  #finishHead(text: string, hasBody: boolean): boolean {
    let head: FrameHead;
    try {
      head = parseHead(text, hasBody, this.#headers);
    } catch (e) {
      const err = e instanceof MsrpError ? e : new MsrpError(Status.BadRequest, String(e));
      if (hasBody) {
        this.#failFrame(err.status, err.message, false);
      } else {
        this.#report(err);
        this.#state = State.Start;
      }
      return false;
    }
    this.#head = head;
    if (hasBody) {
      this.#state = State.Body;
      this.#held = EMPTY;
    }
    this.#handler.head(head);
    return true;
  }

  // A line went over its limit; returns where parsing resumes.
  #lineTooLong(buf: Uint8Array, pos: number, len: number): number {
    if (this.#state === State.Headers) {
      const carried = this.#accLength > 0;
      salvageHeaders(
        this.#headers,
        utf8.decode(
          carried
            ? this.#acc.subarray(0, this.#accLength - this.#lineLength)
            : buf.subarray(this.#headFrom, pos),
        ),
      );
    }
    this.#lineLength = 0;
    this.#accLength = 0;
    if (this.#state === State.Start) {
      this.#fail(
        new MsrpError(Status.BadRequest, "start line too long", { framingLost: true }),
      );
      return len;
    }
    // Mid-line: let the end-line scanner look at the rest of this line too.
    this.#failFrame(Status.BadRequest, "header block too large", false);
    return pos;
  }

  // Fails the current frame but keeps framing: skip to this transaction's end-line.
  // `atLineStart` tells whether the next input byte begins a line.
  #failFrame(status: number, message: string, atLineStart: boolean): void {
    this.#report(new MsrpError(status, message, { transactionId: this.#transactionId() }));
    this.#accLength = 0;
    this.#state = State.Body;
    this.#discard = true;
    // At a line start, an end-line may follow at once: act as if its CRLF was seen.
    this.#held = atLineStart ? Uint8Array.of(CR, LF) : EMPTY;
  }

  #fail(error: MsrpError): void {
    this.#state = State.Dead;
    this.#lineLength = 0;
    this.#accLength = 0;
    this.#report(error);
  }

  #report(error: MsrpError): void {
    this.#handler.error({
      error,
      // Empty for a response: its start line has a status code where a request has the method.
      method: asciiString(this.#methodBytes, 0, this.#methodLength) || undefined,
      headers: this.#headers,
      head: this.#head,
    });
  }

  // --- body -------------------------------------------------------------

  // Checks for the terminator CRLF "-------" tid flag CRLF at buf[k]:
  // 1 = complete match, 0 = no match, -1 = matches so far but buf ends first.
  #matchAt(buf: Uint8Array, k: number, len: number): number {
    const t = this.#terminatorBytes;
    const n = this.#endLineLength;
    const total = n + 5;
    const avail = Math.min(len - k, total);
    if (buf[k] !== CR) return 0;
    if (avail > 1 && buf[k + 1] !== LF) return 0;
    const tEnd = Math.min(avail, n + 2);
    for (let i = 2; i < tEnd; i++) if (buf[k + i] !== t[i]) return 0;
    if (avail > n + 2 && flagOf(buf[k + n + 2]) === undefined) return 0;
    if (avail > n + 3 && buf[k + n + 3] !== CR) return 0;
    if (avail > n + 4 && buf[k + n + 4] !== LF) return 0;
    return avail === total ? 1 : -1;
  }

  #body(buf: Uint8Array, pos: number): number {
    const len = buf.length;
    const total = this.#endLineLength + 5;
    if (this.#held.length > 0) {
      const held = this.#held;
      const take = Math.min(len - pos, total);
      const joined = new Uint8Array(held.length + take);
      joined.set(held);
      joined.set(buf.subarray(pos, pos + take), held.length);
      for (let s = 0; s < held.length; s++) {
        const r = this.#matchAt(joined, s, joined.length);
        if (r === 0) continue;
        this.#emit(held.subarray(0, s));
        if (r === 1) {
          this.#held = EMPTY;
          this.#endFrame(flagOf(joined[s + this.#endLineLength + 2])!);
          return pos + s + total - held.length;
        }
        this.#held = joined.slice(s);
        return pos + take;
      }
      this.#held = EMPTY;
      this.#emit(held);
    }
    // Small bodies: check each CR near the start; cheaper than compiling a pattern.
    const window = Math.min(len, pos + SHORT_BODY);
    for (let k = pos; k < window; k++) {
      if (buf[k] !== CR) continue;
      const r = this.#matchAt(buf, k, len);
      if (r === 1) {
        this.#emit(buf.subarray(pos, k));
        this.#endFrame(flagOf(buf[k + this.#endLineLength + 2])!);
        return k + total;
      }
      if (r === -1) return this.#hold(buf, pos, k);
    }
    if (window === len) {
      this.#emit(buf.subarray(pos, len));
      return len;
    }
    this.#terminator ??= compilePattern(
      this.#terminatorBytes,
      this.#shift,
      this.#endLineLength + 2,
    );
    // Whole "CRLF -------id" occurrences, then a flag and CRLF must follow.
    let i = window;
    let k = indexOfPattern(buf, this.#terminator, i, len);
    while (k >= 0) {
      const r = this.#matchAt(buf, k, len);
      if (r === 1) {
        this.#emit(buf.subarray(pos, k));
        this.#endFrame(flagOf(buf[k + this.#endLineLength + 2])!);
        return k + total;
      }
      if (r === -1) return this.#hold(buf, pos, k);
      i = k + 1;
      k = indexOfPattern(buf, this.#terminator, i, len);
    }
    // A terminator may begin in the last bytes and finish in the next push.
    for (k = Math.max(i, len - total + 1); k < len; k++) {
      if (buf[k] === CR && this.#matchAt(buf, k, len) === -1) return this.#hold(buf, pos, k);
    }
    this.#emit(buf.subarray(pos, len));
    return len;
  }

  // Emits buf[pos, k) and keeps buf[k, end) until more input decides.
  #hold(buf: Uint8Array, pos: number, k: number): number {
    this.#emit(buf.subarray(pos, k));
    this.#held = buf.slice(k);
    return buf.length;
  }

  #emit(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#discard) return;
    this.#bodyBytes += bytes.length;
    if (this.#bodyBytes > this.#limits.maxChunkBodyBytes) {
      this.#report(
        new MsrpError(Status.RequestEntityTooLarge, "chunk body too large", {
          transactionId: this.#transactionId(),
        }),
      );
      this.#discard = true;
      return;
    }
    this.#handler.body(bytes);
  }

  #endFrame(flag: ContinuationFlag): void {
    const discarded = this.#discard;
    this.#state = State.Start;
    this.#discard = false;
    if (!discarded) this.#handler.end(flag);
  }
}

/** Frames and failures collected by {@linkcode parseFrames}. */
export interface ParsedFrames {
  /** Whole frames, bodies concatenated. */
  readonly frames: Frame[];
  /** Failures in stream order. */
  readonly failures: FrameFailure[];
}

/**
 * Parses a whole byte stream given as one or more slices and collects the
 * frames; convenient for tests and small exchanges.
 */
export function parseFrames(
  input: Uint8Array | readonly Uint8Array[],
  limits: Partial<ParserLimits> = {},
): ParsedFrames {
  const frames: Frame[] = [];
  const failures: FrameFailure[] = [];
  let head: FrameHead | undefined;
  let parts: Uint8Array[] = [];
  const parser = new MsrpParser({
    head(h) {
      head = h;
      parts = [];
    },
    body(bytes) {
      parts.push(bytes.slice());
    },
    end(flag) {
      frames.push({ head: head!, body: concatBytes(parts), flag });
      head = undefined;
    },
    error(failure) {
      failures.push(failure);
    },
  }, limits);
  for (const slice of input instanceof Uint8Array ? [input] : input) parser.push(slice);
  return { frames, failures };
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
