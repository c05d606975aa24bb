/**
 * ESL outbound-socket mode (freeswitch-esl.md §2): the dialplan's `socket`
 * application makes FreeSWITCH connect to us, one TCP connection per call.
 * On each connection we send `connect` (the reply carries the channel's
 * `CHANNEL_DATA`, with the offer in `variable_switch_r_sdp`), `myevents json`
 * (this channel's events only) and `linger` (so the hangup's events still
 * arrive, §2.4). Then:
 *
 * - an MSRP offer on a bypass channel is answered with our SDP by the same
 *   queued `sendmsg` sequence as in inbound mode (`_call_answerer.ts`);
 * - an offer we cannot serve is refused with `respond 488`;
 * - any other call (audio only, or not in bypass mode) is left alone:
 *   `resume` then `exit`, so the channel goes on with the dialplan actions
 *   after `socket` instead of being hung up.
 *
 * The dialplan must say `socket <host>:<port> async full`: `async` parks the
 * channel while we drive it, so queued `sendmsg` applications run in order
 * (§2.4); `full` is needed for `linger` only (§2.3) — without it the socket
 * closes at hangup, the call still ends, but its hangup cause is lost.
 * `connect`, `myevents`, `sendmsg`, `resume` and `exit` work without `full`.
 * Only addresses in the `allow` list (loopback by default) may connect: a
 * connection from any other is closed at once, before a byte is sent.
 * A hangup (`CHANNEL_HANGUP_COMPLETE`, or the socket closing) ends the
 * session; a session closed by the application hangs the call up
 * (`sendmsg` with `call-command: hangup`).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { addressAllowed, type AddressRule, parseAddressRules } from "../transport/address_rule.ts";
import { CallAnswerer, type ChannelControl } from "./_call_answerer.ts";
import { EslConnection } from "./_esl_connection.ts";
import {
  encodeCommand,
  encodeConnect,
  encodeExit,
  encodeLinger,
  encodeMyevents,
  encodeSendmsg,
  type EslEvent,
  type EslMessage,
} from "./esl_codec.ts";
import { EslCommandError, EslConnectionError } from "./esl_error.ts";
import { callNotices, type CallServingOptions, type InboundCall } from "./inbound_call.ts";

/** Options of {@linkcode EslOutboundServer}. */
export interface EslOutboundServerOptions extends CallServingOptions {
  /** Address to listen on; `127.0.0.1` by default. */
  readonly hostname?: string;
  /** Port to listen on (0: any free port); 8084 by default, the `socket` application's default. */
  readonly port?: number;
  /** `linger <seconds>`: how long FreeSWITCH keeps the socket after hangup; 30 by default. */
  readonly lingerSeconds?: number;
  /** Longest wait for a reply before the connection is dropped; 30 s by default. */
  readonly replyTimeoutMs?: number;
  /**
   * Who may connect (the FreeSWITCH hosts); others are closed at once and
   * logged. Loopback (`127.0.0.0/8`, `::1`) by default.
   */
  readonly allow?: readonly AddressRule[];
}

const _decoder = new TextDecoder();
/** Pause after a failed accept (e.g. out of file descriptors) before the next. */
const ACCEPT_RETRY_MS = 100;
/** Who may connect by default: FreeSWITCH on this host. */
const LOOPBACK: readonly AddressRule[] = parseAddressRules("127.0.0.0/8, ::1");

/**
 * Serves the dialplan `socket` application. {@linkcode listen}, listen for
 * `"answering"` and `"call"` ({@linkcode InboundCallEvent}), and {@linkcode close} when done.
 *
 * @example
 * ```ts ignore
 * const server = new EslOutboundServer({ endpoint, port: 8084 }).listen();
 * server.addEventListener("call", (e) => console.log((e as InboundCallEvent).call.info));
 * ```
 */
export class EslOutboundServer extends EventTarget {
  readonly #hostname: string;
  readonly #port: number;
  readonly #lingerSeconds: number;
  readonly #replyTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #allow: readonly AddressRule[];
  readonly #answerer: CallAnswerer;
  readonly #connections = new Set<EslConnection>();
  readonly #serving = new Set<Promise<void>>();
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  #closing = false;

  /** Creates the server; nothing listens until {@linkcode listen}. */
  constructor(options: EslOutboundServerOptions) {
    super();
    this.#hostname = options.hostname ?? "127.0.0.1";
    this.#port = options.port ?? 8084;
    this.#lingerSeconds = options.lingerSeconds ?? 30;
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 30_000;
    this.#allow = options.allow ?? LOOPBACK;
    this.#log = options.logger?.with({ component: "esl-outbound" });
    this.#answerer = new CallAnswerer(options, this.#log, callNotices(this));
  }

