/**
 * Files published for peers to pull (RFC 5547 §6): the operator or the
 * application stores them under `DATA_DIR/published/` (hashed, counted
 * against `DATA_QUOTA_BYTES`) and an index in the store names them. An
 * offer with `a=recvonly` and an `a=file-selector` asks for one of them:
 * the selector is matched against the index only — never a path on disk —
 * and the file found is read from a handle opened then, so that deleting it
 * meanwhile neither cuts the transfer short nor frees its bytes early.
 *
 * @module
 */

import { type AcceptedMedia, type FileRange, type FileSelector, sameHash } from "../sdp/mod.ts";
import type { PublishedFileRecord, SessionFile } from "../store/mod.ts";
import type { Runtime } from "./_runtime.ts";
import { resumedStart } from "./_send_resume.ts";
import { checkUpload, type FileUpload, readPieces, spoolFile } from "./_upload.ts";
import { BridgeError } from "./errors.ts";

/** Where published files are kept, under `DATA_DIR`. */
const PUBLISHED_DIR = "published";
/** The hash algorithm published files are indexed by. */
const INDEXED_HASH = "sha-1";

/** A published file that a pull (RFC 5547 §6) asked for, open for reading. */
export interface PulledFile {
  /** The published file. */
  readonly published: PublishedFileRecord;
  /**
   * The file as our answer describes it: the published file's selector
   * (name, type, size, SHA-1) and disposition, with the offer's
   * `a=file-transfer-id`.
   */
  readonly file: SessionFile & { readonly size: number };
  /** The offer's `a=file-range`, answered as it is; absent for the whole file. */
  readonly range?: FileRange;
  /** The file's first byte sent (1-based). */
  readonly start: number;
  /** The bytes from {@linkcode start} on, in fresh pieces, from the handle opened for the pull. */
  read(): AsyncGenerator<Uint8Array>;
  /** Closes the handle (once; later calls do nothing); the last one frees a deleted file's quota. */
  release(): void;
}

/**
 * Whether `file` is the one `selector` describes (RFC 5547 §5): every
 * attribute the selector has equals the file's — name exactly, the media
 * type ignoring case, size, and hash algorithm and value. Published files
 * are indexed by SHA-1 only, so a hash of another algorithm matches none.
 */
export function selectsPublished(selector: FileSelector, file: PublishedFileRecord): boolean {
  if (selector.name !== undefined && selector.name !== file.name) return false;
  if (selector.type !== undefined && selector.type.toLowerCase() !== file.type.toLowerCase()) {
    return false;
  }
  if (selector.size !== undefined && selector.size !== file.size) return false;
  return selector.hash === undefined || sameHash(selector.hash, file.hash);
}

/** The published files of this instance, and the pulls reading them. */
export class PublishedFiles {
  readonly #rt: Runtime;
  /** Open handles of pulls in progress, by published file id. */
  readonly #readers = new Map<string, number>();
  /** Files deleted while pulls read them: their bytes are freed when the last one ends. */
  readonly #deleted = new Map<string, number>();

