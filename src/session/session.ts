/**
 * One MSRP session (RFC 4975 §5, §7): sending chunked messages with
 * interruption, receiving and reassembling, responses and REPORTs.
 *
 * @module
 */

import {
  assertMediaType,
  buildReport,
  buildResponse,
  type ByteRange,
  checkHeader,
  Chunker,
  type ContinuationFlag,
  encodeRequest,
  encodeResponse,
  failureReportDue,
  isAcceptedType,
  MsrpError,
  parseReport,
  type ReportPolicy,
  reportPolicy,
  type RequestHead,
  responseDue,
  type ResponseHead,
  sameMsrpUri,
  sessionIdOf,
  Status,
  transactionIdFor,
} from "../msrp/mod.ts";
import {
  IncomingMessage,
  type IncomingMessageSink,
  type IncomingOutcome,
  type SinkFactory,
} from "./incoming.ts";
import { OutgoingMessage, type SendOptions } from "./outgoing.ts";
import type { Link } from "./_link.ts";
import { Fifo } from "./_fifo.ts";

/** Options of a session. */
export interface SessionOptions {
  /** Media types this session accepts (`a=accept-types`); `*` by default. */
  readonly acceptTypes?: readonly string[];
  /** Largest message accepted, in bytes (413 beyond it). */
  readonly maxMessageBytes?: number;
  /** Body bytes per chunk we send. */
  readonly chunkSize?: number;
  /** Where received messages go; in memory when omitted. */
  readonly sink?: SinkFactory;
  /**
   * Path of the peer (`a=path`), when known from SDP. A passive session then
   * binds only a connection whose first request's From-Path ends with the
   * peer's URI; others get 481 (RFC 4975 §14).
   */
  readonly remotePath?: readonly string[];
  /**
   * Use-Path of the relay we authenticated with (RFC 4976 §5.3); it goes in
   * front of our URI in our path and in front of the peer's path in To-Path.
   */
  readonly usePath?: readonly string[];
  /**
   * Accept requests for this URI on any number of connections, each served by
   * its own child session whose messages are announced here too. For a
   * listening tool; a negotiated session binds one connection (RFC 4975 §14).
   */
  readonly multiConnection?: boolean;
  /**
   * `a=msrp-cema` was negotiated (RFC 7701): requests are matched to the
   * session by session-id only, since a middlebox may rewrite the authority.
   * Otherwise the first To-Path URI must equal our URI (RFC 4975 §6.1).
   */
  readonly cema?: boolean;
  /**
   * Most body bytes sent and not yet answered (a send window; 4 MiB by
   * default, 64 KiB with a `usePath`). Through a relay, whose 200s are hop by
   * hop and which may not queue much for a slow receiver, a small window keeps
   * bursts small.
   */
  readonly sendWindowBytes?: number;
  /**
   * Most incoming messages begun and not finished at once (32 by default):
   * each may hold an open file. At the cap, the unfinished message that has
   * gone longest without a chunk is failed to make room for a new one when
   * that is more than `unfinishedIdleMs` ago; otherwise the new message is
   * refused with 413 "too many unfinished messages".
   */
  readonly maxUnfinishedMessages?: number;
  /** See `maxUnfinishedMessages`; 30 s by default. */
  readonly unfinishedIdleMs?: number;
}

/** Comment of the 413 refusing a message beyond the unfinished-message caps. */
export const TOO_MANY_UNFINISHED = "too many unfinished messages";

/** Fired for each received message, complete or not. */
export class MessageEvent extends Event {
  /** The message. */
  readonly message: IncomingMessage;
  /** Creates the event. */
  constructor(message: IncomingMessage) {
    super("message");
    this.message = message;
  }
}

/** Fired once when the session ends. */
export class SessionCloseEvent extends Event {
  /** Why it ended. */
  readonly reason: string;
  /** Creates the event. */
  constructor(reason: string) {
    super("close");
    this.reason = reason;
  }
}

/** Receives the body of one SEND chunk. */
export interface ChunkReceiver {
  /** Body bytes of the chunk. */
  body(bytes: Uint8Array): void;
  /** The end-line arrived. */
  end(flag: ContinuationFlag): void;
  /** The chunk failed (e.g. too large) before its end-line. */
  fail(error: MsrpError): void;
}

