/**
 * A message sink that streams received bytes into the store: content to
 * `<dataDir>/content/<message row id>`, progress and outcome to the message
 * row.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type {
  IncomingMessageInfo,
  IncomingMessageSink,
  IncomingOutcome,
} from "../session/incoming.ts";
import { hashHex } from "../sdp/mod.ts";
import { StoreError } from "./error.ts";
import type { ContentQuota } from "./quota.ts";
import type { Store } from "./store.ts";
import type { FileHash, MessageRecord } from "./types.ts";
import { wrappedFile } from "./wrapped.ts";

/** The hash algorithms of RFC 5547 selectors we check, by their name in SDP. */
const FILE_HASHES: Readonly<Record<string, string>> = {
  "sha-1": "sha1",
  "sha-256": "sha256",
  "sha-384": "sha384",
  "sha-512": "sha512",
};

/** What a received file must match: the size and hash its offer gave (RFC 5547 §5). */
export interface ExpectedFile {
  /** At most this many bytes; `null`: any size. */
  readonly size: number | null;
  /** The content's hash; `null`, or an algorithm we do not check: not checked. */
  readonly hash: FileHash | null;
  /**
   * The file comes wrapped in `message/cpim` (RFC 3862): the content is
   * stored as it came, and `hash` is checked against the inner body, after
   * the CPIM and MIME header blocks.
   */
  readonly wrapped?: "message/cpim";
}

/** Whether we check hashes of `algorithm` (sha-1, sha-256, sha-384, sha-512). */
export function checksFileHash(algorithm: string): boolean {
  return Object.hasOwn(FILE_HASHES, algorithm.toLowerCase());
}

/** Options of a {@linkcode StoreSink}. */
export interface StoreSinkOptions {
  /** Called with the final message row once the sink is closed. */
  readonly onClose?: (message: MessageRecord) => void;
  /** The disk quota the content counts against; none when omitted. */
  readonly quota?: ContentQuota;
  /** The content is an offered file: more bytes are refused, its hash is checked. */
  readonly file?: ExpectedFile;
  /** The file continues one received in part (RFC 5547 §8, `a=file-range`); needs `file.size`. */
  readonly resume?: ResumedContent;
}

/**
 * The content of a file received in part that a new transfer continues: its
 * file moves to the new message, the bytes that arrive are written after the
 * ones held, and the whole file is hashed once every byte is there.
 */
export interface ResumedContent {
  /** The content file of the partial message; it becomes this message's content. */
  readonly path: string;
  /** The bytes held: the file's first `held` bytes (already counted in the quota). */
  readonly held: number;
}

/** MSRP's 413: the sender is to stop sending the message (RFC 4975 §10.5). */
const QUOTA_ERROR_CODE = 413;

/**
 * Records an incoming message of a session (status `receiving`) and writes
 * its bytes at their offsets as they arrive, one write after the other,
 * without holding the message in memory. The SHA-256 is computed on the fly
 * while bytes arrive in order, and read back from the file otherwise. On
 * close the row gets the byte count and `received` with its SHA-256,
 * `partial` with the reason, or `failed` when the content could not be
 * written.
 *
 * With a quota, the message reserves its declared size when it begins (as
 * far as its bytes reach when the size is unknown): a message that does not
 * fit is refused before anything is recorded, and one whose bytes go past
 * the quota later fails — its content file is removed and its row, with no
 * content, says `failed` with the quota as the reason.
 *
 * With a `file`, bytes past its size are refused the same way ("larger than
 * the offered size"), and the content is hashed alongside with the offered
 * algorithm: on close the row gets `hashVerified`, and a mismatch makes it
 * `failed` with the reason "hash mismatch". A file that ends incomplete keeps
 * only its first bytes up to the first gap, so that its length is what a
 * resume may continue from; its row's byte count is that length (a chunk cut
 * part-way counts with the bytes of it that were written).
 *
 * With `resume` (RFC 5547 §8), the content starts as the partial file's
 * first `held` bytes; Byte-Range positions are the file's (the message's
 * total is the file size) or, when the total is the size of the rest, the
 * rest's. Once every byte of the file is there the message is finished as
 * complete (the session layer, which knows nothing of the held bytes, would
 * wait for byte 1) and the whole file, read back from disk, is hashed.
 */
