/**
 * The store's contract: sessions, messages, the event log, the webhook
 * outbox and claims, behind one asynchronous interface that SQLite (the
 * embedded default) and PostgreSQL (several bridges, one state) implement
 * alike. Received content lives in files under the data directory of the
 * instance that received it.
 *
 * @module
 */

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

/** The instance id when none is configured. */
export const LOCAL_INSTANCE = "local";

/** The reason recorded on rows that a restart interrupted. */
export const INTERRUPTED_BY_RESTART = "interrupted by restart";

/** Options of `openStore`. */
export interface StoreOptions {
  /**
   * `postgres://…` (or `postgresql://…`): keep the state in that PostgreSQL
   * database, shared by every bridge that names it; SQLite under the data
   * directory when omitted.
   */
  readonly databaseUrl?: string;
  /**
   * The instance this process is: sessions it records are its own, and
   * recovery after a restart touches only those. `local` when omitted.
   */
  readonly instanceId?: string;
  /** The clock, in milliseconds since the epoch; `Date.now` when omitted. */
  readonly now?: () => number;
  /** SQLite: how long to wait for another connection's lock, ms; 5000 when omitted. */
  readonly busyTimeoutMs?: number;
  /**
   * SQLite: WAL pages after which a commit checkpoints by itself (SQLite's
   * `wal_autocheckpoint`, 1000 when omitted); raise it when a `Checkpointer`
   * does the work off the event loop.
   */
  readonly walAutocheckpointPages?: number;
  /** PostgreSQL: most connections of this process's pool; 10 when omitted. */
  readonly maxConnections?: number;
}

/** Options of {@linkcode Store.appendEvent}. */
export interface AppendEventOptions {
  /** Also put it in the webhook outbox (in the same transaction). */
  readonly webhook: boolean;
}

/**
 * Typed, asynchronous access to the bridge's state. Every method commits on
 * return, or with the surrounding {@linkcode Store.transaction}.
 */
