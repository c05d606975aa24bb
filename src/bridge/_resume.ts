/**
 * Resuming a file received in part (RFC 5547 §8, `a=file-range`): finding
 * the earlier transfer a new offer continues, the range to answer, and
 * deleting partial content past `PARTIAL_RETENTION_MS` (internal). Offers
 * made through the API (`media.ts`) and through the PBX (`calls.ts`) take
 * the one decision of {@linkcode PartialFiles.resume}.
 *
 * @module
 */

import { type FileRange, sameHash } from "../sdp/mod.ts";
import type { MsrpSession } from "../session/mod.ts";
import type { FileHash, MessageRecord, SessionFile, SessionRecord } from "../store/mod.ts";
import type { Runtime } from "./_runtime.ts";
import { BridgeError } from "./errors.ts";

/** Session rows looked at per page while looking for a partial file. */
const PAGE_ROWS = 100;
/** Most pages of session rows looked at for one offer. */
const MAX_PAGES = 20;

/** A file received in part that a new transfer may continue. */
export interface PartialFile {
  /** The message row that holds the partial content. */
  readonly message: MessageRecord;
  /** Its content file. */
  readonly path: string;
  /** The bytes held: the file's first `held` bytes (`1` to `held` in RFC 5547 terms). */
  readonly held: number;
}

/** What becomes of a push offered to us (RFC 5547 §8): see {@linkcode PartialFiles.resume}. */
export interface Resumption {
  /** The file to record; its `resumes` names the earlier message when it continues one. */
  readonly file: SessionFile;
  /** The file received in part that the push continues, claimed until its session closes. */
  readonly partial?: PartialFile;
  /** The `a=file-range` to answer, the bytes after those held; the offer's stands when absent. */
  readonly range?: FileRange;
}

/** The same hash (see `sameHash`), or none on either side. */
function sameOrNoHash(a: FileHash | null, b: FileHash | null): boolean {
  return a === null || b === null ? a === b : sameHash(a, b);
}

/**
 * Whether two offers select the same file (RFC 5547 §5): name, type and
 * size given and equal, and the same hash, or none on either side.
 */
export function sameFile(a: SessionFile, b: SessionFile): boolean {
  return a.name !== null && a.type !== null && a.size !== null &&
    a.name === b.name && a.type.toLowerCase() === b.type?.toLowerCase() && a.size === b.size &&
    sameOrNoHash(a.hash, b.hash);
}

/**
 * The `a=file-range` to answer to an offer of a file of `size` bytes with
 * `offered` (the whole file when absent) when we hold its first `held`
 * bytes: the rest, `held + 1` to `size`. RFC 5547 §8.2: the answer's range
 * lies within the offer's, so the offer must start at most one byte past
 * those held; and we take a file whole, so it must reach the file's end.
 * Without bytes held (`held` 0), `undefined`: the offer's range stands, and
 * it must be the whole file.
 *
 * @throws {BridgeError} `sdp-not-acceptable` for a range outside the file,
 * reversed, short of its end, or starting past the bytes held.
 */
export function answerRange(
  offered: FileRange | undefined,
  size: number | null,
  held: number,
): FileRange | undefined {
  if (offered === undefined && held === 0) return undefined;
  const start = offered?.start ?? 1;
  const end = offered === undefined || offered.end === "*" ? size : offered.end;
  const text = offered ? `a=file-range:${offered.start}-${offered.end}` : "";
  if (size === null) {
    throw new BridgeError("sdp-not-acceptable", `${text} needs the file's size in a=file-selector`);
  }
  if (end === null || start > size || end > size || end < start) {
    throw new BridgeError("sdp-not-acceptable", `${text} lies outside the file of ${size} bytes`);
  }
  if (end !== size) {
    throw new BridgeError("sdp-not-acceptable", `${text} stops short of the file's end (${size})`);
  }
  if (start > held + 1) {
    const holding = held === 0 ? "none of this file" : `its bytes 1-${held} only`;
    throw new BridgeError(
      "sdp-not-acceptable",
      `${text} starts at ${start}, and we hold ${holding}`,
    );
  }
  return held === 0 ? undefined : { start: held + 1, end: size };
}

/** The partial files of earlier transfers, and their retention. */
export class PartialFiles {
  readonly #rt: Runtime;
  /** Partial messages a live session continues, so that no second one takes them. */
  readonly #claimed = new Set<string>();

