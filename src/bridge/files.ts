/**
 * Sending a file (RFC 5547): the file is spooled under `DATA_DIR` while its
 * SHA-1 is computed (the offer's `a=file-selector` needs it before the
 * offer), pushed in a session of its own with a success REPORT requested —
 * through the PBX, or with an SDP offer of ours whose answer the API is
 * given — and the session ends with the transfer (`file.delivered` or
 * `file.failed`). A transfer that failed part-way keeps its spooled copy for
 * `PARTIAL_RETENTION_MS`, and can be resumed (RFC 5547 §8, `a=file-range`).
 *
 * @module
 */

import type { AcceptedMedia, FileRange } from "../sdp/mod.ts";
import type { DeliveryResult } from "../session/mod.ts";
import type { MessageRecord, SessionFile, SessionRecord } from "../store/mod.ts";
import { createEvent, type FileTransferData, fileTransferData } from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import { KeptCopies, type KeptCopy, resumedStart } from "./_send_resume.ts";
import { checkUpload, type FileUpload, readPieces, spoolFile } from "./_upload.ts";
import { BridgeError, dialTarget, errorText } from "./errors.ts";
import type { EventLog } from "./events.ts";
import type { OfferedSession, PushOffer } from "./media.ts";
import type { Messaging } from "./messaging.ts";
import type { PulledFile } from "./published.ts";

/** Where files wait, under `DATA_DIR`, until they are sent. */
const SPOOL_DIR = "outgoing";
/** Why the session of a file we pushed ends once the success REPORT came. */
const FILE_DELIVERED = "file delivered";

/** A file to push to `to` through the PBX. */
export interface FileSendRequest extends FileUpload {
  /** The SIP URI to call (see `parseDialTarget`). */
  readonly to: string;
}

/** A file we offer with an SDP offer of ours: the transfer, and the offer to give the peer. */
export interface OfferedFile extends FileTransferData {
  /** Our SDP offer (`a=sendonly`, `a=file-selector`, …); apply its answer to session `id`. */
  readonly offer: string;
}

/**
 * A random `a=file-transfer-id` (RFC 5547 §6: globally unique, at least 32
 * characters of randomness).
 */
function transferId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/**
 * How files place their calls (`Calls.originate`): the offer pushes `file`,
 * with `range` as its `a=file-range` when given; `fileRange` is the
 * answer's, absent when the answer has none.
 */
export interface FileCalls {
  /** Places the call; resolves once it is answered (see `Calls.originate`). */
  originate(
    to: string,
    file: SessionFile,
    range?: FileRange,
  ): Promise<{ readonly id: string; readonly fileRange?: FileRange }>;
}

/** Reads `path` from byte `offset` (0-based) in fresh pieces, closing it when done or stopped. */
async function* spooled(path: string, offset: number): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  try {
    yield* readPieces(file, offset);
  } finally {
    file.close();
  }
}

/** How files make offers of their own (`Media.offer`), whose answers the API is given. */
export interface FileOffers {
  /** Creates a session with our offer pushing `push.file` (see `Media.offer`). */
  offer(push: PushOffer): Promise<OfferedSession>;
}

/**
 * Where a push starts (1-based), from the answer: it must take the file
 * (receive it), and its `a=file-range` may narrow ours (see `resumedStart`).
 *
 * @throws {BridgeError} `sdp-not-acceptable` otherwise.
 */
function answeredStart(accepted: AcceptedMedia, size: number): number {
  if (accepted.direction === "inactive" || accepted.direction === "recvonly") {
    throw new BridgeError(
      "sdp-not-acceptable",
      "the answer does not receive the file (it must answer a=recvonly or a=sendrecv)",
      "answer",
    );
  }
  return resumedStart(accepted.fileTransfer?.range, size);
}

/** Files we push, through the PBX or with offers of our own, and their state. */
export class Files {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sessions: Sessions;
  readonly #calls: FileCalls;
  readonly #offers: FileOffers;
  readonly #messaging: Messaging;
  readonly #kept: KeptCopies;

  /**
   * Pushes files with calls placed by `calls` or offers made by `offers`,
   * sent and recorded by `messaging`.
   */
  constructor(
    rt: Runtime,
    events: EventLog,
    sessions: Sessions,
    calls: FileCalls,
    offers: FileOffers,
    messaging: Messaging,
  ) {
    this.#rt = rt;
    this.#events = events;
    this.#sessions = sessions;
    this.#calls = calls;
    this.#offers = offers;
    this.#messaging = messaging;
    this.#kept = new KeptCopies(rt);
  }

