/**
 * Schema migrations: an ordered list of functions, the database's version in
 * `schema_version` counting those already applied.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { StoreError } from "./error.ts";

/** One schema change; runs inside the migration transaction. */
export type Migration = (db: DatabaseSync) => void;

/*
 * Conditions on a message row `m` (`NEW`, `OLD` or a table alias) for the
 * session counters. RFC 3994 is-composing indications travel as MSRP
 * messages but are state, not conversation: they count nowhere.
 */
const conversation = (m: string) => `${m}.content_type NOT LIKE 'application/im-iscomposing+xml%'`;
const completeIn = (m: string) =>
  `(${m}.direction = 'in' AND ${m}.status = 'received' AND ${conversation(m)})`;
const completeOut = (m: string) =>
  `(${m}.direction = 'out' AND ${m}.status IN ('sent', 'delivered') AND ${conversation(m)})`;
const unsuccessful = (m: string) => `(${m}.status IN ('failed', 'partial') AND ${conversation(m)})`;

/**
 * The traffic counters kept on each session row and, per counter, how much
 * message row `m` adds to it. A message counts once it is complete: received
 * in full (`in`), or sent or delivered (`out`), with the body bytes it
 * carried; a `failed` or `partial` one only counts as failed.
 */
const COUNTERS: Readonly<Record<string, (m: string) => string>> = {
  messages_in: completeIn,
  bytes_in: (m) => `${completeIn(m)} * ${m}.bytes`,
  messages_out: completeOut,
  bytes_out: (m) => `${completeOut(m)} * ${m}.bytes`,
  messages_failed: unsuccessful,
};

/** The statuses that a counter depends on; other changes leave the counters alone. */
const COUNTED_STATUSES = "('received', 'sent', 'delivered', 'failed', 'partial')";

/** Adds (`+`) or takes back (`-`) the contribution of message row `m` to its session. */
function adjustCounters(m: "NEW" | "OLD", sign: "+" | "-"): string {
  const sets = Object.entries(COUNTERS).map(([c, of]) => `${c} = ${c} ${sign} ${of(m)}`);
  return `UPDATE sessions SET ${sets.join(", ")} WHERE id = ${m}.session_id;`;
}

/**
 * Session counters kept by triggers in the same statement (so the same
 * transaction) as the message rows they count, and filled in from the
 * messages already stored.
 */
function sessionCounters(db: DatabaseSync): void {
  const counters = Object.entries(COUNTERS);
  const columns = counters.map(([c]) =>
    `ALTER TABLE sessions ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 0;`
  );
  const sums = counters.map(([c, of]) => `SUM(${of("m")}) AS ${c}`);
  const fill = counters.map(([c]) => `${c} = t.${c}`);
  db.exec(`
    ${columns.join("\n")}
    UPDATE sessions SET ${fill.join(", ")}
      FROM (SELECT session_id, ${sums.join(", ")} FROM messages AS m GROUP BY session_id) AS t
      WHERE t.session_id = sessions.id;
    CREATE TRIGGER messages_count_insert AFTER INSERT ON messages
      WHEN NEW.status IN ${COUNTED_STATUSES}
      BEGIN ${adjustCounters("NEW", "+")} END;
    CREATE TRIGGER messages_count_update
      AFTER UPDATE OF session_id, direction, content_type, status, bytes ON messages
      WHEN OLD.status IN ${COUNTED_STATUSES} OR NEW.status IN ${COUNTED_STATUSES}
      BEGIN ${adjustCounters("OLD", "-")} ${adjustCounters("NEW", "+")} END;
    CREATE TRIGGER messages_count_delete AFTER DELETE ON messages
      WHEN OLD.status IN ${COUNTED_STATUSES}
      BEGIN ${adjustCounters("OLD", "-")} END;
  `);
}

/** Every migration, oldest first; version N means the first N were applied. */
export const MIGRATIONS: readonly Migration[] = [
  (db) =>
    db.exec(`
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        direction TEXT NOT NULL,
        local_uri TEXT NOT NULL,
        remote_path TEXT NOT NULL,
        from_uri TEXT,
        to_uri TEXT,
        from_display TEXT,
        call_id TEXT,
        channel_uuid TEXT,
        other_leg_uuid TEXT,
        sip_status INTEGER,
        hangup_cause TEXT,
        created_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT
      );
      CREATE INDEX sessions_open ON sessions (state) WHERE state <> 'ended';
      CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        direction TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER,
        bytes INTEGER NOT NULL,
        sha256 TEXT,
        content_path TEXT,
        error_code INTEGER,
        error_reason TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX messages_session ON messages (session_id);
      CREATE INDEX messages_message_id ON messages (message_id);
      CREATE INDEX messages_unfinished ON messages (status)
        WHERE status IN ('queued', 'sending', 'receiving');
    `),
  (db) =>
    db.exec(`
      CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        last_error TEXT,
        delivered_at INTEGER
      );
      CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at)
        WHERE next_attempt_at IS NOT NULL;
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
    `),
  sessionCounters,
  // Short texts kept in their row: transcripts list them without a file each.
  (db) => db.exec("ALTER TABLE messages ADD COLUMN text TEXT"),
  // RFC 5547 file transfers: the session's kind and file (JSON), the file's hash check.
  (db) =>
    db.exec(`
      ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat';
      ALTER TABLE sessions ADD COLUMN file TEXT;
      ALTER TABLE messages ADD COLUMN hash_verified INTEGER;
    `),
  // Several instances on one database: who owns a session, who took a
  // delivery, and claims (a call is answered by the instance that claims it).
  (db) =>
    db.exec(`
      ALTER TABLE sessions ADD COLUMN instance_id TEXT;
      ALTER TABLE webhook_outbox ADD COLUMN claimed_by TEXT;
      CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        instance_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
    `),
  // Instances' heartbeats: where each is reached, and who took over a lost one.
  (db) =>
    db.exec(`
      CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        taken_over_by TEXT
      );
      CREATE INDEX sessions_instance ON sessions (instance_id) WHERE state <> 'ended';
    `),
  // IMDN (RFC 5438) of CPIM messages: what was asked for and notified (JSON).
  (db) => db.exec("ALTER TABLE messages ADD COLUMN imdn TEXT"),
  // Files published for peers to pull (RFC 5547 §6), kept by the instance that stored them.
  (db) =>
    db.exec(`
      CREATE TABLE published_files (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        size INTEGER NOT NULL,
        hash_algorithm TEXT NOT NULL,
        hash_value TEXT NOT NULL,
        disposition TEXT,
        path TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX published_files_instance ON published_files (instance_id, created_at);
    `),
];

/**
 * Brings the database up to `migrations.length` in one transaction and
 * returns how many migrations ran (0 when it was current). Throws
 * `schema-too-new` for a database of a newer version.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[] = MIGRATIONS): number {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = db.prepare("SELECT version FROM schema_version").get() as
      | { version: number }
      | undefined;
    if (!row) db.exec("INSERT INTO schema_version (version) VALUES (0)");
    const version = row?.version ?? 0;
    if (version > migrations.length) {
      throw new StoreError(
        "schema-too-new",
        `database schema version ${version} is newer than this service's ${migrations.length}`,
      );
    }
    for (const migration of migrations.slice(version)) migration(db);
    db.prepare("UPDATE schema_version SET version = ?").run(migrations.length);
    db.exec("COMMIT");
    return migrations.length - version;
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/** The schema version recorded in the database. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("SELECT version FROM schema_version").get() as { version: number };
  return row.version;
}
