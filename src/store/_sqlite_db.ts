/**
 * The statements of the SQLite store, run synchronously on one connection
 * (internal to `sqlite.ts`, which puts the asynchronous `Store` interface
 * over them).
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { StoreError } from "./error.ts";
import { schemaVersion } from "./_schema.ts";
import { prepareStatements, type Statements } from "./_statements.ts";
import { pageCursor, pageLimit, toPage } from "./_paging.ts";
import {
  assignments,
  type ColumnMap,
  eventFromRow,
  instanceFromRow,
  MESSAGE_COLUMNS,
  messageColumns,
  messageFromRow,
  type Params,
  publishedColumns,
  publishedFromRow,
  type Row,
  SESSION_COLUMNS,
  sessionColumns,
  sessionFromRow,
  webhookFromRow,
} from "./_rows.ts";
import { INTERRUPTED_BY_RESTART } from "./store.ts";
import type {
  EventRecord,
  InstanceRecord,
  ListOptions,
  MessageChanges,
  MessageRecord,
  NewMessage,
  NewPublishedFile,
  NewSession,
  Page,
  PublishedFileRecord,
  RecoveryResult,
  SessionChanges,
  SessionRecord,
  SessionState,
  WebhookBacklog,
  WebhookRecord,
} from "./types.ts";

const rowid = (row: Row): unknown => row.rowid;

/** One open, migrated database and its prepared statements. */
export class SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #instance: string;
  readonly #updates = new Map<string, StatementSync>();
  readonly #sql: Statements;

  /** Prepares the statements on `db`; rows it inserts belong to `instance`. */
  constructor(db: DatabaseSync, instance: string, now: () => number) {
    this.#db = db;
    this.#instance = instance;
    this.#now = now;
    this.#sql = prepareStatements(db);
  }

  /** The database is open. */
  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  /** The schema version of the database. */
  schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** Starts a write transaction. */
  begin(): void {
    this.#db.exec("BEGIN IMMEDIATE");
  }

  /** Commits the open transaction. */
  commit(): void {
    this.#db.exec("COMMIT");
  }

  /** Rolls back the open transaction, if one is open. */
  rollback(): void {
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
  }

  /** Runs `fn` in one transaction, or in the one already open. */
  atomically<T>(fn: () => T): T {
    if (this.#db.isTransaction) return fn();
    this.begin();
    try {
      const result = fn();
      this.commit();
      return result;
    } catch (e) {
      this.rollback();
      throw e;
    }
  }

  /** See `Store.insertSession`. */
  insertSession(session: NewSession): SessionRecord {
    const row = this.#sql.insertSession.get(
      sessionColumns(session, this.#instance, this.#now()),
    ) as Row;
    return sessionFromRow(row);
  }

  /** See `Store.updateSession`. */
  updateSession(id: string, changes: SessionChanges): SessionRecord {
    return sessionFromRow(this.#update("sessions", SESSION_COLUMNS, id, changes, {}));
  }

  /** See `Store.getSession`. */
  getSession(id: string): SessionRecord | undefined {
    const row = this.#sql.getSession.get(id) as Row | undefined;
    return row && sessionFromRow(row);
  }

  /**
   * See `Store.listSessions`. Their traffic counts are columns of the rows
   * (kept by triggers on the messages), so a page costs no aggregation.
   */
  listSessions(options: ListOptions & { readonly state?: SessionState }): Page<SessionRecord> {
    const limit = pageLimit(options.limit);
    const rows = this.#sql.listSessions.all({
      cursor: pageCursor(options.cursor),
      state: options.state ?? null,
      limit: limit + 1,
    }) as Row[];
    return toPage(rows, limit, sessionFromRow, rowid);
  }

  /** See `Store.insertMessage`. */
  insertMessage(message: NewMessage): MessageRecord {
    const row = this.#sql.insertMessage.get(messageColumns(message, this.#now())) as Row;
    return messageFromRow(row);
  }

  /** See `Store.updateMessage`. */
  updateMessage(id: string, changes: MessageChanges): MessageRecord {
    const row = this.#update("messages", MESSAGE_COLUMNS, id, changes, { updated_at: this.#now() });
    return messageFromRow(row);
  }

  /** See `Store.getMessage`. */
  getMessage(id: string): MessageRecord | undefined {
    const row = this.#sql.getMessage.get(id) as Row | undefined;
    return row && messageFromRow(row);
  }

  /** See `Store.listMessages`. */
  listMessages(sessionId: string, options: ListOptions): Page<MessageRecord> {
    const limit = pageLimit(options.limit);
    const rows = this.#sql.listMessages.all({
      session_id: sessionId,
      cursor: pageCursor(options.cursor),
      limit: limit + 1,
    }) as Row[];
    return toPage(rows, limit, messageFromRow, rowid);
  }

  /** See `Store.appendEvent`. */
  appendEvent(type: string, payload: unknown, webhook: boolean): EventRecord {
    return this.atomically(() => {
      const row = this.#sql.appendEvent.get(type, JSON.stringify(payload), this.#now()) as Row;
      if (webhook) this.enqueueWebhook(type, payload);
      return eventFromRow(row);
    });
  }

  /** See `Store.eventsSince`. */
  eventsSince(seq: number, limit: number): EventRecord[] {
    return (this.#sql.eventsSince.all(seq, limit) as Row[]).map(eventFromRow);
  }

  /** See `Store.lastEventSeq`. */
  lastEventSeq(): number {
    const row = this.#sql.lastEventSeq.get() as { seq: number | null };
    return Number(row.seq ?? 0);
  }

  /** See `Store.enqueueWebhook`. */
  enqueueWebhook(type: string, payload: unknown): WebhookRecord {
    const row = this.#sql.enqueueWebhook.get({
      type,
      payload: JSON.stringify(payload),
      now: this.#now(),
    }) as Row;
    return webhookFromRow(row);
  }

  /** See `Store.claimWebhooks` (one writer holds the file: a select, then updates). */
  claimWebhooks(now: number, limit: number, leaseUntil: number): WebhookRecord[] {
    return this.atomically(() =>
      (this.#sql.dueWebhooks.all(now, limit) as Row[]).map((due) =>
        webhookFromRow(
          this.#sql.startWebhookAttempt.get({
            id: due.id as number,
            lease_until: leaseUntil,
            instance_id: this.#instance,
          }) as Row,
        )
      )
    );
  }

  /** See `Store.markWebhookDelivered`. */
  markWebhookDelivered(id: number): void {
    this.#sql.markWebhookDelivered.run({ id, now: this.#now() });
  }

  /** See `Store.markWebhookFailed`. */
  markWebhookFailed(id: number, error: string, nextAttemptAt: number | null): void {
    this.#sql.markWebhookFailed.run({ id, error, next_attempt_at: nextAttemptAt });
  }

  /** See `Store.nextWebhookAttemptAt`. */
  nextWebhookAttemptAt(): number | undefined {
    const row = this.#sql.nextWebhookAttemptAt.get() as { at: number | null };
    return row.at ?? undefined;
  }

  /** See `Store.webhookBacklog`. */
  webhookBacklog(): WebhookBacklog {
    const row = this.#sql.webhookBacklog.get() as Row;
    return {
      pending: Number(row.pending),
      exhausted: Number(row.exhausted),
      oldestPendingAt: row.oldest === null ? null : Number(row.oldest),
    };
  }

  /** See `Store.claim`. */
  claim(key: string): boolean {
    const row = this.#sql.claim.get({ key, instance_id: this.#instance, now: this.#now() });
    return row !== undefined;
  }

  /** See `Store.pruneClaims`. */
  pruneClaims(before: number): number {
    return Number(this.#sql.pruneClaims.run(before).changes);
  }

  /** See `Store.recoverAfterRestart`. */
  recoverAfterRestart(): RecoveryResult {
    // One process owns the file: everything in flight was this one's.
    return this.atomically(() => this.#endInFlight(null, INTERRUPTED_BY_RESTART, true));
  }

  /** See `Store.heartbeat`. */
  heartbeat(url: string, started: boolean): void {
    this.#sql.heartbeat.run({
      id: this.#instance,
      url,
      now: this.#now(),
      started: started ? 1 : 0,
    });
  }

  /** See `Store.instance`. */
  instance(id: string): InstanceRecord | undefined {
    const row = this.#sql.instance.get(id) as Row | undefined;
    return row && instanceFromRow(row);
  }

  /** See `Store.sessionOwner`. */
  sessionOwner(id: string): string | undefined {
    const row = this.#sql.sessionOwner.get(id) as Row | undefined;
    return row && String(row.instance_id ?? this.#instance);
  }

  /** See `Store.messageOwner`. */
  messageOwner(id: string): string | undefined {
    const row = this.#sql.messageOwner.get(id) as Row | undefined;
    return row && String(row.instance_id ?? this.#instance);
  }

  /** See `Store.lostInstances`. */
  lostInstances(staleBefore: number): string[] {
    const rows = this.#sql.lostInstances.all({ me: this.#instance, stale: staleBefore }) as Row[];
    return rows.map((row) => String(row.id));
  }

  /** See `Store.takeOver`. */
  takeOver(id: string, staleBefore: number, reason: string): RecoveryResult | undefined {
    return this.atomically(() => {
      const marked = this.#sql.markTakenOver.get({ id, me: this.#instance, stale: staleBefore });
      return marked === undefined ? undefined : this.#endInFlight(id, reason, false);
    });
  }

  /**
   * Ends what instance `id` (every instance with `null`) left in flight,
   * with `reason`: outgoing messages fail, incoming ones become partial (with
   * `local`, their content files are this process's, and `bytes` becomes the
   * length kept), open sessions end, leased deliveries become due now.
   */
  #endInFlight(id: string | null, reason: string, local: boolean): RecoveryResult {
    const params = { id, now: this.#now(), reason };
    const failed = (this.#sql.failOutgoing.all(params) as Row[]).map(messageFromRow);
    const partial = (this.#sql.interruptIncoming.all(params) as Row[]).map((row) => {
      const message = messageFromRow(row);
      return local ? this.#withStoredBytes(message) : message;
    });
    const sessions = (this.#sql.endOpenSessions.all(params) as Row[]).map(sessionFromRow);
    const resumed = this.#sql.resumeWebhooks.run({ id, now: params.now }).changes;
    const messages = [...failed, ...partial];
    return {
      failedMessages: messages.length,
      endedSessions: sessions.length,
      messages,
      sessions,
      resumedWebhooks: Number(resumed),
    };
  }

  /** See `Store.insertPublishedFile`. */
  insertPublishedFile(file: NewPublishedFile): PublishedFileRecord {
    const row = this.#sql.insertPublished.get(publishedColumns(file, this.#instance, this.#now()));
    return publishedFromRow(row as Row);
  }

  /** See `Store.listPublishedFiles` (one process owns the file: every row is this one's). */
  listPublishedFiles(): PublishedFileRecord[] {
    return (this.#sql.listPublished.all() as Row[]).map(publishedFromRow);
  }

  /** See `Store.deletePublishedFile`. */
  deletePublishedFile(id: string): PublishedFileRecord | undefined {
    const row = this.#sql.deletePublished.get(id) as Row | undefined;
    return row && publishedFromRow(row);
  }

  /** See `Store.storedContentBytes` (one pass over the messages, for start-up). */
  storedContentBytes(): number {
    const row = this.#sql.storedContentBytes.get() as Row;
    return Number(row.bytes);
  }

  /** Writes nothing, in a write transaction: throws when the database takes no writes. */
  ping(): void {
    this.atomically(() => {});
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
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
