/**
 * The PostgreSQL store's statements on sessions and messages. Rows carry a
 * `seq` column in insertion order, the position a listing's cursor names
 * (SQLite's rowid).
 *
 * @module
 */

import { StoreError } from "./error.ts";
import { pageCursor, pageLimit, toPage } from "./_paging.ts";
import {
  assignments,
  MESSAGE_COLUMNS,
  messageColumns,
  messageFromRow,
  publishedColumns,
  publishedFromRow,
  type Row,
  SESSION_COLUMNS,
  sessionColumns,
  sessionFromRow,
} from "./_rows.ts";
import type { Query, Values } from "./_pg_pool.ts";
import type {
  ListOptions,
  MessageChanges,
  MessageRecord,
  NewMessage,
  NewPublishedFile,
  NewSession,
  Page,
  PublishedFileRecord,
  SessionChanges,
  SessionRecord,
  SessionState,
} from "./types.ts";

/** A row's position, the cursor of listings. */
const seqOf = (row: Row): unknown => row.seq;

/** The `SET` list of an update of `values`' columns (`id = id` when there are none). */
function setList(q: Query, values: Values) {
  return Object.keys(values).length > 0 ? q(values) : q`id = id`;
}

/** Inserts a session of `instance`, created at `now` unless it says when. */
export async function insertSession(
  q: Query,
  session: NewSession,
  instance: string,
  now: number,
): Promise<SessionRecord> {
  const values = sessionColumns(session, instance, now) as Values;
  const [row] = await q`INSERT INTO sessions ${q(values)} RETURNING *`;
  return sessionFromRow(row);
}

/** Changes session `id`; rejects `not-found` when there is none. */
export async function updateSession(
  q: Query,
  id: string,
  changes: SessionChanges,
): Promise<SessionRecord> {
  const { params } = assignments(changes, SESSION_COLUMNS);
  const [row] = await q`UPDATE sessions SET ${setList(q, params as Values)}
    WHERE id = ${id} RETURNING *`;
  if (!row) throw new StoreError("not-found", `no session with id ${id}`);
  return sessionFromRow(row);
}

/** Session `id`, if any. */
export async function getSession(q: Query, id: string): Promise<SessionRecord | undefined> {
  const [row] = await q`SELECT * FROM sessions WHERE id = ${id}`;
  return row && sessionFromRow(row);
}

/** A page of sessions, newest first, optionally only those in `state`. */
export async function listSessions(
  q: Query,
  options: ListOptions & { readonly state?: SessionState },
): Promise<Page<SessionRecord>> {
  const limit = pageLimit(options.limit);
  const cursor = pageCursor(options.cursor);
  const state = options.state;
  const rows = await q`SELECT * FROM sessions WHERE true
    ${cursor === null ? q`` : q`AND seq < ${cursor}`}
    ${state === undefined ? q`` : q`AND state = ${state}`}
    ORDER BY seq DESC LIMIT ${limit + 1}`;
  return toPage(rows, limit, sessionFromRow, seqOf);
}

/** Inserts a message, created at `now` unless it says when. */
export async function insertMessage(
  q: Query,
  message: NewMessage,
  now: number,
): Promise<MessageRecord> {
  const values = messageColumns(message, now) as Values;
  const [row] = await q`INSERT INTO messages ${q(values)} RETURNING *`;
  return messageFromRow(row);
}

/** Changes message `id` (its `updated_at` becomes `now`); rejects `not-found`. */
export async function updateMessage(
  q: Query,
  id: string,
  changes: MessageChanges,
  now: number,
): Promise<MessageRecord> {
  const { params } = assignments(changes, MESSAGE_COLUMNS);
  const values = { ...params as Values, updated_at: now };
  const [row] = await q`UPDATE messages SET ${setList(q, values)} WHERE id = ${id} RETURNING *`;
  if (!row) throw new StoreError("not-found", `no message with id ${id}`);
  return messageFromRow(row);
}

/** Message `id`, if any. */
export async function getMessage(q: Query, id: string): Promise<MessageRecord | undefined> {
  const [row] = await q`SELECT * FROM messages WHERE id = ${id}`;
  return row && messageFromRow(row);
}

/** A page of the messages of session `sessionId`, oldest first. */
export async function listMessages(
  q: Query,
  sessionId: string,
  options: ListOptions,
): Promise<Page<MessageRecord>> {
  const limit = pageLimit(options.limit);
  const cursor = pageCursor(options.cursor);
  const rows = await q`SELECT * FROM messages WHERE session_id = ${sessionId}
    ${cursor === null ? q`` : q`AND seq > ${cursor}`}
    ORDER BY seq LIMIT ${limit + 1}`;
  return toPage(rows, limit, messageFromRow, seqOf);
}

/** The instance owning session `id` (`fallback` for rows from before instances). */
export async function sessionOwner(
  q: Query,
  id: string,
  fallback: string,
): Promise<string | undefined> {
  const [row] = await q`SELECT instance_id FROM sessions WHERE id = ${id}`;
  return row && String(row.instance_id ?? fallback);
}

/** The instance owning the session of message `id` (`fallback` as for sessions). */
export async function messageOwner(
  q: Query,
  id: string,
  fallback: string,
): Promise<string | undefined> {
  const [row] = await q`SELECT s.instance_id FROM messages AS m
    JOIN sessions AS s ON s.id = m.session_id WHERE m.id = ${id}`;
  return row && String(row.instance_id ?? fallback);
}

/** Records a file `instance` published at `now`. */
export async function insertPublishedFile(
  q: Query,
  file: NewPublishedFile,
  instance: string,
  now: number,
): Promise<PublishedFileRecord> {
  const columns = publishedColumns(file, instance, now) as Values;
  const [row] = await q`INSERT INTO published_files ${q(columns)} RETURNING *`;
  return publishedFromRow(row);
}

/** The files `instance` published, oldest first. */
export async function listPublishedFiles(
  q: Query,
  instance: string,
): Promise<PublishedFileRecord[]> {
  const rows = await q`SELECT * FROM published_files WHERE instance_id = ${instance}
    ORDER BY created_at, id`;
  return rows.map(publishedFromRow);
}

/** Forgets published file `id` of `instance`; its record, if there was one. */
export async function deletePublishedFile(
  q: Query,
  id: string,
  instance: string,
): Promise<PublishedFileRecord | undefined> {
  const [row] = await q`DELETE FROM published_files WHERE id = ${id} AND instance_id = ${instance}
    RETURNING *`;
  return row && publishedFromRow(row);
}
