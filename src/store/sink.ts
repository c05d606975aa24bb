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
import { StoreError } from "./error.ts";
import type { ContentQuota } from "./quota.ts";
import type { Store } from "./store.ts";
import type { MessageRecord } from "./types.ts";

/** Options of a {@linkcode StoreSink}. */
export interface StoreSinkOptions {
  /** Called with the final message row once the sink is closed. */
  readonly onClose?: (message: MessageRecord) => void;
  /** The disk quota the content counts against; none when omitted. */
  readonly quota?: ContentQuota;
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
 */
export class StoreSink implements IncomingMessageSink {
  /** The message row as inserted. */
  readonly message: MessageRecord;
  readonly #store: Store;
  readonly #path: string;
  readonly #onClose: ((message: MessageRecord) => void) | undefined;
  readonly #quota: ContentQuota | undefined;
  readonly #file: Promise<Deno.FsFile>;
  #reserved: number;
  #quotaFailure: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  #hash: Hash | undefined = createHash("sha256");
  #next = 0;
  #position = 0;
  #error: string | undefined;

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
    this.#store = store;
    this.#path = store.contentPath(id);
    this.#onClose = options.onClose;
    this.#quota = options.quota;
    this.#reserved = info.size ?? 0;
    if (this.#quota !== undefined && !this.#quota.reserve(this.#reserved)) {
      throw new StoreError(
        "quota-exceeded",
        `disk quota exceeded: ${this.#reserved} bytes more would pass the quota of ` +
          `${this.#quota.limitBytes} bytes`,
      );
    }
    this.message = store.insertMessage({
      id,
      sessionId,
      direction: "in",
      messageId: info.messageId,
      status: "receiving",
      contentType: info.contentType,
      size: info.size ?? null,
      contentPath: this.#path,
    });
    this.#file = Deno.open(this.#path, { write: true, create: true, truncate: true });
    this.#file.catch(() => {});
  }

  /**
   * Queues `bytes` (copied) for writing at `offset`; settles when written.
   *
   * @throws {StoreError} `quota-exceeded` when the bytes reach past the
   * reservation and the quota has no room for more; the message then fails
   * when it is closed.
   */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    const end = offset + bytes.length;
    if (this.#quota !== undefined && end > this.#reserved) {
      if (this.#quotaFailure !== undefined || !this.#quota.reserve(end - this.#reserved)) {
        this.#quotaFailure = `disk quota exceeded: the content passed the quota of ` +
          `${this.#quota.limitBytes} bytes and was removed`;
        throw new StoreError("quota-exceeded", this.#quotaFailure);
      }
      this.#reserved = end;
    }
    if (offset !== this.#next) this.#hash = undefined;
    this.#hash?.update(bytes);
    this.#next = offset + bytes.length;
    const copy = bytes.slice();
    this.#chain = this.#chain.then(() => this.#write(offset, copy));
    return this.#chain;
  }

  /** Closes the file after pending writes and records the outcome in the message row. */
  close(outcome: IncomingOutcome): Promise<void> {
    this.#chain = this.#chain.then(() => this.#finish(outcome));
    return this.#chain;
  }

  async #write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return;
    try {
      const file = await this.#file;
      if (offset !== this.#position) await file.seek(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += await file.write(bytes.subarray(done));
      this.#position = offset + bytes.length;
    } catch (e) {
      this.#error = `content not stored: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  async #finish(outcome: IncomingOutcome): Promise<void> {
    try {
      (await this.#file).close();
    } catch (e) {
      this.#error ??= `content not stored: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (this.#quotaFailure !== undefined) {
      // Nothing half-stored: the content that went past the quota goes.
      await Deno.remove(this.#path).catch(() => {});
      this.#quota?.settle(this.#reserved, 0);
      this.#onClose?.(this.#store.updateMessage(this.message.id, {
        bytes: outcome.bytesReceived,
        status: "failed",
        contentPath: null,
        errorCode: QUOTA_ERROR_CODE,
        errorReason: this.#quotaFailure,
      }));
      return;
    }
    this.#quota?.settle(this.#reserved, outcome.bytesReceived);
    let sha256: string | null = null;
    if (outcome.complete && this.#error === undefined) {
      try {
        sha256 = this.#hash ? this.#hash.digest("hex") : await this.#hashFile();
      } catch (e) {
        this.#error = `content not readable: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    const message = this.#store.updateMessage(this.message.id, {
      bytes: outcome.bytesReceived,
      sha256,
      status: this.#error !== undefined ? "failed" : outcome.complete ? "received" : "partial",
      errorReason: this.#error ?? (outcome.complete ? null : outcome.reason),
    });
    this.#onClose?.(message);
  }

  async #hashFile(): Promise<string> {
    const hash = createHash("sha256");
    const file = await Deno.open(this.#path);
    // Reading the stream to its end (or abandoning it) closes the file.
    for await (const piece of file.readable) hash.update(piece);
    return hash.digest("hex");
  }
}
