/**
 * The SQLite store, the embedded default: sessions, messages, the webhook
 * outbox, the event log and claims in `<dataDir>/msrp-bridge.db`, received
 * content in `<dataDir>/content/`. One process owns the file; statements
 * run synchronously when called, in call order, and their results come back
 * through the asynchronous {@linkcode Store} interface.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { migrate } from "./_schema.ts";
import { SqliteDatabase } from "./_sqlite_db.ts";
import { contentPathIn } from "./_paging.ts";
import { StoreError } from "./error.ts";
import { type AppendEventOptions, LOCAL_INSTANCE, type Store, type StoreOptions } from "./store.ts";
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

/**
 * The page size of a new database. A commit writes every page it changed to
 * the WAL in full; our rows are small (content lives in files), so a message
 * sent through the API changes about a dozen pages whatever their size. At
 * 1 KiB rather than SQLite's 4 KiB default that is about 16 KB written per
 * message instead of 47 KB (measured at 1 000 msg/s), which keeps the WAL,
 * its checkpoints and the file system's journal from stalling commits.
 * A database created before keeps its own page size.
 */
const PAGE_SIZE = 1024;

/** What a store and the transactions it runs share. */
interface Shared {
  readonly database: SqliteDatabase;
  readonly path: string;
  readonly dataDir: string;
  readonly instanceId: string;
  /** The open transaction, which callers outside it wait for. */
  readonly gate: { open?: Promise<unknown> };
}

/** The SQLite store; see {@linkcode SqliteStore.open}. */
export class SqliteStore implements Store {
  /** Which database keeps the state. */
  readonly kind = "sqlite";
  readonly #shared: Shared;
  readonly #inside: boolean;

  /**
   * Opens (creating when needed) the SQLite store under `dataDir`: the
   * directory and its `content/` folder, the database in WAL mode with
   * `synchronous=NORMAL` and foreign keys on, migrated to the current schema;
   * a new database has 1 KiB pages.
   */
  static open(dataDir: string, options: StoreOptions = {}): SqliteStore {
    Deno.mkdirSync(`${dataDir}/content`, { recursive: true });
    const path = `${dataDir}/msrp-bridge.db`;
    const db = new DatabaseSync(path);
    try {
      db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      // Only a database without tables takes it (before WAL mode, which fixes it).
      db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      db.exec(`PRAGMA wal_autocheckpoint = ${Math.trunc(options.walAutocheckpointPages ?? 1000)}`);
      migrate(db);
    } catch (e) {
      db.close();
      throw e;
    }
    const instanceId = options.instanceId ?? LOCAL_INSTANCE;
    const database = new SqliteDatabase(db, instanceId, options.now ?? Date.now);
    return new SqliteStore({ database, path, dataDir, instanceId, gate: {} }, false);
  }

  private constructor(shared: Shared, inside: boolean) {
    this.#shared = shared;
    this.#inside = inside;
  }

  /** The data directory. */
  get dataDir(): string {
    return this.#shared.dataDir;
  }

  /** The database file. */
  get path(): string {
    return this.#shared.path;
  }

  /** The instance this process is. */
  get instanceId(): string {
    return this.#shared.instanceId;
  }

  /** Where the content of message `id` is kept: `<dataDir>/content/<id>`. */
  contentPath(id: string): string {
    return contentPathIn(this.dataDir, id);
  }

  /** The schema version of the database. */
  schemaVersion(): Promise<number> {
    return this.#run((db) => db.schemaVersion());
  }

  /**
   * Runs `fn` in one transaction (`BEGIN IMMEDIATE`): committed when it
   * resolves, rolled back when it rejects; calls from outside it wait until
   * it ends. Inside another transaction it joins that one.
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.#inside) return await fn(this);
    const { gate, database } = this.#shared;
    while (gate.open) await gate.open.catch(() => {});
    database.begin();
    const tx = new SqliteStore(this.#shared, true);
    const run = (async () => {
      try {
        const result = await fn(tx);
        database.commit();
        return result;
      } catch (e) {
        database.rollback();
        throw e;
      }
    })();
    gate.open = run;
    try {
      return await run;
    } finally {
      if (gate.open === run) delete gate.open;
    }
  }

  /** Records a new session, owned by this instance. */
  insertSession(session: NewSession): Promise<SessionRecord> {
    return this.#run((db) => db.insertSession(session));
  }

  /** Changes a session and returns it; rejects with `not-found` when there is none. */
  updateSession(id: string, changes: SessionChanges): Promise<SessionRecord> {
    return this.#run((db) => db.updateSession(id, changes));
  }

