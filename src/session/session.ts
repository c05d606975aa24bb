/**
 * One MSRP session (RFC 4975 §5, §7): its lifecycle, the connection it is
 * bound to and the peer it accepts; sending and receiving are its outbox
 * and inbox.
 *
 * @module
 */

import { type RequestHead, type ResponseHead, sameMsrpUri, sessionIdOf } from "../msrp/mod.ts";
import type { IncomingMessage, SinkFactory } from "./incoming.ts";
import type { OutgoingMessage, SendOptions } from "./outgoing.ts";
import type { ChunkReceiver, SessionLink } from "./_session_link.ts";
import { Inbox } from "./_receiving.ts";
import { Outbox } from "./_sending.ts";

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

const DEFAULT_MAX_UNFINISHED = 32;
const DEFAULT_UNFINISHED_IDLE_MS = 30_000;

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
  #link: SessionLink | undefined;
  #closed = false;
  #closeReason = "";
  readonly #inbox: Inbox;
  readonly #outbox: Outbox;
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
    this.#remotePath = options.remotePath;
    this.#expectedPeer = options.remotePath;
    this.#onClose = onClose;
    this.#options = options;
    this.#inbox = new Inbox(this, {
      acceptTypes: this.acceptTypes,
      maxMessageBytes: this.maxMessageBytes,
      sink: options.sink,
      maxUnfinishedMessages: options.maxUnfinishedMessages ?? DEFAULT_MAX_UNFINISHED,
      unfinishedIdleMs: options.unfinishedIdleMs ?? DEFAULT_UNFINISHED_IDLE_MS,
    }, (m) => this.dispatchEvent(new MessageEvent(m)));
    this.#outbox = new Outbox(this, {
      chunkSize: this.chunkSize,
      sendWindowBytes: options.sendWindowBytes,
      viaRelay: options.usePath !== undefined,
    });
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
  get link(): SessionLink | undefined {
    return this.#link;
  }

  /** Bytes waiting to be written on the session's connection. */
  get queuedBytes(): number {
    return this.#link?.queuedBytes ?? 0;
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
  bind(link: SessionLink, toPath: readonly string[]): void {
    this.#link = link;
    this.#remotePath ??= toPath.slice(this.#options.usePath?.length ?? 0);
    this.#resolveReady();
    this.#outbox.bound(toPath);
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
    return this.#outbox.send(body, options);
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
    this.#outbox.close(reason);
    this.#inbox.close(reason);
    this.#link?.failSession(this, reason);
    this.#rejectReady(new Error(reason));
    this.#onClose(this);
    this.dispatchEvent(new SessionCloseEvent(reason));
  }

  /** @internal Sends a bodiless SEND that binds a new connection (RFC 4975 §7.1). */
  bindingSend(): Promise<void> {
    return this.#outbox.bindingSend();
  }

  /** @internal Handles a SEND's head; returns where its body goes. */
  receiveSend(head: RequestHead): ChunkReceiver {
    return this.#inbox.receiveSend(head);
  }

  /** @internal Incoming messages begun and not finished. */
  get unfinishedCount(): number {
    return this.#inbox.unfinishedCount;
  }

  /**
   * @internal The unfinished incoming message that has gone longest without
   * a chunk, when that is at least `unfinishedIdleMs` before `now`.
   */
  oldestIdle(now: number): IncomingMessage | undefined {
    return this.#inbox.oldestIdle(now);
  }

  /** @internal Fails an idle unfinished message to make room for a new one. */
  dropIdle(message: IncomingMessage): void {
    this.#inbox.dropIdle(message);
  }

  /** @internal Handles a REPORT about a message we sent (RFC 4975 §7.1.2). */
  receiveReport(head: RequestHead): void {
    this.#outbox.receiveReport(head);
  }

  /** @internal A transaction of ours ended (answered, timed out or failed). */
  transactionEnded(bytes: number): void {
    this.#outbox.transactionEnded(bytes);
  }

  /** @internal A response to one of our chunks arrived. */
  receiveResponse(head: ResponseHead, message: OutgoingMessage, bytes: number): void {
    this.#outbox.receiveResponse(head, message, bytes);
  }

  /** @internal A transaction timed out or its connection failed. */
  failOutgoing(message: OutgoingMessage, code: number, reason: string): void {
    this.#outbox.failOutgoing(message, code, reason);
  }
}
