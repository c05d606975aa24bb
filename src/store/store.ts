/**
 * The SQLite store: sessions, messages, the webhook outbox and the event log
 * in `<dataDir>/msrp-bridge.db`, received content in `<dataDir>/content/`.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StoreError } from "./error.ts";
import { migrate, schemaVersion } from "./_schema.ts";
import { prepareStatements, type Statements } from "./_statements.ts";
import {
  assignments,
  type ColumnMap,
  eventFromRow,
  MESSAGE_COLUMNS,
  messageFromRow,
  type Params,
  type Row,
  SESSION_COLUMNS,
  sessionFromRow,
  webhookFromRow,
} from "./_rows.ts";
import type {
  EventRecord,
  ListOptions,
  MessageChanges,
  MessageRecord,
  NewMessage,
  NewSession,
  Page,
  RecoveryResult,
  SessionChanges,
  SessionRecord,
  SessionState,
  WebhookBacklog,
  WebhookRecord,
} from "./types.ts";

/** The reason recorded on rows that a restart interrupted. */
export const INTERRUPTED_BY_RESTART = "interrupted by restart";

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** The clock, in milliseconds since the epoch; `Date.now` when omitted. */
  readonly now?: () => number;
  /** How long to wait for another connection's lock, ms; 5000 when omitted. */
  readonly busyTimeoutMs?: number;
  /**
   * WAL pages after which a commit checkpoints by itself (SQLite's
   * `wal_autocheckpoint`, 1000 when omitted); raise it when a
   * {@linkcode Checkpointer} does the work off the event loop.
   */
  readonly walAutocheckpointPages?: number;
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function checkId(kind: string, id: string): string {
  if (!ID.test(id)) {
    throw new StoreError("invalid-argument", `${kind} id must match ${ID.source}`);
  }
  return id;
}

