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
import type { Store } from "./store.ts";
import type { MessageRecord } from "./types.ts";

/** Options of a {@linkcode StoreSink}. */
export interface StoreSinkOptions {
  /** Called with the final message row once the sink is closed. */
  readonly onClose?: (message: MessageRecord) => void;
}

/**
 * Records an incoming message of a session (status `receiving`) and writes
 * its bytes at their offsets as they arrive, one write after the other,
 * without holding the message in memory. The SHA-256 is computed on the fly
 * while bytes arrive in order, and read back from the file otherwise. On
 * close the row gets the byte count and `received` with its SHA-256,
 * `partial` with the reason, or `failed` when the content could not be
 * written.
 */
export class StoreSink implements IncomingMessageSink {
  /** The message row as inserted. */
  readonly message: MessageRecord;
  readonly #store: Store;
  readonly #path: string;
  readonly #onClose: ((message: MessageRecord) => void) | undefined;
  readonly #file: Promise<Deno.FsFile>;
  #chain: Promise<void> = Promise.resolve();
  #hash: Hash | undefined = createHash("sha256");
  #next = 0;
  #position = 0;
  #error: string | undefined;

  /** Inserts the message row for `info` in session `sessionId` (which must exist) and opens its content file. */
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

  /** Queues `bytes` (copied) for writing at `offset`; settles when written. */
  write(offset: number, bytes: Uint8Array): Promise<void> {
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