export class StoreSink implements IncomingMessageSink {
  /** The id of the message row (and the name of its content file). */
  readonly id: string;
  /** The message row as inserted; the content's writes wait for it. */
  readonly inserted: Promise<MessageRecord>;
  readonly #store: Store;
  readonly #declared: number;
  readonly #path: string;
  readonly #onClose: ((message: MessageRecord) => void) | undefined;
  readonly #quota: ContentQuota | undefined;
  readonly #file: Promise<Deno.FsFile>;
  readonly #sizeLimit: number | null;
  /** Bytes held from a partial file before this message's (see `resume`). */
  readonly #held: number;
  /** Added to a write's offset: `held` when Byte-Range positions are those of the rest. */
  readonly #shift: number;
  /** With `resume`: the file's size, the message finishing once it is all there. */
  readonly #whole: number | undefined;
  /** The file's bytes held or written, as sorted disjoint `[start, end)` intervals. */
  #covered: [number, number][] = [];
  #closed = false;
  /** The offered hash: its `node:crypto` algorithm and hex digest. */
  readonly #expected: { readonly algorithm: string; readonly hex: string } | undefined;
  #reserved: number;
  #refusal: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  /** The running hashes by `node:crypto` algorithm, while bytes arrive in order. */
  #hashes: Map<string, Hash> | undefined;
  /** The content is a file wrapped in CPIM: its hash is checked on the inner body. */
  readonly #wrapped: boolean;
  #next = 0;
  #position = 0;
  #error: string | undefined;
  /** The message row could not be inserted: there is no row to record the outcome in. */
  #unrecorded = false;
  /** What made a write fail; later writes fail with it too. */
  #failure: unknown;