  /** Removes files a previous run left spooled (their transfers ended with it). */
  async clearSpool(): Promise<void> {
    await Deno.remove(this.#spoolDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /**
   * Pushes a file to `request.to` (RFC 5547): checks the fields, spools the
   * body under `DATA_DIR` while computing its SHA-1 (the spooled bytes count
   * against `DATA_QUOTA_BYTES` until they are sent), places the call with an
   * offer of `a=sendonly` and the file's `a=file-selector` (name, type,
   * size, hash), `a=file-transfer-id`, `a=file-disposition` and
   * `a=file-date` (the time the upload completed, as `modification`), and
   * sends the file, or the part the answer's `a=file-range` takes, with a
   * success REPORT requested. Resolves once the call is answered and the
   * file queued; its message row and `message.*` events follow as for any
   * message. Once it settles the session ends ("file delivered", or "file
   * transfer failed: <reason>"), the spooled file is removed and
   * `file.delivered` or `file.failed` is published.
   *
   * @throws {BridgeError} `invalid-sip-uri` for `to` and `validation` for
   * the other fields, both before the body is read; `pbx-unavailable`
   * without the PBX integration; `payload-too-large` past
   * `DATA_QUOTA_BYTES`; `validation` (field `body`) when the body ends
   * short of `size` or is empty; and what `Calls.originate` throws.
   */
  async send(request: FileSendRequest): Promise<FileTransferData> {
    const to = dialTarget(request.to, "to");
    checkUpload(request);
    this.#checkPbx(to);
    return await this.#call(await this.#spoolUpload(request, to));
  }

  /**
   * Offers a file with an SDP offer of ours (RFC 5547, as {@linkcode send}
   * offers it through the PBX): spools it, creates a session of kind
   * `file-transfer` with that offer (see `Media.offer`) and resolves with
   * the transfer and the offer. Once the peer's answer is applied to the
   * session (`Media.applyAnswer`) the file, or the part the answer's
   * `a=file-range` takes, is sent as {@linkcode send} sends it. An offer
   * that ends unanswered (`OFFER_TIMEOUT_MS`, or closed) removes the
   * spooled file and publishes `file.failed`.
   *
   * @throws {BridgeError} as {@linkcode send}, `invalid-sip-uri` and
   * `pbx-unavailable` aside; `session-limit`.
   */
  async offer(upload: FileUpload): Promise<OfferedFile> {
    checkUpload(upload);
    this.#rt.checkRunning();
    return await this.#offer(await this.#spoolUpload(upload, null));
  }

  /**
   * Resumes transfer `id`, a push of ours that failed part-way (RFC 5547
   * §8), from its spooled copy: a new offer — a call to the same `to`, or,
   * for a transfer offered with our SDP, a new offer of ours — offers the
   * same selector (name, type, size, hash) with a new `a=file-transfer-id`
   * (a new transfer of the same file) and
   * `a=file-range:<confirmed+1>-<size>`, `confirmed` being the bytes the
   * receiver confirmed; the answer may narrow it, and an answer without one
   * takes the whole file. Only the range answered is sent (its Byte-Range
   * positions those of the file), with a success REPORT requested; then as
   * for {@linkcode send} or {@linkcode offer}. The new transfer has an id of
   * its own; the earlier one stays `failed`.
   *
   * @throws {BridgeError} `not-found` without push `id`; `not-resumable`
   * when it is not `failed`, or its copy is gone (delivered, resumed
   * already, nothing confirmed, past `PARTIAL_RETENTION_MS` or a restart);
   * `validation` (field `to`) for another `to`, or any `to` for a transfer
   * offered with our SDP; and as {@linkcode send}.
   */
  async resume(id: string, to?: string): Promise<FileTransferData | OfferedFile> {
    const earlier = await this.get(id);
    if (!earlier) throw new BridgeError("not-found", `no file transfer ${id}`, "resume");
    if (earlier.to === null) {
      if (to !== undefined) {
        throw new BridgeError(
          "validation",
          `transfer ${id} was offered with our SDP, not called: resume it without to`,
          "to",
        );
      }
      this.#rt.checkRunning();
    } else {
      if (to !== undefined && dialTarget(to, "to") !== earlier.to) {
        throw new BridgeError("validation", `must be ${earlier.to}, as transfer ${id}`, "to");
      }
      this.#checkPbx(earlier.to);
    }
    if (earlier.status !== "failed") {
      throw new BridgeError("not-resumable", `transfer ${id} is ${earlier.status}, not failed`);
    }
    const copy = await this.#kept.take(id);
    if (!copy) {
      throw new BridgeError(
        "not-resumable",
        `transfer ${id} has no stored copy: it failed before the receiver confirmed any byte, ` +
          "was resumed already, is past PARTIAL_RETENTION_MS, or the bridge restarted",
      );
    }
    const resumed = { ...copy, file: { ...copy.file, transferId: transferId() } };
    const range = { start: copy.confirmed + 1, end: copy.file.size };
    try {
      return resumed.to === null
        ? await this.#offer(resumed, range)
        : await this.#call(resumed, range);
    } catch (e) {
      // No new transfer was made: the copy stays for another try.
      await this.#kept.keep(id, copy);
      throw e;
    }
  }

  /** @throws {BridgeError} `pbx-unavailable` without the PBX integration, calling `to`. */
  #checkPbx(to: string): void {
    this.#rt.checkRunning();
    if (this.#rt.config.eslMode === "off") {
      throw new BridgeError(
        "pbx-unavailable",
        `cannot reach ${to}: calls through the PBX need the ESL integration, which is off (ESL_MODE=off)`,
      );
    }
  }

  /**
   * Spools `upload` and describes it as we offer it: its selector (name,
   * type, size, SHA-1), a new transfer id, its disposition and the time the
   * upload completed (`a=file-date` `modification`). The copy's quota stays
   * reserved until it is discarded.
   */
  async #spoolUpload(upload: FileUpload, to: string | null): Promise<KeptCopy> {
    const path = `${this.#spoolDir}/${crypto.randomUUID()}`;
    const { sha1, size } = await spoolFile(this.#rt, upload.body, path, upload.size);
    const file = {
      name: upload.name,
      type: upload.type,
      size,
      hash: { algorithm: "sha-1", value: sha1 },
      transferId: transferId(),
      disposition: upload.disposition ?? null,
      date: { modification: new Date().toUTCString() },
    };
    return { path, file, to, confirmed: 0, keptAt: 0 };
  }

  /**
   * Calls `copy.to` offering `copy.file` (and `range`, resuming) and sends
   * the range answered from the spooled copy (see {@linkcode #sendCopy}).
   * When the call fails the copy is removed, unless resuming (the caller
   * keeps it).
   */
  async #call(copy: KeptCopy, range?: FileRange): Promise<FileTransferData> {
    const { file } = copy;
    let sessionId: string;
    try {
      const call = await this.#calls.originate(copy.to!, file, range);
      sessionId = call.id;
      let start: number;
      try {
        start = resumedStart(call.fileRange, file.size);
      } catch (e) {
        await this.#sessions.close(sessionId, "answer not acceptable");
        throw e;
      }
      await this.#sendCopy(sessionId, copy, start);
    } catch (e) {
      // The call failed, or the session ended between the answer and now (e.g. a BYE).
      if (!range) await this.#kept.discard(copy);
      throw e;
    }
    return (await this.get(sessionId))!;
  }

