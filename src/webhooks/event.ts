/**
 * The events sent as webhooks and server-sent events: one envelope
 * `{ id, type, createdAt, data }` per event, typed by `type`.
 *
 * @module
 */

import type {
  Direction,
  EventRecord,
  MessageRecord,
  MessageStatus,
  SessionFile,
  SessionRecord,
  SessionState,
  Store,
} from "../store/mod.ts";

/** Text bodies up to this many UTF-8 bytes may be inlined in an event as `text`. */
export const MAX_INLINE_TEXT_BYTES = 64 * 1024;

/** Caller and callee of the call that carries a session. */
export interface EventIdentity {
  /** SIP From URI (the caller). */
  readonly from: string | null;
  /** SIP To URI (the callee). */
  readonly to: string | null;
  /** Display name of the caller. */
  readonly fromDisplay: string | null;
  /** SIP Call-ID. */
  readonly callId: string | null;
}

/** Data of `session.started` and `session.ended`. */
export interface SessionEventData extends EventIdentity {
  /** The session id. */
  readonly sessionId: string;
  /** `in` when the remote side started it, `out` when we did. */
  readonly direction: Direction;
  /** The session state. */
  readonly state: SessionState;
  /** Our MSRP URI. */
  readonly localUri: string;
  /** The peer's MSRP path. */
  readonly remotePath: readonly string[];
  /** Why it ended (`session.ended`). */
  readonly endReason: string | null;
  /** Final SIP status of the call, when known. */
  readonly sipStatus: number | null;
  /** The PBX hang-up cause, when known. */
  readonly hangupCause: string | null;
  /** `file-transfer` for a file pushed to us (RFC 5547); absent for a chat. */
  readonly kind?: "file-transfer";
  /** The file of a `file-transfer` session, as offered. */
  readonly file?: SessionFile;
}

/** Why a message failed or is incomplete. */
export interface EventError {
  /** MSRP status code, when there is one. */
  readonly code: number | null;
  /** Human-readable reason. */
  readonly reason: string;
}

/**
 * Data of `message.received`, `message.delivered`, `message.failed` and
 * `message.displayed`.
 */
export interface MessageEventData extends EventIdentity {
  /** The session id. */
  readonly sessionId: string;
  /** The message id (of `GET /v1/messages/{id}`). */
  readonly messageId: string;
  /** The MSRP Message-ID. */
  readonly msrpMessageId: string;
  /** `in` received, `out` sent. */
  readonly direction: Direction;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Declared total size, when known. */
  readonly size: number | null;
  /** Body bytes sent or received. */
  readonly bytes: number;
  /** Hex SHA-256 of the complete content, when known. */
  readonly sha256: string | null;
  /** Where the message stands. */
  readonly status: MessageStatus;
  /** Why it failed or is incomplete. */
  readonly error: EventError | null;
  /** The body, for text of at most {@linkcode MAX_INLINE_TEXT_BYTES}. */
  readonly text?: string;
  /** Where the received content can be fetched, for received messages not inlined. */
  readonly contentUrl?: string;
  /** In a file-transfer session: the file, as offered (RFC 5547). */
  readonly file?: SessionFile;
  /**
   * In a file-transfer session: whether the content matched the offered
   * hash; `null` while unknown or when no hash we check was offered.
   */
  readonly hashVerified?: boolean | null;
  /**
   * On an event a disposition notification (IMDN, RFC 5438) caused: its
   * status, `delivered`, `failed`, `forbidden` or `error` (delivery), or
   * `displayed`, `forbidden` or `error` (`message.displayed`).
   */
  readonly imdn?: string;
  /**
   * A received CPIM message that asks for notifications: which
   * (`positive-delivery`, `negative-delivery`, `display`); tell the bridge
   * it was displayed with `POST /v1/messages/{id}/displayed`.
   */
  readonly imdnRequested?: readonly string[];
}

/** Where a file we push stands: being sent, confirmed by a success REPORT, or failed. */
export type FileTransferStatus = "sending" | "delivered" | "failed";

/**
 * Data of `file.delivered` and `file.failed`, and what `GET /v1/files/{id}`
 * shows: a file we push (RFC 5547) in a session of its own.
 */
