/**
 * The PostgreSQL store: the state of several bridges in one database
 * (sessions, messages, the webhook outbox, the event log and claims), each
 * bridge's received content in files under its own data directory. Built on
 * the `postgres` client's connection pool; every error comes back as a
 * {@linkcode StoreError} that never shows the URL's password.
 *
 * @module
 */

import { StoreError } from "./error.ts";
import { migrate } from "./_pg_schema.ts";
import { connect, type Pool, type Query } from "./_pg_pool.ts";
import * as rows from "./_pg_rows.ts";
import * as outbox from "./_pg_outbox.ts";
import * as instances from "./_pg_instances.ts";
import { describeUrl, secretsOf, toStoreError } from "./_pg_errors.ts";
import { contentPathIn } from "./_paging.ts";
import {
  type AppendEventOptions,
  INTERRUPTED_BY_RESTART,
  LOCAL_INSTANCE,
  type Store,
  type StoreOptions,
} from "./store.ts";
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

/** What a store and the transactions it runs share. */
interface Shared {
  readonly pool: Pool;
  readonly dataDir: string;
  readonly instanceId: string;
  readonly now: () => number;
  /** The database as messages name it (no password). */
  readonly where: string;
  /** The password, to keep out of messages. */
  readonly secrets: readonly string[];
  closed: boolean;
}

let create: (shared: Shared) => PostgresStore;

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:password@host:port/db`)
 * with a pool of up to `options.maxConnections` connections, and migrates
 * the database to the current schema (bridges starting at once take turns).
 * Received content goes to `<dataDir>/content/`, created when needed.
 */
export async function openPostgresStore(
  url: string,
  dataDir: string,
  options: StoreOptions = {},
): Promise<PostgresStore> {
  const where = describeUrl(url);
  const secrets = secretsOf(url);
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new StoreError("invalid-argument", `not a postgres:// URL: ${where}`);
  }
  await Deno.mkdir(`${dataDir}/content`, { recursive: true });
  let pool: Pool;
  try {
    pool = connect(url, options.maxConnections ?? 10);
  } catch (e) {
    throw toStoreError(e, where, secrets);
  }
  try {
    await migrate(pool);
  } catch (e) {
    await pool.end({ timeout: 0 }).catch(() => {});
    throw toStoreError(e, where, secrets);
  }
  const instanceId = options.instanceId ?? LOCAL_INSTANCE;
  return create({
    pool,
    dataDir,
    instanceId,
    now: options.now ?? Date.now,
    where,
    secrets,
    closed: false,
  });
}

/** The PostgreSQL store; see {@linkcode openPostgresStore}. */
export class PostgresStore implements Store {
  /** Which database keeps the state. */
  readonly kind = "postgres";
  readonly #shared: Shared;
  readonly #q: Query;
  readonly #inside: boolean;

  static {
    create = (shared) => new PostgresStore(shared, shared.pool, false);
  }

  /** A store running statements on `q`: the pool, or (`inside`) an open transaction. */
  private constructor(shared: Shared, q: Query, inside: boolean) {
    this.#shared = shared;
    this.#q = q;
    this.#inside = inside;
  }

