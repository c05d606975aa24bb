/**
 * The records the store keeps: sessions, messages, the webhook outbox and the
 * event log. Times are milliseconds since the Unix epoch; absent values are
 * `null`.
 *
 * @module
 */

/** Who started a session or sent a message: `in` the remote side, `out` us. */
export type Direction = "in" | "out";

/** Lifecycle of a session. */
export type SessionState = "pending" | "active" | "ended";

/**
 * Where a message stands. Outgoing: `queued` → `sending` → `sent` →
 * `delivered`, or `failed`. Incoming: `receiving` → `received`, or `partial`
 * (some bytes are missing), or `failed` (the content could not be stored).
 */
export type MessageStatus =
  | "queued"
  | "sending"
  | "sent"
  | "delivered"
  | "failed"
  | "receiving"
  | "received"
  | "partial";

/** SIP-side facts about the call that carries a session. */
export interface CallIdentity {
  /** SIP From URI (the caller). */
  readonly fromUri: string | null;
  /** SIP To URI (the callee). */
  readonly toUri: string | null;
  /** Display name of the caller. */
  readonly fromDisplay: string | null;
  /** SIP Call-ID. */
  readonly callId: string | null;
  /** The PBX channel UUID of our leg. */
  readonly channelUuid: string | null;
  /** The PBX channel UUID of the other leg, when bridged. */
  readonly otherLegUuid: string | null;
}

/**
 * The traffic of a session, kept by the store with its message rows. A
 * message counts once it is complete: received in full (`in`), or sent or
 * delivered (`out`), with the body bytes it carried. A message that failed
 * or arrived incomplete (`failed`, `partial`) counts in `messagesFailed`
 * only; one still under way counts nowhere yet. Is-composing indications
 * (RFC 3994, `application/im-iscomposing+xml`) count nowhere.
 */
export interface SessionCounts {
  /** Messages received in full. */
  readonly messagesIn: number;
  /** Body bytes of the messages received in full. */
  readonly bytesIn: number;
  /** Messages sent (`sent` or `delivered`). */
  readonly messagesOut: number;
  /** Body bytes of the messages sent. */
  readonly bytesOut: number;
  /** Messages, either way, that failed or arrived incomplete. */
  readonly messagesFailed: number;
}

/** What a session carries: a conversation (`chat`), or one file pushed to us (RFC 5547). */
export type SessionKind = "chat" | "file-transfer";

/** A hash of a file as its sender offered it (RFC 5547 §5, `hash:<algorithm>:<hex:hex…>`). */
export interface FileHash {
  /** The hash algorithm as offered, e.g. `sha-1`. */
  readonly algorithm: string;
  /** The hash as colon-separated hex bytes. */
  readonly value: string;
}

/**
 * The file of a file-transfer session, as the offer's RFC 5547 attributes
 * describe it (`a=file-selector`, `a=file-transfer-id`, `a=file-disposition`,
 * `a=file-date`); what the offer left out is `null`.
 */
export interface SessionFile {
  /** The file name. */
  readonly name: string | null;
  /** The file's media type. */
  readonly type: string | null;
  /** The file's size in bytes. */
  readonly size: number | null;
  /** The file's hash, checked once it is received. */
  readonly hash: FileHash | null;
  /** `a=file-transfer-id`. */
  readonly transferId: string | null;
  /** `a=file-disposition`, e.g. `attachment` or `render`. */
  readonly disposition: string | null;
  /** `a=file-date`: creation, modification and read dates as given (RFC 5322 dates). */
  readonly date: {
    readonly creation?: string;
    readonly modification?: string;
    readonly read?: string;
  } | null;
  /**
   * The id of the message, received in part, whose content this transfer
   * continues (RFC 5547 §8, `a=file-range`); absent when it starts afresh.
   */
  readonly resumes?: string;
}

/** A stored MSRP session. */
export interface SessionRecord extends CallIdentity, SessionCounts {
  /** The session id. */
  readonly id: string;
  /** A conversation, or a file pushed to us. */
  readonly kind: SessionKind;
  /** The file of a `file-transfer` session. */
  readonly file?: SessionFile;
  /** Lifecycle state. */
  readonly state: SessionState;
  /** Who started it. */
  readonly direction: Direction;
  /** Our MSRP URI. */
  readonly localUri: string;
  /** The peer's MSRP path, first hop first. */
  readonly remotePath: readonly string[];
  /** Final SIP status of the call, when known. */
  readonly sipStatus: number | null;
  /** The PBX hang-up cause, when known. */
  readonly hangupCause: string | null;
  /** When it was created. */
  readonly createdAt: number;
  /** When it ended. */
  readonly endedAt: number | null;
  /** Why it ended. */
  readonly endReason: string | null;
}