export interface FileTransferData {
  /** The transfer id: the id of its session. */
  readonly id: string;
  /** The session that carries the file. */
  readonly sessionId: string;
  /** The SIP URI called. */
  readonly to: string | null;
  /** The file, as offered. */
  readonly file: SessionFile;
  /** Where the transfer stands. */
  readonly status: FileTransferStatus;
  /** Bytes of the file sent so far. */
  readonly bytesSent: number;
  /** Why it failed. */
  readonly error: EventError | null;
}

/** Data of `pager.received`: a SIP MESSAGE outside any session. */
export interface PagerEventData {
  /** SIP From URI. */
  readonly from: string;
  /** SIP To URI. */
  readonly to: string;
  /** Display name of the sender. */
  readonly fromDisplay: string | null;
  /** SIP Call-ID. */
  readonly callId: string | null;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** The body. */
  readonly text: string;
}

/**
 * Data of `session.composing`: the peer started (`active`) or stopped
 * (`idle`) composing a message (RFC 3994), as the `is-composing` plugin
 * received it.
 */
export interface ComposingEventData extends EventIdentity {
  /** The session id. */
  readonly sessionId: string;
  /** `active`: the peer is composing; `idle`: it stopped. */
  readonly state: "active" | "idle";
  /**
   * Seconds after which `active` lapses to `idle` unless refreshed; `null`
   * when the peer gave none (receivers then use 120, RFC 3994 §3.3).
   */
  readonly refresh: number | null;
  /** The type of the message being composed, when given. */
  readonly contentType: string | null;
  /** When the peer was last active (ISO 8601), when given. */
  readonly lastActive: string | null;
}

/** The envelope of one event of type `T` with data `D`. */
export interface WebhookEventOf<T extends string, D> {
  /** Unique event id; receivers use it to drop duplicate deliveries. */
  readonly id: string;
  /** The event type. */
  readonly type: T;
  /** When the event happened, ISO 8601. */
  readonly createdAt: string;
  /** Event-specific data. */
  readonly data: D;
}

/** Every event the service sends. */
export type WebhookEvent =
  | WebhookEventOf<"session.started", SessionEventData>
  | WebhookEventOf<"session.ended", SessionEventData>
  | WebhookEventOf<"session.composing", ComposingEventData>
  | WebhookEventOf<"message.received", MessageEventData>
  | WebhookEventOf<"message.delivered", MessageEventData>
  | WebhookEventOf<"message.failed", MessageEventData>
  | WebhookEventOf<"message.displayed", MessageEventData>
  | WebhookEventOf<"pager.received", PagerEventData>
  | WebhookEventOf<"file.delivered", FileTransferData>
  | WebhookEventOf<"file.failed", FileTransferData>;

/** The event types. */
export type WebhookEventType = WebhookEvent["type"];

/** The event of type `T`. */
export type WebhookEventFor<T extends WebhookEventType> = Extract<WebhookEvent, { type: T }>;

/** Makes an event with a fresh id, created at `at` (now when omitted). */
export function createEvent<T extends WebhookEventType>(
  type: T,
  data: WebhookEventFor<T>["data"],
  at: Date = new Date(),
): WebhookEventFor<T> {
  return {
    id: `evt_${crypto.randomUUID()}`,
    type,
    createdAt: at.toISOString(),
    data,
  } as WebhookEventFor<T>;
}

function identity(session: SessionRecord | undefined): EventIdentity {
  return {
    from: session?.fromUri ?? null,
    to: session?.toUri ?? null,
    fromDisplay: session?.fromDisplay ?? null,
    callId: session?.callId ?? null,
  };
}

/** `kind` and `file` of a file-transfer session; nothing for a chat. */
function fileTransfer(session: SessionRecord): { kind?: "file-transfer"; file?: SessionFile } {
  return session.kind === "file-transfer" && session.file
    ? { kind: "file-transfer", file: session.file }
    : {};
}

/** The data of a session event from the session's row. */
export function sessionEventData(session: SessionRecord): SessionEventData {
  return {
    sessionId: session.id,
    direction: session.direction,
    state: session.state,
    localUri: session.localUri,
    remotePath: session.remotePath,
    ...identity(session),
    endReason: session.endReason,
    sipStatus: session.sipStatus,
    hangupCause: session.hangupCause,
    ...fileTransfer(session),
  };
}

/** A composing indication as the `is-composing` plugin parsed it (RFC 3994 §4). */
export interface ComposingIndicationData {
  /** `active` or `idle`. */
  readonly state: "active" | "idle";
  /** Seconds until `active` lapses unless refreshed. */
  readonly refresh?: number;
  /** The type of the message being composed. */
  readonly contentType?: string;
  /** When the sender was last active. */
  readonly lastActive?: Date;
}