const DEFAULT_SEND_WINDOW = 4 * 1024 * 1024;
// A Kamailio relay drops a receiver's connection once 32 KiB wait for it.
const RELAY_SEND_WINDOW = 64 * 1024;
/** Through a relay: most bytes sent beyond the receiver's last progress REPORT. */
const END_TO_END_WINDOW = 512 * 1024;
/** A receiver asked for success reports reports progress this often. */
const PROGRESS_REPORT_BYTES = 128 * 1024;
const DEFAULT_MAX_UNFINISHED = 32;
const DEFAULT_UNFINISHED_IDLE_MS = 30_000;
/** Message-IDs refused with 413 kept in mind, so that later chunks of them are refused too. */
const REFUSED_IDS = 256;
const DROP: ChunkReceiver = { body() {}, end() {}, fail() {} };
const encoder = new TextEncoder();

/** An MSRP session between our URI and a peer's path. */
export class MsrpSession extends EventTarget {
  /** Our session id (the URI's session part). */
  readonly id: string;
  /** Our URI. */
  readonly localUri: string;
  /** Accepted media types. */
  readonly acceptTypes: readonly string[];
  /** Largest message accepted. */
  readonly maxMessageBytes: number;
  /** Body bytes per chunk we send. */
  readonly chunkSize: number;
  /** Resolves when a connection is bound to the session. */
  readonly ready: Promise<void>;
  #remotePath: readonly string[] | undefined;
  #expectedPeer: readonly string[] | undefined;
  #toPath: readonly string[] | undefined;
  #link: Link | undefined;
  #closed = false;
  #closeReason = "";
  readonly #sink: SinkFactory | undefined;
  readonly #incoming = new Map<string, IncomingMessage>();
  /** Message-IDs refused with 413, oldest first, with the comment they got. */
  readonly #refused = new Map<string, string | undefined>();
  readonly #maxUnfinished: number;
  readonly #unfinishedIdleMs: number;
  // RFC 4975 §5.1: messages that fit one chunk go before the next chunk of a long one.
  readonly #short = new Fifo<OutgoingMessage>();
  readonly #long = new Fifo<OutgoingMessage>();
  readonly #awaitingReport = new Map<string, OutgoingMessage>();
  #pumping = false;
  #inFlightBytes = 0;
  #windowOpen: (() => void) | undefined;
  #resolveReady!: () => void;
  #rejectReady!: (e: Error) => void;
  readonly #onClose: (s: MsrpSession) => void;
  readonly #options: SessionOptions;

  /** Creates a session; endpoints call this. */
  constructor(
    id: string,
    localUri: string,
    options: SessionOptions,
    onClose: (s: MsrpSession) => void,
  ) {
    super();
    this.id = id;
    this.localUri = localUri;
    this.acceptTypes = options.acceptTypes ?? ["*"];
    this.maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024 * 1024;
    this.chunkSize = options.chunkSize ?? 64 * 1024;
    this.#maxUnfinished = options.maxUnfinishedMessages ?? DEFAULT_MAX_UNFINISHED;
    this.#unfinishedIdleMs = options.unfinishedIdleMs ?? DEFAULT_UNFINISHED_IDLE_MS;
    this.#sink = options.sink;
    this.#remotePath = options.remotePath;
    this.#expectedPeer = options.remotePath;
    this.#onClose = onClose;
    this.#options = options;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
  }