  /** Looks in `rt`'s store. */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /**
   * The newest partial file of an ended incoming transfer of the same file
   * (see {@linkcode sameFile}) from the same caller (`fromUri`, both `null`
   * for offers made through the API) whose content is still there and
   * within `PARTIAL_RETENTION_MS`, claimed until {@linkcode release}d; or
   * `undefined`. Partial content past the retention that the search comes
   * across is deleted.
   */
  async find(file: SessionFile, fromUri: string | null): Promise<PartialFile | undefined> {
    const { store, config } = this.#rt;
    const cutoff = Date.now() - config.partialRetentionMs;
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await store.listSessions({ limit: PAGE_ROWS, cursor, state: "ended" });
      for (const session of rows.items) {
        if (session.kind !== "file-transfer" || session.direction !== "in" || !session.file) {
          continue;
        }
        if ((session.endedAt ?? session.createdAt) < cutoff) {
          await this.#expire(session);
          continue;
        }
        if (session.fromUri !== fromUri || !sameFile(file, session.file)) continue;
        const found = await this.#partialOf(session, file.size!);
        if (found) return found;
      }
      // Sessions come newest first: past the retention, none can match.
      const last = rows.items.at(-1);
      if (!rows.nextCursor || (last && last.createdAt < cutoff)) return undefined;
      cursor = rows.nextCursor;
    }
    return undefined;
  }

  /**
   * The one resume decision for a push of `file` offered to `session` with
   * `offered` as its `a=file-range` (the whole file when absent), by the
   * caller `fromUri` (`null` through the API): the newest partial file of
   * that caller it continues (see {@linkcode find}; claimed until the
   * session closes) and the range to answer (see `answerRange`), or a fresh
   * transfer whose offered range stands.
   *
   * @throws {BridgeError} `sdp-not-acceptable` for a range we cannot serve;
   * nothing stays claimed then.
   */
  async resume(
    session: MsrpSession,
    file: SessionFile,
    offered: FileRange | undefined,
    fromUri: string | null,
  ): Promise<Resumption> {
    const partial = await this.find(file, fromUri);
    let range: FileRange | undefined;
    try {
      range = answerRange(offered, file.size, partial?.held ?? 0);
    } catch (e) {
      if (partial) this.release(partial);
      throw e;
    }
    if (!partial) return { file };
    if (session.closed) this.release(partial);
    else session.addEventListener("close", () => this.release(partial), { once: true });
    this.#rt.log.info("file transfer resumed", {
      sessionId: session.id,
      resumes: partial.message.id,
      held: partial.held,
    });
    return { file: { ...file, resumes: partial.message.id }, partial, range };
  }

  /** Gives back a partial file {@linkcode find} claimed. */
  release(partial: PartialFile): void {
    this.#claimed.delete(partial.message.id);
  }

  /** The partial message of `session` and the bytes its content holds, claimed. */
  async #partialOf(session: SessionRecord, size: number): Promise<PartialFile | undefined> {
    const page = await this.#rt.store.listMessages(session.id, { limit: 10 });
    const message = page.items.find((m) =>
      m.direction === "in" && m.status === "partial" && m.contentPath !== null
    );
    if (!message?.contentPath || this.#claimed.has(message.id)) return undefined;
    const stat = await Deno.stat(message.contentPath).catch(() => undefined);
    // A partial file keeps its bytes up to the first gap (see StoreSink): its length is what is held.
    if (!stat?.isFile || stat.size === 0 || stat.size >= size) return undefined;
    this.#claimed.add(message.id);
    return { message, path: message.contentPath, held: stat.size };
  }

  /** Deletes the partial content of `session`, past the retention, and frees its quota. */
  async #expire(session: SessionRecord): Promise<void> {
    const { store, quota, log } = this.#rt;
    const page = await store.listMessages(session.id, { limit: 10 });
    for (const message of page.items) {
      if (message.status !== "partial" || !message.contentPath) continue;
      if (this.#claimed.has(message.id)) continue;
      const stat = await Deno.stat(message.contentPath).catch(() => undefined);
      await Deno.remove(message.contentPath).catch(() => {});
      await store.updateMessage(message.id, { contentPath: null });
      if (stat) quota.settle(0, -stat.size);
      log.info("partial file past its retention deleted", {
        sessionId: session.id,
        messageId: message.id,
        bytes: stat?.size ?? 0,
      });
    }
  }
}
