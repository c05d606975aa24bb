/**
 * A minimal ESL client for tests (inbound, or the server side of an outbound
 * socket): a Deno TCP connection read through
 * the codec's {@linkcode EslParser}. It reads only when asked, so a test
 * decides the order of everything and leaves no reads pending.
 *
 * @module
 */

import { encodeAuth, type EslEvent, type EslMessage, EslParser } from "../../src/pbx/esl_codec.ts";

/** Message types that answer a command (everything else is an event or a notice). */
const _REPLIES = new Set(["command/reply", "api/response"]);

/** An ESL client over a plain Deno TCP connection. */
export class EslTestClient {
  readonly #conn: Deno.TcpConn;
  readonly #parser = new EslParser();
  readonly #buffer = new Uint8Array(64 * 1024);
  readonly #inbox: EslMessage[] = [];
  readonly #events: EslEvent[] = [];
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<EslTestClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new EslTestClient(conn);
  }

  /** Accepts the next connection on `listener`, as an outbound-socket server does. */
  static async accept(listener: Deno.TcpListener): Promise<EslTestClient> {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    return new EslTestClient(conn);
  }

  /** Connects, reads the greeting and authenticates; throws unless accepted. */
  static async login(port: number, password = "ClueCon"): Promise<EslTestClient> {
    const client = await EslTestClient.connect(port);
    const greeting = await client.next();
    if (greeting?.contentType !== "auth/request") throw new Error("no auth/request greeting");
    const reply = await client.command(encodeAuth(password));
    if (reply.headers.get("Reply-Text") !== "+OK accepted") {
      client.close();
      throw new Error(`auth refused: ${reply.headers.get("Reply-Text")}`);
    }
    return client;
  }

  /** The next message in arrival order, or `undefined` once the server closed. */
  async next(): Promise<EslMessage | undefined> {
    while (this.#inbox.length === 0) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) return undefined;
      this.#inbox.push(...this.#parser.push(this.#buffer.subarray(0, n)));
    }
    return this.#inbox.shift();
  }

  /** Sends raw bytes. */
  async send(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  /** Sends a command and returns its reply; events read meanwhile are kept for {@linkcode event}. */
  async command(bytes: Uint8Array): Promise<EslMessage> {
    await this.send(bytes);
    for (;;) {
      const message = await this.next();
      if (message === undefined) throw new Error("connection closed before the reply");
      if (_REPLIES.has(message.contentType ?? "")) return message;
      if (message.event) this.#events.push(message.event);
      else throw new Error(`unexpected ${message.contentType} before the reply`);
    }
  }

  /** The next event, kept or newly read; throws on anything else. */
  async event(): Promise<EslEvent> {
    const kept = this.#events.shift();
    if (kept) return kept;
    const message = await this.next();
    if (message?.event === undefined) {
      throw new Error(`expected an event, got ${message?.contentType ?? "end of stream"}`);
    }
    return message.event;
  }

  /** The next `count` events. */
  async events(count: number): Promise<EslEvent[]> {
    const events: EslEvent[] = [];
    while (events.length < count) events.push(await this.event());
    return events;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }
}