  /** The session `id`, if any. */
  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.#run((db) => db.getSession(id));
  }

  /** Sessions, newest first, optionally only those in `state`. */
  listSessions(
    options: ListOptions & { readonly state?: SessionState } = {},
  ): Promise<Page<SessionRecord>> {
    return this.#run((db) => db.listSessions(options));
  }

  /** Records a new message of an existing session. */
  insertMessage(message: NewMessage): Promise<MessageRecord> {
    return this.#run((db) => db.insertMessage(message));
  }

  /** Changes a message and returns it; rejects with `not-found` when there is none. */
  updateMessage(id: string, changes: MessageChanges): Promise<MessageRecord> {
    return this.#run((db) => db.updateMessage(id, changes));
  }

  /** The message `id`, if any. */
  getMessage(id: string): Promise<MessageRecord | undefined> {
    return this.#run((db) => db.getMessage(id));
  }

  /** Messages of a session, oldest first. */
  listMessages(sessionId: string, options: ListOptions = {}): Promise<Page<MessageRecord>> {
    return this.#run((db) => db.listMessages(sessionId, options));
  }

  /** Appends an event to the log and, with `webhook`, to the outbox, atomically. */
  appendEvent(type: string, payload: unknown, options: AppendEventOptions): Promise<EventRecord> {
    return this.#run((db) => db.appendEvent(type, payload, options.webhook));
  }

  /** Up to `limit` events after position `seq`, oldest first. */
  eventsSince(seq: number, limit: number): Promise<EventRecord[]> {
    return this.#run((db) => db.eventsSince(seq, limit));
  }

  /** The position of the newest event in the log; 0 when it is empty. */
  lastEventSeq(): Promise<number> {
    return this.#run((db) => db.lastEventSeq());
  }

  /** Puts a webhook delivery in the outbox, due now. */
  enqueueWebhook(type: string, payload: unknown): Promise<WebhookRecord> {
    return this.#run((db) => db.enqueueWebhook(type, payload));
  }

  /** Takes up to `limit` deliveries due at `now`, leased until `leaseUntil`. */
  claimWebhooks(now: number, limit: number, leaseUntil: number): Promise<WebhookRecord[]> {
    return this.#run((db) => db.claimWebhooks(now, limit, leaseUntil));
  }

  /** Marks delivery `id` as delivered. */
  markWebhookDelivered(id: number): Promise<void> {
    return this.#run((db) => db.markWebhookDelivered(id));
  }

  /** Records a failed attempt of delivery `id`: due again at `nextAttemptAt`, or given up. */
  markWebhookFailed(id: number, error: string, nextAttemptAt: number | null): Promise<void> {
    return this.#run((db) => db.markWebhookFailed(id, error, nextAttemptAt));
  }

  /** When the earliest pending delivery is due, if any is pending. */
  nextWebhookAttemptAt(): Promise<number | undefined> {
    return this.#run((db) => db.nextWebhookAttemptAt());
  }

  /** How many deliveries are pending and given up. */
  webhookBacklog(): Promise<WebhookBacklog> {
    return this.#run((db) => db.webhookBacklog());
  }

  /** Claims `key` for this instance: `true` the first time, `false` after. */
  claim(key: string): Promise<boolean> {
    return this.#run((db) => db.claim(key));
  }

  /** Forgets the claims made before `before`; resolves with how many. */
  pruneClaims(before: number): Promise<number> {
    return this.#run((db) => db.pruneClaims(before));
  }

  /** Ends what the previous run left in flight; see `Store.recoverAfterRestart`. */
  recoverAfterRestart(): Promise<RecoveryResult> {
    return this.#run((db) => db.recoverAfterRestart());
  }

  /** Records that this instance is alive and reachable at `url`. */
  heartbeat(url: string, started: boolean): Promise<void> {
    return this.#run((db) => db.heartbeat(url, started));
  }

  /** The instance `id`, if it ever beat. */
  instance(id: string): Promise<InstanceRecord | undefined> {
    return this.#run((db) => db.instance(id));
  }

  /** The instance that owns session `id`. */
  sessionOwner(id: string): Promise<string | undefined> {
    return this.#run((db) => db.sessionOwner(id));
  }

  /** The instance that owns the session of message `id`. */
  messageOwner(id: string): Promise<string | undefined> {
    return this.#run((db) => db.messageOwner(id));
  }

  /** Other instances without a heartbeat since `staleBefore`, not taken over. */
  lostInstances(staleBefore: number): Promise<string[]> {
    return this.#run((db) => db.lostInstances(staleBefore));
  }

  /** Takes over lost instance `id`; see `Store.takeOver`. */
  takeOver(id: string, staleBefore: number, reason: string): Promise<RecoveryResult | undefined> {
    return this.#run((db) => db.takeOver(id, staleBefore, reason));
  }

  /** Records a file published by this instance for peers to pull. */
  insertPublishedFile(file: NewPublishedFile): Promise<PublishedFileRecord> {
    return this.#run((db) => db.insertPublishedFile(file));
  }

  /** The files published, oldest first. */
  listPublishedFiles(): Promise<PublishedFileRecord[]> {
    return this.#run((db) => db.listPublishedFiles());
  }

  /** Forgets published file `id`; resolves with its record, if there was one. */
  deletePublishedFile(id: string): Promise<PublishedFileRecord | undefined> {
    return this.#run((db) => db.deletePublishedFile(id));
  }

  /** Bytes of received content kept in content files, and of published files. */
  storedContentBytes(): Promise<number> {
    return this.#run((db) => db.storedContentBytes());
  }

  /** Resolves when the database takes writes. */
  ping(): Promise<void> {
    return this.#run((db) => db.ping());
  }

  /** Closes the database. */
  close(): Promise<void> {
    return this.#run((db) => db.close(), true);
  }

  /** Closes the database. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Runs `op` now, unless a transaction that this call is not part of is
   * open: then once it ends. Errors reject the promise.
   */
  async #run<T>(op: (db: SqliteDatabase) => T, evenClosed = false): Promise<T> {
    const { gate, database } = this.#shared;
    if (!this.#inside) { while (gate.open) await gate.open.catch(() => {}); }
    if (!evenClosed && !database.isOpen) throw new StoreError("closed", "the store is closed");
    return op(database);
  }
}