  /**
   * Makes our offer of `copy.file` (and `range`, resuming); the answer
   * applied to its session sends the range it took (see
   * {@linkcode #sendCopy}). A session that ends before the file is sent
   * (unanswered, closed, its connection failed) settles the copy (see
   * {@linkcode #settleCopy}) and publishes `file.failed`. When no offer
   * could be made the copy is removed, unless resuming (the caller keeps it).
   */
  async #offer(copy: KeptCopy, range?: FileRange): Promise<OfferedFile> {
    const { file } = copy;
    /** Whether what becomes of the copy is decided (it is being sent, or it was settled). */
    let decided = false;
    const unsent = (sessionId: string) => {
      if (decided) return;
      decided = true;
      this.#rt.track(this.#unsent(sessionId, copy));
    };
    let offered: OfferedSession;
    try {
      offered = await this.#offers.offer({
        file,
        range,
        start: (accepted) => answeredStart(accepted, file.size),
        send: async (sessionId, start) => {
          if (decided) throw new BridgeError("session-closed", `session ${sessionId} has ended`);
          try {
            await this.#sendCopy(sessionId, copy, start);
            decided = true;
          } catch (e) {
            unsent(sessionId);
            throw e;
          }
        },
        unsent,
      });
    } catch (e) {
      if (!range) await this.#kept.discard(copy);
      throw e;
    }
    return { ...(await this.get(offered.id))!, offer: offered.offer };
  }

  /**
   * Sends `copy` from byte `start` (1-based) in session `sessionId` (see
   * {@linkcode #sendFile}); the copy is then settled with the bytes the
   * receiver confirmed (see {@linkcode #settleCopy}).
   */
  async #sendCopy(sessionId: string, copy: KeptCopy, start: number): Promise<void> {
    await this.#sendFile(
      sessionId,
      copy.file,
      spooled(copy.path, start - 1),
      start,
      (confirmed) => this.#settleCopy(sessionId, copy, confirmed),
    );
  }

  /**
   * Sends a published file that the peer of session `sessionId` pulled
   * (RFC 5547 §6, see `PublishedFiles.pull`) as {@linkcode send} pushes a
   * file: one message from `pulled.start` on, read from the pull's open
   * handle, with a success REPORT requested; once it settles the session
   * ends (a call through the PBX is hung up), the handle is released and
   * `file.delivered` or `file.failed` is published. When it cannot be
   * queued (the session ended first) the session ends and `file.failed` is
   * published.
   */
  async sendPulled(sessionId: string, pulled: PulledFile): Promise<void> {
    try {
      await this.#sendFile(sessionId, pulled.file, pulled.read(), pulled.start, () => {
        pulled.release();
        return Promise.resolve();
      });
    } catch (e) {
      pulled.release();
      this.#rt.log.warn("pulled file not sent", { sessionId, error: errorText(e) });
      await this.#sessions.close(sessionId, "file transfer failed: not sent");
      await this.#publish(sessionId);
    }
  }

  /**
   * Sends `body`, `file` from byte `start` (1-based) on, in session
   * `sessionId` with a success REPORT requested. Once it settles the
   * session ends, `settle` hears how many of the file's first bytes the
   * receiver confirmed, and `file.delivered` or `file.failed` is published.
   */
  async #sendFile(
    sessionId: string,
    file: SessionFile & { readonly size: number },
    body: AsyncIterable<Uint8Array>,
    start: number,
    settle: (confirmed: number) => Promise<void>,
  ): Promise<void> {
    const sent = await this.#messaging.send(sessionId, body, {
      contentType: file.type!,
      size: file.size,
      startOffset: start - 1,
      report: true,
    });
    this.#rt.track(sent.outgoing.done.then(async (result) => {
      await this.#finished(sessionId, result);
      const confirmed = result.status === "failed"
        ? start - 1 + result.bytesAcknowledged
        : file.size;
      await settle(confirmed);
      await sent.settled;
      await this.#publish(sessionId);
    }));
  }

  /**
   * A push offered with our SDP whose session ended before its file was
   * sent: once the session's row ended, settles the copy with the bytes an
   * earlier transfer had confirmed and publishes `file.failed`.
   */
  async #unsent(sessionId: string, copy: KeptCopy): Promise<void> {
    await this.#sessions.close(sessionId, "file transfer failed: not sent");
    await this.#settleCopy(sessionId, copy, copy.confirmed);
    await this.#publish(sessionId);
  }

  /**
   * What becomes of the copy of transfer `id` once it failed or was
   * delivered: kept for a resume of `id` when the receiver confirmed part of
   * the file (`confirmed` bytes, short of its size), removed with its quota
   * otherwise.
   */
  async #settleCopy(id: string, copy: KeptCopy, confirmed: number): Promise<void> {
    if (confirmed > 0 && confirmed < copy.file.size) {
      await this.#kept.keep(id, { ...copy, confirmed, keptAt: Date.now() });
    } else {
      await this.#kept.discard(copy);
    }
  }

  /** The state of file transfer `id` (a file we pushed), or `undefined` without one. */
  async get(id: string): Promise<FileTransferData | undefined> {
    const session = await this.#rt.store.getSession(id);
    if (!isPush(session)) return undefined;
    return fileTransferData(session, await this.#message(id));
  }

  get #spoolDir(): string {
    return `${this.#rt.config.dataDir}/${SPOOL_DIR}`;
  }

  /** The message that carries the file of session `id`. */
  async #message(id: string): Promise<MessageRecord | undefined> {
    const page = await this.#rt.store.listMessages(id, { limit: 10 });
    return page.items.find((m) => m.direction === "out");
  }

  /** Ends the session of a settled transfer: RFC 5547 §8, one file per session. */
  async #finished(sessionId: string, result: DeliveryResult): Promise<void> {
    const reason = result.status === "failed"
      ? `file transfer failed: ${result.reason}`
      : FILE_DELIVERED;
    this.#rt.log.info("file transfer settled", { sessionId, status: result.status });
    await this.#sessions.close(sessionId, reason);
  }

  /** Publishes `file.delivered` or `file.failed` for session `sessionId`. */
  async #publish(sessionId: string): Promise<void> {
    const data = await this.get(sessionId);
    if (!data) return;
    const type = data.status === "delivered" ? "file.delivered" : "file.failed";
    await this.#events.publish(createEvent(type, data));
  }
}

/** Whether `session` is one of a file we push. */
function isPush(
  session: SessionRecord | undefined,
): session is SessionRecord & { readonly file: SessionFile } {
  return session?.kind === "file-transfer" && session.direction === "out" &&
    session.file !== undefined;
}
