/**
 * The SQL of the store: every statement but the column updates, prepared
 * once per database.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** The SQL of each statement, by name. */
const SQL = {
  insertSession: `INSERT INTO sessions (id, state, direction, local_uri, remote_path,
        from_uri, to_uri, from_display, call_id, channel_uuid, other_leg_uuid, sip_status,
        hangup_cause, created_at, kind, file, instance_id)
      VALUES (:id, :state, :direction, :local_uri, :remote_path, :from_uri, :to_uri,
        :from_display, :call_id, :channel_uuid, :other_leg_uuid, :sip_status, :hangup_cause,
        :created_at, :kind, :file, :instance_id)
      RETURNING *`,
  getSession: "SELECT * FROM sessions WHERE id = ?",
  listSessions: `SELECT rowid, * FROM sessions
      WHERE (:cursor IS NULL OR rowid < :cursor) AND (:state IS NULL OR state = :state)
      ORDER BY rowid DESC LIMIT :limit`,
  insertMessage: `INSERT INTO messages (id, session_id, direction, message_id, status,
        content_type, size, bytes, sha256, content_path, text, created_at, updated_at)
      VALUES (:id, :session_id, :direction, :message_id, :status, :content_type, :size,
        :bytes, :sha256, :content_path, :text, :created_at, :updated_at)
      RETURNING *`,
  getMessage: "SELECT * FROM messages WHERE id = ?",
  listMessages: `SELECT rowid, * FROM messages
      WHERE session_id = :session_id AND (:cursor IS NULL OR rowid > :cursor)
      ORDER BY rowid LIMIT :limit`,
  appendEvent: `INSERT INTO events (type, payload, created_at) VALUES (?, ?, ?)
      RETURNING *`,
  eventsSince: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
  lastEventSeq: "SELECT MAX(seq) AS seq FROM events",
  enqueueWebhook: `INSERT INTO webhook_outbox (type, payload, created_at, next_attempt_at)
      VALUES (:type, :payload, :now, :now) RETURNING *`,
  dueWebhooks: `SELECT * FROM webhook_outbox
      WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?
      ORDER BY next_attempt_at, id LIMIT ?`,
  startWebhookAttempt: `UPDATE webhook_outbox
      SET attempts = attempts + 1, next_attempt_at = :lease_until, claimed_by = :instance_id
      WHERE id = :id AND next_attempt_at IS NOT NULL RETURNING *`,
  markWebhookDelivered: `UPDATE webhook_outbox
      SET delivered_at = :now, next_attempt_at = NULL, last_error = NULL
      WHERE id = :id AND delivered_at IS NULL`,
  markWebhookFailed: `UPDATE webhook_outbox
      SET last_error = :error, next_attempt_at = :next_attempt_at
      WHERE id = :id AND delivered_at IS NULL`,
  nextWebhookAttemptAt:
    "SELECT MIN(next_attempt_at) AS at FROM webhook_outbox WHERE next_attempt_at IS NOT NULL",
  webhookBacklog: `SELECT
        COUNT(*) FILTER (WHERE next_attempt_at IS NOT NULL) AS pending,
        COUNT(*) FILTER (WHERE next_attempt_at IS NULL AND delivered_at IS NULL) AS exhausted,
        MIN(created_at) FILTER (WHERE next_attempt_at IS NOT NULL) AS oldest
      FROM webhook_outbox`,
  // What an instance (`:id`; every one with NULL) left in flight.
  failOutgoing: `UPDATE messages
      SET status = 'failed', error_reason = :reason, updated_at = :now
      WHERE direction = 'out' AND status IN ('queued', 'sending')
        AND (:id IS NULL OR session_id IN (SELECT id FROM sessions WHERE instance_id = :id))
      RETURNING *`,
  interruptIncoming: `UPDATE messages
      SET status = 'partial', error_reason = :reason, updated_at = :now
      WHERE direction = 'in' AND status = 'receiving'
        AND (:id IS NULL OR session_id IN (SELECT id FROM sessions WHERE instance_id = :id))
      RETURNING *`,
  endOpenSessions: `UPDATE sessions
      SET state = 'ended', ended_at = :now, end_reason = :reason
      WHERE state <> 'ended' AND (:id IS NULL OR instance_id = :id)
      RETURNING *`,
  resumeWebhooks: `UPDATE webhook_outbox SET next_attempt_at = :now
      WHERE next_attempt_at IS NOT NULL AND next_attempt_at > :now
        AND (:id IS NULL OR claimed_by = :id)`,
  claim: `INSERT INTO claims (key, instance_id, created_at) VALUES (:key, :instance_id, :now)
      ON CONFLICT (key) DO NOTHING RETURNING key`,
  heartbeat: `INSERT INTO instances (id, url, started_at, heartbeat_at)
        VALUES (:id, :url, :now, :now)
      ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at,
        started_at = CASE WHEN :started THEN excluded.started_at ELSE started_at END,
        taken_over_by = CASE WHEN :started THEN NULL ELSE taken_over_by END`,
  instance: "SELECT * FROM instances WHERE id = ?",
  sessionOwner: "SELECT instance_id FROM sessions WHERE id = ?",
  messageOwner: `SELECT s.instance_id FROM messages AS m JOIN sessions AS s ON s.id = m.session_id
      WHERE m.id = ?`,
  lostInstances: `SELECT id FROM instances
      WHERE id <> :me AND heartbeat_at < :stale AND taken_over_by IS NULL`,
  markTakenOver: `UPDATE instances SET taken_over_by = :me
      WHERE id = :id AND heartbeat_at < :stale AND taken_over_by IS NULL RETURNING id`,
  pruneClaims: "DELETE FROM claims WHERE created_at < ?",
  storedContentBytes: `SELECT COALESCE(SUM(bytes), 0)
        + (SELECT COALESCE(SUM(size), 0) FROM published_files) AS bytes FROM messages
      WHERE direction = 'in' AND content_path IS NOT NULL`,
  insertPublished: `INSERT INTO published_files (id, name, type, size, hash_algorithm,
        hash_value, disposition, path, instance_id, created_at)
      VALUES (:id, :name, :type, :size, :hash_algorithm, :hash_value, :disposition, :path,
        :instance_id, :created_at)
      RETURNING *`,
  listPublished: "SELECT * FROM published_files ORDER BY created_at, id",
  deletePublished: "DELETE FROM published_files WHERE id = ? RETURNING *",
} as const;

/** The prepared statements of a `Store`, by name. */
export type Statements = { readonly [Name in keyof typeof SQL]: StatementSync };

/** Prepares every statement of the store on `db`. */
export function prepareStatements(db: DatabaseSync): Statements {
  const prepared = Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)]);
  return Object.fromEntries(prepared) as Statements;
}