/** The fields of a new session; `id` and `createdAt` are chosen when omitted. */
export interface NewSession extends Partial<CallIdentity> {
  /** The session id; a random UUID when omitted. */
  readonly id?: string;
  /** Lifecycle state; `pending` when omitted. */
  readonly state?: SessionState;
  /** The file of a file transfer; the session is then of kind `file-transfer`, else `chat`. */
  readonly file?: SessionFile;
  /** Who started it. */
  readonly direction: Direction;
  /** Our MSRP URI. */
  readonly localUri: string;
  /** The peer's MSRP path; empty when omitted. */
  readonly remotePath?: readonly string[];
  /** Final SIP status of the call. */
  readonly sipStatus?: number | null;
  /** The PBX hang-up cause. */
  readonly hangupCause?: string | null;
  /** Creation time; now when omitted. */
  readonly createdAt?: number;
}

/** Changes to a session; omitted fields keep their value. */
export interface SessionChanges extends Partial<CallIdentity> {
  /** Lifecycle state. */
  readonly state?: SessionState;
  /** Our MSRP URI. */
  readonly localUri?: string;
  /** The peer's MSRP path. */
  readonly remotePath?: readonly string[];
  /** Final SIP status of the call. */
  readonly sipStatus?: number | null;
  /** The PBX hang-up cause. */
  readonly hangupCause?: string | null;
  /** When it ended. */
  readonly endedAt?: number | null;
  /** Why it ended. */
  readonly endReason?: string | null;
}

/**
 * The IMDN state (RFC 5438) of a CPIM message that has an `imdn.Message-ID`:
 * what its sender asked for, and the notifications sent (for a message we
 * received) or received (for one we sent).
 */
export interface MessageImdn {
  /** The `imdn.Message-ID` of the CPIM message. */
  readonly messageId: string;
  /** The CPIM `DateTime` of the message, which notifications repeat. */
  readonly dateTime: string | null;
  /** The notifications asked for: `positive-delivery`, `negative-delivery`, `display`. */
  readonly requested: readonly string[];
  /** The delivery notification's status (`delivered`, `failed`, …), once sent or received. */
  readonly delivery: string | null;
  /** The display notification's status (`displayed`, …), once sent or received. */
  readonly display: string | null;
  /** The CPIM address of the sender (received) or recipient (sent) of the message. */
  readonly peer: string | null;
  /** Our CPIM address in the message. */
  readonly local: string | null;
}

/** A stored message, sent or received. */
export interface MessageRecord {
  /** The row id (also the name of its content file). */
  readonly id: string;
  /** The session it belongs to. */
  readonly sessionId: string;
  /** `in` received, `out` sent. */
  readonly direction: Direction;
  /** The MSRP Message-ID. */
  readonly messageId: string;
  /** Where it stands. */
  readonly status: MessageStatus;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Declared total size, when known. */
  readonly size: number | null;
  /** Body bytes sent or received. */
  readonly bytes: number;
  /** Hex SHA-256 of the complete content, when known. */
  readonly sha256: string | null;
  /** Path of the content file, when the content is on disk. */
  readonly contentPath: string | null;
  /** The body, when it is a short UTF-8 text kept in the row. */
  readonly text: string | null;
  /**
   * For the file of a file-transfer session: whether its content matched
   * the offered hash; `null` while unknown or when no hash we check was
   * offered. Absent on other messages.
   */
  readonly hashVerified?: boolean | null;
  /** IMDN state of a CPIM message with an `imdn.Message-ID`; absent on other messages. */
  readonly imdn?: MessageImdn;
  /** MSRP status code of a failure. */
  readonly errorCode: number | null;
  /** Why it failed or is incomplete. */
  readonly errorReason: string | null;
  /** When it was created. */
  readonly createdAt: number;
  /** When it last changed. */
  readonly updatedAt: number;
}

/** The fields of a new message; `id` and times are chosen when omitted. */
export interface NewMessage {
  /** The row id: `[A-Za-z0-9_-]`, 1 to 128 characters; a random UUID when omitted. */
  readonly id?: string;
  /** The session it belongs to (must exist). */
  readonly sessionId: string;
  /** `in` received, `out` sent. */
  readonly direction: Direction;
  /** The MSRP Message-ID. */
  readonly messageId: string;
  /** Where it stands. */
  readonly status: MessageStatus;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Declared total size. */
  readonly size?: number | null;
  /** Body bytes so far; 0 when omitted. */
  readonly bytes?: number;
  /** Hex SHA-256 of the content. */
  readonly sha256?: string | null;
  /** Path of the content file. */
  readonly contentPath?: string | null;
  /** The body as text, for a short text kept in the row. */
  readonly text?: string | null;
  /** Creation time; now when omitted. */
  readonly createdAt?: number;
}

