/**
 * The byte queue behind a connection's writer: parts in send order, taken out
 * as write-sized chunks with small parts coalesced.
 *
 * @module
 */

/** Parts of at least this many bytes are written from the caller's memory. */
export const DIRECT_WRITE_BYTES = 16 * 1024;

/** Most bytes small parts are coalesced into for one write. */
export const COALESCE_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);

/** A FIFO of byte arrays that hands them out as write-sized chunks. */
export class WriteQueue {
  #parts: Uint8Array[] = [];
  #head = 0;
  #offset = 0; // bytes of #parts[#head] already taken
  #bytes = 0;
  #scratch: Uint8Array | undefined;

  /** Bytes queued and not yet taken. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a part; it is not copied. */
  push(part: Uint8Array): void {
    this.#parts.push(part);
    this.#bytes += part.length;
  }

  /** Drops everything queued. */
  clear(): void {
    this.#parts = [];
    this.#head = 0;
    this.#offset = 0;
    this.#bytes = 0;
    this.#scratch = undefined;
  }

  /**
   * Removes the next chunk to write and returns it: a large part or a lone
   * small one as it is, else small parts copied into a coalescing buffer, as
   * many as fit. That buffer is reused by the next call, so the chunk must be
   * written completely first. Empty only when the queue is.
   */
  take(): Uint8Array {
    let scratch: Uint8Array | undefined;
    let filled = 0;
    while (this.#head < this.#parts.length) {
      const part = this.#parts[this.#head];
      const rest = part.length - this.#offset;
      if (filled === 0 && (rest >= DIRECT_WRITE_BYTES || this.#head + 1 === this.#parts.length)) {
        const view = this.#offset === 0 ? part : part.subarray(this.#offset);
        this.#advance(rest);
        return view;
      }
      if (rest >= DIRECT_WRITE_BYTES) break;
      scratch ??= this.#scratchBuffer();
      const n = Math.min(rest, scratch.length - filled);
      scratch.set(n === part.length ? part : part.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      if (n < rest) {
        this.#offset += n;
        this.#bytes -= n;
        break;
      }
      this.#advance(n);
    }
    if (this.#bytes === 0) this.#scratch = undefined; // idle connections hold no buffer
    return scratch === undefined ? EMPTY : scratch.subarray(0, filled);
  }

  // A buffer for the coalesced bytes: no larger than what is queued.
  #scratchBuffer(): Uint8Array {
    const want = Math.min(COALESCE_BYTES, this.#bytes);
    if (this.#scratch === undefined || this.#scratch.length < want) {
      this.#scratch = new Uint8Array(want);
    }
    return this.#scratch;
  }

  // Drops the head part, of which `n` bytes were still queued.
  #advance(n: number): void {
    this.#bytes -= n;
    this.#offset = 0;
    if (++this.#head === this.#parts.length) {
      this.#parts.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#parts.length) {
      this.#parts = this.#parts.slice(this.#head);
      this.#head = 0;
    }
  }
}