/** The data of `session.composing` from the session's row and the indication. */
export function composingEventData(
  sessionId: string,
  session: SessionRecord | undefined,
  indication: ComposingIndicationData,
): ComposingEventData {
  return {
    sessionId,
    ...identity(session),
    state: indication.state,
    refresh: indication.refresh ?? null,
    contentType: indication.contentType ?? null,
    lastActive: indication.lastActive?.toISOString() ?? null,
  };
}

/** What a message event carries besides the row: the inlined text or a content URL. */
export interface MessageContent {
  /** The body as text; see {@linkcode inlineText}. */
  readonly text?: string;
  /** Where the content can be fetched. */
  readonly contentUrl?: string;
}

/**
 * The data of a message event from the message's row, its session's row
 * (for the caller and callee, and the file of a file transfer with
 * `hashVerified`) and optionally its content.
 */
export function messageEventData(
  message: MessageRecord,
  session: SessionRecord | undefined,
  content: MessageContent = {},
): MessageEventData {
  const error = message.errorReason === null && message.errorCode === null
    ? null
    : { code: message.errorCode, reason: message.errorReason ?? "" };
  return {
    sessionId: message.sessionId,
    messageId: message.id,
    msrpMessageId: message.messageId,
    direction: message.direction,
    contentType: message.contentType,
    size: message.size,
    bytes: message.bytes,
    sha256: message.sha256,
    status: message.status,
    error,
    ...identity(session),
    ...(content.text === undefined ? {} : { text: content.text }),
    ...(content.contentUrl === undefined ? {} : { contentUrl: content.contentUrl }),
    ...(session?.kind === "file-transfer" && session.file
      ? { file: session.file, hashVerified: message.hashVerified ?? null }
      : {}),
    ...(message.direction === "in" && message.imdn?.requested.length
      ? { imdnRequested: message.imdn.requested }
      : {}),
  };
}

/**
 * The state of a file we push, from its session's row (of kind
 * `file-transfer`, direction `out`) and the row of the message carrying the
 * file (`undefined` before it was queued): `delivered` once the success
 * REPORT came, `failed` when the message failed or the session ended
 * without it, `sending` otherwise.
 */
export function fileTransferData(
  session: SessionRecord & { readonly file: SessionFile },
  message: MessageRecord | undefined,
): FileTransferData {
  let status: FileTransferStatus = "sending";
  let error: EventError | null = null;
  if (message?.status === "delivered") {
    status = "delivered";
  } else if (message?.status === "failed") {
    status = "failed";
    error = { code: message.errorCode, reason: message.errorReason ?? "" };
  } else if (message === undefined && session.state === "ended") {
    status = "failed";
    error = { code: null, reason: session.endReason ?? "" };
  }
  return {
    id: session.id,
    sessionId: session.id,
    to: session.toUri,
    file: session.file,
    status,
    bytesSent: message?.bytes ?? 0,
    error,
  };
}

const TEXT_TYPE = /^text\/[^;\s]+\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/**
 * The body as text when it may be inlined in an event: a `text/*` type in
 * UTF-8 (or without a charset), valid UTF-8, at most
 * {@linkcode MAX_INLINE_TEXT_BYTES} bytes; otherwise `undefined`.
 */
export function inlineText(contentType: string, body: Uint8Array): string | undefined {
  if (body.length > MAX_INLINE_TEXT_BYTES || !TEXT_TYPE.test(contentType)) return undefined;
  const charset = CHARSET.exec(contentType)?.[1].toLowerCase();
  if (
    charset !== undefined && charset !== "utf-8" && charset !== "utf8" && charset !== "us-ascii"
  ) {
    return undefined;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return undefined;
  }
}

/** Options of {@linkcode publishEvent}. */
export interface PublishOptions {
  /** Also put it in the webhook outbox; `true` when omitted. */
  readonly webhook?: boolean;
}

/**
 * Records an event in one transaction: in the event log (for server-sent
 * events) and, unless disabled, in the webhook outbox. Call the
 * dispatcher's `wake()` afterwards for prompt delivery.
 */
export function publishEvent(
  store: Store,
  event: WebhookEvent,
  options: PublishOptions = {},
): Promise<EventRecord> {
  return store.appendEvent(event.type, event, { webhook: options.webhook ?? true });
}