  /**
   * Starts listening.
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken.
   */
  listen(): this {
    if (this.#listener !== undefined || this.#closing) return this;
    const listener = Deno.listen({ hostname: this.#hostname, port: this.#port });
    this.#listener = listener;
    this.#accepting = this.#accept(listener);
    this.#log?.info("esl outbound socket listening", {
      address: `${this.#hostname}:${listener.addr.port}`,
    });
    return this;
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.#listener !== undefined && !this.#closing;
  }

  /** The port listened on (the chosen one when 0 was asked for). */
  get port(): number {
    if (this.#listener === undefined) {
      throw new Error("the outbound socket server is not listening");
    }
    return this.#listener.addr.port;
  }

  /** The calls whose channel is up, by channel UUID. */
  get calls(): ReadonlyMap<string, InboundCall> {
    return this.#answerer.calls;
  }

  /**
   * Stops listening; every call's session is closed (which hangs its channel
   * up), then the remaining sockets are closed and all work is awaited.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#listener?.close();
    await this.#accepting;
    await this.#answerer.close();
    for (const connection of this.#connections) {
      connection.close(new EslConnectionError("server closing"));
    }
    while (this.#serving.size > 0) await Promise.allSettled(this.#serving);
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return; // closed
        // e.g. EMFILE: keep serving once descriptors are free again.
        this.#log?.warn("esl outbound accept failed", { error: String(error) });
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      const { hostname, port } = conn.remoteAddr;
      if (!addressAllowed(this.#allow, hostname, port)) {
        this.#log?.warn("esl outbound connection refused: address not allowed", {
          address: `${hostname}:${port}`,
        });
        conn.close();
        continue;
      }
      const serving = this.#serve(conn).finally(() => this.#serving.delete(serving));
      this.#serving.add(serving);
    }
  }

  /** One call: `connect`, `myevents`, `linger`, then answer, refuse or pass it on. */
  async #serve(conn: Deno.TcpConn): Promise<void> {
    let uuid: string | undefined;
    const hungUp = Promise.withResolvers<void>();
    const connection = EslConnection.accept(conn, this.#replyTimeoutMs, (event) => {
      if (uuid !== undefined && event.uniqueId === uuid) this.#onEvent(uuid, event, hungUp);
    });
    this.#connections.add(connection);
    try {
      if (this.#closing) return;
      const data = (await connection.command(encodeConnect(), "command/reply")).event;
      uuid = data?.uniqueId;
      if (data === undefined || uuid === undefined) {
        throw new EslConnectionError("the connect reply carries no channel");
      }
      await _ok(connection, encodeMyevents({ format: "json" }));
      await this.#linger(connection, uuid);
      const outcome = await this.#answerer.offer(uuid, data, this.#control(connection, uuid));
      if (outcome === "ignored") {
        this.#log?.info("call passed on to the dialplan", { uuid });
        await _ok(connection, encodeCommand("resume"));
      } else {
        await Promise.race([hungUp.promise, connection.closed]);
      }
      // Without `full` (no linger) FreeSWITCH may have closed the socket at hangup already.
      await connection.command(encodeExit(), "command/reply").catch(() => connection.close());
      await connection.closed;
    } catch (error) {
      if (!this.#closing) {
        this.#log?.warn("outbound socket failed", { uuid, error: (error as Error).message });
      }
    } finally {
      connection.close();
      await connection.closed;
      this.#connections.delete(connection);
      if (uuid !== undefined) this.#answerer.hungUp(uuid, undefined);
    }
  }

  /** `linger`, which only a `full` socket may send (§2.3); refused, the call goes on without. */
  async #linger(connection: EslConnection, uuid: string): Promise<void> {
    try {
      await _ok(connection, encodeLinger(this.#lingerSeconds));
    } catch (error) {
      if (!(error instanceof EslCommandError)) throw error;
      this.#log?.warn("linger refused (the socket application lacks `full`)", {
        uuid,
        reply: error.reply,
      });
    }
  }

  #onEvent(uuid: string, event: EslEvent, hungUp: PromiseWithResolvers<void>): void {
    if (event.name === "CHANNEL_ANSWER") {
      this.#answerer.answered(uuid, event.get("variable_rtp_local_sdp_str") ?? "");
    }
    if (event.name === "CHANNEL_HANGUP_COMPLETE") {
      this.#answerer.hungUp(uuid, event.get("Hangup-Cause") ?? "UNKNOWN");
      hungUp.resolve();
    }
  }

  /** The channel driven through its own socket: `sendmsg <uuid>`, execute or hangup. */
  #control(connection: EslConnection, uuid: string): ChannelControl {
    return {
      execute: async (app, arg) => {
        await _ok(connection, encodeSendmsg(uuid, { command: "execute", app, arg }));
      },
      hangup: async () => {
        try {
          await _ok(connection, encodeSendmsg(uuid, { command: "hangup" }));
          return true;
        } catch (error) {
          if (error instanceof EslCommandError) return false;
          throw error;
        }
      },
    };
  }
}

/**
 * Sends a command and resolves with its `command/reply`.
 *
 * @throws {EslCommandError} when the reply is `-ERR …`.
 */
async function _ok(connection: EslConnection, bytes: Uint8Array): Promise<EslMessage> {
  const reply = await connection.command(bytes, "command/reply");
  const text = reply.headers.get("Reply-Text") ?? "";
  if (text.startsWith("-")) {
    throw new EslCommandError(_decoder.decode(bytes.subarray(0, bytes.indexOf(0x0a))), text);
  }
  return reply;
}
