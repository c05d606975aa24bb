/**
 * Errors of the PostgreSQL client as {@linkcode StoreError}s, and database
 * URLs as they may be shown: never with their password.
 *
 * @module
 */

import { StoreError } from "./error.ts";

/** The client's codes of a pool that `end()` closed. */
const ENDED = new Set(["CONNECTION_ENDED", "CONNECTION_DESTROYED"]);

/**
 * `url` as it may appear in messages and logs: scheme, user, host, port and
 * database, without password or query.
 */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${u.username}@` : "";
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return "an unparsable PostgreSQL URL";
  }
}

/** The password of `url` as written and decoded, to blank out of messages; none when absent. */
export function secretsOf(url: string): string[] {
  try {
    const raw = new URL(url).password;
    if (raw === "") return [];
    const decoded = decodeURIComponent(raw);
    return decoded === raw ? [raw] : [raw, decoded];
  } catch {
    // An unparsable URL: the text after the scheme's `user:` up to `@` may be a password.
    const m = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url);
    return m && m[1] !== "" ? [m[1]] : [];
  }
}

/** `text` with every secret replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("***");
  return out;
}

/** What the client and PostgreSQL put on an error that we read. */
interface ClientError {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly detail?: string;
}

/**
 * `error` (from the client, the server or the network) as a `StoreError`
 * whose message names `where` (see {@linkcode describeUrl}) and holds no
 * secret: integrity and data errors (SQLSTATE classes 23 and 22) are
 * `invalid-argument`, a pool closed by `close()` is `closed`, anything else
 * `unavailable`. A `StoreError` passes unchanged.
 */
export function toStoreError(
  error: unknown,
  where: string,
  secrets: readonly string[],
): StoreError {
  if (error instanceof StoreError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as ClientError;
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : String(error);
  const clean = (text: string) => redact(text, secrets);
  if (code && ENDED.has(code)) return new StoreError("closed", "the store is closed");
  if (e.name === "PostgresError" && code) {
    const detail = e.detail ? `: ${e.detail}` : "";
    const text = clean(`PostgreSQL (${where}): ${message}${detail} [SQLSTATE ${code}]`);
    const invalid = code.startsWith("23") || code.startsWith("22");
    return new StoreError(invalid ? "invalid-argument" : "unavailable", text);
  }
  return new StoreError("unavailable", clean(`PostgreSQL (${where}) failed: ${message}`));
}