  /**
   * Inserts the message row for `info` in session `sessionId` (which must
   * exist) and opens its content file.
   *
   * @throws {StoreError} `quota-exceeded`, with nothing recorded, when the
   * declared size does not fit under the quota.
   */
  constructor(
    store: Store,
    sessionId: string,
    info: IncomingMessageInfo,
    options: StoreSinkOptions = {},
  ) {
    const id = crypto.randomUUID();
    this.id = id;
    const resume = options.resume;
    const fileSize = options.file?.size ?? null;
    this.#held = resume?.held ?? 0;
    this.#whole = resume && fileSize !== null ? fileSize : undefined;
    this.#shift = resume && info.size === (fileSize ?? 0) - this.#held ? this.#held : 0;
    if (this.#held > 0) this.#covered.push([0, this.#held]);
    this.#declared = (info.size ?? 0) + this.#shift;
    this.#store = store;
    this.#path = store.contentPath(id);
    this.#onClose = options.onClose;
    this.#quota = options.quota;
    this.#reserved = Math.max(this.#declared, this.#held);
    this.#sizeLimit = options.file?.size ?? null;
    const hash = options.file?.hash;
    if (hash && checksFileHash(hash.algorithm)) {
      this.#expected = {
        algorithm: FILE_HASHES[hash.algorithm.toLowerCase()],
        hex: hashHex(hash.value),
      };
    }
    this.#wrapped = options.file?.wrapped !== undefined;
    // A resumed file is hashed whole from disk once complete.
    this.#hashes = resume ? undefined : this.#newHashes();
    if (this.#quota !== undefined && !this.#quota.reserve(this.#reserved - this.#held)) {
      throw new StoreError(
        "quota-exceeded",
        `disk quota exceeded: ${this.#reserved} bytes more would pass the quota of ` +
          `${this.#quota.limitBytes} bytes`,
      );
    }
    this.inserted = store.insertMessage({
      id,
      sessionId,
      direction: "in",
      messageId: info.messageId,
      status: "receiving",
      contentType: info.contentType,
      size: info.size ?? null,
      contentPath: this.#path,
    });
    this.#chain = this.inserted.then(() => {}, (e) => {
      this.#error = `message not recorded: ${e instanceof Error ? e.message : String(e)}`;
      this.#unrecorded = true;
    });
    this.#file = resume
      ? Deno.rename(resume.path, this.#path).then(() => Deno.open(this.#path, { write: true }))
      : Deno.open(this.#path, { write: true, create: true, truncate: true });
    this.#file.catch(() => {});
  }

  /**
   * Queues `bytes` (copied) for writing at `offset`, after the message row
   * is inserted; resolves once they are written to the content file (handed
   * to the operating system; not synced to the disk), rejects when they could
   * not be written or the row not inserted — and so does every later write.
   * The row then ends `failed` when the sink is closed.
   *
   * @throws {StoreError} `quota-exceeded` when the bytes reach past the
   * reservation and the quota has no room for more; `too-large` when they,
   * or the declared size, reach past the size of the offered file. The message then fails when it
   * is closed.
   */
  write(at: number, bytes: Uint8Array): Promise<void> {
    const offset = at + this.#shift;
    const end = offset + bytes.length;
    const declared = this.#declared;
    const limit = this.#sizeLimit;
    if (limit !== null && (end > limit || declared > limit || this.#refusal !== undefined)) {
      this.#refusal ??= "larger than the offered size";
      throw new StoreError("too-large", this.#refusal);
    }
    if (this.#quota !== undefined && end > this.#reserved) {
      if (this.#refusal !== undefined || !this.#quota.reserve(end - this.#reserved)) {
        this.#refusal = `disk quota exceeded: the content passed the quota of ` +
          `${this.#quota.limitBytes} bytes and was removed`;
        throw new StoreError("quota-exceeded", this.#refusal);
      }
      this.#reserved = end;
    }
    if (offset !== this.#next) this.#hashes = undefined;
    for (const hash of this.#hashes?.values() ?? []) hash.update(bytes);
    this.#next = offset + bytes.length;
    const copy = bytes.slice();
    const written = this.#chain.then(() => this.#write(offset, copy));
    this.#chain = written.catch(() => {});
    this.#cover(offset, end);
    if (this.#whole !== undefined && this.#prefix() >= this.#whole) {
      // Every byte is there: finish now, after this write (its 200 goes out first).
      const done = { complete: true, aborted: false, reason: "" };
      written.then(() => this.close({ ...done, bytesReceived: this.#whole!, ranges: [] }))
        .catch(() => {});
    }
    return written;
  }

  /**
   * The file's first bytes held from the partial file this message resumes,
   * when its chunks are numbered as the file's (RFC 5547 §8): the session
   * counts them as received, so the message completes and its success
   * REPORT covers the whole file. 0 otherwise.
   */
  get held(): number {
    return this.#shift === 0 ? this.#held : 0;
  }

  /**
   * Closes the file after pending writes and records the outcome in the
   * message row; when the row could not be inserted, removes the file
   * instead (`onClose` is not called).
   */
  close(outcome: IncomingOutcome): Promise<void> {
    if (this.#closed) return this.#chain;
    this.#closed = true;
    this.#chain = this.#chain.then(() => this.#finish(outcome));
    return this.#chain;
  }

  /** Records `[start, end)` as held. */
  #cover(start: number, end: number): void {
    if (end <= start) return;
    const merged: [number, number][] = [];
    let next: [number, number] = [start, end];
    for (const interval of this.#covered) {
      if (interval[1] < next[0] || interval[0] > next[1]) merged.push(interval);
      else next = [Math.min(interval[0], next[0]), Math.max(interval[1], next[1])];
    }
    merged.push(next);
    this.#covered = merged.sort((a, b) => a[0] - b[0]);
  }

  /** How many bytes from the file's start are held without a gap. */
  #prefix(): number {
    const first = this.#covered[0];
    return first !== undefined && first[0] === 0 ? first[1] : 0;
  }

  async #write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#error !== undefined) throw this.#failure ?? new Error(this.#error);
    try {
      const file = await this.#file;
      if (offset !== this.#position) await file.seek(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += await file.write(bytes.subarray(done));
      this.#position = offset + bytes.length;
    } catch (e) {
      this.#error = `content not stored: ${e instanceof Error ? e.message : String(e)}`;
      this.#failure = e;
      throw e;
    }
  }

  async #finish(outcome: IncomingOutcome): Promise<void> {
    try {
      (await this.#file).close();
    } catch (e) {
      this.#error ??= `content not stored: ${e instanceof Error ? e.message : String(e)}`;
    }
    // The held bytes were counted in the quota already; only the rest was reserved.
    const held = this.#held;
    if (this.#unrecorded) {
      // No row points at the file: nothing is kept, and nothing counts against the quota.
      await Deno.remove(this.#path).catch(() => {});
      this.#quota?.settle(this.#reserved - held, -held);
      return;
    }
    if (this.#refusal !== undefined) {
      // Nothing half-stored: the content that went past the quota or the offered size goes.
      await Deno.remove(this.#path).catch(() => {});
      this.#quota?.settle(this.#reserved - held, -held);
      this.#onClose?.(
        await this.#store.updateMessage(this.id, {
          bytes: outcome.bytesReceived,
          status: "failed",
          contentPath: null,
          errorCode: QUOTA_ERROR_CODE,
          errorReason: this.#refusal,
        }),
      );
      return;
    }
    const complete = this.#whole === undefined
      ? outcome.complete
      : this.#prefix() >= this.#whole && this.#refusal === undefined;
    let bytes = this.#whole === undefined ? outcome.bytesReceived : this.#prefix();
    let stored = this.#whole === undefined ? outcome.bytesReceived : bytes;
    if (!complete && this.#sizeLimit !== null && this.#error === undefined) {
      // A file received in part keeps its bytes up to the first gap: a resume continues there.
      stored = this.#prefix();
      bytes = stored;
      await Deno.truncate(this.#path, stored).catch((e) => {
        this.#error = `content not stored: ${e instanceof Error ? e.message : String(e)}`;
      });
    }
    this.#quota?.settle(this.#reserved - held, stored - held);
    let digests: Map<string, string> | undefined;
    if (complete && this.#error === undefined) {
      try {
        digests = this.#digests(this.#hashes ?? await this.#hashFile());
      } catch (e) {
        this.#error = `content not readable: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    const expected = this.#expected;
    if (digests && expected && this.#wrapped) {
      try {
        digests.set(expected.algorithm, await this.#innerDigest(expected.algorithm));
      } catch (e) {
        this.#error = `the wrapped file cannot be read: ${
          e instanceof Error ? e.message : String(e)
        }`;
      }
    }
    const hashVerified = digests && expected && this.#error === undefined
      ? digests.get(expected.algorithm) === expected.hex
      : undefined;
    const mismatch = hashVerified === false ? "hash mismatch" : undefined;
    const error = this.#error ?? mismatch;
    const message = await this.#store.updateMessage(this.id, {
      bytes,
      sha256: digests?.get("sha256") ?? null,
      hashVerified,
      status: error !== undefined ? "failed" : complete ? "received" : "partial",
      errorReason: error ?? (complete ? null : outcome.reason),
    });
    this.#onClose?.(message);
  }

  /** Fresh SHA-256, and the offered hash's algorithm when we check it on the content as stored. */
  #newHashes(): Map<string, Hash> {
    const offered = this.#wrapped ? undefined : this.#expected?.algorithm;
    const algorithms = new Set(["sha256", offered ?? "sha256"]);
    return new Map([...algorithms].map((a) => [a, createHash(a)]));
  }

  #digests(hashes: Map<string, Hash>): Map<string, string> {
    return new Map([...hashes].map(([algorithm, hash]) => [algorithm, hash.digest("hex")]));
  }

  /**
   * The `algorithm` digest of the file inside the stored CPIM content: the
   * body after its header blocks (see {@linkcode wrappedFile}), read back
   * from the disk.
   */
  async #innerDigest(algorithm: string): Promise<string> {
    const file = await Deno.open(this.#path);
    try {
      const wrapped = await wrappedFile(file);
      if (wrapped === undefined) throw new Error("its CPIM headers cannot be read");
      const hash = createHash(algorithm);
      await file.seek(wrapped.offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(256 * 1024);
      while (true) {
        const n = await file.read(buffer);
        if (n === null) break;
        hash.update(buffer.subarray(0, n));
      }
      return hash.digest("hex");
    } finally {
      file.close();
    }
  }

  /** The hashes of the stored content, for bytes that arrived out of order. */
  async #hashFile(): Promise<Map<string, Hash>> {
    const hashes = this.#newHashes();
    const file = await Deno.open(this.#path);
    // Reading the stream to its end (or abandoning it) closes the file.
    for await (const piece of file.readable) {
      for (const hash of hashes.values()) hash.update(piece);
    }
    return hashes;
  }
}