function pageLimit(limit: number | undefined): number {
  const n = limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new StoreError("invalid-argument", `limit must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return n;
}

function pageCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  if (!/^[0-9]{1,15}$/.test(cursor)) throw new StoreError("invalid-argument", "invalid cursor");
  return Number(cursor);
}

function toPage<T>(rows: Row[], limit: number, map: (row: Row) => T): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  return {
    items: items.map(map),
    nextCursor: more ? String(items[items.length - 1].rowid) : undefined,
  };
}

/**
 * Opens (creating when needed) the store under `dataDir`: the directory and
 * its `content/` folder, the database in WAL mode with `synchronous=NORMAL`
 * and foreign keys on, migrated to the current schema.
 */
export function openStore(dataDir: string, options: StoreOptions = {}): Store {
  Deno.mkdirSync(`${dataDir}/content`, { recursive: true });
  const path = `${dataDir}/msrp-bridge.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec(`PRAGMA wal_autocheckpoint = ${Math.trunc(options.walAutocheckpointPages ?? 1000)}`);
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return new Store(db, path, dataDir, options.now ?? Date.now);
}

/**
 * Typed access to the database with prepared statements. Every method is
 * synchronous and commits on return (or with the surrounding
 * {@linkcode Store.transaction}).
 */
export class Store {
  /** The data directory. */
  readonly dataDir: string;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #updates = new Map<string, StatementSync>();
  readonly #sql: Statements;
  /** The database file. */
  readonly path: string;

  /** Wraps an open, migrated database; use {@linkcode openStore}. */
  constructor(db: DatabaseSync, path: string, dataDir: string, now: () => number) {
    this.#db = db;
    this.path = path;
    this.dataDir = dataDir;
    this.#now = now;
    this.#sql = prepareStatements(db);
  }

  /** The schema version of the database. */
  get schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** Where the content of message `id` is kept: `<dataDir>/content/<id>`. */
  contentPath(id: string): string {
    return `${this.dataDir}/content/${checkId("message", id)}`;
  }

  /**
   * Runs `fn` in one transaction: committed when it returns, rolled back when
   * it throws. Inside another transaction it joins that one.
   */
  transaction<T>(fn: () => T): T {
    if (this.#db.isTransaction) return fn();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Records a new session. */
  insertSession(session: NewSession): SessionRecord {
    const row = this.#sql.insertSession.get({
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
      created_at: session.createdAt ?? this.#now(),
      kind: session.file ? "file-transfer" : "chat",
      file: session.file ? JSON.stringify(session.file) : null,
    }) as Row;
    return sessionFromRow(row);
  }

  /** Changes a session and returns it; throws `not-found` when there is none. */
  updateSession(id: string, changes: SessionChanges): SessionRecord {
    return sessionFromRow(this.#update("sessions", SESSION_COLUMNS, id, changes, {}));
  }

  /** The session `id`, if any. */
  getSession(id: string): SessionRecord | undefined {
    const row = this.#sql.getSession.get(id) as Row | undefined;
    return row && sessionFromRow(row);
  }

  /**
   * Sessions, newest first, optionally only those in `state`. Their traffic
   * counts are columns of the rows (kept by triggers on the messages), so a
   * page costs no aggregation over the messages.
   */
  listSessions(options: ListOptions & { readonly state?: SessionState } = {}): Page<SessionRecord> {
    const limit = pageLimit(options.limit);
    const rows = this.#sql.listSessions.all({
      cursor: pageCursor(options.cursor),
      state: options.state ?? null,
      limit: limit + 1,
    }) as Row[];
    return toPage(rows, limit, sessionFromRow);
  }

  /** Records a new message of an existing session. */
  insertMessage(message: NewMessage): MessageRecord {
    const row = this.#sql.insertMessage.get({
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
      created_at: message.createdAt ?? this.#now(),
    }) as Row;
    return messageFromRow(row);
  }

  /** Changes a message and returns it; throws `not-found` when there is none. */
  updateMessage(id: string, changes: MessageChanges): MessageRecord {
    const row = this.#update("messages", MESSAGE_COLUMNS, id, changes, { updated_at: this.#now() });
    return messageFromRow(row);
  }

  /** The message `id`, if any. */
  getMessage(id: string): MessageRecord | undefined {
    const row = this.#sql.getMessage.get(id) as Row | undefined;
    return row && messageFromRow(row);
  }

  /** Messages of a session, oldest first. */
  listMessages(sessionId: string, options: ListOptions = {}): Page<MessageRecord> {
    const limit = pageLimit(options.limit);
    const rows = this.#sql.listMessages.all({
      session_id: sessionId,
      cursor: pageCursor(options.cursor),
      limit: limit + 1,
    }) as Row[];
    return toPage(rows, limit, messageFromRow);
  }

  /** Appends an event (stored as JSON) to the log server-sent events resume from. */
  appendEvent(type: string, payload: unknown): EventRecord {
    const row = this.#sql.appendEvent.get(type, JSON.stringify(payload), this.#now()) as Row;
    return eventFromRow(row);
  }

  /** Up to `limit` events after position `seq`, oldest first. */
  eventsSince(seq: number, limit: number): EventRecord[] {
    return (this.#sql.eventsSince.all(seq, limit) as Row[]).map(eventFromRow);
  }

  /** Puts a webhook delivery (body: `payload` as JSON) in the outbox, due now. */
  enqueueWebhook(type: string, payload: unknown): WebhookRecord {
    const row = this.#sql.enqueueWebhook.get({
      type,
      payload: JSON.stringify(payload),
      now: this.#now(),
    }) as Row;
    return webhookFromRow(row);
  }

  /** Up to `limit` deliveries due at `now`, the longest-waiting first. */
  dueWebhooks(now: number, limit: number): WebhookRecord[] {
    return (this.#sql.dueWebhooks.all(now, limit) as Row[]).map(webhookFromRow);
  }

  /**
   * Counts an attempt of delivery `id` as started and makes it due again at
   * `leaseUntil`, so that an attempt cut short by a crash is retried. Returns
   * the record, or `undefined` when it is no longer pending.
   */
  startWebhookAttempt(id: number, leaseUntil: number): WebhookRecord | undefined {
    const row = this.#sql.startWebhookAttempt.get({ id, lease_until: leaseUntil }) as
      | Row
      | undefined;
    return row && webhookFromRow(row);
  }

  /** Marks delivery `id` as delivered. */
  markWebhookDelivered(id: number): void {
    this.#sql.markWebhookDelivered.run({ id, now: this.#now() });
  }

  /**
   * Records a failed attempt of delivery `id`: due again at `nextAttemptAt`,
   * or given up when it is `null`.
   */
  markWebhookFailed(id: number, error: string, nextAttemptAt: number | null): void {
    this.#sql.markWebhookFailed.run({ id, error, next_attempt_at: nextAttemptAt });
  }

  /** When the earliest pending delivery is due, if any is pending. */
  nextWebhookAttemptAt(): number | undefined {
    const row = this.#sql.nextWebhookAttemptAt.get() as { at: number | null };
    return row.at ?? undefined;
  }

  /** How many deliveries are pending and given up. */
  webhookBacklog(): WebhookBacklog {
    const row = this.#sql.webhookBacklog.get() as Row;
    return {
      pending: Number(row.pending),
      exhausted: Number(row.exhausted),
      oldestPendingAt: row.oldest === null ? null : Number(row.oldest),
    };
  }

  /**
   * After a restart nothing is in flight: outgoing messages still `queued`
   * or `sending` become `failed`, incoming ones still `receiving` become
   * `partial` with `bytes` set to the length of the content file kept, and
   * sessions not `ended` (their connections are gone) end, all with the
   * reason {@linkcode INTERRUPTED_BY_RESTART}. Pending webhook deliveries
   * become due now: an attempt cut short by a crash holds a lease that would
   * otherwise delay it well past the restart.
   */
  recoverAfterRestart(): RecoveryResult {
    const params = { now: this.#now(), reason: INTERRUPTED_BY_RESTART };
    return this.transaction(() => {
      const failed = (this.#sql.failOutgoing.all(params) as Row[]).map(messageFromRow);
      const partial = (this.#sql.interruptIncoming.all(params) as Row[])
        .map((row) => this.#withStoredBytes(messageFromRow(row)));
      const sessions = (this.#sql.endOpenSessions.all(params) as Row[]).map(sessionFromRow);
      const resumed = this.#sql.resumeWebhooks.run({ now: params.now }).changes;
      const messages = [...failed, ...partial];
      return {
        failedMessages: messages.length,
        endedSessions: sessions.length,
        messages,
        sessions,
        resumedWebhooks: Number(resumed),
      };
    });
  }

  /**
   * Bytes of received content kept in content files: the byte counts of
   * incoming messages that have one (for the disk quota; one pass over the
   * messages, for start-up).
   */
  storedContentBytes(): number {
    const row = this.#sql.storedContentBytes.get() as Row;
    return Number(row.bytes);
  }

  /** The row with `bytes` set to the length of its content file, when there is one. */
  #withStoredBytes(message: MessageRecord): MessageRecord {
    if (message.contentPath === null) return message;
    let size: number;
    try {
      size = Deno.statSync(message.contentPath).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return message;
      throw e;
    }
    return size === message.bytes ? message : this.updateMessage(message.id, { bytes: size });
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Closes the database. */
  [Symbol.dispose](): void {
    this.close();
  }

  #update(
    table: "sessions" | "messages",
    map: ColumnMap,
    id: string,
    changes: object,
    always: Params,
  ): Row {
    const { columns, params } = assignments(changes, map);
    const set = [...columns, ...Object.keys(always)];
    const key = `${table}:${set.join(",")}`;
    let statement = this.#updates.get(key);
    if (!statement) {
      const sets = set.length > 0 ? set.map((c) => `${c} = :${c}`).join(", ") : "id = id";
      statement = this.#db.prepare(`UPDATE ${table} SET ${sets} WHERE id = :id RETURNING *`);
      this.#updates.set(key, statement);
    }
    const row = statement.get({ ...params, ...always, id }) as Row | undefined;
    if (!row) throw new StoreError("not-found", `no ${table.slice(0, -1)} with id ${id}`);
    return row;
  }
}
