/**
 * The sending side of a session (RFC 4975 §5.1, §7.1.1): queues messages,
 * writes their chunks to the bound connection within a send window, and
 * settles them by responses and REPORTs.
 *
 * One unit past 450 lines: the queues, the batch buffer and the windows
 * (200s, and through a relay the end-to-end progress REPORTs) are one
 * state that every send, response and REPORT reads and changes.
 *
 * @module
 */

import {
  assertMediaType,
  type ByteRange,
  checkHeader,
  Chunker,
  type ContinuationFlag,
  encodeRequest,
  MsrpError,
  parseReport,
  type RequestHead,
  type RequestTemplate,
  type ResponseHead,
  Status,
  transactionIdFor,
} from "../msrp/mod.ts";
import { OutgoingMessage, type SendOptions } from "./outgoing.ts";
import type { LinkedSession, SessionLink } from "./_session_link.ts";
import { Fifo } from "./_fifo.ts";
import { messageTemplate } from "./_template.ts";

/** How a session sends. */
export interface OutboxOptions {
  /** Body bytes per chunk. */
  readonly chunkSize: number;
  /** Most body bytes sent and not yet answered; see `SessionOptions.sendWindowBytes`. */
  readonly sendWindowBytes?: number;
  /** True when the session sends through a relay (it has a Use-Path). */
  readonly viaRelay: boolean;
}

/** The session an outbox sends for. */
export interface OutboxSession extends LinkedSession {
  /** Why the session closed. */
  readonly closeReason: string;
}

const DEFAULT_SEND_WINDOW = 4 * 1024 * 1024;
// A Kamailio relay drops a receiver's connection once 32 KiB wait for it.
const RELAY_SEND_WINDOW = 64 * 1024;
/**
 * Through a relay: most bytes sent beyond the receiver's last progress REPORT
 * (none yet: beyond the start). Its 200s are the relay's, so this is what keeps
 * a relay's queue for the receiver from overflowing (Kamailio resets the
 * receiver's connection once 32 KiB wait there, and the bytes it had answered
 * are lost).
 */
const END_TO_END_WINDOW = 512 * 1024;
/**
 * Through a relay: how long a message waits at the end-to-end window for the
 * receiver's first progress REPORT. Past that the receiver is taken for one
 * that does not report progress (RFC 4975 §7.1.2 lets it), and the session's
 * messages are paced by 200s alone until a progress REPORT comes.
 */
const FIRST_REPORT_WAIT_MS = 2_000;
/** Encoded frames are gathered into writes of about this many bytes. */
const BATCH_BYTES = 256 * 1024;
/** Sizes of a batch's buffer: from small (a few short messages) to BATCH_BYTES and some. */
const MIN_CAPACITY = 8 * 1024;
const MAX_CAPACITY = BATCH_BYTES + 16 * 1024;
/** Batch buffers kept for reuse once written: enough for the connection's queue to drain. */
const SPARE_BATCHES = 8;
const encoder = new TextEncoder();

/** The messages a session sends, and their transactions. */
export class Outbox {
  readonly #session: OutboxSession;
  readonly #chunkSize: number;
  readonly #window: number;
  readonly #viaRelay: boolean;
  #toPath: readonly string[] | undefined;
  // RFC 4975 §5.1: messages that fit one chunk go before the next chunk of a long one.
  readonly #short = new Fifo<OutgoingMessage>();
  readonly #long = new Fifo<OutgoingMessage>();
  readonly #awaitingReport = new Map<string, OutgoingMessage>();
  #pumping = false;
  #scheduled = false;
  #inFlightBytes = 0;
  // Encoded frames not yet handed to the connection: #batch[0, #batchBytes).
  #batch: Uint8Array = new Uint8Array(0);
  #batchBytes = 0;
  // Where each frame of the batch ends, kept only for a framed connection (WebSocket).
  readonly #frameEnds: number[] = [];
  #capacity = MIN_CAPACITY;
  /**
   * Batch buffers handed to the connection, with the stream position of
   * their last byte: reused once the connection wrote past it, so that a
   * busy sender does not allocate (and the system zero) a buffer per batch.
   */
  #sent: { readonly buffer: Uint8Array; readonly end: number }[] = [];
  #sentOn: SessionLink | undefined;
  readonly #templates = new WeakMap<OutgoingMessage, RequestTemplate>();
  #windowOpen: (() => void) | undefined;
  /** Through a relay: the receiver did not report progress in time (see FIRST_REPORT_WAIT_MS). */
  #noProgressReports = false;

  /** Creates the outbox of `session`. */
  constructor(session: OutboxSession, options: OutboxOptions) {
    this.#session = session;
    this.#chunkSize = options.chunkSize;
    this.#viaRelay = options.viaRelay;
    this.#window = options.sendWindowBytes ??
      (options.viaRelay ? RELAY_SEND_WINDOW : DEFAULT_SEND_WINDOW);
  }

