/**
 * Rebuilds one MSRP message from its chunks (RFC 4975 §5.1, §7.3.1).
 *
 * Chunks may arrive in any order, with gaps, duplicates and overlaps; the
 * total size may be unknown (`*`) until the last chunk; a chunk flagged `#`
 * aborts the message. The reassembler tracks which bytes arrived and, when
 * asked to, keeps them in memory; otherwise the caller stores the bytes at the
 * offsets {@linkcode Reassembler.write} returns.
 *
 * @module
 */

import type { ByteRange, ContinuationFlag } from "./message.ts";
import { MsrpError, Status } from "./status.ts";

/** Options of a {@linkcode Reassembler}. */
export interface ReassemblerOptions {
  /** Largest message accepted, in bytes; larger ones fail with 413. */
  maxSize: number;
  /** Keep the bytes in memory so {@linkcode Reassembler.body} can return them. */
  keepBody?: boolean;
}

/** A 1-based inclusive byte interval `[first, last]`. */
type Interval = [number, number];

/** The chunk being received. */
interface OpenChunk {
  readonly range: ByteRange;
  /** Body bytes written so far. */
  written: number;
}

const MIN_CAPACITY = 256;
// Never written to: a buffer is made once a byte is kept.
const NO_BYTES = new Uint8Array(0);

/**
 * Rebuilds one message from chunks that may arrive in any order.
 *
 * Per chunk, call {@linkcode Reassembler.beginChunk} with its Byte-Range,
 * {@linkcode Reassembler.write} for each slice of its body as it arrives, and
 * {@linkcode Reassembler.endChunk} with its end-line flag. A chunk cut short
 * (interrupted by the sender, RFC 4975 §5.1, or by a lost connection) counts
 * the bytes written before its end.
 *
 * @example Two chunks out of order
 * ```ts
 * const r = new Reassembler({ maxSize: 1024, keepBody: true });
 * r.beginChunk({ start: 4, end: 5, total: 5 });
 * r.write(new TextEncoder().encode("lo"));
 * r.endChunk("$");
 * r.beginChunk({ start: 1, end: 3, total: 5 });
 * r.write(new TextEncoder().encode("hel"));
 * r.endChunk("+");
 * r.isComplete; // true; r.body() holds "hello"
 * ```
 */
export class Reassembler {
  readonly #maxSize: number;
  readonly #keepBody: boolean;
  /** Received bytes as sorted, disjoint, non-adjacent intervals. */
  readonly #ranges: Interval[] = [];
  #received = 0;
  #total: number | undefined;
  #aborted = false;
  #chunksEnded = 0;
  #open: OpenChunk | undefined;
  #buffer = NO_BYTES;

  /** Creates a reassembler for one message. */
  constructor(options: ReassemblerOptions) {
    if (!Number.isSafeInteger(options.maxSize) || options.maxSize < 0) {
      throw new RangeError(`maxSize must be an integer ≥ 0, got ${options.maxSize}`);
    }
    this.#maxSize = options.maxSize;
    this.#keepBody = options.keepBody ?? false;
  }

  /** Number of distinct bytes received in ended chunks (overlaps count once). */
  get bytesReceived(): number {
    return this.#received;
  }

  /** Received bytes as merged 1-based inclusive `[start, end]` pairs, in order. */
  get ranges(): [number, number][] {
    return this.#ranges.map(([first, last]) => [first, last]);
  }

  /** Size of the message once known: from a Byte-Range total, or from the `$` chunk. */
  get total(): number | undefined {
    return this.#total;
  }

