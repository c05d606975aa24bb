/**
 * Conversions between SQLite rows and records.
 *
 * @module
 */

import type { SQLInputValue } from "node:sqlite";
import { checkId } from "./_paging.ts";
import type {
  Direction,
  EventRecord,
  InstanceRecord,
  MessageImdn,
  MessageRecord,
  MessageStatus,
  NewMessage,
  NewPublishedFile,
  NewSession,
  PublishedFileRecord,
  SessionKind,
  SessionRecord,
  SessionState,
  WebhookRecord,
} from "./types.ts";

/** A row as `node:sqlite` returns it. */
export type Row = Record<string, unknown>;

/** Named parameters for a statement. */
export type Params = Record<string, SQLInputValue>;

const str = (v: unknown): string | null => v === null || v === undefined ? null : String(v);
const num = (v: unknown): number | null => v === null || v === undefined ? null : Number(v);

/** A `sessions` row as a record. */
export function sessionFromRow(row: Row): SessionRecord {
  return {
    id: String(row.id),
    state: row.state as SessionState,
    direction: row.direction as Direction,
    localUri: String(row.local_uri),
    remotePath: JSON.parse(String(row.remote_path)),
    fromUri: str(row.from_uri),
    toUri: str(row.to_uri),
    fromDisplay: str(row.from_display),
    callId: str(row.call_id),
    channelUuid: str(row.channel_uuid),
    otherLegUuid: str(row.other_leg_uuid),
    sipStatus: num(row.sip_status),
    hangupCause: str(row.hangup_cause),
    createdAt: Number(row.created_at),
    endedAt: num(row.ended_at),
    endReason: str(row.end_reason),
    messagesIn: Number(row.messages_in),
    bytesIn: Number(row.bytes_in),
    messagesOut: Number(row.messages_out),
    bytesOut: Number(row.bytes_out),
    messagesFailed: Number(row.messages_failed),
    kind: (row.kind ?? "chat") as SessionKind,
    ...(row.file === null || row.file === undefined ? {} : { file: JSON.parse(String(row.file)) }),
  };
}

/** A `messages` row as a record. */
export function messageFromRow(row: Row): MessageRecord {
  return {
    id: String(row.id),
    sessionId: String(row.session_id),
    direction: row.direction as Direction,
    messageId: String(row.message_id),
    status: row.status as MessageStatus,
    contentType: String(row.content_type),
    size: num(row.size),
    bytes: Number(row.bytes),
    sha256: str(row.sha256),
    contentPath: str(row.content_path),
    text: str(row.text),
    ...(row.hash_verified === null || row.hash_verified === undefined
      ? {}
      : { hashVerified: Number(row.hash_verified) === 1 }),
    ...(row.imdn === null || row.imdn === undefined
      ? {}
      : { imdn: JSON.parse(String(row.imdn)) as MessageImdn }),
    errorCode: num(row.error_code),
    errorReason: str(row.error_reason),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** A `webhook_outbox` row as a record. */
export function webhookFromRow(row: Row): WebhookRecord {
  return {
    id: Number(row.id),
    type: String(row.type),
    payload: String(row.payload),
    createdAt: Number(row.created_at),
    attempts: Number(row.attempts),
    nextAttemptAt: num(row.next_attempt_at),
    lastError: str(row.last_error),
    deliveredAt: num(row.delivered_at),
  };
}

/** An `events` row as a record. */
export function eventFromRow(row: Row): EventRecord {
  return {
    seq: Number(row.seq),
    type: String(row.type),
    payload: String(row.payload),
    createdAt: Number(row.created_at),
  };
}

/** Record field → column, with the conversion of its value to SQL. */
export type ColumnMap = Record<
  string,
  readonly [column: string, toSql?: (v: unknown) => SQLInputValue]
>;

/** Session fields that can change, and their columns. */
export const SESSION_COLUMNS: ColumnMap = {
  state: ["state"],
  localUri: ["local_uri"],
  remotePath: ["remote_path", (v) => JSON.stringify(v ?? [])],
  fromUri: ["from_uri"],
  toUri: ["to_uri"],
  fromDisplay: ["from_display"],
  callId: ["call_id"],
  channelUuid: ["channel_uuid"],
  otherLegUuid: ["other_leg_uuid"],
  sipStatus: ["sip_status"],
  hangupCause: ["hangup_cause"],
  endedAt: ["ended_at"],
  endReason: ["end_reason"],
};

/** Message fields that can change, and their columns. */
export const MESSAGE_COLUMNS: ColumnMap = {
  status: ["status"],
  size: ["size"],
  bytes: ["bytes"],
  sha256: ["sha256"],
  contentPath: ["content_path"],
  text: ["text"],
  hashVerified: ["hash_verified", (v) => v === null ? null : v ? 1 : 0],
  imdn: ["imdn", (v) => v === null ? null : JSON.stringify(v)],
  errorCode: ["error_code"],
  errorReason: ["error_reason"],
};

/**
 * The columns and parameters of an `UPDATE … SET` for the defined fields of
 * `changes`, in a stable order.
 */
export function assignments(
  changes: object,
  columns: ColumnMap,
): { columns: string[]; params: Params } {
  const names: string[] = [];
  const params: Params = {};
  for (const [field, [column, toSql]] of Object.entries(columns)) {
    const value = (changes as Record<string, unknown>)[field];
    if (value === undefined) continue;
    names.push(column);
    params[column] = toSql ? toSql(value) : value as SQLInputValue;
  }
  return { columns: names, params };
}

/** An `instances` row as a record. */
export function instanceFromRow(row: Row): InstanceRecord {
  return {
    id: String(row.id),
    url: String(row.url),
    startedAt: Number(row.started_at),
    heartbeatAt: Number(row.heartbeat_at),
    takenOverBy: str(row.taken_over_by),
  };
}

/** A `published_files` row as a record. */
export function publishedFromRow(row: Row): PublishedFileRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    type: String(row.type),
    size: Number(row.size),
    hash: { algorithm: String(row.hash_algorithm), value: String(row.hash_value) },
    disposition: str(row.disposition),
    path: String(row.path),
    instanceId: String(row.instance_id),
    createdAt: Number(row.created_at),
  };
}

