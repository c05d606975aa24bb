/**
 * Structured JSON-line logging. Message bodies and credentials are never
 * logged: callers pass ids and sizes only.
 *
 * @module
 */

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes one JSON object per line to stderr. */
export class Logger {
  readonly #level: LogLevel;
  readonly #fields: Readonly<Record<string, unknown>>;

  /** Creates a logger that writes records at `level` and above. */
  constructor(level: LogLevel = "info", fields: Record<string, unknown> = {}) {
    this.#level = level;
    this.#fields = fields;
  }

  /** A logger that adds `fields` (e.g. a session id) to every record. */
  with(fields: Record<string, unknown>): Logger {
    return new Logger(this.#level, { ...this.#fields, ...fields });
  }

  /** Logs at `level`. */
  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[this.#level]) return;
    const record = { time: new Date().toISOString(), level, msg, ...this.#fields, ...fields };
    console.error(JSON.stringify(record));
  }

  /** Logs at info level. */
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log("info", msg, fields);
  }

  /** Logs at warn level. */
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log("warn", msg, fields);
  }

  /** Logs at error level. */
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log("error", msg, fields);
  }
}
