/**
 * Ids, page limits and cursors, checked alike by every store, and where
 * content files go.
 *
 * @module
 */

import { StoreError } from "./error.ts";
import type { Page } from "./types.ts";

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** `id` when it is a usable session or message id (`kind` names it); throws `invalid-argument`. */
export function checkId(kind: string, id: string): string {
  if (!ID.test(id)) {
    throw new StoreError("invalid-argument", `${kind} id must match ${ID.source}`);
  }
  return id;
}

/** Where the content of message `id` is kept under `dataDir`: `<dataDir>/content/<id>`. */
export function contentPathIn(dataDir: string, id: string): string {
  return `${dataDir}/content/${checkId("message", id)}`;
}

/** The page size `limit` asks for: 100 when omitted, else 1 to 1000; throws `invalid-argument`. */
export function pageLimit(limit: number | undefined): number {
  const n = limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new StoreError("invalid-argument", `limit must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return n;
}

/** The row position a `nextCursor` names, `null` for the first page; throws `invalid-argument`. */
export function pageCursor(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  if (!/^[0-9]{1,15}$/.test(cursor)) throw new StoreError("invalid-argument", "invalid cursor");
  return Number(cursor);
}

/**
 * A page of `limit` items from `rows`, fetched with `limit + 1` to tell
 * whether more follow; the cursor is `cursorOf` (the row's position) of the
 * page's last row.
 */
export function toPage<R, T>(
  rows: readonly R[],
  limit: number,
  map: (row: R) => T,
  cursorOf: (row: R) => unknown,
): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  return {
    items: items.map(map),
    nextCursor: more ? String(cursorOf(items[items.length - 1])) : undefined,
  };
}
