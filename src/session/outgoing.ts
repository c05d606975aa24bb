/**
 * Delivery state of a message we send (RFC 4975 §7.1.1, §7.1.2).
 *
 * @module
 */

import { type ByteRange, type Chunker, Status } from "../msrp/mod.ts";

/** Where a sent message stands. */
export type DeliveryStatus = "queued" | "sending" | "sent" | "delivered" | "failed";

/** The final outcome of a sent message. */
export interface DeliveryResult {
  /** `sent` (every chunk accepted, no report asked), `delivered` (success REPORT) or `failed`. */
  readonly status: "sent" | "delivered" | "failed";
  /** MSRP status code of the failure (e.g. 408, 413, 481), or 200. */
  readonly code: number;
  /** Human-readable reason of a failure. */
  readonly reason: string;
  /** Body bytes written to the connection (from `startOffset` on: bytes of this send). */
  readonly bytesSent: number;
  /** Body bytes the receiver confirmed (by 200 responses or REPORT), counted as `bytesSent`. */
  readonly bytesAcknowledged: number;
}

/** Options for sending one message. */
export interface SendOptions {
  /** Content-Type of the body; `text/plain` for strings when omitted. */
  readonly contentType?: string;
  /** Ask for a success REPORT (`Success-Report: yes`). */
  readonly successReport?: boolean;
  /** `Failure-Report` value; `yes` when omitted. */
  readonly failureReport?: "yes" | "no" | "partial";
  /** Message-ID; a random one when omitted. */
  readonly messageId?: string;
  /**
   * Size of a streamed body when known: with `startOffset`, of the whole
   * message (the `Byte-Range` total), not of the body given.
   */
  readonly size?: number;
  /**
   * Resumes a message part of which the receiver already has (RFC 4975
   * §7.1.1; a file, RFC 5547 §8): the body given is the message from byte
   * `startOffset + 1` on, its first chunk goes out as `Byte-Range:
   * <startOffset+1>-<end>/<total>` and the others follow on, the total
   * being the whole message's size. `bytesSent` and `bytesAcknowledged`
   * count the bytes of this send only. A success REPORT may number the
   * bytes of the whole message or of this send (RFC 4975 §7.1.2 asks a
   * sender to be lenient). 0 when omitted.
   */
  readonly startOffset?: number;
  /** Extra headers for every chunk (e.g. CPIM or file-transfer headers). */
  readonly headers?: readonly (readonly [string, string])[];
}

/** Event fired by {@linkcode OutgoingMessage} whenever its status changes. */
export class DeliveryStatusEvent extends Event {
  /** The new status. */
  readonly status: DeliveryStatus;
  /** Creates the event. */
  constructor(status: DeliveryStatus) {
    super("status");
    this.status = status;
  }
}

/**
 * A message being sent: its chunker, what was written and acknowledged, and
 * its delivery status. Fires `status` events; `done` settles with the outcome.
 */
export class OutgoingMessage extends EventTarget {
  /** The Message-ID. */
  readonly messageId: string;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Whether a success REPORT was asked for. */
  readonly successReport: boolean;
  /** The Failure-Report value. */
  readonly failureReport: "yes" | "no" | "partial";
  /** Extra headers sent with every chunk. */
  readonly headers: readonly (readonly [string, string])[];
  /** The outcome, once known. */
  readonly done: Promise<DeliveryResult>;
  /** @internal The chunk source. */
  readonly chunker: Chunker;
  /** Bytes of the message before the body (see `SendOptions.startOffset`). */
  readonly startOffset: number;
  #status: DeliveryStatus = "queued";
  #bytesSent = 0;
  #bytesAcknowledged = 0;
  #pendingTransactions = 0;
  #lastChunkWritten = false;
  #resolve!: (r: DeliveryResult) => void;
  /** @internal Where the receiver's progress REPORTs confirmed the message up to (a position in it). */
  reportedBytes = 0;
  #cancelReason: string | undefined;