export interface Store {
  /** Which database keeps the state. */
  readonly kind: "sqlite" | "postgres";
  /** The data directory of this instance (content files). */
  readonly dataDir: string;
  /** The instance this process is. */
  readonly instanceId: string;
  /** Where the content of message `id` is kept: `<dataDir>/content/<id>`. */
  contentPath(id: string): string;
  /** The schema version of the database. */
  schemaVersion(): Promise<number>;
  /**
   * Runs `fn` in one transaction, with `tx` the store inside it: committed
   * when it resolves, rolled back when it rejects. Other callers of the store
   * wait for it (SQLite) or do not see its changes before the commit
   * (PostgreSQL). Inside another transaction it joins that one.
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** Records a new session, owned by this instance. */
  insertSession(session: NewSession): Promise<SessionRecord>;
  /** Changes a session and returns it; rejects with `not-found` when there is none. */
  updateSession(id: string, changes: SessionChanges): Promise<SessionRecord>;
  /** The session `id`, if any. */
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Sessions, newest first, optionally only those in `state`. */
  listSessions(options?: ListOptions & { readonly state?: SessionState }): Promise<
    Page<SessionRecord>
  >;
  /** Records a new message of an existing session. */
  insertMessage(message: NewMessage): Promise<MessageRecord>;
  /** Changes a message and returns it; rejects with `not-found` when there is none. */
  updateMessage(id: string, changes: MessageChanges): Promise<MessageRecord>;
  /** The message `id`, if any. */
  getMessage(id: string): Promise<MessageRecord | undefined>;
  /** Messages of a session, oldest first. */
  listMessages(sessionId: string, options?: ListOptions): Promise<Page<MessageRecord>>;
  /**
   * Appends an event (stored as JSON) to the log that server-sent events
   * resume from and, with `webhook`, to the webhook outbox, atomically. The
   * log has one order across every instance sharing the database.
   */
  appendEvent(type: string, payload: unknown, options: AppendEventOptions): Promise<EventRecord>;
  /** Up to `limit` events after position `seq`, oldest first. */
  eventsSince(seq: number, limit: number): Promise<EventRecord[]>;
  /** The position of the newest event in the log; 0 when it is empty. */
  lastEventSeq(): Promise<number>;
  /** Puts a webhook delivery (body: `payload` as JSON) in the outbox, due now. */
  enqueueWebhook(type: string, payload: unknown): Promise<WebhookRecord>;
  /**
   * Takes up to `limit` deliveries due at `now`, the longest-waiting first:
   * counts an attempt of each as started and makes it due again at
   * `leaseUntil`, so that an attempt cut short by a crash is retried. A
   * delivery is taken by one caller only, whichever instance it runs in.
   */
  claimWebhooks(now: number, limit: number, leaseUntil: number): Promise<WebhookRecord[]>;
  /** Marks delivery `id` as delivered. */
  markWebhookDelivered(id: number): Promise<void>;
  /**
   * Records a failed attempt of delivery `id`: due again at `nextAttemptAt`,
   * or given up when it is `null`.
   */
  markWebhookFailed(id: number, error: string, nextAttemptAt: number | null): Promise<void>;
  /** When the earliest pending delivery is due, if any is pending. */
  nextWebhookAttemptAt(): Promise<number | undefined>;
  /** How many deliveries are pending and given up. */
  webhookBacklog(): Promise<WebhookBacklog>;
  /**
   * Claims `key` (e.g. `call:<channel uuid>`) for this instance: `true` for
   * the first claim of the key in the database, `false` for every later one,
   * from any instance. Bridges sharing a PBX answer a call only with its claim.
   */
  claim(key: string): Promise<boolean>;
  /** Forgets the claims made before `before` (ms since the epoch); resolves with how many. */
  pruneClaims(before: number): Promise<number>;
  /**
   * After a restart nothing of this instance is in flight: its outgoing
   * messages still `queued` or `sending` become `failed`, its incoming ones
   * still `receiving` become `partial` with `bytes` set to the length of the
   * content file kept, and its sessions not `ended` end, all with the reason
   * {@linkcode INTERRUPTED_BY_RESTART}. Pending webhook deliveries become due
   * now: an attempt cut short by a crash holds a lease that would otherwise
   * delay it well past the restart.
   */
  recoverAfterRestart(): Promise<RecoveryResult>;
  /**
   * Records that this instance is alive and reachable at `url` (its HTTP
   * API, for requests other instances forward to it); the first heartbeat
   * after a start also records the start, and clears a take-over.
   */
  heartbeat(url: string, started: boolean): Promise<void>;
  /** The instance `id`, if it ever beat. */
  instance(id: string): Promise<InstanceRecord | undefined>;
  /** The instance that owns session `id`; `undefined` without such a session. */
  sessionOwner(id: string): Promise<string | undefined>;
  /** The instance that owns the session of message `id`; `undefined` without such a message. */
  messageOwner(id: string): Promise<string | undefined>;
  /** Instances other than this one whose last heartbeat is older than `staleBefore`, not taken over. */
  lostInstances(staleBefore: number): Promise<string[]>;
  /**
   * Takes over instance `id` if it is still lost (no heartbeat since
   * `staleBefore`) and nobody took it over: in one transaction its open
   * sessions end and its messages in flight fail, with `reason`, and its
   * leased webhook deliveries become due now. `undefined` when another
   * instance got there first or it beat again.
   */
  takeOver(id: string, staleBefore: number, reason: string): Promise<RecoveryResult | undefined>;
  /** Records a file published by this instance for peers to pull. */
  insertPublishedFile(file: NewPublishedFile): Promise<PublishedFileRecord>;
  /** The files this instance published, oldest first (all of them: there are few). */
  listPublishedFiles(): Promise<PublishedFileRecord[]>;
  /** Forgets published file `id` of this instance; resolves with its record, if there was one. */
  deletePublishedFile(id: string): Promise<PublishedFileRecord | undefined>;
  /**
   * Bytes of received content that this instance keeps in content files, and
   * of the files it published (for the disk quota).
   */
  storedContentBytes(): Promise<number>;
  /** Resolves when the database answers and takes writes; rejects otherwise. */
  ping(): Promise<void>;
  /** Closes the database (connections of the pool, for PostgreSQL). */
  close(): Promise<void>;
}
