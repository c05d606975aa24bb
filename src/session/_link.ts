/**
 * Per-connection state: routes frames to sessions by To-Path, matches
 * responses to transactions, and times transactions out.
 *
 * @module
 */

import {
  encodeResponse,
  type FrameFailure,
  type FrameHandler,
  type FrameHead,
  MsrpError,
  parsePath,
  reasonPhrase,
  refusalOf,
  type RequestHead,
  type ResponseHead,
  responseToPath,
  sameMsrpUri,
  sessionIdOf,
  Status,
} from "../msrp/mod.ts";
import type { ChunkReceiver, LinkedSession, SessionLink } from "./_session_link.ts";
import type { IncomingMessage } from "./incoming.ts";
import { Transactions } from "./_transactions.ts";
import type { OutgoingMessage } from "./outgoing.ts";
import type { LinkConnection, RequestRouter, RouterLink } from "./router.ts";

/** What a link needs from its endpoint. */
export interface LinkOwner {
  /** The session whose id is `sessionId`, if any. */
  session(sessionId: string): LinkedSession | undefined;
  /** Transaction timeout in milliseconds (RFC 4975 §7.1.1: 30 s). */
  readonly transactionTimeoutMs: number;
  /** URI used in From-Path of responses for unknown sessions. */
  readonly ownUri: string;
  /** Most incoming messages begun and not finished on one connection, over all its sessions. */
  readonly maxUnfinishedPerConnection: number;
  /** The endpoint's router (the relay role), consulted before its sessions. */
  readonly router: RequestRouter | undefined;
  /** The link ended. */
  linkClosed(link: Link): void;
  /**
   * Whether the TLS certificate of the peer on `link` has the fingerprint
   * pinned for `session` (true when none is pinned), so that `link` may
   * bind it.
   */
  peerCertificateFits(link: Link, session: LinkedSession): boolean;
}

interface Pending {
  readonly session: LinkedSession;
  readonly message: OutgoingMessage;
  readonly bytes: number;
  readonly deadline: number;
}

interface PendingRequest {
  readonly resolve: (head: ResponseHead) => void;
  readonly reject: (error: Error) => void;
  readonly deadline: number;
}

/** Stop reading while this many received bytes wait to be written by sinks. */
const MAX_PENDING_SINK_BYTES = 8 * 1024 * 1024;
/**
 * Stop reading while this much of our own output waits. Senders pause at the
 * connection's (lower) high-water mark, so only responses and REPORTs pile up
 * this far: a peer that pipelines requests but reads slowly is slowed by TCP
 * flow control instead of growing our queue.
 */
const MAX_UNREAD_OUTPUT = 4 * 1024 * 1024;

/** One connection's routing and transaction state. */
export class Link implements FrameHandler, SessionLink, RouterLink {
  /** Sessions bound to this connection. */
  readonly sessions: Set<LinkedSession> = new Set();
  /** The connection; set right after construction. */
  connection!: LinkConnection;
  readonly #owner: LinkOwner;
  readonly #pending = new Transactions<Pending>();
  readonly #requests = new Map<string, PendingRequest>();
  /** Keep the connection open with no session on it (a relay connection). */
  pinned = false;
  /** Called once when the connection is gone. */
  onClosed: (() => void) | undefined;
  #current: ChunkReceiver | undefined;
  #sinkBytes = 0;
  #drained: PromiseWithResolvers<void> | undefined;
  readonly #holds = new Set<Promise<unknown>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #children = new Map<string, LinkedSession>();

