/**
 * Splits one message body into MSRP chunks (RFC 4975 §5.1, §7.1.1).
 *
 * The chunker is pulled: the session asks for the next chunk when it is ready
 * to send one, so a large message can wait between two chunks while a short
 * one goes first. Chunk bodies are views of the source bytes, never copies.
 *
 * @module
 */

import type { ByteRange, ContinuationFlag } from "./message.ts";
import { MsrpError, Status } from "./status.ts";

/** One chunk of a message: its `Byte-Range`, its end-line flag and its body. */
export interface Chunk {
  /** The `Byte-Range` of the chunk; `end` is always a number. */
  readonly byteRange: ByteRange;
  /** `+` when more chunks follow, `$` for the last chunk, `#` for an abort. */
  readonly flag: ContinuationFlag;
  /** The body as views of the source pieces, in order (empty for no body). */
  readonly body: readonly Uint8Array[];
}

/** Options of a {@linkcode Chunker}. */
export interface ChunkerOptions {
  /** Largest number of body bytes in one chunk; an integer ≥ 1. */
  chunkSize: number;
  /**
   * Size of a streamed body when known in advance. Ignored for a
   * `Uint8Array` source, whose size is its length.
   */
  totalSize?: number;
  /**
   * Bytes of the message that precede the body (RFC 4975 §7.1.1: a message
   * resumed mid-way, e.g. a file by RFC 5547 §8): the first chunk starts at
   * `startOffset + 1` and `totalSize` (or a `Uint8Array`'s length plus this)
   * is the whole message's size. 0 when omitted.
   */
  startOffset?: number;
}

/** A source of body bytes that the chunker pulls from. */
interface PieceSource {
  /** The next non-empty piece, or `undefined` at the end. */
  read(): Promise<Uint8Array | undefined>;
  /** Stops the source; later reads are not made. */
  cancel(): void;
}