  /** The session's connection is bound, its requests going to `toPath`: sending starts. */
  bound(toPath: readonly string[]): void {
    this.#toPath ??= toPath;
    this.#schedule();
  }

  /**
   * Queues a message (see `MsrpSession.send`).
   *
   * @throws {TypeError} when `contentType` is not a media type (RFC 4975 §9),
   * or the Message-ID or a header holds CR, LF or NUL.
   */
  send(
    body: string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: SendOptions,
  ): OutgoingMessage {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    const contentType = options.contentType ?? "text/plain";
    // Checked here rather than when a chunk is encoded, where the error would stall the queue.
    assertMediaType(contentType, "contentType");
    if (options.messageId !== undefined) checkHeader("Message-ID", options.messageId);
    for (const [name, value] of options.headers ?? []) checkHeader(name, value);
    const chunker = new Chunker(bytes, {
      chunkSize: this.#chunkSize,
      totalSize: options.size,
      startOffset: options.startOffset,
    });
    const message = new OutgoingMessage(
      options.messageId ?? crypto.randomUUID().replaceAll("-", ""),
      chunker,
      options,
      contentType,
    );
    if (this.#session.closed) {
      message.fail(Status.SessionDoesNotExist, `session closed: ${this.#session.closeReason}`);
      return message;
    }
    const size = message.size === undefined ? undefined : message.size - message.startOffset;
    (size !== undefined && size <= this.#chunkSize ? this.#short : this.#long).push(message);
    if (message.successReport) {
      this.#awaitingReport.set(message.messageId, message);
      message.done.then(() => this.#awaitingReport.delete(message.messageId));
    }
    this.#schedule();
    return message;
  }

  /** The session ended: queued messages and those awaiting a REPORT fail with `reason`. */
  close(reason: string): void {
    for (const m of [...this.#short.drain(), ...this.#long.drain()]) {
      m.stopChunking();
      m.fail(Status.SessionDoesNotExist, reason);
    }
    for (const m of this.#awaitingReport.values()) m.fail(Status.SessionDoesNotExist, reason);
    this.#windowOpen?.();
  }

  // Starts the pump on a microtask: a message's first status event comes after send() returns.
  #schedule(): void {
    if (this.#scheduled || this.#pumping) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /**
   * Writes chunks while the window is open. Chunks that can be cut from bytes
   * already read are encoded back to back into one batch, written with one
   * send; the pump waits only to read the source, for the window, or while
   * the connection's queue is above its high-water mark.
   */
  async #pump(): Promise<void> {
    if (this.#pumping || !this.#session.link) return;
    this.#pumping = true;
    try {
      while (!this.#session.closed && this.#session.link) {
        const queue = this.#short.length > 0 ? this.#short : this.#long;
        const message = queue.peek();
        if (message === undefined) {
          const wait = this.#flush();
          if (wait === undefined) break;
          await wait; // messages queued meanwhile go on in this loop
          continue;
        }
        if (message.settled) {
          queue.shift(); // failed while queued (e.g. a 413 for an earlier chunk)
          continue;
        }
        if (message.cancelReason !== undefined) {
          queue.shift();
          this.#abort(message, 0, message.cancelReason);
          continue;
        }
        let chunk;
        try {
          chunk = message.chunker.nextReady();
          if (chunk === undefined && !message.chunker.finished) {
            const wait = this.#flush();
            if (wait !== undefined) await wait;
            chunk = await message.chunker.next();
          }
        } catch (e) {
          queue.shift();
          const code = e instanceof MsrpError ? e.status : Status.BadRequest;
          this.#abort(message, code, `body source failed: ${e instanceof Error ? e.message : e}`);
          continue;
        }
        if (chunk === undefined || chunk.flag !== "+") queue.shift();
        if (chunk === undefined || message.settled) continue;
        this.#encodeChunk(message, chunk.byteRange, chunk.flag, chunk.body);
        if (this.#batchBytes >= BATCH_BYTES) {
          const wait = this.#flush();
          if (wait !== undefined) await wait;
        }
        let firstReportDue: number | undefined;
        while (!this.#session.closed && this.#mustWait(message)) {
          const wait = this.#flush();
          if (wait !== undefined) {
            await wait;
            continue;
          }
          // Waiting for a first progress REPORT only: not for longer than FIRST_REPORT_WAIT_MS.
          const first = message.reportedBytes === 0 && this.#inFlightBytes < this.#window;
          if (first) firstReportDue ??= Date.now() + FIRST_REPORT_WAIT_MS;
          await new Promise<void>((resolve) => {
            const timer = first
              ? setTimeout(() => {
                if (message.reportedBytes === 0) this.#noProgressReports = true;
                this.#windowOpen = undefined;
                resolve();
              }, Math.max(0, firstReportDue! - Date.now()))
              : undefined;
            this.#windowOpen = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      }
    } catch {
      // The connection failed: its loss ends the session and fails the messages.
    } finally {
      this.#batch = new Uint8Array(0);
      this.#batchBytes = 0;
      this.#frameEnds.length = 0;
      this.#pumping = false;
    }
  }

  /**
   * Sends the batch as one buffer, or on a framed connection one frame per
   * send; resolves at once unless the connection's queue is at its
   * high-water mark, then once it drains.
   */
  #flush(): Promise<void> | undefined {
    const link = this.#session.link;
    if (this.#batchBytes === 0 || link === undefined) return undefined;
    // The buffer goes to the connection as it is; the next batch gets a new one.
    const bytes = this.#batch.subarray(0, this.#batchBytes);
    // A sender of small batches gets small buffers again.
    if (bytes.length < this.#capacity / 4) {
      this.#capacity = Math.max(MIN_CAPACITY, this.#capacity / 2);
    }
    const buffer = this.#batch;
    this.#batch = new Uint8Array(0);
    this.#batchBytes = 0;
    const sent = this.#frameEnds.length === 0 ? link.send([bytes]) : this.#sendFrames(link, bytes);
    this.#keepSent(link, buffer);
    if (link.behind) return sent;
    // A failed connection ends the session, which fails the messages.
    sent.catch(() => {});
    return undefined;
  }

  // RFC 7977 §4.2: over a WebSocket each frame is a message of its own, so each is a send.
  #sendFrames(link: SessionLink, bytes: Uint8Array): Promise<void> {
    const ends = this.#frameEnds;
    let start = 0;
    for (let i = 0; i < ends.length - 1; i++) {
      // The last send's promise says all there is: the same queue, the same failure.
      link.send([bytes.subarray(start, ends[i])]).catch(() => {});
      start = ends[i];
    }
    ends.length = 0;
    return link.send([bytes.subarray(start)]);
  }

  /**
   * The send window: bytes awaiting responses, and — through a relay, whose
   * 200s are hop by hop — bytes of a message asking for a success report
   * beyond the receiver's last progress REPORT, from the first chunk on (a
   * receiver that sends none within FIRST_REPORT_WAIT_MS is paced by 200s
   * only).
   */
  #mustWait(message: OutgoingMessage): boolean {
    if (this.#inFlightBytes >= this.#window) return true;
    // Only a receiver asked for a success report reports progress.
    if (!this.#viaRelay || !message.successReport || message.settled) return false;
    if (this.#noProgressReports) return false;
    return message.position - Math.max(message.reportedBytes, message.startOffset) >
      END_TO_END_WINDOW;
  }

  // RFC 4975 §7.1.1: a message cut short ends with a chunk flagged "#".
  #abort(message: OutgoingMessage, code: number, reason: string): void {
    const sent = message.position;
    const partlySent = message.bytesSent > 0 && !message.settled;
    message.stopChunking();
    message.fail(code, reason);
    if (partlySent) {
      this.#encodeChunk(
        message,
        { start: sent + 1, end: sent, total: message.size ?? "*" },
        "#",
        [],
      );
    }
  }

  // Encodes one chunk into the batch and registers its transaction.
  #encodeChunk(
    message: OutgoingMessage,
    range: ByteRange,
    flag: ContinuationFlag,
    body: readonly Uint8Array[],
  ): void {
    const link = this.#session.link!;
    const template = this.#templateOf(message);
    let size = 0;
    for (const b of body) size += b.length;
    // RFC 4975 §7.1: an id whose end-line the body does not hold.
    const transactionId = transactionIdFor(body);
    const byteRange = `${range.start}-${range.end}/${range.total}`;
    // Head, body, CRLF and "-------" id flag CRLF.
    const frameBytes = template.headLength(transactionId, byteRange, true) + size +
      transactionId.length + 12;
    if (this.#batchBytes + frameBytes > this.#batch.length) this.#grow(frameBytes);
    this.#batchBytes = template.writeRequest(
      this.#batch,
      this.#batchBytes,
      transactionId,
      byteRange,
      body,
      flag,
    );
    if (link.framed) this.#frameEnds.push(this.#batchBytes);
    const expects = message.expectsResponses;
    if (expects) {
      link.expectResponse(transactionId, this.#session, message, size);
      this.#inFlightBytes += size;
    }
    message.chunkWritten(size, flag !== "+", expects);
  }

  // Room for `frameBytes` more in the batch: a new buffer, or a larger copy of the one begun.
  #grow(frameBytes: number): void {
    const need = this.#batchBytes + frameBytes;
    const size = Math.max(need, this.#capacity, 2 * this.#batch.length);
    const grown = this.#reusable(size) ?? new Uint8Array(size);
    grown.set(this.#batch.subarray(0, this.#batchBytes));
    this.#batch = grown;
    // Buffers that had to grow start larger next time (up to the batch size).
    if (this.#batchBytes > 0) this.#capacity = Math.min(grown.length, MAX_CAPACITY);
  }

  // Keeps a batch buffer just sent on `link`, to reuse once it is written (see #sent).
  #keepSent(link: SessionLink, buffer: Uint8Array): void {
    const written = link.bytesWritten;
    if (written === undefined || link.framed || buffer.length < BATCH_BYTES) return;
    if (this.#sentOn !== link) {
      this.#sent = [];
      this.#sentOn = link;
    }
    this.#sent.push({ buffer, end: written + link.queuedBytes });
    if (this.#sent.length > SPARE_BATCHES) this.#sent.shift();
  }

  // A buffer sent before, of at least `size` bytes, that the connection has written.
  #reusable(size: number): Uint8Array | undefined {
    const written = this.#sentOn?.bytesWritten;
    if (written === undefined || this.#sentOn !== this.#session.link) return undefined;
    const i = this.#sent.findIndex((s) => s.end <= written && s.buffer.length >= size);
    if (i < 0) return undefined;
    return this.#sent.splice(i, 1)[0].buffer;
  }

  // The message's head lines, encoded once for all its chunks.
  #templateOf(message: OutgoingMessage): RequestTemplate {
    let template = this.#templates.get(message);
    if (template === undefined) {
      template = messageTemplate(message, this.#toPath!, this.#session.localUri);
      this.#templates.set(message, template);
    }
    return template;
  }

  /** Sends a bodiless SEND that binds a new connection (RFC 4975 §7.1). */
  bindingSend(): Promise<void> {
    const link = this.#session.link!;
    const message = new OutgoingMessage(
      crypto.randomUUID().replaceAll("-", ""),
      new Chunker(new Uint8Array(0), { chunkSize: 1 }),
      {},
      "",
    );
    const transactionId = transactionIdFor([]);
    link.expectResponse(transactionId, this.#session, message, 0);
    message.chunkWritten(0, true, true);
    const parts = encodeRequest({
      transactionId,
      method: "SEND",
      toPath: this.#toPath!,
      fromPath: [this.#session.localUri],
      headers: [["Message-ID", message.messageId], ["Byte-Range", "1-0/0"]],
    });
    return link.send(parts).then(() => message.done).then((r) => {
      if (r.status === "failed") throw new MsrpError(r.code, `binding SEND failed: ${r.reason}`);
    });
  }

  // A progress REPORT arrived: the pump may send further ahead (end-to-end window).
  #progress(message: OutgoingMessage, end: number): void {
    message.reportedBytes = Math.max(message.reportedBytes, end);
    this.#noProgressReports = false;
    const open = this.#windowOpen;
    this.#windowOpen = undefined;
    open?.();
  }

  /** Handles a REPORT about a message we sent (RFC 4975 §7.1.2). */
  receiveReport(head: RequestHead): void {
    try {
      const report = parseReport(head);
      const message = this.#awaitingReport.get(report.messageId);
      if (!message) return;
      const end = message.reportedEnd(report.byteRange);
      if (report.status === Status.OK) {
        const total = message.size ?? message.position;
        const whole = end === undefined || end >= total;
        if (whole && message.chunker.finished) message.delivered(total - message.startOffset);
        else if (end !== undefined) this.#progress(message, end);
      } else {
        message.fail(report.status, report.comment || `REPORT ${report.status}`);
      }
    } catch {
      // A malformed REPORT is ignored: REPORTs are never answered (RFC 4975 §7.1.2).
    }
  }

  /** A transaction of ours ended (answered, timed out or failed). */
  transactionEnded(bytes: number): void {
    this.#inFlightBytes -= bytes;
    const open = this.#windowOpen;
    this.#windowOpen = undefined;
    open?.();
  }

  /** A response to one of our chunks arrived. */
  receiveResponse(head: ResponseHead, message: OutgoingMessage, bytes: number): void {
    if (head.status === Status.OK) message.chunkAcknowledged(bytes);
    else this.failOutgoing(message, head.status, head.comment || `response ${head.status}`);
  }

  /** A transaction timed out or its connection failed, or a response refused a chunk. */
  failOutgoing(message: OutgoingMessage, code: number, reason: string): void {
    // A message still being chunked stops; the pump drops it from its queue.
    message.stopChunking();
    message.fail(code, reason);
  }
}
