/**
 * Messages of the bridge's sessions: sending (a row that follows every
 * status change, `message.delivered` or `message.failed` when it settles),
 * receiving into the store within `DATA_QUOTA_BYTES` (`message.received`
 * unless a plugin consumes it), the file of an RFC 5547 push checked against
 * its offer, the plugins' replies and forwards, and the message rows.
 *
 * One unit just past 450 lines: sending and receiving share the counters,
 * the session holds (a session ends after its messages' outcomes) and the
 * event publication of a message's outcome.
 *
 * @module
 */

import type { ImdnDisposition } from "../cpim/mod.ts";
import { mediaType, MsrpError, Status } from "../msrp/mod.ts";
import { applyOutcome, createPluginMessage } from "../plugins/mod.ts";
import type {
  DeliveryResult,
  IncomingMessageInfo,
  IncomingMessageSink,
  OutgoingMessage,
} from "../session/mod.ts";
import {
  type ExpectedFile,
  type ListOptions,
  type MessageRecord,
  type Page,
  type SessionFile,
  StoreError,
  StoreSink,
} from "../store/mod.ts";
import {
  createEvent,
  inlineText,
  MAX_INLINE_TEXT_BYTES,
  messageEventData,
} from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import { BridgeError } from "./errors.ts";
import type { EventLog, WebhookReplyTarget } from "./events.ts";
import type { Imdn } from "./imdn.ts";

/** Why a file-transfer session ends once its file arrived in full. */
const FILE_RECEIVED = "file received";
/** Received bodies up to this size are offered to plugins. */
const PLUGIN_BODY_BYTES = 1024 * 1024;
/** Least time between two "disk quota exceeded" log lines; refusals in between are counted. */
const QUOTA_LOG_INTERVAL_MS = 10_000;
const encoder = new TextEncoder();

/** Room for the headers of a file wrapped in `message/cpim` (RFC 3862). */
const CPIM_HEADROOM_BYTES = 64 * 1024;

/**
 * What received content must match for the file of a push. Wrapped in
 * `message/cpim`, the content holds CPIM headers around the file: its size
 * may pass the offered one by {@linkcode CPIM_HEADROOM_BYTES}, and its hash
 * is checked against the file alone, inside the wrapping.
 */
function expectedFile(file: SessionFile, contentType: string): ExpectedFile {
  if (mediaType(contentType) !== "message/cpim") return { size: file.size, hash: file.hash };
  return {
    size: file.size === null ? null : file.size + CPIM_HEADROOM_BYTES,
    hash: file.hash,
    wrapped: "message/cpim",
  };
}

/** Where the API serves the content of received message `id`. */
export function contentUrl(id: string): string {
  return `/v1/messages/${id}/content`;
}

/** Options of {@linkcode Messaging.send}. */
export interface BridgeSendOptions {
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Size of a streamed body, when known. */
  readonly size?: number;
  /** Ask the receiver for a success REPORT, so the status becomes `delivered`. */
  readonly report?: boolean;
  /** The body continues a message from this byte on (see `SendOptions.startOffset`). */
  readonly startOffset?: number;
  /**
   * Send a text body wrapped in CPIM asking for these disposition
   * notifications (RFC 5438); the peer must have negotiated `message/cpim`.
   */
  readonly imdn?: readonly ImdnDisposition[];
  /** Extra MSRP headers for every chunk (e.g. `Content-Disposition`), already validated. */
  readonly headers?: readonly (readonly [string, string])[];
}

/** A message handed to a session: its row as inserted and its delivery state. */
export interface SentMessage {
  /** The message row. */
  readonly record: MessageRecord;
  /** The message being sent; `done` settles with the outcome. */
  readonly outgoing: OutgoingMessage;
  /** The row once the outcome is stored (and `message.delivered` or `message.failed` logged). */
  readonly settled: Promise<MessageRecord>;
}

/** What messaging counted since start, for `/metrics`. */
export interface MessageCounters {
  /** Messages received completely. */
  readonly messagesIn: number;
  /** Messages sent (`sent` or `delivered`). */
  readonly messagesOut: number;
  /** Body bytes received. */
  readonly bytesIn: number;
  /** Body bytes sent. */
  readonly bytesOut: number;
  /** Failed outgoing messages by MSRP status code. */
  readonly failuresByCode: ReadonlyMap<number, number>;
  /** Incoming messages that ended incomplete or could not be stored. */
  readonly incomingFailures: number;
}

