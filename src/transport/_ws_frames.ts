/**
 * Cuts the byte stream an {@linkcode MsrpConnection} writes back into MSRP
 * frames, so that each frame goes out as one WebSocket message (RFC 7977
 * §4.2): the connection's writer coalesces small frames into one write and
 * writes a large body apart from its head and end-line.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const PLUS = 43;
const DOLLAR = 36;
const HASH = 35;
/** A start line longer than this means the stream is not MSRP. */
const MAX_START_LINE = 1024;
/** An idle aligner gives back a buffer larger than this. */
const KEEP_BUFFER_BYTES = 1024 * 1024;
const MIN_BUFFER_BYTES = 64 * 1024;
// RFC 4975 §9: "MSRP" SP transact-id SP, transact-id = ident = ALPHANUM 3*31ident-char.
const START_LINE = /^MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}) /;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** One WebSocket message to send. */
export interface AlignedMessage {
  /** The bytes; a copy owned by the message. */
  readonly bytes: Uint8Array;
  /** True when it is exactly one whole MSRP frame. */
  readonly whole: boolean;
}

/**
 * Splits well-formed MSRP frames, written in pieces of any size, into one
 * byte array per frame. A frame ends at `CRLF "-------" transact-id flag
 * CRLF` (RFC 4975 §9); the serializer picks transaction ids whose end-line
 * does not occur in the body (RFC 4975 §7.1), so the first match is the end.
 *
 * A frame larger than `maxMessageBytes` is sent in several messages (the
 * peer must then parse a stream, as this module does); bytes that do not
 * start with an MSRP start line switch the aligner to passing writes through
 * as they come.
 */
export class FrameAligner {
  readonly #maxMessageBytes: number;
  #buf = new Uint8Array(0);
  #len = 0;
  #scan = 0; // no frame boundary starts before this offset
  #startLineEnd = -1; // offset of the CRLF ending the current start line
  #needle: Uint8Array | undefined; // CRLF "-------" transact-id of the current frame
  #passThrough = false;

  /** Creates an aligner that never emits a message above `maxMessageBytes` bytes. */
  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Bytes held back until their frame is complete. */
  get pendingBytes(): number {
    return this.#len;
  }

  /** Takes the next written bytes; returns the messages now complete, in order. */
  push(bytes: Uint8Array): AlignedMessage[] {
    if (bytes.length === 0) return [];
    if (this.#passThrough) return [{ bytes: bytes.slice(), whole: false }];
    this.#append(bytes);
    const out: AlignedMessage[] = [];
    let pos = 0; // start of the current frame in #buf
    while (pos < this.#len) {
      if (this.#needle === undefined) {
        const cr = this.#find(CR, LF, Math.max(pos, this.#scan));
        if (cr < 0) {
          if (this.#len - pos > MAX_START_LINE) return this.#giveUp(out, pos);
          this.#scan = Math.max(pos, this.#len - 1);
          break;
        }
        const match = START_LINE.exec(latin1.decode(this.#buf.subarray(pos, cr)));
        if (match === null) return this.#giveUp(out, pos);
        this.#needle = encoder.encode(`\r\n-------${match[1]}`);
        this.#startLineEnd = cr;
        this.#scan = cr;
      }
      const needle = this.#needle;
      const at = this.#indexOf(needle, this.#scan);
      if (at >= 0 && at + needle.length + 3 <= this.#len) {
        const flag = this.#buf[at + needle.length];
        if (
          (flag === DOLLAR || flag === PLUS || flag === HASH) &&
          this.#buf[at + needle.length + 1] === CR && this.#buf[at + needle.length + 2] === LF
        ) {
          const end = at + needle.length + 3;
          this.#emit(out, pos, end, true);
          pos = end;
          this.#needle = undefined;
          this.#scan = pos;
          continue;
        }
        this.#scan = at + 1;
        continue;
      }
      // The end-line has not arrived: an end-line may start at `keep` at the earliest.
      const keep = at >= 0 ? at : Math.max(this.#startLineEnd, this.#len - needle.length + 1);
      this.#scan = keep;
      if (this.#len - pos > this.#maxMessageBytes && keep > pos) {
        this.#emit(out, pos, keep, false);
        pos = keep;
      }
      break;
    }
    this.#compact(pos);
    return out;
  }

  // Emits #buf[start, end) in messages of at most maxMessageBytes.
  #emit(out: AlignedMessage[], start: number, end: number, whole: boolean): void {
    const max = this.#maxMessageBytes;
    if (end - start <= max) {
      out.push({ bytes: this.#buf.slice(start, end), whole });
      return;
    }
    for (let i = start; i < end; i += max) {
      out.push({ bytes: this.#buf.slice(i, Math.min(end, i + max)), whole: false });
    }
  }

  // Not MSRP: everything held back goes out now, and later writes as they come.
  #giveUp(out: AlignedMessage[], pos: number): AlignedMessage[] {
    this.#passThrough = true;
    if (pos < this.#len) this.#emit(out, pos, this.#len, false);
    this.#buf = new Uint8Array(0);
    this.#len = 0;
    return out;
  }

  #append(bytes: Uint8Array): void {
    const need = this.#len + bytes.length;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2, MIN_BUFFER_BYTES));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = need;
  }

  // Drops the bytes before `pos`, which went out.
  #compact(pos: number): void {
    if (pos === 0) return;
    if (pos === this.#len && this.#buf.length > KEEP_BUFFER_BYTES) {
      this.#buf = new Uint8Array(0);
    } else {
      this.#buf.copyWithin(0, pos, this.#len);
    }
    this.#len -= pos;
    this.#scan = Math.max(0, this.#scan - pos);
    this.#startLineEnd -= pos;
  }

  // Offset of the two bytes `a b` at or after `from`, or -1.
  #find(a: number, b: number, from: number): number {
    const buf = this.#buf.subarray(0, this.#len);
    for (let i = buf.indexOf(a, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(a, i + 1)) {
      if (buf[i + 1] === b) return i;
    }
    return -1;
  }

  // Offset of `needle` within the buffered bytes at or after `from`, or -1.
  #indexOf(needle: Uint8Array, from: number): number {
    const buf = this.#buf.subarray(0, this.#len);
    const last = buf.length - needle.length;
    for (
      let i = buf.indexOf(needle[0], from);
      i >= 0 && i <= last;
      i = buf.indexOf(needle[0], i + 1)
    ) {
      let j = 1;
      while (j < needle.length && buf[i + j] === needle[j]) j++;
      if (j === needle.length) return i;
    }
    return -1;
  }
}