  /**
   * Our path as peers must address it (`a=path`): relay Use-Path URIs, then
   * our URI (RFC 4976 §5.3).
   */
  get localPath(): readonly string[] {
    return [...(this.#options.usePath ?? []), this.localUri];
  }

  /** The peer's path, once known. */
  get remotePath(): readonly string[] | undefined {
    return this.#remotePath;
  }

  /** True after {@linkcode close} or connection loss. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the session closed. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** @internal The connection the session is bound to. */
  get link(): Link | undefined {
    return this.#link;
  }

  /** Bytes waiting to be written on the session's connection. */
  get queuedBytes(): number {
    return this.#link?.connection.queuedBytes ?? 0;
  }

  /** True when requests match by session-id only (RFC 7701 CEMA). */
  get cema(): boolean {
    return this.#options.cema ?? false;
  }

  /** True when each connection gets its own child session. */
  get multiConnection(): boolean {
    return this.#options.multiConnection ?? false;
  }

  /** @internal A child session for one more connection of a multi-connection session. */
  child(): MsrpSession {
    const child = new MsrpSession(
      this.id,
      this.localUri,
      { ...this.#options, multiConnection: false, remotePath: undefined },
      () => {},
    );
    child.addEventListener("message", (e) => {
      this.dispatchEvent(new MessageEvent((e as MessageEvent).message));
    });
    return child;
  }

  /**
   * Sets the peer's path learned from SDP after the session was created
   * (e.g. from an answer): a passive session then binds only a connection
   * whose first request comes from that peer (see `remotePath` in
   * {@linkcode SessionOptions}). No effect once a connection is bound.
   */
  expectPeer(remotePath: readonly string[]): void {
    if (this.#link !== undefined || remotePath.length === 0) return;
    this.#expectedPeer = [...remotePath];
    this.#remotePath = this.#expectedPeer;
  }

  /**
   * @internal Whether the first request on a connection may bind this
   * session: with a peer path known from SDP, its From-Path must end with the
   * peer's URI (RFC 4975 §6.1 comparison; §14: a passive endpoint binds only
   * the peer it expects). A relayed peer's From-Path starts with the relay
   * hops we see, which need not be the Use-Path the peer announced, so only
   * the peer's own URI is compared then; a direct peer (neither side behind
   * a relay) must send exactly that one URI. With CEMA (RFC 7701) a
   * middlebox may rewrite authorities, so only the session-id is compared.
   */
  acceptsFirstRequestFrom(fromPath: readonly string[]): boolean {
    const expected = this.#expectedPeer;
    if (expected === undefined || expected.length === 0) return true;
    const peer = expected[expected.length - 1];
    const last = fromPath[fromPath.length - 1];
    if (last === undefined) return false;
    if (this.cema) return sessionIdOf(last) === sessionIdOf(peer);
    if (!sameMsrpUri(last, peer)) return false;
    const direct = expected.length === 1 && (this.#options.usePath?.length ?? 0) === 0;
    return !direct || fromPath.length === 1;
  }

  /** @internal Binds a connection (RFC 4975 §7.1: the first request binds it). */
  bind(link: Link, toPath: readonly string[]): void {
    this.#link = link;
    this.#toPath ??= toPath;
    this.#remotePath ??= toPath.slice(this.#options.usePath?.length ?? 0);
    this.#resolveReady();
    this.#pump();
  }

  /**
   * Queues a message. Strings are sent as UTF-8 `text/plain` unless a type is
   * given; streams and async iterables are chunked as they are read.
   *
   * @throws {TypeError} when `contentType` is not a media type (RFC 4975 §9),
   * or the Message-ID or a header holds CR, LF or NUL.
   */
  send(
    body: string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: SendOptions = {},
  ): OutgoingMessage {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    const contentType = options.contentType ?? "text/plain";
    // Checked here rather than when a chunk is encoded, where the error would stall the queue.
    assertMediaType(contentType, "contentType");
    if (options.messageId !== undefined) checkHeader("Message-ID", options.messageId);
    for (const [name, value] of options.headers ?? []) checkHeader(name, value);
    const chunker = new Chunker(bytes, { chunkSize: this.chunkSize, totalSize: options.size });
    const message = new OutgoingMessage(
      options.messageId ?? crypto.randomUUID().replaceAll("-", ""),
      chunker,
      options,
      contentType,
    );
    if (this.#closed) {
      message.fail(Status.SessionDoesNotExist, `session closed: ${this.#closeReason}`);
      return message;
    }
    const size = message.size;
    (size !== undefined && size <= this.chunkSize ? this.#short : this.#long).push(message);
    if (message.successReport) {
      this.#awaitingReport.set(message.messageId, message);
      message.done.then(() => this.#awaitingReport.delete(message.messageId));
    }
    this.#pump();
    return message;
  }

  /** Async iterator over received messages, ending when the session closes. */
  async *messages(): AsyncGenerator<IncomingMessage> {
    const buffered: IncomingMessage[] = [];
    let wake: (() => void) | undefined;
    const onMessage = (e: Event) => {
      buffered.push((e as MessageEvent).message);
      wake?.();
    };
    const onClose = () => wake?.();
    this.addEventListener("message", onMessage);
    this.addEventListener("close", onClose);
    try {
      while (true) {
        while (buffered.length > 0) yield buffered.shift()!;
        if (this.#closed) return;
        await new Promise<void>((r) => wake = r);
        wake = undefined;
      }
    } finally {
      this.removeEventListener("message", onMessage);
      this.removeEventListener("close", onClose);
    }
  }

  /**
   * Ends the session: queued and in-flight messages fail with `reason`,
   * partial incoming ones are closed as incomplete.
   */
  close(reason = "closed by application"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const m of [...this.#short.drain(), ...this.#long.drain()]) {
      m.stopChunking();
      m.fail(Status.SessionDoesNotExist, reason);
    }
    for (const m of this.#awaitingReport.values()) m.fail(Status.SessionDoesNotExist, reason);
    for (const m of this.#incoming.values()) this.#finishIncoming(m, reason);
    this.#incoming.clear();
    this.#link?.failSession(this, reason);
    this.#windowOpen?.();
    this.#rejectReady(new Error(reason));
    this.#onClose(this);
    this.dispatchEvent(new SessionCloseEvent(reason));
  }

  // --- sending ------------------------------------------------------------

  async #pump(): Promise<void> {
    if (this.#pumping || !this.#link) return;
    this.#pumping = true;
    try {
      while (!this.#closed && this.#link) {
        const queue = this.#short.length > 0 ? this.#short : this.#long;
        const message = queue.peek();
        if (message === undefined) break;
        if (message.settled) {
          queue.shift(); // failed while queued (e.g. a 413 for an earlier chunk)
          continue;
        }
        if (message.cancelReason !== undefined) {
          queue.shift();
          await this.#abort(message, 0, message.cancelReason);
          continue;
        }
        let chunk;
        try {
          chunk = await message.chunker.next();
        } catch (e) {
          queue.shift();
          const code = e instanceof MsrpError ? e.status : Status.BadRequest;
          await this.#abort(
            message,
            code,
            `body source failed: ${e instanceof Error ? e.message : e}`,
          );
          continue;
        }
        if (chunk === undefined || chunk.flag !== "+") queue.shift();
        if (chunk === undefined || message.settled) continue;
        await this.#writeChunk(message, chunk.byteRange, chunk.flag, chunk.body);
        const window = this.#options.sendWindowBytes ??
          (this.#options.usePath ? RELAY_SEND_WINDOW : DEFAULT_SEND_WINDOW);
        while (!this.#closed && this.#mustWait(message, window)) {
          await new Promise<void>((resolve) => this.#windowOpen = resolve);
        }
      }
    } catch {
      // The connection failed: its loss ends the session and fails the messages.
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * The send window: bytes awaiting responses, and — through a relay, whose
   * 200s are hop by hop — bytes beyond the receiver's last progress REPORT,
   * once it sends them (a receiver that never does is paced by 200s only).
   */
  #mustWait(message: OutgoingMessage, window: number): boolean {
    if (this.#inFlightBytes >= window) return true;
    if (!this.#options.usePath || message.reportedBytes === 0 || message.settled) return false;
    return message.bytesSent - message.reportedBytes > END_TO_END_WINDOW;
  }

  // RFC 4975 §7.1.1: a message cut short ends with a chunk flagged "#".
  async #abort(message: OutgoingMessage, code: number, reason: string): Promise<void> {
    const sent = message.bytesSent;
    const partlySent = sent > 0 && !message.settled;
    message.stopChunking();
    message.fail(code, reason);
    if (partlySent) {
      await this.#writeChunk(
        message,
        { start: sent + 1, end: sent, total: message.size ?? "*" },
        "#",
        [],
      );
    }
  }

  async #writeChunk(
    message: OutgoingMessage,
    range: ByteRange,
    flag: ContinuationFlag,
    body: readonly Uint8Array[],
  ): Promise<void> {
    const link = this.#link!;
    const headers: (readonly [string, string])[] = [
      ["Message-ID", message.messageId],
      ["Byte-Range", `${range.start}-${range.end}/${range.total}`],
    ];
    if (message.successReport) headers.push(["Success-Report", "yes"]);
    if (message.failureReport !== "yes") headers.push(["Failure-Report", message.failureReport]);
    headers.push(...message.headers);
    const transactionId = transactionIdFor(body);
    let size = 0;
    for (const b of body) size += b.length;
    const parts = encodeRequest({
      transactionId,
      method: "SEND",
      toPath: this.#toPath!,
      fromPath: [this.localUri],
      headers,
      contentType: message.contentType,
      body,
      flag,
    });
    const expects = message.expectsResponses;
    if (expects) {
      link.expectResponse(transactionId, this, message, size);
      this.#inFlightBytes += size;
    }
    message.chunkWritten(size, flag !== "+", expects);
    await link.send(parts);
  }

  /** @internal Sends a bodiless SEND that binds a new connection (RFC 4975 §7.1). */
  bindingSend(): Promise<void> {
    const message = new OutgoingMessage(
      crypto.randomUUID().replaceAll("-", ""),
      new Chunker(new Uint8Array(0), { chunkSize: 1 }),
      {},
      "",
    );
    const transactionId = transactionIdFor([]);
    this.#link!.expectResponse(transactionId, this, message, 0);
    message.chunkWritten(0, true, true);
    const parts = encodeRequest({
      transactionId,
      method: "SEND",
      toPath: this.#toPath!,
      fromPath: [this.localUri],
      headers: [["Message-ID", message.messageId], ["Byte-Range", "1-0/0"]],
    });
    return this.#link!.send(parts).then(() => message.done).then((r) => {
      if (r.status === "failed") throw new MsrpError(r.code, `binding SEND failed: ${r.reason}`);
    });
  }

  // --- receiving ----------------------------------------------------------

  /** @internal Handles a SEND's head; returns where its body goes. */
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
    if (!isAcceptedType(head.contentType, this.acceptTypes)) {
      return this.#reject(head, policy, Status.UnsupportedMediaType);
    }
    if (range.total !== "*" && range.total > this.maxMessageBytes) {
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
      const headers = new Map<string, string>();
      for (const [k, v] of head.headers) headers.set(k.toLowerCase(), v);
      const info = {
        messageId,
        contentType: head.contentType,
        size: range.total === "*" ? undefined : range.total,
        headers,
      };
      let sink: IncomingMessageSink | undefined;
      try {
        sink = this.#sink?.(info);
      } catch (e) {
        // The sink refuses the message (e.g. 413 for a disk quota): nothing is kept of it.
        if (!(e instanceof MsrpError)) throw e;
        if (e.status === Status.RequestEntityTooLarge) this.#remember(messageId, e.message);
        return this.#reject(head, policy, e.status, e.message);
      }
      message = new IncomingMessage(info, this.maxMessageBytes, sink);
      message.senderPath = head.fromPath;
      message.policy = policy;
      // RFC 4975 §7.1.2: a success REPORT goes to the SEND's From-Path.
      if (policy.successReport) message.reportTo = head.fromPath;
      this.#incoming.set(messageId, message);
    }
    message.lastActivity = performance.now();
    const m = message;
    try {
      m.reassembler.beginChunk(range);
    } catch (e) {
      return this.#rejectIncoming(m, head, policy, e);
    }
    let failed = false;
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
          this.#link?.track(m.sink.write(offset, bytes), bytes.length);
        } catch (e) {
          // The sink cannot take more (e.g. a disk quota): its reason is the comment.
          failed = true;
          this.#rejectIncoming(m, head, policy, e, e instanceof MsrpError ? e.message : undefined);
        }
      },
      end: (flag) => {
        if (failed) return;
        m.reassembler.endChunk(flag);
        this.#answer(head, policy, Status.OK);
        if (flag === "#") this.#finishIncoming(m, "aborted by sender");
        else if (m.reassembler.isComplete) this.#finishIncoming(m, "");
        else if (m.reportTo) this.#reportProgress(m);
      },
      fail: (error) => {
        failed = true;
        this.#rejectIncoming(m, head, policy, error);
      },
    };
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
    this.#finishIncoming(m, `rejected with ${status}${comment ? `: ${comment}` : ""}`);
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
      const idle = this.oldestIdle(performance.now());
      if (idle === undefined) return false;
      this.dropIdle(idle);
    }
    return this.#link?.roomForIncoming() ?? true;
  }

  /** @internal Incoming messages begun and not finished. */
  get unfinishedCount(): number {
    return this.#incoming.size;
  }

  /**
   * @internal The unfinished incoming message that has gone longest without
   * a chunk, when that is at least `unfinishedIdleMs` before `now`.
   */
  oldestIdle(now: number): IncomingMessage | undefined {
    let oldest: IncomingMessage | undefined;
    for (const m of this.#incoming.values()) {
      if (now - m.lastActivity < this.#unfinishedIdleMs) continue;
      if (oldest === undefined || m.lastActivity < oldest.lastActivity) oldest = m;
    }
    return oldest;
  }

  /**
   * @internal Fails an idle unfinished message to make room for a new one:
   * it ends incomplete (its sink is closed), the sender gets a failure
   * REPORT 413 when it asked for failure reports (RFC 4975 §7.1.2), and
   * later chunks of it are refused with 413.
   */
  dropIdle(m: IncomingMessage): void {
    const idleSeconds = Math.round((performance.now() - m.lastActivity) / 1000);
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
    this.#link?.post([encodeResponse(buildResponse(head, status, this.localUri, comment))]);
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
      fromPath: [this.localUri],
      messageId,
      byteRange: range ?? { start: 1, end: 0, total: 0 },
      status,
      comment,
    });
    this.#link?.post(encodeRequest(report));
  }

  #finishIncoming(m: IncomingMessage, reason: string): void {
    if (m.outcome) return;
    this.#incoming.delete(m.messageId);
    const r = m.reassembler;
    const complete = r.isComplete;
    m.outcome = {
      complete,
      aborted: !complete,
      bytesReceived: r.bytesReceived,
      ranges: r.ranges,
      reason: complete ? "" : reason || "incomplete",
    } satisfies IncomingOutcome;
    if (m.sink) this.#link?.track(m.sink.close(m.outcome));
    if (complete && m.reportTo) {
      const total = r.total ?? r.bytesReceived;
      this.#report(m.reportTo, m.messageId, { start: 1, end: total, total }, Status.OK);
    }
    this.dispatchEvent(new MessageEvent(m));
  }

  /**
   * RFC 4975 §7.1.2 lets a receiver report parts of a message: when a success
   * report was asked for, we report progress every PROGRESS_REPORT_BYTES.
   * Senders use it to pace transfers end to end (see `#progress`).
   */
  #reportProgress(m: IncomingMessage): void {
    const first = m.reassembler.ranges[0];
    if (!first || first[0] !== 1 || first[1] - m.reportedUpTo < PROGRESS_REPORT_BYTES) return;
    m.reportedUpTo = first[1];
    const total = m.reassembler.total ?? "*";
    this.#report(m.reportTo!, m.messageId, { start: 1, end: first[1], total }, Status.OK);
  }

  // A progress REPORT arrived: the pump may send further ahead (end-to-end window).
  #progress(message: OutgoingMessage, end: number): void {
    message.reportedBytes = Math.max(message.reportedBytes, end);
    const open = this.#windowOpen;
    this.#windowOpen = undefined;
    open?.();
  }