/** Sending, receiving and the rows of messages. */
export class Messaging implements WebhookReplyTarget {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sessions: Sessions;
  readonly #imdn: Imdn;
  readonly #failures = new Map<number, number>();
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #incomingFailures = 0;
  #quotaLoggedAt = -Infinity;
  #quotaRefusals = 0;

  /** Sends and receives in `sessions`, publishing to `events`, notifying with `imdn`. */
  constructor(rt: Runtime, events: EventLog, sessions: Sessions, imdn: Imdn) {
    this.#rt = rt;
    this.#events = events;
    this.#sessions = sessions;
    this.#imdn = imdn;
  }

  /** The bridge takes new work. */
  get running(): boolean {
    return this.#rt.running;
  }

  /** What was counted since start. */
  counters(): MessageCounters {
    return {
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      failuresByCode: new Map(this.#failures),
      incomingFailures: this.#incomingFailures,
    };
  }

  /** Session `sessionId` is open. */
  isOpen(sessionId: string): boolean {
    return this.#sessions.live(sessionId) !== undefined;
  }

  /** Sends `text` into an open session; see {@linkcode send}. */
  async sendText(sessionId: string, text: string, contentType: string): Promise<MessageRecord> {
    return (await this.send(sessionId, text, { contentType })).record;
  }

  /**
   * Queues a message on a session and records it. Its row follows every
   * status change; when it settles, `message.delivered` (status `sent` or
   * `delivered`) or `message.failed` is published.
   *
   * With `options.imdn`, a string body is sent wrapped in CPIM asking for
   * those notifications; they update the row when they come.
   *
   * @throws {BridgeError} `shutting-down`, `not-found`, `session-closed`;
   * `validation` for `imdn` with a body that is not text or a peer that did
   * not negotiate `message/cpim`.
   */
  async send(
    sessionId: string,
    body: string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: BridgeSendOptions,
  ): Promise<SentMessage> {
    this.#rt.checkRunning();
    const session = await this.#sessions.open(sessionId);
    const { store, log } = this.#rt;
    const wrapped = options.imdn &&
      await this.#imdn.wrap(sessionId, body, options.contentType, options.imdn);
    const bytes = wrapped ? wrapped.body : typeof body === "string" ? encoder.encode(body) : body;
    const size = bytes instanceof Uint8Array ? bytes.length : options.size;
    const outgoing = session.send(bytes, {
      contentType: wrapped?.contentType ?? options.contentType,
      successReport: options.report ?? false,
      size,
      startOffset: options.startOffset,
      ...(options.headers ? { headers: options.headers } : {}),
    });
    const id = crypto.randomUUID();
    const inserted = store.insertMessage({
      id,
      sessionId,
      direction: "out",
      messageId: outgoing.messageId,
      status: outgoing.status,
      contentType: outgoing.contentType,
      size: size ?? null,
      // A short text is kept in the row, so transcripts show what was sent; one wrapped in
      // CPIM as the CPIM document sent (UTF-8 text around the text), served as its content.
      text: bytes instanceof Uint8Array
        ? inlineText(wrapped ? "text/plain" : outgoing.contentType, bytes)
        : undefined,
    });
    // The row's changes follow its insert, one after another. A message of
    // one chunk settles in one round trip: its row goes from queued to the
    // outcome, saving a write per text; longer ones show "sending".
    // A message asking for notifications records what it asked for first.
    const imdn = wrapped?.imdn;
    const recorded = imdn ? inserted.then(() => store.updateMessage(id, { imdn })) : inserted;
    let changes: Promise<unknown> = recorded;
    const oneChunk = size !== undefined && size <= session.chunkSize;
    const onStatus = () => {
      if (outgoing.settled || (oneChunk && outgoing.status === "sending")) return;
      const status = { status: outgoing.status, bytes: outgoing.bytesSent };
      changes = changes.then(() => store.updateMessage(id, status)).catch((e) =>
        log.warn("message row not updated", { sessionId, messageId: id, error: String(e) })
      );
    };
    outgoing.addEventListener("status", onStatus);
    const settled = this.#rt.track(outgoing.done.then(async (result) => {
      outgoing.removeEventListener("status", onStatus);
      await changes;
      return await this.#settled(id, result);
    }));
    this.#sessions.hold(sessionId, settled);
    if (imdn) this.#imdn.await(sessionId, imdn.messageId, id, settled);
    return { record: await recorded, outgoing, settled };
  }

  /**
   * Stores a message received in session `sessionId`. Content past
   * `DATA_QUOTA_BYTES` is refused with 413 "disk quota exceeded" (RFC 4975
   * §10.5: stop sending this message): on the first chunk nothing is
   * recorded; later the message fails and its content is removed (see
   * `StoreSink`). In a file-transfer session the content is the file
   * (RFC 5547): bytes past its offered size are refused with 413 the same
   * way, and its offered hash is checked.
   */
  sink(sessionId: string, info: IncomingMessageInfo): IncomingMessageSink {
    let sink: StoreSink;
    const file = this.#sessions.file(sessionId);
    // The session ends after this message's outcome is stored and published.
    const outcome = Promise.withResolvers<void>();
    try {
      sink = new StoreSink(this.#rt.store, sessionId, info, {
        quota: this.#rt.quota,
        file: file && expectedFile(file, info.contentType),
        resume: file && this.#sessions.resumed(sessionId, info.contentType),
        onClose: (row) => this.#rt.track(this.#received(row)).finally(outcome.resolve),
      });
    } catch (e) {
      throw this.#quotaRefusal(e, sessionId, info);
    }
    this.#sessions.hold(sessionId, outcome.promise);
    return {
      held: sink.held,
      write: (offset, bytes) => {
        try {
          return sink.write(offset, bytes);
        } catch (e) {
          throw this.#quotaRefusal(e, sessionId, info);
        }
      },
      close: (result) =>
        this.#rt.track(
          sink.close(result).catch((e) => {
            outcome.resolve();
            throw e;
          }),
        ),
    };
  }

  /** The row of message `id`. */
  get(id: string): Promise<MessageRecord | undefined> {
    return this.#rt.store.getMessage(id);
  }

  /**
   * A page of session `sessionId`'s messages, oldest first.
   *
   * @throws {BridgeError} `not-found` without such a session.
   */
  async list(sessionId: string, options: ListOptions = {}): Promise<Page<MessageRecord>> {
    if (!await this.#sessions.get(sessionId)) {
      throw new BridgeError("not-found", `no session ${sessionId}`, "id");
    }
    return this.#rt.store.listMessages(sessionId, options);
  }

  /**
   * A quota failure, or a file larger than offered, as the MSRP refusal (413),
   * the quota logged at most once per interval; others as they are.
   */
  #quotaRefusal(e: unknown, sessionId: string, info: IncomingMessageInfo): unknown {
    if (e instanceof StoreError && e.code === "too-large") {
      return new MsrpError(Status.RequestEntityTooLarge, e.message);
    }
    if (!(e instanceof StoreError) || e.code !== "quota-exceeded") return e;
    this.#quotaRefusals++;
    const now = performance.now();
    if (now - this.#quotaLoggedAt >= QUOTA_LOG_INTERVAL_MS) {
      this.#rt.log.warn("disk quota exceeded: received content refused", {
        sessionId,
        messageId: info.messageId,
        size: info.size ?? null,
        usedBytes: this.#rt.quota.usedBytes,
        quotaBytes: this.#rt.config.dataQuotaBytes,
        refused: this.#quotaRefusals,
      });
      this.#quotaLoggedAt = now;
      this.#quotaRefusals = 0;
    }
    return new MsrpError(Status.RequestEntityTooLarge, "disk quota exceeded");
  }

  async #received(stored: MessageRecord): Promise<void> {
    const { store, log } = this.#rt;
    // Disposition notifications (RFC 5438) are applied, not published as received.
    const row = await this.#imdn.received(stored);
    if (row === undefined) return this.#fileDone(stored);
    const session = await store.getSession(row.sessionId);
    if (row.status !== "received") {
      this.#incomingFailures++;
      await this.#events.publish(createEvent("message.failed", messageEventData(row, session)));
      log.warn("message incomplete", { messageId: row.id, bytes: row.bytes });
      this.#fileDone(row);
      return;
    }
    this.#messagesIn++;
    this.#bytesIn += row.bytes;
    let text: string | undefined;
    if (row.bytes <= MAX_INLINE_TEXT_BYTES && /^text\//i.test(row.contentType) && row.contentPath) {
      // Without the file the event still carries contentUrl, which then answers 404.
      const body = await Deno.readFile(row.contentPath).catch(() => undefined);
      text = body && inlineText(row.contentType, body);
      // Kept in the row too, so transcripts list it without reading a file.
      if (text !== undefined) await store.updateMessage(row.id, { text });
    }
    if (await this.#consumedByPlugins(row)) {
      this.#fileDone(row);
      return;
    }
    await this.#events.publish(
      createEvent(
        "message.received",
        messageEventData(row, session, { text, contentUrl: contentUrl(row.id) }),
      ),
    );
    log.info("message received", {
      sessionId: row.sessionId,
      messageId: row.id,
      bytes: row.bytes,
    });
    this.#fileDone(row);
  }

  /**
   * Ends a file-transfer session once its file settled: "file received",
   * or "file transfer failed: <reason>". Clients expect the session to end
   * with the transfer (RFC 5547 §8); for a call, closing the session hangs it up.
   */
  #fileDone(row: MessageRecord): void {
    if (this.#sessions.file(row.sessionId) === undefined) return;
    const reason = row.status === "received"
      ? FILE_RECEIVED
      : `file transfer failed: ${row.errorReason ?? row.status}`;
    this.#rt.track(this.#sessions.close(row.sessionId, reason));
  }

  /**
   * Runs the plugins on a received message, sends their replies and
   * forwards (`applyOutcome`), and tells whether one of them consumed it
   * (then no `message.received` is published).
   */
  async #consumedByPlugins(row: MessageRecord): Promise<boolean> {
    const { plugins, log } = this.#rt;
    const view = this.#sessions.pluginView(row.sessionId);
    if (!view || !plugins) return false;
    const body = row.contentPath && row.bytes <= PLUGIN_BODY_BYTES
      ? await Deno.readFile(row.contentPath).catch(() => undefined)
      : undefined;
    const outcome = await plugins.message(
      view,
      createPluginMessage({
        id: row.messageId,
        sessionId: row.sessionId,
        direction: "in",
        contentType: row.contentType,
        body,
        size: row.bytes,
      }),
    );
    const delivered = applyOutcome(outcome, (sessionId, content) => {
      if (!this.isOpen(sessionId)) return false;
      this.#rt.track(this.send(sessionId, content.body, { contentType: content.contentType }));
      return true;
    }, log);
    if (!delivered) {
      log.info("message consumed by plugin", {
        sessionId: row.sessionId,
        messageId: row.id,
        plugin: outcome.consumedBy,
        rejectStatus: outcome.reject?.status,
      });
    }
    return !delivered;
  }

  async #settled(id: string, result: DeliveryResult): Promise<MessageRecord> {
    const { store, plugins, log } = this.#rt;
    const failed = result.status === "failed";
    // The row and its event commit together; subscribers hear of it after the commit.
    const { row, event } = await store.transaction(async (tx) => {
      const row = await tx.updateMessage(id, {
        status: result.status,
        bytes: result.bytesSent,
        errorCode: failed ? result.code : null,
        errorReason: failed ? result.reason : null,
      });
      const session = await tx.getSession(row.sessionId);
      const type = failed ? "message.failed" : "message.delivered";
      const event = await this.#events.record(
        createEvent(type, messageEventData(row, session)),
        tx,
      );
      return { row, event };
    });
    this.#events.notify(event);
    if (failed) {
      this.#failures.set(result.code, (this.#failures.get(result.code) ?? 0) + 1);
    } else {
      this.#messagesOut++;
      this.#bytesOut += result.bytesSent;
    }
    const view = this.#sessions.pluginView(row.sessionId);
    if (plugins && view) {
      this.#rt.track(plugins.delivery({
        session: view,
        message: createPluginMessage({
          id: row.messageId,
          sessionId: row.sessionId,
          direction: "out",
          contentType: row.contentType,
          size: result.bytesSent,
        }),
        ...result,
      }));
    }
    log.info("message settled", {
      sessionId: row.sessionId,
      messageId: id,
      status: result.status,
      code: result.code,
      bytes: result.bytesSent,
    });
    return row;
  }
}
