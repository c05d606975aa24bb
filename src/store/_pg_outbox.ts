/**
 * The PostgreSQL store's statements on the event log, the webhook outbox
 * and claims: what several instances do at once on one database.
 *
 * @module
 */

import { eventFromRow, webhookFromRow } from "./_rows.ts";
import type { Query } from "./_pg_pool.ts";
import type { EventRecord, WebhookBacklog, WebhookRecord } from "./types.ts";

/**
 * The advisory lock that event appends hold until they commit. Sequence
 * values are taken in one order but transactions may commit in another: a
 * reader could see event 11 before 10 commits, resume after 11 and skip 10
 * forever. Holding this lock from taking `seq` to the commit makes events
 * commit in `seq` order, so a reader never skips one.
 */
const EVENT_LOCK = 4_975_002;

/**
 * Appends an event and, with `webhook`, its delivery due at once, in one
 * statement that first takes {@linkcode EVENT_LOCK}.
 */
export async function appendEvent(
  q: Query,
  type: string,
  json: string,
  now: number,
  webhook: boolean,
): Promise<EventRecord> {
  const delivery = webhook
    ? q`, delivery AS (INSERT INTO webhook_outbox (type, payload, created_at, next_attempt_at)
        SELECT type, payload, created_at, created_at FROM event)`
    : q``;
  const [row] = await q`WITH event AS (
      INSERT INTO events (type, payload, created_at)
      SELECT ${type}, ${json}, ${now}::bigint
      FROM (SELECT pg_advisory_xact_lock(${EVENT_LOCK}::bigint)) AS serialized
      RETURNING *) ${delivery}
    SELECT * FROM event`;
  return eventFromRow(row);
}

/** Up to `limit` events after position `seq`, oldest first. */
export async function eventsSince(q: Query, seq: number, limit: number): Promise<EventRecord[]> {
  const rows = await q`SELECT * FROM events WHERE seq > ${seq} ORDER BY seq LIMIT ${limit}`;
  return rows.map(eventFromRow);
}

/** The position of the newest event; 0 when there is none. */
export async function lastEventSeq(q: Query): Promise<number> {
  const [row] = await q`SELECT COALESCE(MAX(seq), 0) AS seq FROM events`;
  return Number(row.seq);
}

/** Puts a delivery of `json` in the outbox, due at `now`. */
export async function enqueueWebhook(
  q: Query,
  type: string,
  json: string,
  now: number,
): Promise<WebhookRecord> {
  const [row] = await q`INSERT INTO webhook_outbox (type, payload, created_at, next_attempt_at)
    VALUES (${type}, ${json}, ${now}, ${now}) RETURNING *`;
  return webhookFromRow(row);
}

/**
 * Takes up to `limit` deliveries due at `now`, the longest-waiting first,
 * leased until `leaseUntil` and claimed by `instance`, in one statement:
 * rows that another caller has locked are skipped, and a row it has just
 * leased is no longer due, so no delivery is handed out twice.
 */
export async function claimWebhooks(
  q: Query,
  instance: string,
  now: number,
  limit: number,
  leaseUntil: number,
): Promise<WebhookRecord[]> {
  const rows = await q`WITH due AS (
      SELECT id, next_attempt_at FROM webhook_outbox
      WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ${now}
      ORDER BY next_attempt_at, id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    UPDATE webhook_outbox AS w
    SET attempts = w.attempts + 1, next_attempt_at = ${leaseUntil}, claimed_by = ${instance}
    FROM due WHERE w.id = due.id
    RETURNING w.*, due.next_attempt_at AS due_at`;
  const ordered = [...rows].sort((a, b) =>
    Number(a.due_at) - Number(b.due_at) || Number(a.id) - Number(b.id)
  );
  return ordered.map(webhookFromRow);
}

/** Marks delivery `id` delivered at `now`. */
export async function markWebhookDelivered(q: Query, id: number, now: number): Promise<void> {
  await q`UPDATE webhook_outbox SET delivered_at = ${now}, next_attempt_at = NULL,
      last_error = NULL
    WHERE id = ${id} AND delivered_at IS NULL`;
}

/** Records a failed attempt of delivery `id`: due again at `nextAttemptAt`, or given up. */
export async function markWebhookFailed(
  q: Query,
  id: number,
  error: string,
  nextAttemptAt: number | null,
): Promise<void> {
  await q`UPDATE webhook_outbox SET last_error = ${error},
      next_attempt_at = ${nextAttemptAt}::bigint
    WHERE id = ${id} AND delivered_at IS NULL`;
}

/** When the earliest pending delivery is due, if any is pending. */
export async function nextWebhookAttemptAt(q: Query): Promise<number | undefined> {
  const [row] = await q`SELECT MIN(next_attempt_at) AS at FROM webhook_outbox
    WHERE next_attempt_at IS NOT NULL`;
  return row.at === null ? undefined : Number(row.at);
}

/** How many deliveries are pending and given up. */
export async function webhookBacklog(q: Query): Promise<WebhookBacklog> {
  const [row] = await q`SELECT
      COUNT(*) FILTER (WHERE next_attempt_at IS NOT NULL) AS pending,
      COUNT(*) FILTER (WHERE next_attempt_at IS NULL AND delivered_at IS NULL) AS exhausted,
      MIN(created_at) FILTER (WHERE next_attempt_at IS NOT NULL) AS oldest
    FROM webhook_outbox`;
  return {
    pending: Number(row.pending),
    exhausted: Number(row.exhausted),
    oldestPendingAt: row.oldest === null ? null : Number(row.oldest),
  };
}

/** Forgets the claims made before `before`; resolves with how many. */
export async function pruneClaims(q: Query, before: number): Promise<number> {
  const rows = await q`DELETE FROM claims WHERE created_at < ${before} RETURNING key`;
  return rows.length;
}

/** Claims `key` for `instance` at `now`: `true` for the first claim in the database. */
export async function claim(
  q: Query,
  key: string,
  instance: string,
  now: number,
): Promise<boolean> {
  const rows = await q`INSERT INTO claims (key, instance_id, created_at)
    VALUES (${key}, ${instance}, ${now})
    ON CONFLICT (key) DO NOTHING RETURNING key`;
  return rows.length === 1;
}