  /** @internal Handles a REPORT about a message we sent (RFC 4975 §7.1.2). */
  receiveReport(head: RequestHead): void {
    try {
      const report = parseReport(head);
      const message = this.#awaitingReport.get(report.messageId);
      if (!message) return;
      const end = report.byteRange?.end;
      if (report.status === Status.OK) {
        const total = message.size ?? message.bytesSent;
        const whole = end === undefined || end === "*" || end >= total;
        if (whole && message.chunker.finished) message.delivered(total);
        else if (typeof end === "number") this.#progress(message, end);
      } else {
        message.fail(report.status, report.comment || `REPORT ${report.status}`);
      }
    } catch {
      // A malformed REPORT is ignored: REPORTs are never answered (RFC 4975 §7.1.2).
    }
  }

  /** @internal A transaction of ours ended (answered, timed out or failed). */
  transactionEnded(bytes: number): void {
    this.#inFlightBytes -= bytes;
    const open = this.#windowOpen;
    this.#windowOpen = undefined;
    open?.();
  }

  /** @internal A response to one of our chunks arrived. */
  receiveResponse(head: ResponseHead, message: OutgoingMessage, bytes: number): void {
    if (head.status === Status.OK) message.chunkAcknowledged(bytes);
    else this.#failOutgoing(message, head.status, head.comment || `response ${head.status}`);
  }

  /** @internal A transaction timed out or its connection failed. */
  failOutgoing(message: OutgoingMessage, code: number, reason: string): void {
    this.#failOutgoing(message, code, reason);
  }

  #failOutgoing(message: OutgoingMessage, code: number, reason: string): void {
    // A message still being chunked stops; the pump drops it from its queue.
    message.stopChunking();
    message.fail(code, reason);
  }
}
