/**
 * Sending a file (RFC 5547): the file is spooled under `DATA_DIR` while its
 * SHA-1 is computed (the offer's `a=file-selector` needs it before the
 * INVITE), pushed through the PBX in a session of its own with a success
 * REPORT requested, and the session ends with the transfer
 * (`file.delivered` or `file.failed`). A transfer that failed part-way keeps
 * its spooled copy for `PARTIAL_RETENTION_MS`, and can be resumed
 * (RFC 5547 §8, `a=file-range`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FileRange } from "../sdp/mod.ts";
import type { DeliveryResult } from "../session/mod.ts";
import type { MessageRecord, SessionFile, SessionRecord } from "../store/mod.ts";
import { createEvent, type FileTransferData, fileTransferData } from "../webhooks/mod.ts";
import { isMediaType } from "../msrp/media_type.ts";
import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import { KeptCopies, type KeptCopy, resumedStart } from "./_send_resume.ts";
import { BridgeError, dialTarget, errorText } from "./errors.ts";
import type { EventLog } from "./events.ts";
import type { Messaging, SentMessage } from "./messaging.ts";

/** Where files wait, under `DATA_DIR`, until they are sent. */
const SPOOL_DIR = "outgoing";
/** Bytes read from a spooled file per piece. */
const READ_PIECE_BYTES = 64 * 1024;
/** Why the session of a file we pushed ends once the success REPORT came. */
const FILE_DELIVERED = "file delivered";
/** The longest file name we offer. */
const MAX_NAME_LENGTH = 255;
/**
 * What a name may not hold: the selector's name is a quoted string (RFC
 * 5547 §9), so no quote or control character, and FreeSWITCH drops an SDP
 * holding `${` (see docs/security.md), so none of `$ { }`.
 */
