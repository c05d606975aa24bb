/**
 * Helpers for plugin tests: captured log records, sessions and messages as
 * plugins see them.
 *
 * @module
 */

import {
  createPluginMessage,
  type PluginMessage,
  type PluginMessageInit,
  type PluginSession,
} from "../../src/plugins/mod.ts";

/** A log record as written by `Logger`. */
export type LogRecord = Record<string, unknown> & { level: string; msg: string };

/** Log records written while it is in scope; restores `console.error` when disposed. */
export interface CapturedLogs extends Disposable {
  /** The records so far. */
  readonly records: LogRecord[];
  /** The raw lines so far (to check that no body leaked). */
  readonly lines: string[];
}

/** Captures what `Logger` writes (JSON lines on `console.error`). */
export function captureLogs(): CapturedLogs {
  const original = console.error;
  const records: LogRecord[] = [];
  const lines: string[] = [];
  console.error = (line: unknown): void => {
    lines.push(String(line));
    records.push(JSON.parse(String(line)));
  };
  return {
    records,
    lines,
    [Symbol.dispose](): void {
      console.error = original;
    },
  };
}

/** A session as plugins see it. */
export function fakeSession(id = "s1", extra: Partial<PluginSession> = {}): PluginSession {
  return { id, localUri: `msrp://127.0.0.1:2855/${id};tcp`, remotePath: [], ...extra };
}

/** A received message (complete, in memory); a string body is `text/plain` by default. */
export function incoming(
  body: string | Uint8Array,
  init: Partial<PluginMessageInit> = {},
): PluginMessage {
  return createPluginMessage({
    id: crypto.randomUUID(),
    sessionId: "s1",
    direction: "in",
    contentType: "text/plain",
    body,
    ...init,
  });
}

/** Text of a reply or forward body. */
export function textOf(body: string | Uint8Array): string {
  return typeof body === "string" ? body : new TextDecoder().decode(body);
}
