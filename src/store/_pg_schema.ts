/**
 * The PostgreSQL schema: the migrations of `_schema.ts`, version for
 * version, in PostgreSQL's types (times and sizes `BIGINT` milliseconds and
 * bytes, JSON kept as `TEXT` so that `_rows.ts` reads both databases), and
 * the migration run under an advisory lock.
 *
 * @module
 */

import type { Pool } from "./_pg_pool.ts";
import { StoreError } from "./error.ts";

/** One schema change: SQL run inside the migration transaction. */
export type PgMigration = string;

/** The advisory lock that serializes migrations of bridges starting at once. */
const MIGRATION_LOCK = 4_975_001;

/*
 * Conditions on a message row `m` (`NEW`, `OLD` or a table alias) for the
 * session counters, as in `_schema.ts`. RFC 3994 is-composing indications
 * count nowhere; ILIKE because SQLite's LIKE ignores ASCII case.
 */
const conversation = (m: string) => `${m}.content_type NOT ILIKE 'application/im-iscomposing+xml%'`;
const completeIn = (m: string) =>
  `(${m}.direction = 'in' AND ${m}.status = 'received' AND ${conversation(m)})`;
const completeOut = (m: string) =>
  `(${m}.direction = 'out' AND ${m}.status IN ('sent', 'delivered') AND ${conversation(m)})`;
const unsuccessful = (m: string) => `(${m}.status IN ('failed', 'partial') AND ${conversation(m)})`;
const count = (condition: string) => `CASE WHEN ${condition} THEN 1 ELSE 0 END`;

/** Per counter column, how much message row `m` adds to it. */
const COUNTERS: Readonly<Record<string, (m: string) => string>> = {
  messages_in: (m) => count(completeIn(m)),
  bytes_in: (m) => `CASE WHEN ${completeIn(m)} THEN ${m}.bytes ELSE 0 END`,
  messages_out: (m) => count(completeOut(m)),
  bytes_out: (m) => `CASE WHEN ${completeOut(m)} THEN ${m}.bytes ELSE 0 END`,
  messages_failed: (m) => count(unsuccessful(m)),
};

/** The statuses that a counter depends on; other changes leave the counters alone. */
const COUNTED_STATUSES = "('received', 'sent', 'delivered', 'failed', 'partial')";

/** Adds (`+`) or takes back (`-`) the contribution of message row `m` to its session. */
function adjustCounters(m: "NEW" | "OLD", sign: "+" | "-"): string {
  const sets = Object.entries(COUNTERS).map(([c, of]) => `${c} = ${c} ${sign} ${of(m)}`);
  return `UPDATE sessions SET ${sets.join(", ")} WHERE id = ${m}.session_id;`;
}

/**
 * Session counters kept by a trigger in the same transaction as the message
 * rows they count (as SQLite's triggers do), filled in from the messages
 * already stored.
 */
function sessionCounters(): PgMigration {
  const counters = Object.entries(COUNTERS);
  const columns = counters.map(([c]) => `ADD COLUMN ${c} BIGINT NOT NULL DEFAULT 0`);
  const sums = counters.map(([c, of]) => `SUM(${of("m")}) AS ${c}`);
  const fill = counters.map(([c]) => `${c} = t.${c}`);
  return `
    ALTER TABLE sessions ${columns.join(", ")};
    UPDATE sessions SET ${fill.join(", ")}
      FROM (SELECT session_id, ${sums.join(", ")} FROM messages AS m GROUP BY session_id) AS t
      WHERE t.session_id = sessions.id;
    CREATE FUNCTION messages_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.status IN ${COUNTED_STATUSES} THEN
        ${adjustCounters("OLD", "-")}
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.status IN ${COUNTED_STATUSES} THEN
        ${adjustCounters("NEW", "+")}
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER messages_count_insert AFTER INSERT ON messages FOR EACH ROW
      WHEN (NEW.status IN ${COUNTED_STATUSES}) EXECUTE FUNCTION messages_count();
    CREATE TRIGGER messages_count_update
      AFTER UPDATE OF session_id, direction, content_type, status, bytes ON messages FOR EACH ROW
      WHEN (OLD.status IN ${COUNTED_STATUSES} OR NEW.status IN ${COUNTED_STATUSES})
      EXECUTE FUNCTION messages_count();
    CREATE TRIGGER messages_count_delete AFTER DELETE ON messages FOR EACH ROW
      WHEN (OLD.status IN ${COUNTED_STATUSES}) EXECUTE FUNCTION messages_count();
  `;
}