  /** Keeps files under `rt`'s data directory, indexed in its store. */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /**
   * Publishes a file (stored under `DATA_DIR/published/` while its SHA-1 is
   * computed, counted against `DATA_QUOTA_BYTES` until it is deleted) and
   * indexes it, so that a pull whose selector names it is sent it.
   *
   * @throws {BridgeError} `validation` for a name, type or disposition an
   * answer cannot carry (before the body is read), or a body that ends
   * short of `size` or is empty; `payload-too-large` past
   * `DATA_QUOTA_BYTES`; `shutting-down`.
   */
  async publish(upload: FileUpload): Promise<PublishedFileRecord> {
    checkUpload(upload);
    this.#rt.checkRunning();
    const id = crypto.randomUUID();
    const path = `${this.#rt.config.dataDir}/${PUBLISHED_DIR}/${id}`;
    const { sha1, size } = await spoolFile(this.#rt, upload.body, path, upload.size);
    let record: PublishedFileRecord;
    try {
      record = await this.#rt.store.insertPublishedFile({
        id,
        name: upload.name,
        type: upload.type,
        size,
        hash: { algorithm: INDEXED_HASH, value: sha1 },
        disposition: upload.disposition ?? null,
        path,
      });
    } catch (e) {
      await Deno.remove(path).catch(() => {});
      this.#rt.quota.settle(size, 0);
      throw e;
    }
    // Stored for good: no longer a reservation.
    this.#rt.quota.settle(size, size);
    this.#rt.log.info("file published", { id, size });
    return record;
  }

  /** The published files, oldest first. */
  list(): Promise<PublishedFileRecord[]> {
    return this.#rt.store.listPublishedFiles();
  }

  /**
   * Deletes published file `id`: its index row and its file. A pull
   * reading it goes on from its open handle; the file's bytes count against
   * the quota until the last such pull ends.
   *
   * @throws {BridgeError} `not-found` without such a published file.
   */
  async delete(id: string): Promise<void> {
    const record = await this.#rt.store.deletePublishedFile(id);
    if (!record) throw new BridgeError("not-found", `no published file ${id}`, "id");
    await Deno.remove(record.path).catch(() => {});
    if ((this.#readers.get(id) ?? 0) > 0) this.#deleted.set(id, record.size);
    else this.#rt.quota.settle(0, -record.size);
    this.#rt.log.info("published file deleted", { id });
  }

  /**
   * The published file that a pull asks for, opened for reading, or
   * `undefined` when `offered` (what an offer negotiates) is no pull: our
   * side does not send only, or the offer has no `a=file-selector`.
   *
   * @throws {BridgeError} `sdp-not-acceptable` when the selector has
   * neither `name` nor `hash` (no fishing by type or size), matches no
   * published file or more than one (see {@linkcode selectsPublished}), or
   * its `a=file-range` does not reach the file's end.
   */
  async pull(offered: AcceptedMedia): Promise<PulledFile | undefined> {
    const transfer = offered.fileTransfer;
    const selector = transfer?.selector;
    if (offered.direction !== "sendonly" || selector === undefined) return undefined;
    if (selector.name === undefined && selector.hash === undefined) {
      throw new BridgeError(
        "sdp-not-acceptable",
        "the pull's a=file-selector names no file: it needs name or hash",
        "offer",
      );
    }
    const matches = (await this.list()).filter((file) => selectsPublished(selector, file));
    if (matches.length !== 1) {
      throw new BridgeError(
        "sdp-not-acceptable",
        matches.length === 0
          ? "no published file matches the pull's a=file-selector"
          : `${matches.length} published files match the pull's a=file-selector: name one`,
        "offer",
      );
    }
    const [published] = matches;
    const start = resumedStart(transfer!.range, published.size);
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(published.path);
    } catch {
      throw new BridgeError(
        "sdp-not-acceptable",
        "the published file the pull's a=file-selector names was deleted",
        "offer",
      );
    }
    this.#readers.set(published.id, (this.#readers.get(published.id) ?? 0) + 1);
    let released = false;
    return {
      published,
      file: {
        name: published.name,
        type: published.type,
        size: published.size,
        hash: published.hash,
        transferId: transfer!.transferId ?? null,
        disposition: published.disposition,
        date: null,
      },
      ...(transfer!.range ? { range: transfer!.range } : {}),
      start,
      read: () => readPieces(handle, start - 1),
      release: () => {
        if (released) return;
        released = true;
        handle.close();
        this.#unread(published.id);
      },
    };
  }

  /** A pull of published file `id` ended; the last one frees the bytes of a deleted file. */
  #unread(id: string): void {
    const readers = (this.#readers.get(id) ?? 1) - 1;
    if (readers > 0) {
      this.#readers.set(id, readers);
      return;
    }
    this.#readers.delete(id);
    const size = this.#deleted.get(id);
    if (size === undefined) return;
    this.#deleted.delete(id);
    this.#rt.quota.settle(0, -size);
  }
}
