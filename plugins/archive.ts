/**
 * `archive`: appends every message, both directions, to a JSON-lines file per
 * day (UTC) with its metadata, and the text of text messages up to a size
 * limit. Received messages are written when they reach this plugin in the
 * `PLUGINS` order (list it first to record messages before any plugin
 * consumes them), sent ones when their outcome is known. Files older than the
 * retention are deleted at start and once a day.
 *
 * Configuration (`PLUGIN_ARCHIVE_*`):
 * - `DIR`: the directory; `data/archive` by default.
 * - `MAX_TEXT_BYTES`: text bodies up to this size are archived; 65536 by
 *   default, 0 for metadata only.
 * - `RETENTION_DAYS`: delete day files older than this; 30 by default, 0 keeps
 *   them forever.
 *
 * Each line is an {@linkcode ArchiveRecord}:
 * ```json
 * {"time":"2025-05-04T10:00:00.000Z","sessionId":"k3…","messageId":"a1…","direction":"in",
 *  "contentType":"text/plain","size":5,"status":"received","from":"sip:alice@pbx","text":"hello"}
 * ```
 *
 * @module
 */

import type {
  PluginDelivery,
  PluginFactory,
  PluginMessage,
  PluginSession,
} from "../src/plugins/mod.ts";

/** One line of an archive file. */
export interface ArchiveRecord {
  /** When it was archived, ISO 8601. */
  readonly time: string;
  /** The session id. */
  readonly sessionId: string;
  /** The MSRP Message-ID. */
  readonly messageId: string;
  /** `in` received, `out` sent. */
  readonly direction: "in" | "out";
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Body bytes (received, or sent). */
  readonly size: number;
  /** `received` or `partial` (incoming); `sent`, `delivered` or `failed` (outgoing). */
  readonly status: "received" | "partial" | "sent" | "delivered" | "failed";
  /** MSRP status code of a failure. */
  readonly code?: number;
  /** Why it failed. */
  readonly reason?: string;
  /** SIP From URI of the session's call, when known. */
  readonly from?: string;
  /** SIP To URI of the session's call, when known. */
  readonly to?: string;
  /** SIP Call-ID of the session's call, when known. */
  readonly callId?: string;
  /** The body, for text messages within the size limit. */
  readonly text?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;

/** The name of the day file for `time` (ms since the epoch): `YYYY-MM-DD.jsonl`, in UTC. */
export function archiveFileName(time: number): string {
  return `${new Date(time).toISOString().slice(0, 10)}.jsonl`;
}

/**
 * Deletes the day files in `dir` whose whole day lies more than
 * `retentionDays` before `now`; other files are left alone. Returns the
 * deleted names.
 */
export async function pruneArchive(
  dir: string,
  retentionDays: number,
  now: number,
): Promise<string[]> {
  const cutoff = now - retentionDays * DAY_MS;
  const deleted: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const day = DAY_FILE.exec(entry.name)?.[1];
    if (!entry.isFile || day === undefined) continue;
    const end = Date.parse(`${day}T00:00:00Z`) + DAY_MS;
    if (end <= cutoff) {
      await Deno.remove(`${dir}/${entry.name}`);
      deleted.push(entry.name);
    }
  }
  return deleted.sort();
}

/** Creates the archive plugin: makes the directory and applies the retention. */
export const plugin: PluginFactory = async (ctx) => {
  const { config, logger } = ctx;
  const dir = config.string("DIR", "data/archive");
  const maxTextBytes = config.int("MAX_TEXT_BYTES", 64 * 1024);
  const retentionDays = config.int("RETENTION_DAYS", 30);
  await Deno.mkdir(dir, { recursive: true });

  const prune = async (): Promise<void> => {
    const deleted = await pruneArchive(dir, retentionDays, ctx.now());
    if (deleted.length > 0) logger.info("archive files deleted", { dir, files: deleted });
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  if (retentionDays > 0) {
    await prune();
    timer = setInterval(() => {
      prune().catch((e) => logger.warn("archive retention failed", { dir, error: String(e) }));
    }, DAY_MS);
  }

  // Appends one after another, so lines keep their order.
  let writes: Promise<void> = Promise.resolve();
  const append = (record: ArchiveRecord): Promise<void> => {
    const line = JSON.stringify(record) + "\n";
    const path = `${dir}/${archiveFileName(ctx.now())}`;
    const write = writes.then(() => Deno.writeTextFile(path, line, { append: true }));
    writes = write.catch(() => {});
    return write;
  };

  const record = (
    session: PluginSession,
    message: PluginMessage,
    status: ArchiveRecord["status"],
    failure?: { code: number; reason: string },
  ): ArchiveRecord => ({
    time: new Date(ctx.now()).toISOString(),
    sessionId: message.sessionId,
    messageId: message.id,
    direction: message.direction,
    contentType: message.contentType,
    size: message.size,
    status,
    ...failure,
    from: session.from,
    to: session.to,
    callId: session.callId,
    text: message.isText && message.hasBody && message.size <= maxTextBytes
      ? message.text()
      : undefined,
  });

  const delivery = (info: PluginDelivery): Promise<void> =>
    append(
      record(
        info.session,
        info.message,
        info.status,
        info.status === "failed" ? { code: info.code, reason: info.reason } : undefined,
      ),
    );

  return {
    async onMessage(message, actions): Promise<"pass"> {
      await append(record(actions.session, message, message.complete ? "received" : "partial"));
      return "pass";
    },
    onMessageDelivered: delivery,
    onMessageFailed: delivery,
    async close(): Promise<void> {
      clearInterval(timer);
      await writes;
    },
  };
};
