/**
 * The receiving side of a session (RFC 4975 §7.1.1, §7.1.2): reassembles
 * incoming messages into their sinks, answers their chunks, reports on
 * them, and bounds how many stay unfinished.
 *
 * A chunk is answered only once its sink has written it: its 200, and the
 * progress REPORT and `message` event it leads to, wait for the promises the
 * sink's `write` returned for its bytes (a sink whose writes return nothing
 * is answered at once); the success REPORT waits for the sink's `close` as
 * well. A write that fails answers 413 ("stop sending this message", RFC 4975
 * §10.5) instead and fails the message. Answers leave in the order of the
 * requests on the connection (see `Replies`).
 *
 * One unit just past 450 lines: the chunk's answer, its REPORTs and the
 * unfinished-message caps all read and change the same per-message state.
 *
 * @module
 */

import {
  buildReport,
  buildResponse,
  type ByteRange,
  encodeRequest,
  failureReportDue,
  isAcceptedType,
  MsrpError,
  type MsrpHeaders,
  type ReportPolicy,
  reportPolicy,
  type RequestHead,
  responseDue,
  ResponseEncoder,
  Status,
  transactionIdFor,
} from "../msrp/mod.ts";
import {
  IncomingMessage,
  type IncomingMessageInfo,
  type IncomingMessageSink,
  type IncomingOutcome,
  type SinkFactory,
  TOO_MANY_UNFINISHED,
} from "./incoming.ts";
import { Replies } from "./_replies.ts";
import type { ChunkReceiver, LinkedSession, SessionLink } from "./_session_link.ts";

/** How a session receives. */
export interface InboxOptions {
  /** Media types accepted (`a=accept-types`). */
  readonly acceptTypes: readonly string[];
  /** Largest message accepted, in bytes (413 beyond it). */
  readonly maxMessageBytes: number;
  /** Where received messages go; in memory when omitted. */
  readonly sink?: SinkFactory;
  /** See `SessionOptions.maxUnfinishedMessages`. */
  readonly maxUnfinishedMessages: number;
  /** See `SessionOptions.unfinishedIdleMs`. */
  readonly unfinishedIdleMs: number;
}

/** A receiver asked for success reports reports progress this often. */
const PROGRESS_REPORT_BYTES = 128 * 1024;
/**
 * … and this often when the message came through relays, whose senders pace
 * themselves by these REPORTs (their 200s are the relay's): bytes are
 * reported once written, so a report every 128 KiB would hold a sender's
 * end-to-end window half empty.
 */
const RELAYED_PROGRESS_REPORT_BYTES = 32 * 1024;
/** Message-IDs refused with 413 kept in mind, so that later chunks of them are refused too. */
const REFUSED_IDS = 256;
const DROP: ChunkReceiver = { body() {}, end() {}, fail() {} };
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * What a chunk's end-line leads to once the chunk is written, decided when
 * it arrives (later chunks do not count): the message ends (`"#"` aborted,
 * `"$"` complete), or a progress REPORT may cover bytes 1 to `progressTo`.
 */
type AfterChunk = { readonly end: "#" | "$" } | { readonly progressTo: number } | undefined;

/** What the first chunk of a message tells; its header map is made when first read. */
class FirstChunk implements IncomingMessageInfo {
  readonly messageId: string;
  readonly contentType: string;
  readonly size: number | undefined;
  readonly #source: MsrpHeaders;
  #headers: Map<string, string> | undefined;

  constructor(
    messageId: string,
    contentType: string,
    size: number | undefined,
    headers: MsrpHeaders,
  ) {
    this.messageId = messageId;
    this.contentType = contentType;
    this.size = size;
    this.#source = headers;
  }

  get headers(): Map<string, string> {
    return this.#headers ??= this.#source.toMap();
  }
}

/** The messages a session receives. */
export class Inbox {
  readonly #session: LinkedSession;
  readonly #acceptTypes: readonly string[];
  readonly #maxMessageBytes: number;
  readonly #sink: SinkFactory | undefined;
  readonly #maxUnfinished: number;
  readonly #unfinishedIdleMs: number;
  readonly #announce: (message: IncomingMessage) => void;
  readonly #incoming = new Map<string, IncomingMessage>();
  /** Message-IDs refused with 413, oldest first, with the comment they got. */
  readonly #refused = new Map<string, string | undefined>();
  // The To-Path and From-Path lines of our responses, encoded once per peer path.
  readonly #responses = new ResponseEncoder();
  // The answers of the connection the session is bound to.
  #replies: Replies | undefined;
  #repliesLink: SessionLink | undefined;