  /** The data directory of this instance (content files). */
  get dataDir(): string {
    return this.#shared.dataDir;
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
    return this.#run(async (q) => {
      const [row] = await q`SELECT version FROM schema_version`;
      return Number(row.version);
    });
  }

  /**
   * Runs `fn` in one transaction on a connection of its own: committed when
   * it resolves, rolled back when it rejects (with `fn`'s error unchanged).
   * Inside another transaction it joins that one. Use `tx` inside `fn`: this
   * store runs on other connections of the pool and does not see the
   * transaction's changes before the commit.
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.#inside) return await fn(this);
    let failure: { error: unknown } | undefined;
    try {
      return await this.#run((_, pool) =>
        pool.begin(async (q) => {
          try {
            return await fn(new PostgresStore(this.#shared, q, true));
          } catch (error) {
            failure = { error };
            throw error;
          }
        }) as Promise<T>
      );
    } catch (e) {
      // `#run` made a StoreError of fn's own error too: give back fn's.
      if (failure) throw failure.error;
      throw e;
    }
  }

  /** Records a new session, owned by this instance. */
  insertSession(session: NewSession): Promise<SessionRecord> {
    return this.#run((q, _, now) => rows.insertSession(q, session, this.instanceId, now));
  }

  /** Changes a session and returns it; rejects with `not-found` when there is none. */
  updateSession(id: string, changes: SessionChanges): Promise<SessionRecord> {
    return this.#run((q) => rows.updateSession(q, id, changes));
  }

  /** The session `id`, if any. */
  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.#run((q) => rows.getSession(q, id));
  }

  /** Sessions, newest first, optionally only those in `state`. */
  listSessions(
    options: ListOptions & { readonly state?: SessionState } = {},
  ): Promise<Page<SessionRecord>> {
    return this.#run((q) => rows.listSessions(q, options));
  }

  /** Records a new message of an existing session. */
  insertMessage(message: NewMessage): Promise<MessageRecord> {
    return this.#run((q, _, now) => rows.insertMessage(q, message, now));
  }

  /** Changes a message and returns it; rejects with `not-found` when there is none. */
  updateMessage(id: string, changes: MessageChanges): Promise<MessageRecord> {
    return this.#run((q, _, now) => rows.updateMessage(q, id, changes, now));
  }

  /** The message `id`, if any. */
  getMessage(id: string): Promise<MessageRecord | undefined> {
    return this.#run((q) => rows.getMessage(q, id));
  }

  /** Messages of a session, oldest first. */
  listMessages(sessionId: string, options: ListOptions = {}): Promise<Page<MessageRecord>> {
    return this.#run((q) => rows.listMessages(q, sessionId, options));
  }

  /**
   * Appends an event and, with `webhook`, its delivery, in one statement
   * that holds a lock until the commit: events commit in `seq` order, so a
   * reader polling `eventsSince` never skips one that commits later. In a
   * transaction the lock is held until it ends: append events last.
   */
  appendEvent(type: string, payload: unknown, options: AppendEventOptions): Promise<EventRecord> {
    return this.#run((q, _, now) =>
      outbox.appendEvent(q, type, JSON.stringify(payload), now, options.webhook)
    );
  }

  /** Up to `limit` events after position `seq`, oldest first. */
  eventsSince(seq: number, limit: number): Promise<EventRecord[]> {
    return this.#run((q) => outbox.eventsSince(q, seq, limit));
  }

  /** The position of the newest event in the log; 0 when it is empty. */
  lastEventSeq(): Promise<number> {
    return this.#run((q) => outbox.lastEventSeq(q));
  }

  /** Puts a webhook delivery (body: `payload` as JSON) in the outbox, due now. */
  enqueueWebhook(type: string, payload: unknown): Promise<WebhookRecord> {
    return this.#run((q, _, now) => outbox.enqueueWebhook(q, type, JSON.stringify(payload), now));
  }

  /**
   * Takes up to `limit` deliveries due at `now`, the longest-waiting first,
   * leased until `leaseUntil` and claimed by this instance; rows another
   * caller holds are skipped, so no delivery is handed out twice.
   */
  claimWebhooks(now: number, limit: number, leaseUntil: number): Promise<WebhookRecord[]> {
    return this.#run((q) => outbox.claimWebhooks(q, this.instanceId, now, limit, leaseUntil));
  }

  /** Marks delivery `id` as delivered. */
  markWebhookDelivered(id: number): Promise<void> {
    return this.#run((q, _, now) => outbox.markWebhookDelivered(q, id, now));
  }

  /**
   * Records a failed attempt of delivery `id`: due again at `nextAttemptAt`,
   * or given up when it is `null`.
   */
  markWebhookFailed(id: number, error: string, nextAttemptAt: number | null): Promise<void> {
    return this.#run((q) => outbox.markWebhookFailed(q, id, error, nextAttemptAt));
  }

  /** When the earliest pending delivery is due, if any is pending. */
  nextWebhookAttemptAt(): Promise<number | undefined> {
    return this.#run((q) => outbox.nextWebhookAttemptAt(q));
  }

  /** How many deliveries are pending and given up. */
  webhookBacklog(): Promise<WebhookBacklog> {
    return this.#run((q) => outbox.webhookBacklog(q));
  }

  /** Claims `key` for this instance: `true` for the first claim in the database, `false` after. */
  claim(key: string): Promise<boolean> {
    return this.#run((q, _, now) => outbox.claim(q, key, this.instanceId, now));
  }

  /** Forgets the claims made before `before`; resolves with how many. */
  pruneClaims(before: number): Promise<number> {
    return this.#run((q) => outbox.pruneClaims(q, before));
  }

  /**
   * After a restart of this instance: its unfinished messages fail (out) or
   * become partial (in), its open sessions end, and the deliveries it had
   * claimed become due now. Other instances' rows stay as they are.
   */
  recoverAfterRestart(): Promise<RecoveryResult> {
    return this.#atomically((q, now) =>
      instances.endInstance(q, this.instanceId, now, INTERRUPTED_BY_RESTART, true)
    );
  }

  /**
   * Records that this instance is alive and reachable at `url`; `started`:
   * the first heartbeat after a start, which also clears a take-over.
   */
  heartbeat(url: string, started: boolean): Promise<void> {
    return this.#run((q, _, now) => instances.heartbeat(q, this.instanceId, url, now, started));
  }

  /** The instance `id`, if it ever beat. */
  instance(id: string): Promise<InstanceRecord | undefined> {
    return this.#run((q) => instances.instance(q, id));
  }

  /** The instance that owns session `id` (this one for rows from before instances). */
  sessionOwner(id: string): Promise<string | undefined> {
    return this.#run((q) => rows.sessionOwner(q, id, this.instanceId));
  }

  /** The instance that owns the session of message `id`. */
  messageOwner(id: string): Promise<string | undefined> {
    return this.#run((q) => rows.messageOwner(q, id, this.instanceId));
  }

  /** Instances other than this one that have not beaten since `staleBefore`, not taken over. */
  lostInstances(staleBefore: number): Promise<string[]> {
    return this.#run((q) => instances.lostInstances(q, this.instanceId, staleBefore));
  }

  /**
   * Takes over instance `id` if it is still lost and nobody took it over, in
   * one transaction; `undefined` when another instance got there first or
   * it beat again.
   */
  takeOver(id: string, staleBefore: number, reason: string): Promise<RecoveryResult | undefined> {
    return this.#atomically((q, now) =>
      instances.takeOver(q, this.instanceId, id, staleBefore, now, reason)
    );
  }

  /** Records a file published by this instance for peers to pull. */
  insertPublishedFile(file: NewPublishedFile): Promise<PublishedFileRecord> {
    return this.#run((q, _, now) => rows.insertPublishedFile(q, file, this.instanceId, now));
  }

  /** The files this instance published, oldest first. */
  listPublishedFiles(): Promise<PublishedFileRecord[]> {
    return this.#run((q) => rows.listPublishedFiles(q, this.instanceId));
  }

  /** Forgets published file `id` of this instance; resolves with its record, if there was one. */
  deletePublishedFile(id: string): Promise<PublishedFileRecord | undefined> {
    return this.#run((q) => rows.deletePublishedFile(q, id, this.instanceId));
  }

  /** Bytes of received content kept in content files of this instance's sessions, and of its published files. */
  storedContentBytes(): Promise<number> {
    return this.#run((q) => instances.storedContentBytes(q, this.instanceId));
  }

  /** Resolves when the database answers and is not read-only (a standby or read-only session). */
  ping(): Promise<void> {
    return this.#run(async (q) => {
      const [row] = await q`SELECT pg_is_in_recovery() AS standby,
        current_setting('transaction_read_only') AS read_only`;
      if (row.standby === true || row.read_only === "on") {
        throw new StoreError("unavailable", `PostgreSQL (${this.#shared.where}) takes no writes`);
      }
    });
  }

  /** Closes the pool, waiting up to 5 s for statements under way. */
  async close(): Promise<void> {
    if (this.#shared.closed) return;
    this.#shared.closed = true;
    await this.#shared.pool.end({ timeout: 5 });
  }

  /** Closes the pool. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs `op` in a transaction, or in the one this store is inside. */
  #atomically<T>(op: (q: Query, now: number) => Promise<T>): Promise<T> {
    if (this.#inside) return this.#run((q, _, now) => op(q, now));
    return this.#run((_, pool, now) => pool.begin((q) => op(q, now)) as Promise<T>);
  }

  /**
   * Runs `op` with the clock's time unless the store is closed; anything it
   * throws (an invalid argument included) rejects, as a `StoreError`.
   */
  async #run<T>(op: (q: Query, pool: Pool, now: number) => Promise<T>): Promise<T> {
    const { closed, pool, where, secrets } = this.#shared;
    if (closed) throw new StoreError("closed", "the store is closed");
    try {
      return await op(this.#q, pool, this.#shared.now());
    } catch (e) {
      throw toStoreError(e, where, secrets);
    }
  }
}
