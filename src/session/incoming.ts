/**
 * Messages we receive: reassembly progress and where the bytes go.
 *
 * @module
 */

import { Reassembler, type ReportPolicy } from "../msrp/mod.ts";

/** Comment of the 413 refusing a message beyond the unfinished-message caps. */
export const TOO_MANY_UNFINISHED = "too many unfinished messages";

/** What is known of an incoming message when its first chunk arrives. */
export interface IncomingMessageInfo {
  /** The Message-ID. */
  readonly messageId: string;
  /** Content-Type of the message. */
  readonly contentType: string;
  /** Total size when the sender declared it. */
  readonly size: number | undefined;
  /** Headers of the first chunk (e.g. file-transfer or CPIM-related). */
  readonly headers: ReadonlyMap<string, string>;
}

/** How a message ended. */
export interface IncomingOutcome {
  /** Every byte arrived. */
  readonly complete: boolean;
  /** The sender aborted the message (`#`), or the connection or session ended first. */
  readonly aborted: boolean;
  /** Distinct body bytes received. */
  readonly bytesReceived: number;
  /** Received ranges, 1-based inclusive. */
  readonly ranges: readonly [number, number][];
  /** Why it is incomplete, when it is. */
  readonly reason: string;
}

/**
 * Receives the bytes of one message. `write` gets a view that is valid only
 * during the call unless the sink copies it.
 *
 * A chunk is answered only once the sink has taken its bytes (RFC 4975 §7.2:
 * the 200 tells the sender they arrived): when `write` returns a promise, the
 * chunk's 200 — and a progress or success REPORT and the `message` event it
 * leads to — wait until every promise returned for the chunk's bytes
 * fulfilled; a rejection answers instead — with the status of an `MsrpError`
 * it rejects with, otherwise 413 "content not stored: " and the reason — and
 * ends the message incomplete. The promise must settle
 * without waiting for more bytes (the sender may wait for the 200 before it
 * sends more); pending promises also slow the connection's reading
 * (backpressure). A sink that returns nothing has taken the bytes at once.
 */
export interface IncomingMessageSink {
  /**
   * The message's first `held` bytes are stored already (RFC 5547 §8: a
   * file whose transfer resumes, its chunks numbered as the file's): they
   * count as received, so the message completes, and a success REPORT
   * covers it whole, once the rest arrived. Read when the sink is made.
   */
  readonly held?: number;
  /** Bytes at a 0-based offset of the message; settles once they are stored (see above). */
  write(offset: number, bytes: Uint8Array): void | Promise<void>;
  /** No more bytes will come. */
  close(outcome: IncomingOutcome): void | Promise<void>;
}

/** Makes a sink for each new incoming message; `undefined` keeps it in memory. */
export type SinkFactory = (info: IncomingMessageInfo) => IncomingMessageSink | undefined;

/** A received message, announced by the session's `message` event. */
export class IncomingMessage {
  /** First-chunk facts. */
  readonly info: IncomingMessageInfo;
  /** @internal Reassembly state. */
  readonly reassembler: Reassembler;
  /** @internal Custom sink, when one was made. */
  readonly sink: IncomingMessageSink | undefined;
  /** How it ended; set when the message is finished. */
  outcome: IncomingOutcome | undefined;
  /** @internal Where a success REPORT goes, when the sender asked for one. */
  reportTo: readonly string[] | undefined;
  /** @internal End of the range covered by the last progress REPORT. */
  reportedUpTo = 0;
  /** @internal From-Path of the first chunk: where a failure REPORT goes. */
  senderPath: readonly string[] = [];
  /** @internal Report policy of the first chunk. */
  policy: ReportPolicy = { successReport: false, failureReport: "yes" };
  /**
   * @internal When the last chunk began (`Date.now()`, cheaper than
   * `performance.now()`; idleness counts in seconds), to find idle messages.
   */
  lastActivity: number = Date.now();

  /** Creates the record; sessions call this. */
  constructor(info: IncomingMessageInfo, maxSize: number, sink: IncomingMessageSink | undefined) {
    this.info = info;
    this.sink = sink;
    this.reassembler = new Reassembler({ maxSize, keepBody: sink === undefined });
  }

  /** The Message-ID. */
  get messageId(): string {
    return this.info.messageId;
  }

  /** Content-Type of the message. */
  get contentType(): string {
    return this.info.contentType;
  }

  /** The whole body, for messages kept in memory that arrived completely. */
  body(): Uint8Array {
    return this.reassembler.body();
  }

  /** The body decoded as UTF-8 text. */
  text(): string {
    return new TextDecoder().decode(this.body());
  }
}