  /** Creates the inbox of `session`; `announce` gets each message once it ends. */
  constructor(
    session: LinkedSession,
    options: InboxOptions,
    announce: (message: IncomingMessage) => void,
  ) {
    this.#session = session;
    this.#acceptTypes = options.acceptTypes;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#sink = options.sink;
    this.#maxUnfinished = options.maxUnfinishedMessages;
    this.#unfinishedIdleMs = options.unfinishedIdleMs;
    this.#announce = announce;
  }

  /** The session ended: unfinished messages end incomplete with `reason`. */
  close(reason: string): void {
    for (const m of this.#incoming.values()) this.#finishIncoming(m, reason);
    this.#incoming.clear();
  }

  /** Handles a SEND's head; returns where its body goes. */
  receiveSend(head: RequestHead): ChunkReceiver {
    let policy: ReportPolicy;
    try {
      policy = reportPolicy(head);
    } catch (e) {
      this.#respond(head, e instanceof MsrpError ? e.status : Status.BadRequest);
      return DROP;
    }
    const range = head.byteRange ?? { start: 1, end: "*", total: "*" } as ByteRange;
    if (head.contentType === undefined) {
      // A bodiless SEND (e.g. the one that binds a connection): just answer it.
      return { body() {}, end: () => this.#answer(head, policy, Status.OK), fail() {} };
    }
    const messageId = head.messageId;
    if (messageId === undefined) return this.#reject(head, policy, Status.BadRequest);
    if (!isAcceptedType(head.contentType, this.#acceptTypes)) {
      return this.#reject(head, policy, Status.UnsupportedMediaType);
    }
    if (range.total !== "*" && range.total > this.#maxMessageBytes) {
      return this.#reject(head, policy, Status.RequestEntityTooLarge);
    }
    let message = this.#incoming.get(messageId);
    if (!message) {
      // RFC 4975 §10.5: a 413 asks the sender to stop sending the message.
      if (this.#refused.has(messageId)) {
        const comment = this.#refused.get(messageId);
        return this.#reject(head, policy, Status.RequestEntityTooLarge, comment);
      }
      if (!this.#makeRoom()) {
        this.#remember(messageId, TOO_MANY_UNFINISHED);
        return this.#reject(head, policy, Status.RequestEntityTooLarge, TOO_MANY_UNFINISHED);
      }
      const info = new FirstChunk(
        messageId,
        head.contentType,
        range.total === "*" ? undefined : range.total,
        head.headers,
      );
      let sink: IncomingMessageSink | undefined;
      try {
        sink = this.#sink?.(info);
      } catch (e) {
        // The sink refuses the message (e.g. 413 for a disk quota): nothing is kept of it.
        if (!(e instanceof MsrpError)) throw e;
        if (e.status === Status.RequestEntityTooLarge) this.#remember(messageId, e.message);
        return this.#reject(head, policy, e.status, e.message);
      }
      message = new IncomingMessage(info, this.#maxMessageBytes, sink);
      if (sink?.held) message.reassembler.hold(sink.held);
      message.senderPath = head.fromPath;
      message.policy = policy;
      // RFC 4975 §7.1.2: a success REPORT goes to the SEND's From-Path.
      if (policy.successReport) message.reportTo = head.fromPath;
      this.#incoming.set(messageId, message);
    } else {
      message.lastActivity = Date.now(); // a new one has the time it was made
    }
    const m = message;
    try {
      m.reassembler.beginChunk(range);
    } catch (e) {
      return this.#rejectIncoming(m, head, policy, e);
    }
    let failed = false;
    // The promises of this chunk's sink writes: its answer waits for them.
    let writes: Promise<void>[] | undefined;
    return {
      body: (bytes) => {
        if (failed) return;
        let offset: number;
        try {
          offset = m.reassembler.write(bytes);
        } catch (e) {
          failed = true;
          this.#rejectIncoming(m, head, policy, e);
          return;
        }
        if (!m.sink) return;
        try {
          const written = m.sink.write(offset, bytes);
          if (written instanceof Promise) {
            (writes ??= []).push(written);
            this.#session.link?.track(written, bytes.length);
          }
        } catch (e) {
          // The sink cannot take more (e.g. a disk quota): its reason is the comment.
          failed = true;
          this.#rejectIncoming(m, head, policy, e, e instanceof MsrpError ? e.message : undefined);
        }
      },
      end: (flag) => {
        if (failed) return;
        m.reassembler.endChunk(flag);
        const next = this.#afterChunk(m, flag);
        const written = writes === undefined
          ? undefined
          : writes.length === 1
          ? writes[0]
          : Promise.all(writes);
        this.#whenWritten(written, (error) => this.#chunkWritten(m, head, policy, next, error));
      },
      fail: (error) => {
        failed = true;
        this.#rejectIncoming(m, head, policy, error);
      },
    };
  }

  // What the chunk that just ended leads to, as far as the chunks that arrived so far go.
  #afterChunk(m: IncomingMessage, flag: "+" | "$" | "#"): AfterChunk {
    if (flag === "#") return { end: "#" };
    if (m.reassembler.isComplete) return { end: "$" };
    if (!m.reportTo) return undefined;
    const first = m.reassembler.ranges[0];
    return first && first[0] === 1 ? { progressTo: first[1] } : undefined;
  }

  /**
   * Calls `then` once `written` settled and the answers queued before on the
   * connection went out; at once when nothing is written nor queued.
   */
  #whenWritten(written: Promise<unknown> | undefined, then: (error: unknown) => void): void {
    const replies = this.#repliesOf();
    if (replies === undefined) {
      // Not bound to a connection (any more): nothing to order answers on.
      if (written === undefined) then(undefined);
      else written.then(() => then(undefined), (e) => then(e ?? new Error("write failed")));
    } else if (written === undefined && replies.waiting === 0) {
      then(undefined);
    } else {
      replies.after(written ?? RESOLVED, then);
    }
  }

  // A chunk's bytes are written (or failed to be): its answer, then what it leads to.
  #chunkWritten(
    m: IncomingMessage,
    head: RequestHead,
    policy: ReportPolicy,
    next: AfterChunk,
    error: unknown,
  ): void {
    if (error !== undefined) {
      // The sink did not take the bytes: the sender is to stop sending the message.
      const status = error instanceof MsrpError ? error.status : Status.RequestEntityTooLarge;
      const reason = error instanceof Error ? error.message : String(error);
      const comment = error instanceof MsrpError ? reason : `content not stored: ${reason}`;
      this.#answer(head, policy, status, comment);
      if (m.outcome) return;
      if (status === Status.RequestEntityTooLarge) this.#remember(m.messageId, comment);
      this.#finishIncoming(m, `rejected with ${status}: ${comment}`, true);
      return;
    }
    this.#answer(head, policy, Status.OK);
    // A message failed, dropped or closed meanwhile has had its ending.
    if (m.outcome || next === undefined) return;
    if ("end" in next) this.#finishIncoming(m, next.end === "#" ? "aborted by sender" : "");
    else this.#reportProgress(m, next.progressTo);
  }

  #reject(
    head: RequestHead,
    policy: ReportPolicy,
    status: number,
    comment?: string,
  ): ChunkReceiver {
    this.#answer(head, policy, status, comment);
    return DROP;
  }