/**
 * Every migration, oldest first, numbered as SQLite's. `seq` columns, in
 * insertion order, stand for SQLite's rowid: the position a listing's cursor
 * names.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  `
    CREATE TABLE sessions (
      id TEXT PRIMARY KEY,
      seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
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
      created_at BIGINT NOT NULL,
      ended_at BIGINT,
      end_reason TEXT
    );
    CREATE INDEX sessions_open ON sessions (state) WHERE state <> 'ended';
    CREATE TABLE messages (
      id TEXT PRIMARY KEY,
      seq BIGINT GENERATED ALWAYS AS IDENTITY,
      session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
      direction TEXT NOT NULL,
      message_id TEXT NOT NULL,
      status TEXT NOT NULL,
      content_type TEXT NOT NULL,
      size BIGINT,
      bytes BIGINT NOT NULL,
      sha256 TEXT,
      content_path TEXT,
      error_code INTEGER,
      error_reason TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    );
    CREATE INDEX messages_session ON messages (session_id, seq);
    CREATE INDEX messages_message_id ON messages (message_id);
    CREATE INDEX messages_unfinished ON messages (status)
      WHERE status IN ('queued', 'sending', 'receiving');
  `,
  `
    CREATE TABLE webhook_outbox (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      type TEXT NOT NULL,
      payload TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at BIGINT,
      last_error TEXT,
      delivered_at BIGINT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id)
      WHERE next_attempt_at IS NOT NULL;
    CREATE TABLE events (
      seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      type TEXT NOT NULL,
      payload TEXT NOT NULL,
      created_at BIGINT NOT NULL
    );
  `,
  sessionCounters(),
  // Short texts kept in their row: transcripts list them without a file each.
  "ALTER TABLE messages ADD COLUMN text TEXT",
  // RFC 5547 file transfers: the session's kind and file (JSON), the file's hash check (0/1).
  `
    ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat', ADD COLUMN file TEXT;
    ALTER TABLE messages ADD COLUMN hash_verified INTEGER;
  `,
  // Several instances on one database: who owns a session, who took a
  // delivery, and claims (a call is answered by the instance that claims it).
  `
    ALTER TABLE sessions ADD COLUMN instance_id TEXT;
    ALTER TABLE webhook_outbox ADD COLUMN claimed_by TEXT;
    CREATE TABLE claims (
      key TEXT PRIMARY KEY,
      instance_id TEXT NOT NULL,
      created_at BIGINT NOT NULL
    );
  `,
  // Instances' heartbeats: where each is reached, and who took over a lost one.
  `
    CREATE TABLE instances (
      id TEXT PRIMARY KEY,
      url TEXT NOT NULL,
      started_at BIGINT NOT NULL,
      heartbeat_at BIGINT NOT NULL,
      taken_over_by TEXT
    );
    CREATE INDEX sessions_instance ON sessions (instance_id) WHERE state <> 'ended';
  `,
  // IMDN (RFC 5438) of CPIM messages: what was asked for and notified (JSON).
  "ALTER TABLE messages ADD COLUMN imdn TEXT",
  // Files published for peers to pull (RFC 5547 §6), kept by the instance that stored them.
  `
    CREATE TABLE published_files (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      type TEXT NOT NULL,
      size BIGINT NOT NULL,
      hash_algorithm TEXT NOT NULL,
      hash_value TEXT NOT NULL,
      disposition TEXT,
      path TEXT NOT NULL,
      instance_id TEXT NOT NULL,
      created_at BIGINT NOT NULL
    );
    CREATE INDEX published_files_instance ON published_files (instance_id, created_at);
  `,
];

/**
 * Brings the database up to `migrations.length` in one transaction, holding
 * an advisory lock so that bridges starting at once migrate one after the
 * other, and returns how many migrations ran (0 when it was current).
 * Rejects with `schema-too-new` for a database of a newer version.
 */
export async function migrate(
  sql: Pool,
  migrations: readonly PgMigration[] = PG_MIGRATIONS,
): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    // A current database is only read: a read-only one opens, and `ping` tells.
    const [{ present }] = await tx`SELECT to_regclass('schema_version') IS NOT NULL AS present`;
    if (!present) await tx`CREATE TABLE schema_version (version INTEGER NOT NULL)`;
    const [row] = await tx`SELECT version FROM schema_version`;
    if (!row) await tx`INSERT INTO schema_version (version) VALUES (0)`;
    const version = Number(row?.version ?? 0);
    if (version > migrations.length) {
      throw new StoreError(
        "schema-too-new",
        `database schema version ${version} is newer than this service's ${migrations.length}`,
      );
    }
    if (version === migrations.length) return 0;
    for (const migration of migrations.slice(version)) await tx.unsafe(migration).simple();
    await tx`UPDATE schema_version SET version = ${migrations.length}`;
    return migrations.length - version;
  });
}