/** The columns of a new `published_files` row of `instance`, published at `now`. */
export function publishedColumns(file: NewPublishedFile, instance: string, now: number): Params {
  return {
    id: file.id,
    name: file.name,
    type: file.type,
    size: file.size,
    hash_algorithm: file.hash.algorithm,
    hash_value: file.hash.value,
    disposition: file.disposition,
    path: file.path,
    instance_id: instance,
    created_at: now,
  };
}

/** The columns of a new `sessions` row of `instance`, created at `now` unless it says when. */
export function sessionColumns(session: NewSession, instance: string, now: number): Params {
  return {
    id: checkId("session", session.id ?? crypto.randomUUID()),
    state: session.state ?? "pending",
    direction: session.direction,
    local_uri: session.localUri,
    remote_path: JSON.stringify(session.remotePath ?? []),
    from_uri: session.fromUri ?? null,
    to_uri: session.toUri ?? null,
    from_display: session.fromDisplay ?? null,
    call_id: session.callId ?? null,
    channel_uuid: session.channelUuid ?? null,
    other_leg_uuid: session.otherLegUuid ?? null,
    sip_status: session.sipStatus ?? null,
    hangup_cause: session.hangupCause ?? null,
    created_at: session.createdAt ?? now,
    kind: session.file ? "file-transfer" : "chat",
    file: session.file ? JSON.stringify(session.file) : null,
    instance_id: instance,
  };
}

/** The columns of a new `messages` row, created (and updated) at `now` unless it says when. */
export function messageColumns(message: NewMessage, now: number): Params {
  const createdAt = message.createdAt ?? now;
  return {
    id: checkId("message", message.id ?? crypto.randomUUID()),
    session_id: message.sessionId,
    direction: message.direction,
    message_id: message.messageId,
    status: message.status,
    content_type: message.contentType,
    size: message.size ?? null,
    bytes: message.bytes ?? 0,
    sha256: message.sha256 ?? null,
    content_path: message.contentPath ?? null,
    text: message.text ?? null,
    created_at: createdAt,
    updated_at: createdAt,
  };
}