const UNSAFE_NAME = /["\p{Cc}${}]/u;
/** What a selector's `type:` may not hold: white space ends it, quotes and `$ { }` as for names. */
const UNSAFE_TYPE = /[\s"${}]/;
/** `a=file-disposition` (RFC 5547 §6): a token, without `$ { }`. */
const DISPOSITION = /^[!#%-'*+\-.0-9A-Z^-z|~]{1,64}$/;

/** A file to push to `to` through the PBX. */
export interface FileSendRequest {
  /** The SIP URI to call (see `parseDialTarget`). */
  readonly to: string;
  /** The file name offered. */
  readonly name: string;
  /** The file's media type, sent as its Content-Type. */
  readonly type: string;
  /** `a=file-disposition`, e.g. `render` or `attachment`; left out when absent. */
  readonly disposition?: string;
  /** The file's size in bytes. */
  readonly size: number;
  /** The file's bytes; must come to `size` exactly. */
  readonly body: AsyncIterable<Uint8Array>;
}

/** The selector's hash value: colon-separated upper-case hex bytes (RFC 5547 §9). */
function hashValue(digest: string): string {
  return digest.toUpperCase().match(/../g)?.join(":") ?? "";
}

/**
 * A random `a=file-transfer-id` (RFC 5547 §6: globally unique, at least 32
 * characters of randomness).
 */
function transferId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** @throws {BridgeError} `validation` for a name, type or disposition the offer cannot carry. */
function checkFields(request: FileSendRequest): void {
  const { name, type, disposition } = request;
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || UNSAFE_NAME.test(name)) {
    throw new BridgeError(
      "validation",
      `must be 1 to ${MAX_NAME_LENGTH} characters without quotes, control characters or $ { }`,
      "name",
    );
  }
  if (!isMediaType(type) || UNSAFE_TYPE.test(type)) {
    throw new BridgeError(
      "validation",
      "must be a media type without white space, quotes or $ { }",
      "type",
    );
  }
  if (disposition !== undefined && !DISPOSITION.test(disposition)) {
    throw new BridgeError(
      "validation",
      "must be a token such as render or attachment",
      "disposition",
    );
  }
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

/**
 * Reads `path` from byte `offset` (0-based) in fresh pieces (the sender may
 * keep them), closing it when done or stopped.
 */
async function* spooled(path: string, offset: number): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    while (true) {
      const piece = new Uint8Array(READ_PIECE_BYTES);
      const n = await file.read(piece);
      if (n === null) return;
      yield piece.subarray(0, n);
    }
  } finally {
    file.close();
  }
}

/** Files we push through the PBX, and their state. */
export class Files {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sessions: Sessions;
  readonly #calls: FileCalls;
  readonly #messaging: Messaging;
  readonly #kept: KeptCopies;

  /** Pushes files with calls placed by `calls`, sent and recorded by `messaging`. */
  constructor(
    rt: Runtime,
    events: EventLog,
    sessions: Sessions,
    calls: FileCalls,
    messaging: Messaging,
  ) {
    this.#rt = rt;
    this.#events = events;
    this.#sessions = sessions;
    this.#calls = calls;
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
   * sends the file with a success REPORT requested. Resolves once the call
   * is answered and the file queued; its message row and `message.*` events
   * follow as for any message. Once it settles the session ends ("file
   * delivered", or "file transfer failed: <reason>"), the spooled file is
   * removed and `file.delivered` or `file.failed` is published.
   *
   * @throws {BridgeError} `invalid-sip-uri` for `to` and `validation` for
   * the other fields, both before the body is read; `pbx-unavailable`
   * without the PBX integration; `payload-too-large` past
   * `DATA_QUOTA_BYTES`; `validation` (field `body`) when the body ends
   * short of `size`; and what `Calls.originate` throws.
   */
  async send(request: FileSendRequest): Promise<FileTransferData> {
    const to = dialTarget(request.to, "to");
    checkFields(request);
    const { quota } = this.#rt;
    this.#checkPbx(to);
    const { size } = request;
    if (!quota.reserve(size)) {
      throw new BridgeError("payload-too-large", "disk quota exceeded (DATA_QUOTA_BYTES)", "body");
    }
    const path = `${this.#spoolDir}/${crypto.randomUUID()}`;
    let file: SessionFile & { readonly size: number };
    try {
      const sha1 = await this.#spool(request.body, path, size);
      file = {
        name: request.name,
        type: request.type,
        size,
        hash: { algorithm: "sha-1", value: sha1 },
        transferId: transferId(),
        disposition: request.disposition ?? null,
        date: { modification: new Date().toUTCString() },
      };
    } catch (e) {
      await Deno.remove(path).catch(() => {});
      quota.settle(size, 0);
      throw e;
    }
    return await this.#push({ path, file, to, confirmed: 0, keptAt: 0 });
  }

  /**
   * Resumes transfer `id`, a push of ours that failed part-way (RFC 5547
   * §8), from its spooled copy: a new call to the same `to` offers the same
   * selector (name, type, size, hash) with a new `a=file-transfer-id` (a new
   * transfer of the same file) and `a=file-range:<confirmed+1>-<size>`,
   * `confirmed` being the bytes the receiver confirmed; the answer may narrow
   * it, and an answer without one takes the whole file. Only the range
   * answered is sent (its Byte-Range positions those of the file), with a
   * success REPORT requested; then as for {@linkcode send}. The new
   * transfer has an id of its own; the earlier one stays `failed`.
   *
   * @throws {BridgeError} `not-found` without push `id`; `not-resumable`
   * when it is not `failed`, or its copy is gone (delivered, resumed
   * already, nothing confirmed, past `PARTIAL_RETENTION_MS` or a restart);
   * `validation` (field `to`) for another `to`; and as {@linkcode send}.
   */
  async resume(id: string, to?: string): Promise<FileTransferData> {
    const earlier = await this.get(id);
    if (!earlier) throw new BridgeError("not-found", `no file transfer ${id}`, "resume");
    if (to !== undefined && dialTarget(to, "to") !== earlier.to) {
      throw new BridgeError("validation", `must be ${earlier.to}, as transfer ${id}`, "to");
    }
    this.#checkPbx(earlier.to ?? "");
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
    const file = { ...copy.file, transferId: transferId() };
    try {
      return await this.#push({ ...copy, file }, { start: copy.confirmed + 1, end: file.size });
    } catch (e) {
      // The call failed: the copy stays for another try.
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
   * Calls `copy.to` offering `copy.file` (and `range`, resuming) and sends
   * the range answered from the spooled copy. Once it settles the session
   * ends; a copy the receiver confirmed part of is kept (see
   * {@linkcode resume}), any other removed with its quota. When the call
   * fails the copy is removed, unless resuming (the caller keeps it).
   */
  async #push(copy: KeptCopy, range?: FileRange): Promise<FileTransferData> {
    const { file, path, to } = copy;
    let sessionId: string;
    let sent: SentMessage;
    let start: number;
    try {
      const call = await this.#calls.originate(to, file, range);
      sessionId = call.id;
      try {
        start = range ? resumedStart(call.fileRange, file.size) : 1;
      } catch (e) {
        await this.#sessions.close(sessionId, "answer not acceptable");
        throw e;
      }
      sent = await this.#messaging.send(sessionId, spooled(path, start - 1), {
        contentType: file.type!,
        size: file.size,
        startOffset: start - 1,
        report: true,
      });
    } catch (e) {
      // The call failed, or the session ended between the answer and now (e.g. a BYE).
      if (!range) await this.#kept.discard(copy);
      throw e;
    }
    this.#rt.track(sent.outgoing.done.then(async (result) => {
      await this.#finished(sessionId, result);
      const confirmed = start - 1 + result.bytesAcknowledged;
      if (result.status === "failed" && confirmed > 0 && confirmed < file.size) {
        await this.#kept.keep(sessionId, { ...copy, confirmed, keptAt: Date.now() });
      } else {
        await this.#kept.discard(copy);
      }
      await sent.settled;
      await this.#publish(sessionId);
    }));
    return (await this.get(sessionId))!;
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

  /**
   * Writes `body` to `path`, hashing it on the way; resolves with the SHA-1
   * as the selector writes it.
   *
   * @throws {BridgeError} `validation` (field `body`) when it is not `size` bytes.
   */
  async #spool(body: AsyncIterable<Uint8Array>, path: string, size: number): Promise<string> {
    await Deno.mkdir(this.#spoolDir, { recursive: true });
    const hash = createHash("sha1");
    let total = 0;
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const piece of body) {
        total += piece.length;
        if (total > size) break;
        hash.update(piece);
        let written = 0;
        while (written < piece.length) written += await file.write(piece.subarray(written));
      }
    } catch (e) {
      throw new BridgeError("validation", errorText(e), "body");
    } finally {
      file.close();
    }
    if (total !== size) {
      throw new BridgeError(
        "validation",
        `the body has ${total > size ? "more" : total} bytes, not its declared ${size}`,
        "body",
      );
    }
    return hashValue(hash.digest("hex"));
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