function streamSource(stream: ReadableStream<Uint8Array>): PieceSource {
  const reader = stream.getReader();
  return {
    async read() {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        if (value.length > 0) return value;
      }
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

function iterableSource(iterable: AsyncIterable<Uint8Array>): PieceSource {
  const iterator = iterable[Symbol.asyncIterator]();
  return {
    async read() {
      while (true) {
        const { done, value } = await iterator.next();
        if (done) return undefined;
        if (value.length > 0) return value;
      }
    },
    cancel() {
      iterator.return?.()?.catch(() => {});
    },
  };
}

function checkSize(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
}

/**
 * Number of chunks a body of `total` bytes is split into with chunks of at
 * most `chunkSize` bytes; an empty body still takes one chunk.
 */
export function chunkCount(total: number, chunkSize: number): number {
  checkSize("total", total, 0);
  checkSize("chunkSize", chunkSize, 1);
  return Math.max(1, Math.ceil(total / chunkSize));
}

/**
 * Splits one message body into chunks of at most `chunkSize` bytes.
 *
 * For a `Uint8Array` the total is its length. For a stream the total is
 * `totalSize` when given, otherwise `*` (RFC 4975 §7.1.1) on every chunk but
 * the last, which carries the real total: the chunker reads one piece ahead so
 * it knows which chunk is the last and flags it `$`.
 *
 * @example Splitting a body
 * ```ts
 * const chunker = new Chunker(new Uint8Array(5000), { chunkSize: 2048 });
 * for (let c = await chunker.next(); c; c = await chunker.next()) {
 *   // 1-2048/5000 +, 2049-4096/5000 +, 4097-5000/5000 $
 * }
 * ```
 */
export class Chunker {
  readonly #chunkSize: number;
  /** Where more pieces come from; `undefined` once the source has ended. */
  #source: PieceSource | undefined;
  #total: number | undefined;
  /** Pieces read but not yet produced; the first one starts at `#offset`. */
  readonly #pending: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #produced = 0;
  #finished = false;
  #queue: Promise<unknown> = Promise.resolve();
  #waiting = 0; // calls of next() not yet started
  #reading = false;

  /** Creates a chunker over a whole body or a stream of body pieces. */
  constructor(
    source: Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: ChunkerOptions,
  ) {
    checkSize("chunkSize", options.chunkSize, 1);
    this.#chunkSize = options.chunkSize;
    const start = options.startOffset ?? 0;
    checkSize("startOffset", start, 0);
    this.#produced = start;
    if (source instanceof Uint8Array) {
      this.#total = start + source.length;
      if (source.length > 0) this.#pending.push(source);
      this.#buffered = source.length;
    } else {
      if (options.totalSize !== undefined) checkSize("totalSize", options.totalSize, start);
      this.#total = options.totalSize;
      this.#source = source instanceof ReadableStream
        ? streamSource(source)
        : iterableSource(source);
    }
  }

  /** Where the chunks handed out so far end: `startOffset` plus their body bytes. */
  get bytesProduced(): number {
    return this.#produced;
  }

  /**
   * Size of the whole body: known from the start for a `Uint8Array` or a
   * declared `totalSize`, otherwise once the stream has ended.
   */
  get totalSize(): number | undefined {
    return this.#total;
  }

  /**
   * The next chunk, or `undefined` after the last one (or after
   * {@linkcode Chunker.abort}). Calls are served one after the other.
   *
   * Rejects with {@linkcode MsrpError} 400 when a stream yields more or fewer
   * bytes than its declared `totalSize`.
   */
  next(): Promise<Chunk | undefined> {
    this.#waiting++;
    const result = this.#queue.then(() => {
      this.#waiting--;
      return this.#produce();
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** True once the last chunk (or an abort) was produced. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Ends the message early (RFC 4975 §5.1, §7.1.1): returns a bodiless chunk
   * flagged `#` with Byte-Range `N+1-N/total`, N being the bytes already
   * produced, and cancels the underlying stream. Throws when the message has
   * already ended.
   */
  abort(): Chunk {
    if (this.#finished) throw new Error("the message has already ended");
    this.#finish();
    const n = this.#produced;
    return { byteRange: { start: n + 1, end: n, total: this.#total ?? "*" }, flag: "#", body: [] };
  }

  /**
   * The next chunk when it can be cut from bytes already read, without
   * waiting: `undefined` when {@linkcode Chunker.next} must read first (or
   * is still serving a call), or the message has ended. Lets a sender cut
   * many chunks from one large read in one go.
   *
   * @throws {MsrpError} 400 when the body turns out shorter than its declared `totalSize`.
   */
  nextReady(): Chunk | undefined {
    if (this.#finished || this.#waiting > 0 || this.#reading) return undefined;
    if (this.#source !== undefined && this.#buffered <= this.#chunkSize) return undefined;
    return this.#cut();
  }

  async #produce(): Promise<Chunk | undefined> {
    if (this.#finished) return undefined;
    // Read until more than one chunk is buffered, so a chunk that is followed
    // by nothing is known to be the last one.
    while (this.#source !== undefined && this.#buffered <= this.#chunkSize) {
      this.#reading = true;
      let piece;
      try {
        piece = await this.#source.read();
      } finally {
        this.#reading = false;
      }
      if (this.#finished) return undefined;
      if (piece === undefined) {
        this.#source = undefined;
        break;
      }
      this.#pending.push(piece);
      this.#buffered += piece.length;
      if (this.#total !== undefined && this.#produced + this.#buffered > this.#total) {
        this.#finish();
        throw new MsrpError(
          Status.BadRequest,
          `body is longer than its declared size of ${this.#total} bytes`,
        );
      }
    }
    return this.#cut();
  }

  // Cuts the next chunk from the buffered pieces; the source has ended or more than a chunk is buffered.
  #cut(): Chunk {
    const size = Math.min(this.#chunkSize, this.#buffered);
    const last = this.#source === undefined && size === this.#buffered;
    if (last) {
      const total = this.#produced + size;
      if (this.#total !== undefined && total !== this.#total) {
        this.#finish();
        throw new MsrpError(
          Status.BadRequest,
          `body has ${total} bytes, fewer than its declared size of ${this.#total}`,
        );
      }
      this.#total = total;
      this.#finished = true;
    }
    const body = this.#take(size);
    const start = this.#produced + 1;
    this.#produced += size;
    return {
      byteRange: { start, end: this.#produced, total: this.#total ?? "*" },
      flag: last ? "$" : "+",
      body,
    };
  }

  /** Removes `size` bytes from the front of the pending pieces, as views. */
  #take(size: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let used = 0;
    let left = size;
    while (left > 0) {
      const piece = this.#pending[used];
      const available = piece.length - this.#offset;
      if (available <= left) {
        out.push(this.#offset === 0 ? piece : piece.subarray(this.#offset));
        used++;
        this.#offset = 0;
        left -= available;
      } else {
        out.push(piece.subarray(this.#offset, this.#offset + left));
        this.#offset += left;
        left = 0;
      }
    }
    this.#pending.splice(0, used);
    this.#buffered -= size;
    return out;
  }

  #finish(): void {
    this.#finished = true;
    this.#pending.length = 0;
    this.#buffered = 0;
    this.#source?.cancel();
    this.#source = undefined;
  }
}