  /** Creates a link for `owner`. */
  constructor(owner: LinkOwner) {
    this.#owner = owner;
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while a session is bound to the connection or it is pinned. */
  get inUse(): boolean {
    return this.sessions.size > 0 || this.pinned;
  }

  /** Bytes waiting to be written. */
  get queuedBytes(): number {
    return this.connection.queuedBytes;
  }

  /** See `LinkConnection.bytesWritten`. */
  get bytesWritten(): number | undefined {
    return this.connection.bytesWritten;
  }

  /** Queues whole frames on the connection (with {@linkcode framed}, exactly one per call). */
  send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("connection closed"));
    return this.connection.send(parts);
  }

  /** True when each frame goes out on its own, as one WebSocket message (RFC 7977 §4.2). */
  get framed(): boolean {
    return this.connection.framed;
  }

  /** True while the write queue is at or above its high-water mark (a send would wait). */
  get behind(): boolean {
    return !this.#closed && this.connection.queuedBytes >= this.connection.highWaterMark;
  }

  /** Queues one whole frame without waiting (responses, REPORTs); a closed connection drops it. */
  post(parts: readonly Uint8Array[]): void {
    if (!this.#closed) this.connection.send(parts).catch(() => {});
  }

  /** Registers a transaction that awaits a response. */
  expectResponse(
    transactionId: string,
    session: LinkedSession,
    message: OutgoingMessage,
    bytes: number,
  ): void {
    this.#pending.add(transactionId, {
      session,
      message,
      bytes,
      deadline: Date.now() + this.#owner.transactionTimeoutMs,
    });
    // One sweep timer per connection instead of one timer per transaction.
    this.#timer ??= setInterval(() => this.#sweep(), 1000);
  }

  /**
   * Sends a request that is not part of a message (e.g. AUTH) and resolves
   * with its response; rejects with a 408 {@linkcode MsrpError} on timeout.
   */
  request(transactionId: string, parts: readonly Uint8Array[]): Promise<ResponseHead> {
    const { promise, resolve, reject } = Promise.withResolvers<ResponseHead>();
    this.#requests.set(transactionId, {
      resolve,
      reject,
      deadline: Date.now() + this.#owner.transactionTimeoutMs,
    });
    this.#timer ??= setInterval(() => this.#sweep(), 1000);
    this.send(parts).catch(reject);
    return promise;
  }

  #sweep(): void {
    const now = Date.now();
    // Sent order is deadline order.
    for (let o = this.#pending.oldest(); o && o[1].deadline <= now; o = this.#pending.oldest()) {
      const [tid, p] = o;
      this.#pending.take(tid);
      p.session.transactionEnded(p.bytes);
      p.session.failOutgoing(p.message, Status.RequestTimeout, "no response within the timeout");
    }
    for (const [tid, r] of this.#requests) {
      if (r.deadline > now) break;
      this.#requests.delete(tid);
      r.reject(new MsrpError(Status.RequestTimeout, "no response within the timeout"));
    }
    if (this.#pending.size === 0 && this.#requests.size === 0) this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Follows a sink write of `bytes`; reading pauses while too much is pending. */
  track(result: void | Promise<void>, bytes = 0): void {
    if (!(result instanceof Promise)) return;
    this.#sinkBytes += bytes;
    result.finally(() => {
      this.#sinkBytes -= bytes;
      if (this.#sinkBytes < MAX_PENDING_SINK_BYTES && this.#drained !== undefined) {
        this.#drained.resolve();
        this.#drained = undefined;
      }
    }).catch(() => {});
  }

  /**
   * Pauses reading until `wait` settles, however it settles: e.g. while the
   * next hop a request is forwarded to is dialed, or while its write queue is
   * above its high-water mark (RFC 4976 relaying at the pace of the next hop).
   */
  hold(wait: Promise<unknown>): void {
    if (this.#holds.has(wait)) return;
    this.#holds.add(wait);
    const release = (): void => {
      this.#holds.delete(wait);
    };
    wait.then(release, release);
  }

  /**
   * For the connection's read loop: a promise while something holds reading
   * (see {@linkcode hold}), or sinks or our output are behind.
   */
  backpressure(): Promise<void> | undefined {
    if (this.#holds.size > 0) return this.#released();
    if (this.connection.queuedBytes > MAX_UNREAD_OUTPUT) {
      return this.connection.send([]).catch(() => {});
    }
    if (this.#sinkBytes < MAX_PENDING_SINK_BYTES) return undefined;
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  async #released(): Promise<void> {
    while (this.#holds.size > 0) await Promise.allSettled([...this.#holds]);
  }

  /**
   * Room for one more unfinished incoming message on this connection
   * (`maxUnfinishedPerConnection`, over all its sessions): at the cap, the
   * one that has gone longest without a chunk is failed to make room when
   * its session finds it idle (see `SessionOptions.maxUnfinishedMessages`);
   * false when none is.
   */
  roomForIncoming(): boolean {
    let count = 0;
    for (const session of this.sessions) count += session.unfinishedCount;
    if (count < this.#owner.maxUnfinishedPerConnection) return true;
    const now = Date.now();
    let oldest: { session: LinkedSession; message: IncomingMessage } | undefined;
    for (const session of this.sessions) {
      const message = session.oldestIdle(now);
      if (message === undefined) continue;
      if (oldest === undefined || message.lastActivity < oldest.message.lastActivity) {
        oldest = { session, message };
      }
    }
    if (oldest === undefined) return false;
    oldest.session.dropIdle(oldest.message);
    return true;
  }

  /** Removes a session; closes the connection when no session uses it. */
  failSession(session: LinkedSession, reason: string): void {
    for (const [tid, p] of this.#pending.entries()) {
      if (p.session === session) {
        this.#pending.take(tid);
        p.session.transactionEnded(p.bytes);
        p.message.fail(Status.SessionDoesNotExist, reason);
      }
    }
    this.sessions.delete(session);
    if (this.sessions.size === 0 && !this.pinned) this.connection.close();
  }

  /** The connection ended: every session on it ends. */
  connectionClosed(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    const reason = `connection lost${error ? `: ${error.message}` : ""}`;
    this.#current?.fail(new MsrpError(Status.RequestTimeout, reason));
    this.#current = undefined;
    for (const [, p] of this.#pending.entries()) {
      p.session.transactionEnded(p.bytes);
      p.session.failOutgoing(p.message, Status.RequestTimeout, reason);
    }
    this.#pending.clear();
    for (const [, r] of this.#requests) r.reject(new MsrpError(Status.RequestTimeout, reason));
    this.#requests.clear();
    for (const s of [...this.sessions]) s.close(reason);
    this.#owner.linkClosed(this);
    this.onClosed?.();
  }

  // --- FrameHandler -------------------------------------------------------

  /** @internal */
  head(head: FrameHead): void {
    if (head.kind === "response") {
      const r = this.#requests.get(head.transactionId);
      if (r) {
        this.#requests.delete(head.transactionId);
        r.resolve(head);
        return;
      }
      const p = this.#pending.take(head.transactionId);
      if (!p) {
        // Not ours: a response to a request we relayed, or late and unknown.
        this.#owner.router?.response(this, head);
        return;
      }
      p.session.transactionEnded(p.bytes);
      p.session.receiveResponse(head, p.message, p.bytes);
      return;
    }
    this.#current = this.#route(head);
  }

  /** @internal */
  body(bytes: Uint8Array): void {
    this.#current?.body(bytes);
  }

  /** @internal */
  end(flag: "+" | "$" | "#"): void {
    const c = this.#current;
    this.#current = undefined;
    c?.end(flag);
  }

  /** @internal */
  error(failure: FrameFailure): void {
    if (failure.head !== undefined) {
      // The head was routed already: the receiver answers (e.g. 413).
      this.#current?.fail(failure.error);
      this.#current = undefined;
      return;
    }
    const from = failure.headers.get("from-path");
    const tid = failure.error.transactionId;
    if (failure.method === undefined || from === undefined || tid === undefined) return;
    if (failure.headers.get("failure-report")?.trim().toLowerCase() === "no") return;
    const fromPath = parsePath(from);
    if (fromPath.length === 0) return;
    const to = failure.headers.get("to-path");
    const ownUri = to === undefined ? undefined : parsePath(to)[0];
    this.post([encodeResponse({
      transactionId: tid,
      status: failure.error.status,
      comment: reasonPhrase(failure.error.status),
      toPath: responseToPath(failure.method, fromPath),
      fromPath: [ownUri ?? this.#owner.ownUri],
    })]);
  }

  #route(head: RequestHead): ChunkReceiver | undefined {
    // The router's business first (RFC 4976 relaying); `undefined` means it answered.
    const routed = this.#owner.router === undefined ? false : this.#owner.router.route(this, head);
    if (routed !== false) return routed;
    const sessionId = sessionIdOf(head.toPath[0]);
    let session = sessionId === undefined ? undefined : this.#owner.session(sessionId);
    if (session?.multiConnection && session.link !== this) {
      let child = this.#children.get(session.id);
      if (!child) this.#children.set(session.id, child = session.child());
      session = child;
    }
    if (!session || session.closed || !this.#addressed(head.toPath[0], session)) {
      return this.#refuse(head, Status.SessionDoesNotExist);
    }
    if (session.link === undefined) {
      // RFC 4975 §14: a connection from anyone but the expected peer does not bind the session,
      // nor one without the certificate its SDP a=fingerprint named (RFC 8122).
      if (
        !session.acceptsFirstRequestFrom(head.fromPath) ||
        !this.#owner.peerCertificateFits(this, session)
      ) {
        return this.#refuse(head, Status.SessionDoesNotExist);
      }
      // RFC 4975 §7.1: the first request on a connection binds it to the session.
      this.sessions.add(session);
      session.bind(this, head.fromPath);
    } else if (session.link !== this) {
      // RFC 4975 §14: only the bound connection may send into a session.
      return this.#refuse(head, Status.WrongConnection);
    }
    switch (head.method) {
      case "SEND":
        return session.receiveSend(head);
      case "REPORT":
        session.receiveReport(head);
        return undefined;
      default:
        return this.#refuse(head, Status.NotImplemented);
    }
  }

  // RFC 4975 §6.1 URI comparison, or session-id only with CEMA (RFC 7701 §4).
  #addressed(uri: string, session: LinkedSession): boolean {
    return session.cema || sameMsrpUri(uri, session.localUri);
  }

  #refuse(head: RequestHead, status: number): undefined {
    const refusal = refusalOf(head, status, this.#owner.ownUri);
    if (refusal) this.post([encodeResponse(refusal)]);
    return undefined;
  }
}