  #rejectIncoming(
    m: IncomingMessage,
    head: RequestHead,
    policy: ReportPolicy,
    e: unknown,
    comment?: string,
  ): ChunkReceiver {
    const status = e instanceof MsrpError ? e.status : Status.BadRequest;
    this.#answer(head, policy, status, comment);
    if (status === Status.RequestEntityTooLarge) this.#remember(m.messageId, comment);
    this.#finishIncoming(m, `rejected with ${status}${comment ? `: ${comment}` : ""}`, true);
    return DROP;
  }

  // Keeps a Message-ID refused with 413 in mind (a bounded number of them).
  #remember(messageId: string, comment: string | undefined): void {
    this.#refused.delete(messageId);
    this.#refused.set(messageId, comment);
    if (this.#refused.size > REFUSED_IDS) this.#refused.delete(this.#refused.keys().next().value!);
  }

  /**
   * Room for one more unfinished incoming message, in this session and on
   * its connection (see `maxUnfinishedMessages`): at a cap, the message
   * idle longest beyond `unfinishedIdleMs` is failed; false when none is.
   */
  #makeRoom(): boolean {
    if (this.#incoming.size >= this.#maxUnfinished) {
      const idle = this.oldestIdle(Date.now());
      if (idle === undefined) return false;
      this.dropIdle(idle);
    }
    return this.#session.link?.roomForIncoming() ?? true;
  }

  /** Incoming messages begun and not finished. */
  get unfinishedCount(): number {
    return this.#incoming.size;
  }

  /**
   * The unfinished incoming message that has gone longest without
   * a chunk, when that is at least `unfinishedIdleMs` before `now`.
   */
  oldestIdle(now: number): IncomingMessage | undefined {
    let oldest: IncomingMessage | undefined;
    for (const m of this.#incoming.values()) {
      if (now - m.lastActivity < this.#unfinishedIdleMs) continue;
      // Every byte arrived, its sink still writing: not idle, just not answered yet.
      if (m.reassembler.isComplete) continue;
      if (oldest === undefined || m.lastActivity < oldest.lastActivity) oldest = m;
    }
    return oldest;
  }

  /**
   * Fails an idle unfinished message to make room for a new one:
   * it ends incomplete (its sink is closed), the sender gets a failure
   * REPORT 413 when it asked for failure reports (RFC 4975 §7.1.2), and
   * later chunks of it are refused with 413.
   */
  dropIdle(m: IncomingMessage): void {
    const idleSeconds = Math.round((Date.now() - m.lastActivity) / 1000);
    this.#remember(m.messageId, TOO_MANY_UNFINISHED);
    if (failureReportDue(m.policy, Status.RequestEntityTooLarge)) {
      const total = m.reassembler.total ?? "*";
      this.#report(
        m.senderPath,
        m.messageId,
        { start: 1, end: total, total },
        Status.RequestEntityTooLarge,
        TOO_MANY_UNFINISHED,
      );
    }
    this.#finishIncoming(
      m,
      `dropped to make room after ${idleSeconds} s without a chunk: ${TOO_MANY_UNFINISHED}`,
    );
  }

  // Response and failure REPORT as the request's Failure-Report asks (RFC 4975 §7.2).
  #answer(head: RequestHead, policy: ReportPolicy, status: number, comment?: string): void {
    if (responseDue(policy, status)) this.#respond(head, status, comment);
    if (status !== Status.OK && failureReportDue(policy, status) && head.messageId) {
      this.#report(head.fromPath, head.messageId, head.byteRange, status, comment);
    }
  }

  #respond(head: RequestHead, status: number, comment?: string): void {
    this.#repliesOf()?.post([
      this.#responses.encode(buildResponse(head, status, this.#session.localUri, comment)),
    ]);
  }

  // The answers of the session's connection; `undefined` while it has none.
  #repliesOf(): Replies | undefined {
    const link = this.#session.link;
    if (link !== this.#repliesLink) {
      this.#repliesLink = link;
      this.#replies = link === undefined ? undefined : Replies.of(link);
    }
    return this.#replies;
  }

  #report(
    toPath: readonly string[],
    messageId: string,
    range: ByteRange | undefined,
    status: number,
    comment?: string,
  ): void {
    const report = buildReport({
      transactionId: transactionIdFor([]),
      toPath,
      fromPath: [this.#session.localUri],
      messageId,
      byteRange: range ?? { start: 1, end: 0, total: 0 },
      status,
      comment,
    });
    this.#repliesOf()?.post(encodeRequest(report));
  }

  // Ends `m`: complete when every byte arrived, unless it `failed` (bytes refused or not stored).
  #finishIncoming(m: IncomingMessage, reason: string, failed = false): void {
    if (m.outcome) return;
    this.#incoming.delete(m.messageId);
    const r = m.reassembler;
    const complete = !failed && r.isComplete;
    m.outcome = {
      complete,
      aborted: !complete,
      bytesReceived: r.bytesReceived,
      ranges: r.ranges,
      reason: complete ? "" : reason || "incomplete",
    } satisfies IncomingOutcome;
    const closed = m.sink?.close(m.outcome);
    if (closed instanceof Promise) this.#session.link?.track(closed);
    if (complete && m.reportTo) {
      const total = r.total ?? r.bytesReceived;
      const range = { start: 1, end: total, total };
      const to = m.reportTo;
      const delivered = () => this.#report(to, m.messageId, range, Status.OK);
      if (!(closed instanceof Promise)) delivered();
      else {
        // Delivered once the sink has finished the message (e.g. its row says received).
        closed.then(delivered, (e) => {
          const status = Status.RequestEntityTooLarge;
          if (!failureReportDue(m.policy, status)) return;
          const reason = e instanceof Error ? e.message : String(e);
          this.#report(m.senderPath, m.messageId, range, status, `content not stored: ${reason}`);
        });
      }
    }
    this.#announce(m);
  }

  /**
   * RFC 4975 §7.1.2 lets a receiver report parts of a message: when a success
   * report was asked for, we report progress every PROGRESS_REPORT_BYTES
   * (RELAYED_PROGRESS_REPORT_BYTES through relays). Senders through a relay
   * use it to pace transfers end to end. `upTo` is the end of the first
   * received range once the chunk was written: only written bytes are
   * reported.
   */
  #reportProgress(m: IncomingMessage, upTo: number): void {
    // A From-Path of more than our peer's URI names relays (RFC 4976 §6).
    const every = m.senderPath.length > 1 ? RELAYED_PROGRESS_REPORT_BYTES : PROGRESS_REPORT_BYTES;
    if (upTo - m.reportedUpTo < every) return;
    m.reportedUpTo = upTo;
    const total = m.reassembler.total ?? "*";
    this.#report(m.reportTo!, m.messageId, { start: 1, end: upTo, total }, Status.OK);
  }
}