  /** Creates a message around a chunker; sessions call this. */
  constructor(messageId: string, chunker: Chunker, options: SendOptions, contentType: string) {
    super();
    this.messageId = messageId;
    this.chunker = chunker;
    this.contentType = contentType;
    this.successReport = options.successReport ?? false;
    this.failureReport = options.failureReport ?? "yes";
    this.headers = options.headers ?? [];
    this.startOffset = options.startOffset ?? 0;
    this.done = new Promise((resolve) => this.#resolve = resolve);
  }

  /** Current status. */
  get status(): DeliveryStatus {
    return this.#status;
  }

  /** Body bytes written so far. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** @internal Where the bytes written so far end in the whole message: `startOffset + bytesSent`. */
  get position(): number {
    return this.startOffset + this.#bytesSent;
  }

  /**
   * @internal Where a REPORT's Byte-Range ends in the whole message, or
   * `undefined` for none or `*`. The receiver of a resumed message may number
   * the bytes of the whole message or of this send (total the rest's size):
   * both are taken (RFC 4975 §7.1.2: the sender is to be lenient).
   */
  reportedEnd(range: ByteRange | undefined): number | undefined {
    if (range === undefined || range.end === "*") return undefined;
    const size = this.size;
    const ofThisSend = this.startOffset > 0 && size !== undefined &&
      range.total === size - this.startOffset;
    return ofThisSend ? range.end + this.startOffset : range.end;
  }

  /** Body bytes confirmed by the receiver so far. */
  get bytesAcknowledged(): number {
    return this.#bytesAcknowledged;
  }

  /** Total size when known: of the whole message, `startOffset` included. */
  get size(): number | undefined {
    return this.chunker.totalSize;
  }

  /** True once the message is sent, delivered or failed. */
  get settled(): boolean {
    return this.#status === "failed" || this.#status === "delivered" ||
      (this.#status === "sent" && !this.successReport);
  }

  /** True when transaction responses are expected (RFC 4975 §7.2). */
  get expectsResponses(): boolean {
    return this.failureReport === "yes";
  }

  #set(status: DeliveryStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.dispatchEvent(new DeliveryStatusEvent(status));
  }

  /** @internal A chunk of `bytes` body bytes was written; `last` for the final one. */
  chunkWritten(bytes: number, last: boolean, awaitingResponse: boolean): void {
    if (this.#status === "failed") return; // the closing "#" chunk of a cancelled message
    this.#bytesSent += bytes;
    if (awaitingResponse) this.#pendingTransactions++;
    if (last) this.#lastChunkWritten = true;
    this.#set("sending");
    this.#maybeSent();
  }

  /** @internal A 200 response for a chunk of `bytes` body bytes arrived. */
  chunkAcknowledged(bytes: number): void {
    this.#pendingTransactions--;
    this.#bytesAcknowledged += bytes;
    this.#maybeSent();
  }

  #maybeSent(): void {
    if (!this.#lastChunkWritten || this.#pendingTransactions > 0 || this.settled) return;
    this.#set("sent");
    if (!this.successReport) this.#finish("sent", Status.OK, "");
  }

  /** @internal A success REPORT arrived, covering the `bytes` of this send. */
  delivered(bytes: number): void {
    if (this.#status === "failed" || this.#status === "delivered") return;
    this.#bytesAcknowledged = Math.max(this.#bytesAcknowledged, bytes);
    this.#set("delivered");
    this.#finish("delivered", Status.OK, "");
  }

  /**
   * Stops sending this message. A message already partly sent ends with a
   * chunk flagged `#` (RFC 4975 §7.1.1); it fails with code 0 (a local
   * cancel, not an MSRP status) and `reason`. A message whose chunks were all
   * written completes as usual.
   */
  cancel(reason = "cancelled by sender"): void {
    if (this.settled || this.#cancelReason !== undefined) return;
    this.#cancelReason = reason;
    this.dispatchEvent(new Event("cancel"));
  }

  /** Why {@linkcode cancel} was called, if it was. */
  get cancelReason(): string | undefined {
    return this.#cancelReason;
  }

  /** @internal Stops producing chunks (no-op once the last one was produced). */
  stopChunking(): void {
    if (!this.chunker.finished) this.chunker.abort();
  }

  /** @internal The message failed with an MSRP status code. */
  fail(code: number, reason: string): void {
    if (this.#status === "failed" || this.#status === "delivered") return;
    if (this.#status === "sent" && !this.successReport) return;
    this.#set("failed");
    this.#finish("failed", code, reason);
  }

  #finish(status: DeliveryResult["status"], code: number, reason: string): void {
    this.#resolve({
      status,
      code,
      reason,
      bytesSent: this.#bytesSent,
      bytesAcknowledged: this.#bytesAcknowledged,
    });
  }
}
