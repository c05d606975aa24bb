/**
 * One Event Socket connection (internal): TCP to FreeSWITCH with the
 * greeting and `auth` (inbound mode), or one FreeSWITCH opened to us
 * (outbound mode, no login, §2.1); replies matched to commands in FIFO
 * order, events handed to a callback (freeswitch-esl.md §1.2–§1.5, §7).
 *
 * @module
 */

import { encodeAuth, type EslEvent, type EslMessage, EslParser } from "./esl_codec.ts";
import { EslConnectionError, EslError } from "./esl_error.ts";

/** What a command waits for: the greeting, a `command/reply` or an `api/response`. */
export type ReplyType = "auth/request" | "command/reply" | "api/response";

/** Where and how to log in. */
export interface EslLogin {
  /** FreeSWITCH's address. */
  readonly hostname: string;
  /** Its ESL port. */
  readonly port: number;
  /** The `event_socket.conf` password. */
  readonly password: string;
  /** Longest wait for the greeting or a reply before the connection is dropped. */
  readonly replyTimeoutMs: number;
}

interface _Pending {
  readonly type: ReplyType;
  readonly resolve: (message: EslMessage) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

const _decoder = new TextDecoder();

/** An authenticated connection; `closed` settles once it is gone. */
export class EslConnection {
  /** Resolves with why the connection ended, once it stopped reading (never rejects). */
  readonly closed: Promise<Error>;
  readonly #conn: Deno.TcpConn;
  readonly #parser = new EslParser();
  readonly #onEvent: (event: EslEvent) => void;
  readonly #replyTimeoutMs: number;
  readonly #pending: _Pending[] = [];
  readonly #ended: (error: Error) => void;
  #writing: Promise<void> = Promise.resolve();
  #error: Error | undefined;

  private constructor(
    conn: Deno.TcpConn,
    replyTimeoutMs: number,
    onEvent: (event: EslEvent) => void,
  ) {
    this.#conn = conn;
    this.#replyTimeoutMs = replyTimeoutMs;
    this.#onEvent = onEvent;
    const { promise, resolve } = Promise.withResolvers<Error>();
    this.closed = promise;
    this.#ended = resolve;
    this.#read();
  }

  /**
   * Connects, waits for `auth/request` and logs in.
   *
   * @throws {EslConnectionError} when FreeSWITCH cannot be reached, refuses
   * the client (ACL) or the password, or does not answer in time.
   */
  static async open(login: EslLogin, onEvent: (event: EslEvent) => void): Promise<EslConnection> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: login.hostname, port: login.port });
    } catch (error) {
      throw new EslConnectionError(
        `cannot connect to ${login.hostname}:${login.port}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    conn.setNoDelay(true);
    const connection = new EslConnection(conn, login.replyTimeoutMs, onEvent);
    try {
      await connection.#expect("auth/request", "greeting");
      const reply = await connection.command(encodeAuth(login.password), "command/reply");
      const text = reply.headers.get("Reply-Text") ?? "";
      if (text !== "+OK accepted") {
        throw new EslConnectionError(`FreeSWITCH refused the login: ${text}`);
      }
    } catch (error) {
      connection.close(error as Error);
      await connection.closed;
      throw error;
    }
    return connection;
  }

  /**
   * Wraps a connection FreeSWITCH opened to our outbound-socket server
   * (§2.1): no greeting and no login; the first command is `connect`.
   */
  static accept(
    conn: Deno.TcpConn,
    replyTimeoutMs: number,
    onEvent: (event: EslEvent) => void,
  ): EslConnection {
    conn.setNoDelay(true);
    return new EslConnection(conn, replyTimeoutMs, onEvent);
  }

  /**
   * Sends a command and resolves with its reply.
   *
   * @throws {EslConnectionError} when the connection ends or the reply is late.
   */
  command(bytes: Uint8Array, type: ReplyType): Promise<EslMessage> {
    const line = _firstLine(bytes);
    const reply = this.#expect(type, line);
    this.#writing = this.#writing.then(() => this.#writeAll(bytes)).catch((error) =>
      this.close(new EslConnectionError(`write failed: ${error.message}`, { cause: error }))
    );
    return reply;
  }

  /** Closes the connection; pending commands fail with `error`. */
  close(error: Error = new EslConnectionError("connection closed")): void {
    if (this.#error) return;
    this.#error = error;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  #expect(type: ReplyType, line: string): Promise<EslMessage> {
    if (this.#error) return Promise.reject(this.#error);
    const { promise, resolve, reject } = Promise.withResolvers<EslMessage>();
    const timer = setTimeout(() => {
      this.close(new EslConnectionError(`no reply to "${line}" within ${this.#replyTimeoutMs} ms`));
    }, this.#replyTimeoutMs);
    this.#pending.push({ type, resolve, reject, timer });
    return promise;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    let error: Error = new EslConnectionError("FreeSWITCH closed the connection");
    try {
      for (let n = await this.#conn.read(buffer); n !== null; n = await this.#conn.read(buffer)) {
        for (const message of this.#parser.push(buffer.subarray(0, n))) this.#dispatch(message);
      }
    } catch (cause) {
      error = cause instanceof EslError
        ? cause
        : new EslConnectionError(`read failed: ${(cause as Error).message}`, { cause });
    }
    this.close(error);
    this.#ended(this.#error ?? error);
  }

  #dispatch(message: EslMessage): void {
    const type = message.contentType ?? "";
    if (message.event && type !== "command/reply") {
      this.#onEvent(message.event);
    } else if (type === "auth/request" || type === "command/reply" || type === "api/response") {
      const pending = this.#pending.shift();
      if (pending === undefined || pending.type !== type) {
        throw new EslError(`unexpected ${type} (waiting for ${pending?.type ?? "nothing"})`);
      }
      clearTimeout(pending.timer);
      pending.resolve(message);
    } else if (type === "text/rude-rejection") {
      throw new EslConnectionError("FreeSWITCH refused the client (event_socket ACL)");
    }
    // text/disconnect-notice: the socket closes next (or, with `Content-Disposition: linger`,
    // the channel hung up and its last events follow, §2.4); log/data is not asked for.
  }
}

/** The command line, for error messages; the password of `auth` is left out. */
function _firstLine(bytes: Uint8Array): string {
  const end = bytes.indexOf(0x0a);
  const line = _decoder.decode(bytes.subarray(0, end < 0 ? bytes.length : end));
  return line.startsWith("auth ") ? "auth" : line;
}
