/**
 * A message sink that writes received bytes to a file as they arrive, with a
 * SHA-256 of the content and a JSON sidecar.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { concatBytes } from "../msrp/mod.ts";
import type { IncomingMessageInfo, IncomingMessageSink, IncomingOutcome } from "./incoming.ts";

const GATHER_BYTES = 1024 * 1024;

/** What a {@linkcode FileSink} wrote, passed to its `onDone` callback. */
export interface SavedMessage {
  /** The Message-ID. */
  readonly messageId: string;
  /** Content-Type. */
  readonly contentType: string;
  /** Path of the content file. */
  readonly path: string;
  /** Distinct bytes received. */
  readonly bytes: number;
  /** Hex SHA-256 of the file's content. */
  readonly sha256: string;
  /** Every byte arrived. */
  readonly complete: boolean;
  /** Why it is incomplete, when it is. */
  readonly reason: string;
}

const encoder = new TextEncoder();
const MAX_NAME = 128;
// Cut so that the cut, "~" and 32 hex digits make MAX_NAME.
const CUT_NAME = MAX_NAME - 33;

function keptInName(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) || byte === 0x2e || byte === 0x2d;
}

/**
 * A file name made from a Message-ID, one Message-ID to one name, never
 * ending in `.json` (the sidecars' names): letters, digits, `.` and `-` are
 * kept, so an RFC 4975 §9 `ident` of only these is its own name; any other
 * UTF-8 byte, a leading `.` and the `.` of a `.json` ending become `_` and
 * two hex digits; an empty id is `_`. A name over 128 characters is cut and
 * ends in `~` and 32 hex digits of the id's SHA-256.
 */
export function fileNameFor(messageId: string): string {
  let name = "";
  for (const byte of encoder.encode(messageId)) {
    name += keptInName(byte)
      ? String.fromCharCode(byte)
      : `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  name = name.replace(/^\./, "_2E").replace(/\.(json)$/i, "_2E$1");
  if (name === "") return "_";
  if (name.length <= MAX_NAME) return name;
  const digest = createHash("sha256").update(messageId).digest("hex");
  return `${name.slice(0, CUT_NAME)}~${digest.slice(0, 32)}`;
}

/**
 * Writes one message into `dir/<message-id>` with a `.json` sidecar holding
 * content type, size, sha256 and completeness. Writes are serialized; the
 * hash is computed on the fly while bytes arrive in order, and from the file
 * otherwise. Each write's promise settles once its bytes are written to the
 * file (handed to the operating system, not synced to the disk), without
 * waiting for more bytes to arrive.
 */
export class FileSink implements IncomingMessageSink {
  readonly #info: IncomingMessageInfo;
  readonly #path: string;
  readonly #onDone: (saved: SavedMessage) => void;
  readonly #file: Promise<Deno.FsFile>;
  #chain: Promise<void> = Promise.resolve();
  #hash = createHash("sha256");
  #inOrder = true;
  #next = 0;
  #pending: Uint8Array[] = [];
  #pendingOffset = 0;
  #pendingBytes = 0;
  /** Settles when the pending bytes are written: what their writes returned. */
  #batch: PromiseWithResolvers<void> | undefined;
  #position = 0;
  #flushQueued = false;
  /** Writes handed to the file and not finished. */
  #writing = 0;
  /** Why the content could not be written, once a write failed; later writes fail too. */
  #failure: Error | undefined;

  /** Opens `dir/<name>` for the message. */
  constructor(dir: string, info: IncomingMessageInfo, onDone: (saved: SavedMessage) => void) {
    this.#info = info;
    this.#path = `${dir}/${fileNameFor(info.messageId)}`;
    this.#onDone = onDone;
    this.#file = Deno.open(this.#path, { write: true, create: true, truncate: true });
    this.#file.catch(() => {});
  }

  /**
   * Writes bytes at an offset. Contiguous bytes are gathered into one write
   * of up to 1 MiB (fewer system calls keep the reader ahead of the peer):
   * those of the current read's frames, and while a write is under way those
   * that arrive until it is done. The returned promise settles when the write
   * holding the bytes is done, and rejects when it failed.
   */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (offset !== this.#next) {
      this.#inOrder = false;
      this.#flush();
    } else if (this.#inOrder) {
      this.#hash.update(bytes);
    }
    if (this.#pending.length === 0) {
      this.#pendingOffset = offset;
      this.#batch = Promise.withResolvers<void>();
    }
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#next = offset + bytes.length;
    const written = this.#batch!.promise;
    if (this.#pendingBytes >= GATHER_BYTES) this.#flush();
    else if (this.#writing === 0) this.#scheduleFlush();
    // Otherwise the bytes go once the write under way is done.
    return written;
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Flush once the current read's frames are handled.
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const parts = this.#pending;
    const offset = this.#pendingOffset;
    const batch = this.#batch!;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#batch = undefined;
    this.#writing++;
    this.#chain = this.#chain.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      const file = await this.#file;
      if (this.#position !== offset) await file.seek(offset, Deno.SeekMode.Start);
      const data = concatBytes(parts);
      let done = 0;
      while (done < data.length) done += await file.write(data.subarray(done));
      this.#position = offset + data.length;
    }).then(batch.resolve, (e) => {
      this.#failure ??= e instanceof Error ? e : new Error(String(e));
      batch.reject(this.#failure);
    }).finally(() => {
      // What gathered while the file was busy goes next.
      if (--this.#writing === 0) this.#flush();
    });
  }

  /**
   * Finishes the file and writes the sidecar; content that could not be
   * written makes the message incomplete, with the reason.
   */
  close(outcome: IncomingOutcome): Promise<void> {
    this.#flush();
    this.#chain = this.#chain.then(async () => {
      const file = await this.#file.catch(() => undefined);
      file?.close();
      if (!this.#inOrder || this.#failure !== undefined) {
        this.#hash = createHash("sha256");
        try {
          const f = await Deno.open(this.#path);
          // Reading the stream to its end closes the file.
          for await (const piece of f.readable) this.#hash.update(piece);
        } catch (e) {
          if (this.#failure === undefined) throw e;
          // The content is not readable either: the hash is of nothing.
          this.#hash = createHash("sha256");
        }
      }
      const failure = this.#failure && `content not stored: ${this.#failure.message}`;
      const saved: SavedMessage = {
        messageId: this.#info.messageId,
        contentType: this.#info.contentType,
        path: this.#path,
        bytes: outcome.bytesReceived,
        sha256: this.#hash.digest("hex"),
        complete: outcome.complete && failure === undefined,
        reason: failure ?? outcome.reason,
      };
      await Deno.writeTextFile(`${this.#path}.json`, JSON.stringify(saved, null, 2) + "\n");
      this.#onDone(saved);
    });
    return this.#chain;
  }
}
