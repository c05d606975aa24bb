/**
 * The PostgreSQL store's instances: heartbeats, what each keeps, recovery
 * after a restart and taking over an instance that stopped beating.
 *
 * @module
 */

import { instanceFromRow, messageFromRow, sessionFromRow } from "./_rows.ts";
import { updateMessage } from "./_pg_rows.ts";
import type { Query } from "./_pg_pool.ts";
import type { InstanceRecord, MessageRecord, RecoveryResult } from "./types.ts";

/**
 * Records that `id` is alive at `url` now; `started`: it (re)started, which
 * also clears a take-over.
 */
export async function heartbeat(
  q: Query,
  id: string,
  url: string,
  now: number,
  started: boolean,
): Promise<void> {
  await q`INSERT INTO instances (id, url, started_at, heartbeat_at)
    VALUES (${id}, ${url}, ${now}, ${now})
    ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at,
      started_at = CASE WHEN ${started} THEN excluded.started_at ELSE instances.started_at END,
      taken_over_by = CASE WHEN ${started} THEN NULL ELSE instances.taken_over_by END`;
}

/** Instance `id`, if it ever beat. */
export async function instance(q: Query, id: string): Promise<InstanceRecord | undefined> {
  const [row] = await q`SELECT * FROM instances WHERE id = ${id}`;
  return row && instanceFromRow(row);
}

/** Instances other than `me` that have not beaten since `staleBefore`, not taken over. */
export async function lostInstances(
  q: Query,
  me: string,
  staleBefore: number,
): Promise<string[]> {
  const rows = await q`SELECT id FROM instances
    WHERE id <> ${me} AND heartbeat_at < ${staleBefore} AND taken_over_by IS NULL
    ORDER BY id`;
  return rows.map((row) => String(row.id));
}

/** Bytes of received content in content files of `instance`'s sessions. */
export async function storedContentBytes(q: Query, instance: string): Promise<number> {
  const [row] = await q`SELECT COALESCE(SUM(m.bytes), 0)
      + (SELECT COALESCE(SUM(size), 0) FROM published_files WHERE instance_id = ${instance})
      AS bytes
    FROM messages AS m JOIN sessions AS s ON s.id = m.session_id
    WHERE s.instance_id = ${instance} AND m.direction = 'in' AND m.content_path IS NOT NULL`;
  return Number(row.bytes);
}

/**
 * Ends what `instance` had in flight, with `reason` (run inside a
 * transaction): its unfinished messages fail (out) or become partial (in;
 * with `local`, the content files are this process's and a partial one's
 * `bytes` becomes the length of its file), its open sessions end, and the
 * deliveries it had claimed become due now. Other instances' rows stay as
 * they are.
 */
export async function endInstance(
  q: Query,
  instance: string,
  now: number,
  reason: string,
  local: boolean,
): Promise<RecoveryResult> {
  const failed = await q`UPDATE messages AS m
    SET status = 'failed', error_reason = ${reason}, updated_at = ${now}
    FROM sessions AS s
    WHERE s.id = m.session_id AND s.instance_id = ${instance}
      AND m.direction = 'out' AND m.status IN ('queued', 'sending')
    RETURNING m.*`;
  const interrupted = await q`UPDATE messages AS m
    SET status = 'partial', error_reason = ${reason}, updated_at = ${now}
    FROM sessions AS s
    WHERE s.id = m.session_id AND s.instance_id = ${instance}
      AND m.direction = 'in' AND m.status = 'receiving'
    RETURNING m.*`;
  const partial: MessageRecord[] = [];
  for (const row of interrupted) {
    const message = messageFromRow(row);
    partial.push(local ? await withStoredBytes(q, message, now) : message);
  }
  const sessions = await q`UPDATE sessions
    SET state = 'ended', ended_at = ${now}, end_reason = ${reason}
    WHERE state <> 'ended' AND instance_id = ${instance}
    RETURNING *`;
  const resumed = await q`UPDATE webhook_outbox SET next_attempt_at = ${now}
    WHERE next_attempt_at > ${now} AND claimed_by = ${instance}`;
  const messages = [...failed.map(messageFromRow), ...partial];
  return {
    failedMessages: messages.length,
    endedSessions: sessions.length,
    messages,
    sessions: sessions.map(sessionFromRow),
    resumedWebhooks: resumed.count,
  };
}

/**
 * Takes over instance `id` for `me` if it has not beaten since
 * `staleBefore` and nobody took it over: marks it taken over and ends what
 * it had in flight (run inside a transaction). Of two instances taking over
 * at once, the second waits for the first's row lock, then finds the
 * instance taken: `undefined`.
 */
export async function takeOver(
  q: Query,
  me: string,
  id: string,
  staleBefore: number,
  now: number,
  reason: string,
): Promise<RecoveryResult | undefined> {
  const marked = await q`UPDATE instances SET taken_over_by = ${me}
    WHERE id = ${id} AND heartbeat_at < ${staleBefore} AND taken_over_by IS NULL
    RETURNING id`;
  if (marked.length === 0) return undefined;
  return await endInstance(q, id, now, reason, false);
}

/** The row with `bytes` set to the length of its content file, when there is one. */
async function withStoredBytes(
  q: Query,
  message: MessageRecord,
  now: number,
): Promise<MessageRecord> {
  if (message.contentPath === null) return message;
  let size: number;
  try {
    size = (await Deno.stat(message.contentPath)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return message;
    throw e;
  }
  return size === message.bytes
    ? message
    : await updateMessage(q, message.id, { bytes: size }, now);
}