/** Changes to a message; omitted fields keep their value, `updatedAt` becomes now. */
export interface MessageChanges {
  /** Where it stands. */
  readonly status?: MessageStatus;
  /** Declared total size. */
  readonly size?: number | null;
  /** Body bytes sent or received. */
  readonly bytes?: number;
  /** Hex SHA-256 of the content. */
  readonly sha256?: string | null;
  /** Path of the content file. */
  readonly contentPath?: string | null;
  /** The body as text, for a short text kept in the row. */
  readonly text?: string | null;
  /** Whether the content matched the offered hash of its file. */
  readonly hashVerified?: boolean | null;
  /** IMDN state (RFC 5438) of a CPIM message. */
  readonly imdn?: MessageImdn | null;
  /** MSRP status code of a failure. */
  readonly errorCode?: number | null;
  /** Why it failed or is incomplete. */
  readonly errorReason?: string | null;
}

/** Options of a paged listing. */
export interface ListOptions {
  /** Most items per page, 1 to 1000; 100 when omitted. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of a listing. */
export interface Page<T> {
  /** The items of this page. */
  readonly items: T[];
  /** Pass as `cursor` for the next page; `undefined` on the last page. */
  readonly nextCursor: string | undefined;
}

/** An entry of the event log that server-sent events resume from. */
export interface EventRecord {
  /** Position in the log, increasing. */
  readonly seq: number;
  /** The event type, e.g. `message.received`. */
  readonly type: string;
  /** The event as JSON text. */
  readonly payload: string;
  /** When it was appended. */
  readonly createdAt: number;
}

/** A webhook delivery in the outbox. */
export interface WebhookRecord {
  /** The delivery id. */
  readonly id: number;
  /** The event type, e.g. `message.received`. */
  readonly type: string;
  /** The request body: JSON text, posted verbatim. */
  readonly payload: string;
  /** When it was enqueued. */
  readonly createdAt: number;
  /** Attempts started so far. */
  readonly attempts: number;
  /** When the next attempt is due; `null` once delivered or given up. */
  readonly nextAttemptAt: number | null;
  /** Why the last attempt failed. */
  readonly lastError: string | null;
  /** When it was delivered. */
  readonly deliveredAt: number | null;
}

/** Size of the webhook outbox. */
export interface WebhookBacklog {
  /** Deliveries still to be attempted. */
  readonly pending: number;
  /** Deliveries given up after too many attempts. */
  readonly exhausted: number;
  /** Creation time of the oldest pending delivery. */
  readonly oldestPendingAt: number | null;
}

/**
 * A file published for peers to pull (RFC 5547 §6: an offer with
 * `a=recvonly` and an `a=file-selector` naming it), kept under the data
 * directory of the instance that stored it.
 */
export interface PublishedFileRecord {
  /** Its id. */
  readonly id: string;
  /** The file name a selector matches. */
  readonly name: string;
  /** Its media type. */
  readonly type: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its SHA-1, as a selector writes it (`sha-1`, colon-separated upper-case hex). */
  readonly hash: FileHash;
  /** The `a=file-disposition` sent with it, if any. */
  readonly disposition: string | null;
  /** Where its bytes are kept. */
  readonly path: string;
  /** The instance that keeps it. */
  readonly instanceId: string;
  /** When it was published (ms since the epoch). */
  readonly createdAt: number;
}

/** A file to publish: its record without what the store fills in. */
export type NewPublishedFile = Omit<PublishedFileRecord, "instanceId" | "createdAt">;

/** A bridge process sharing the database, as its heartbeats record it. */
export interface InstanceRecord {
  /** The instance id (`INSTANCE_ID`). */
  readonly id: string;
  /** Where the other instances reach its HTTP API. */
  readonly url: string;
  /** When it (re)started. */
  readonly startedAt: number;
  /** Its last heartbeat. */
  readonly heartbeatAt: number;
  /** The instance that ended its sessions after it stopped beating; `null` while it is alive. */
  readonly takenOverBy: string | null;
}

/** What recovery after a restart changed. */
export interface RecoveryResult {
  /** Messages marked `failed` (sending) or `partial` (receiving). */
  readonly failedMessages: number;
  /** Sessions marked `ended`. */
  readonly endedSessions: number;
  /** The rows of those messages, as recovery left them. */
  readonly messages: readonly MessageRecord[];
  /** The rows of those sessions, as recovery left them. */
  readonly sessions: readonly SessionRecord[];
  /** Pending webhook deliveries made due at once (a crash may have left them leased). */
  readonly resumedWebhooks: number;
}