  /** True when the total is known, every byte of it arrived, and the message was not aborted. */
  get isComplete(): boolean {
    if (this.#aborted || this.#total === undefined || this.#chunksEnded === 0) return false;
    if (this.#total === 0) return true;
    const first = this.#ranges[0];
    return first !== undefined && first[0] === 1 && first[1] >= this.#total;
  }

  /** True once a chunk flagged `#` ended (RFC 4975 §7.1.1). */
  get isAborted(): boolean {
    return this.#aborted;
  }

  /**
   * Starts a chunk. Throws {@linkcode MsrpError} 413 when the chunk starts
   * beyond `maxSize` or declares an end or total above it, and 400 when the
   * range contradicts itself or a total known from an earlier chunk.
   */
  beginChunk(range: ByteRange): void {
    if (this.#open !== undefined) throw new Error("the previous chunk has not ended");
    const { start, end, total } = range;
    if (!Number.isSafeInteger(start) || start < 1) {
      throw new MsrpError(Status.BadRequest, `Byte-Range start must be ≥ 1, got ${start}`);
    }
    if (end !== "*" && end < start - 1) {
      throw new MsrpError(Status.BadRequest, `Byte-Range end ${end} is before start ${start}`);
    }
    if (start - 1 > this.#maxSize) {
      throw new MsrpError(
        Status.RequestEntityTooLarge,
        `chunk starts at byte ${start}, beyond the limit of ${this.#maxSize}`,
      );
    }
    if (total !== "*" && total > this.#maxSize) {
      throw new MsrpError(
        Status.RequestEntityTooLarge,
        `message of ${total} bytes exceeds the limit of ${this.#maxSize}`,
      );
    }
    if (end !== "*" && end > this.#maxSize) {
      throw new MsrpError(
        Status.RequestEntityTooLarge,
        `chunk ends at byte ${end}, beyond the limit of ${this.#maxSize}`,
      );
    }
    if (total !== "*") {
      if (this.#total !== undefined && total !== this.#total) {
        throw new MsrpError(
          Status.BadRequest,
          `total ${total} conflicts with the earlier total ${this.#total}`,
        );
      }
      if (this.#highestEnd() > total) {
        throw new MsrpError(
          Status.BadRequest,
          `total ${total} is below byte ${this.#highestEnd()} already received`,
        );
      }
    }
    const known = total === "*" ? this.#total : total;
    if (known !== undefined && (start - 1 > known || (end !== "*" && end > known))) {
      throw new MsrpError(
        Status.BadRequest,
        `Byte-Range ${start}-${end} lies beyond the total of ${known}`,
      );
    }
    this.#total = known;
    this.#open = { range, written: 0 };
  }

  /**
   * Takes the next body bytes of the current chunk and returns the 0-based
   * offset in the message where they belong. Copies them when `keepBody` is
   * set, so the caller may reuse its buffer.
   *
   * Throws {@linkcode MsrpError} 400 when the bytes go past the chunk's
   * declared end or the known total, and 413 when they go past `maxSize`.
   */
  write(bytes: Uint8Array): number {
    const open = this.#open;
    if (open === undefined) throw new Error("no chunk has begun");
    const offset = open.range.start - 1 + open.written;
    const end = offset + bytes.length;
    if (open.range.end !== "*" && end > open.range.end) {
      throw new MsrpError(
        Status.BadRequest,
        `chunk body goes past its Byte-Range end ${open.range.end}`,
      );
    }
    if (this.#total !== undefined && end > this.#total) {
      throw new MsrpError(Status.BadRequest, `chunk body goes past the total of ${this.#total}`);
    }
    if (end > this.#maxSize) {
      throw new MsrpError(
        Status.RequestEntityTooLarge,
        `message exceeds the limit of ${this.#maxSize} bytes`,
      );
    }
    if (this.#keepBody && bytes.length > 0) {
      this.#reserve(end);
      this.#buffer.set(bytes, offset);
    }
    open.written += bytes.length;
    return offset;
  }

  /**
   * Ends the current chunk: its bytes count as received; `#` marks the message
   * aborted; `$` marks the last chunk, which settles an unknown (`*`) total as
   * the highest byte position seen (RFC 4975 §7.1.1).
   */
  endChunk(flag: ContinuationFlag): void {
    const open = this.#open;
    if (open === undefined) throw new Error("no chunk has begun");
    this.#open = undefined;
    this.#chunksEnded++;
    const first = open.range.start;
    if (open.written > 0) this.#add(first, first + open.written - 1);
    if (flag === "#") {
      this.#aborted = true;
    } else if (flag === "$" && this.#total === undefined) {
      const declaredEnd = open.range.end === "*" ? 0 : open.range.end;
      this.#total = Math.max(this.#highestEnd(), first - 1, declaredEnd);
    }
  }

  /**
   * The whole message. Only with `keepBody`, once {@linkcode Reassembler.isComplete};
   * throws otherwise.
   */
  body(): Uint8Array {
    if (!this.#keepBody) throw new Error("the body is not kept (keepBody is off)");
    if (!this.isComplete || this.#total === undefined) {
      throw new Error("the message is not complete");
    }
    return this.#buffer.subarray(0, this.#total);
  }

  #highestEnd(): number {
    const last = this.#ranges[this.#ranges.length - 1];
    return last === undefined ? 0 : last[1];
  }

  /** Grows the body buffer geometrically to hold `size` bytes, capped by the total or `maxSize`. */
  #reserve(size: number): void {
    if (size <= this.#buffer.length) return;
    const cap = this.#total ?? this.#maxSize;
    const capacity = Math.min(cap, Math.max(size, this.#buffer.length * 2, MIN_CAPACITY));
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer);
    this.#buffer = grown;
  }

  /**
   * Counts the message's first `bytes` as received without their content:
   * bytes the receiver already holds, e.g. of a file whose transfer resumes
   * (RFC 5547 §8), so that the message completes once the rest arrived.
   * Call it before the first chunk; only for a reassembler that keeps no body.
   */
  hold(bytes: number): void {
    if (this.#keepBody) throw new Error("a reassembler that keeps the body cannot hold bytes");
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.#maxSize) {
      throw new RangeError(
        `held bytes must be an integer from 0 to ${this.#maxSize}, got ${bytes}`,
      );
    }
    if (bytes > 0) this.#add(1, bytes);
  }

  /** Adds `[first, last]` to the received intervals, merging overlaps and neighbours. */
  #add(first: number, last: number): void {
    const ranges = this.#ranges;
    // First interval that ends at or after `first - 1` (could touch or overlap).
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid][1] < first - 1) lo = mid + 1;
      else hi = mid;
    }
    let from = first;
    let to = last;
    let covered = 0;
    let j = lo;
    while (j < ranges.length && ranges[j][0] <= last + 1) {
      from = Math.min(from, ranges[j][0]);
      to = Math.max(to, ranges[j][1]);
      covered += ranges[j][1] - ranges[j][0] + 1;
      j++;
    }
    ranges.splice(lo, j - lo, [from, to]);
    this.#received += to - from + 1 - covered;
  }
}
