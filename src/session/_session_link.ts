/**
 * The contract between a session and the connection it is bound to (RFC
 * 4975 §7.1), both ways, so that neither side imports the other.
 *
 * @module
 */

import type { ContinuationFlag, MsrpError, RequestHead, ResponseHead } from "../msrp/mod.ts";
import type { IncomingMessage } from "./incoming.ts";
import type { OutgoingMessage } from "./outgoing.ts";

/** Receives the body of one SEND chunk. */
export interface ChunkReceiver {
  /** Body bytes of the chunk. */
  body(bytes: Uint8Array): void;
  /** The end-line arrived. */
  end(flag: ContinuationFlag): void;
  /** The chunk failed (e.g. too large) before its end-line. */
  fail(error: MsrpError): void;
}

/** What a session needs from the connection it is bound to. */
export interface SessionLink {
  /**
   * Queues whole frames (with {@linkcode framed}, exactly one per call);
   * resolves when the write queue has room again.
   */
  send(parts: readonly Uint8Array[]): Promise<void>;
  /** True when each frame must be sent on its own, as one WebSocket message (RFC 7977 §4.2). */
  readonly framed: boolean;
  /** True while the write queue is at or above its high-water mark (a send would wait). */
  readonly behind: boolean;
  /** Queues one whole frame without waiting (responses, REPORTs). */
  post(parts: readonly Uint8Array[]): void;
  /** Registers a transaction of `session` that awaits a response. */
  expectResponse(
    transactionId: string,
    session: LinkedSession,
    message: OutgoingMessage,
    bytes: number,
  ): void;
  /** Follows a sink write of `bytes`; reading pauses while too much is pending. */
  track(result: void | Promise<void>, bytes?: number): void;
  /** Room for one more unfinished incoming message on the connection. */
  roomForIncoming(): boolean;
  /** Removes `session`; the connection closes when no session uses it. */
  failSession(session: LinkedSession, reason: string): void;
  /** Bytes waiting to be written. */
  readonly queuedBytes: number;
  /** See `LinkConnection.bytesWritten`: `undefined` when sent buffers are never free again. */
  readonly bytesWritten: number | undefined;
}

/** What a connection needs from a session addressed on it or bound to it. */
export interface LinkedSession {
  /** The session id (the URI's session part). */
  readonly id: string;
  /** Our URI. */
  readonly localUri: string;
  /** True once the session ended. */
  readonly closed: boolean;
  /** True when requests match by session-id only (RFC 7701 CEMA). */
  readonly cema: boolean;
  /** True when each connection gets its own child session. */
  readonly multiConnection: boolean;
  /** The connection the session is bound to. */
  readonly link: SessionLink | undefined;
  /** Incoming messages begun and not finished. */
  readonly unfinishedCount: number;
  /** A child session for one more connection of a multi-connection session. */
  child(): LinkedSession;
  /** Whether the first request on a connection, from `fromPath`, may bind the session. */
  acceptsFirstRequestFrom(fromPath: readonly string[]): boolean;
  /** Binds `link`, the session's requests going to `toPath` (RFC 4975 §7.1). */
  bind(link: SessionLink, toPath: readonly string[]): void;
  /** Handles a SEND's head; returns where its body goes. */
  receiveSend(head: RequestHead): ChunkReceiver;
  /** Handles a REPORT about a message the session sent. */
  receiveReport(head: RequestHead): void;
  /** A response to one of the session's chunks arrived. */
  receiveResponse(head: ResponseHead, message: OutgoingMessage, bytes: number): void;
  /** A transaction of the session ended (answered, timed out or failed). */
  transactionEnded(bytes: number): void;
  /** A transaction timed out or its connection failed. */
  failOutgoing(message: OutgoingMessage, code: number, reason: string): void;
  /** The unfinished incoming message idle longest, when idle long enough to drop. */
  oldestIdle(now: number): IncomingMessage | undefined;
  /** Fails an idle unfinished message to make room for a new one. */
  dropIdle(message: IncomingMessage): void;
  /** Ends the session. */
  close(reason?: string): void;
}
