/**
 * The inbound Event Socket client: keeps one authenticated connection to
 * FreeSWITCH, reconnecting with capped exponential backoff and jitter, and
 * offers `api`, `bgapi` and `sendmsg` (freeswitch-esl.md §1).
 *
 * Built on the project's own codec (`esl_codec.ts`) over `Deno.connect`
 * rather than `modesl`: modesl cannot send a command with a body (the only
 * way to hand FreeSWITCH a multi-line SDP, §1.11), leaves callbacks pending
 * forever when the socket drops, reports a refused password only as an
 * event, and has no reconnect. modesl is a test-only dependency: the
 * FreeSWITCH double is checked against it as a stock client.
 *
 * @example
 * ```ts
 * const esl = new EslClient({ password: "ClueCon" }).start();
 * esl.addEventListener("event", (e) => {
 *   const { event } = e as EslEventReceived;
 *   if (event.name === "CHANNEL_PARK") console.log(event.uniqueId);
 * });
 * await esl.whenConnected();
 * console.log(await esl.api("status"));
 * await esl.close();
 * ```
 *
 * @module
 */

import { backoffDelay } from "../_backoff.ts";
import type { Logger } from "../log.ts";
import { EslConnection } from "./_esl_connection.ts";
import {
  encodeApi,
  encodeBgapi,
  encodeFilter,
  encodeSendmsg,
  encodeSubscribe,
  type EslEvent,
  type EslMessage,
} from "./esl_codec.ts";
import { EslCommandError, EslConnectionError } from "./esl_error.ts";

export { EslCommandError, EslConnectionError } from "./esl_error.ts";

/** Whether the client has a working connection. */
export type EslClientState = "connecting" | "connected" | "disconnected";

/**
 * The events the bridge needs by default: parked inbound calls, answer and
 * hangup, the results of queued applications and of `bgapi`, and inbound
 * SIP MESSAGEs (pager mode, §5.1).
 */
export const DEFAULT_EVENTS: readonly string[] = [
  "CHANNEL_PARK",
  "CHANNEL_ANSWER",
  "CHANNEL_HANGUP_COMPLETE",
  "CHANNEL_EXECUTE_COMPLETE",
  "BACKGROUND_JOB",
  "MESSAGE",
];

/** Options of {@linkcode EslClient}. */
export interface EslClientOptions {
  /** FreeSWITCH's address; `127.0.0.1` by default. */
  readonly hostname?: string;
  /** Its ESL port; 8021 by default. */
  readonly port?: number;
  /** The ESL password; `ClueCon` by default. Never logged. */
  readonly password?: string;
  /**
   * Event names to subscribe to (`CUSTOM` followed by subclasses allowed);
   * {@linkcode DEFAULT_EVENTS} by default. `BACKGROUND_JOB` is always added,
   * since {@linkcode EslClient.bgapi} needs it.
   */
  readonly events?: readonly string[];
  /**
   * `filter <Header> <value>` pairs. Any filter makes FreeSWITCH deliver only
   * events that match one (§1.6), so a filter on `Event-Name BACKGROUND_JOB`
   * is added with them for {@linkcode EslClient.bgapi}. For example
   * `[["variable_sofia_profile_name", "msrp"], ["Event-Name", "MESSAGE"]]`.
   */
  readonly filters?: readonly (readonly [header: string, value: string])[];
  /** First reconnect delay ceiling; 250 ms by default. */
  readonly reconnectBaseMs?: number;
  /** Largest reconnect delay; 30 s by default. */
  readonly reconnectCapMs?: number;
  /** Longest wait for a reply before the connection is dropped; 30 s by default. */
  readonly replyTimeoutMs?: number;
  /** Where to log connection changes. */
  readonly logger?: Logger;
}

/** Options of {@linkcode EslClient.sendmsg}. */
export interface SendmsgOptions {
  /** `event-lock: true`: the channel runs only this message while it executes. */
  readonly eventLock?: boolean;
  /** `Event-UUID`: comes back as `Application-UUID` in `CHANNEL_EXECUTE_COMPLETE`. */
  readonly eventUuid?: string;
}

/** Dispatched as `"event"` for every FreeSWITCH event received. */
export class EslEventReceived extends Event {
  /** The event. */
  readonly event: EslEvent;

  /** Creates the notice. */
  constructor(event: EslEvent) {
    super("event");
    this.event = event;
  }
}

/** Dispatched as `"state"` whenever {@linkcode EslClient.state} changes. */
export class EslStateChange extends Event {
  /** The new state. */
  readonly state: EslClientState;
  /** Why the connection was lost or could not be made, for `disconnected`. */
  readonly error: Error | undefined;

  /** Creates the notice. */
  constructor(state: EslClientState, error?: Error) {
    super("state");
    this.state = state;
    this.error = error;
  }
}

const _decoder = new TextDecoder();

/**
 * An inbound ESL client. {@linkcode start} it, listen for `"event"`
 * ({@linkcode EslEventReceived}) and `"state"` ({@linkcode EslStateChange}),
 * and {@linkcode close} it when done. Commands fail with
 * {@linkcode EslConnectionError} while it is not connected.
 */
export class EslClient extends EventTarget {
  readonly #hostname: string;
  readonly #port: number;
  readonly #password: string;
  readonly #events: readonly string[];
  readonly #filters: readonly (readonly [string, string])[];
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #replyTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #jobs = new Map<string, PromiseWithResolvers<string>>();
  readonly #waiters: PromiseWithResolvers<void>[] = [];
  #state: EslClientState = "disconnected";
  #connection: EslConnection | undefined;
  #running: Promise<void> | undefined;
  #closing = false;
  #wake: (() => void) | undefined;

  /** Creates a client; nothing happens until {@linkcode start}. */
  constructor(options: EslClientOptions = {}) {
    super();
    this.#hostname = options.hostname ?? "127.0.0.1";
    this.#port = options.port ?? 8021;
    this.#password = options.password ?? "ClueCon";
    const events = options.events ?? DEFAULT_EVENTS;
    this.#events = events.includes("BACKGROUND_JOB") ? events : [...events, "BACKGROUND_JOB"];
    const filters = options.filters ?? [];
    this.#filters = filters.length === 0 ? [] : [...filters, ["Event-Name", "BACKGROUND_JOB"]];
    this.#baseMs = options.reconnectBaseMs ?? 250;
    this.#capMs = options.reconnectCapMs ?? 30_000;
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 30_000;
    this.#log = options.logger?.with({ component: "esl", esl: `${this.#hostname}:${this.#port}` });
  }

  /** `connecting`, `connected` (logged in and subscribed) or `disconnected`. */
  get state(): EslClientState {
    return this.#state;
  }

  /** Starts connecting; the client then stays connected until {@linkcode close}. */
  start(): this {
    if (this.#running === undefined && !this.#closing) this.#running = this.#run();
    return this;
  }

  /**
   * Resolves once the client is connected (at once if it is).
   *
   * @throws {EslConnectionError} when the client is closed first.
   */
  whenConnected(): Promise<void> {
    if (this.#state === "connected") return Promise.resolve();
    if (this.#closing) return Promise.reject(new EslConnectionError("client closed"));
    const waiter = Promise.withResolvers<void>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /**
   * Runs `api <command>` and resolves with its output (which may itself say
   * `-ERR …`; that is the API's answer, not a failure of the call). The API
   * runs in FreeSWITCH's listener thread: use {@linkcode bgapi} for slow ones.
   *
   * @throws {EslConnectionError} when not connected or the connection is lost.
   */
  async api(command: string): Promise<string> {
    const reply = await this.#send(encodeApi(command), "api/response");
    return reply.body === undefined ? "" : _decoder.decode(reply.body);
  }

  /**
   * Runs `bgapi <command>` and resolves with its output from the
   * `BACKGROUND_JOB` event.
   *
   * @throws {EslConnectionError} when not connected, or the connection is
   * lost before the result arrives.
   * @throws {EslCommandError} when FreeSWITCH refuses the command.
   */
  async bgapi(command: string): Promise<string> {
    const jobUuid = crypto.randomUUID();
    const job = Promise.withResolvers<string>();
    this.#jobs.set(jobUuid, job);
    try {
      await this.#command(encodeBgapi(command, "", jobUuid));
      return await job.promise;
    } finally {
      this.#jobs.delete(jobUuid);
    }
  }

  /**
   * Queues a dialplan application on a channel (`sendmsg <uuid>` with
   * `call-command: execute`). An argument with line breaks (an SDP) is sent
   * as a `text/plain` body. Resolves when FreeSWITCH queued it: the channel
   * runs it later, in order (`CHANNEL_EXECUTE_COMPLETE` tells when).
   *
   * @throws {EslConnectionError} when not connected or the connection is lost.
   * @throws {EslCommandError} when there is no such channel.
   */
  async sendmsg(
    uuid: string,
    app: string,
    arg?: string,
    options: SendmsgOptions = {},
  ): Promise<void> {
    await this.#command(encodeSendmsg(uuid, { command: "execute", app, arg, ...options }));
  }

  /** Stops reconnecting, closes the connection and waits until all is done. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    this.#connection?.close(new EslConnectionError("client closed"));
    await this.#running;
    this.#connection = undefined;
    this.#setState("disconnected");
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new EslConnectionError("client closed"));
    }
  }

  async #command(bytes: Uint8Array): Promise<EslMessage> {
    const reply = await this.#send(bytes, "command/reply");
    const text = reply.headers.get("Reply-Text") ?? "";
    if (text.startsWith("-")) {
      throw new EslCommandError(_decoder.decode(bytes.subarray(0, bytes.indexOf(0x0a))), text);
    }
    return reply;
  }

  #send(bytes: Uint8Array, type: "command/reply" | "api/response"): Promise<EslMessage> {
    const connection = this.#state === "connected" ? this.#connection : undefined;
    if (connection === undefined) {
      return Promise.reject(new EslConnectionError(`not connected (${this.#state})`));
    }
    return connection.command(bytes, type);
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closing) {
      this.#setState("connecting");
      let error: Error;
      try {
        const connection = await this.#open();
        if (this.#closing) {
          connection.close(new EslConnectionError("client closed"));
          await connection.closed;
          break;
        }
        attempt = 0;
        this.#setState("connected");
        this.#log?.info("esl connected");
        error = await connection.closed;
      } catch (cause) {
        error = cause as Error;
      }
      this.#connection = undefined;
      for (const job of this.#jobs.values()) job.reject(error);
      if (this.#closing) break;
      this.#setState("disconnected", error);
      const delay = backoffDelay(++attempt, this.#baseMs, this.#capMs, "equal");
      this.#log?.warn("esl disconnected", { error: error.message, retryInMs: delay, attempt });
      await this.#sleep(delay);
    }
  }

  /** Connects, logs in, subscribes and installs the filters. */
  async #open(): Promise<EslConnection> {
    const connection = await EslConnection.open({
      hostname: this.#hostname,
      port: this.#port,
      password: this.#password,
      replyTimeoutMs: this.#replyTimeoutMs,
    }, (event) => this.#onEvent(event));
    this.#connection = connection;
    try {
      const replies = [connection.command(encodeSubscribe("json", this.#events), "command/reply")];
      for (const [header, value] of this.#filters) {
        replies.push(connection.command(encodeFilter(header, value), "command/reply"));
      }
      for (const reply of await Promise.all(replies)) {
        const text = reply.headers.get("Reply-Text") ?? "";
        if (!text.startsWith("+OK")) throw new EslConnectionError(`subscription refused: ${text}`);
      }
    } catch (error) {
      connection.close(error as Error);
      await connection.closed;
      throw error;
    }
    return connection;
  }

  #onEvent(event: EslEvent): void {
    if (event.name === "BACKGROUND_JOB") {
      const job = this.#jobs.get(event.get("Job-UUID") ?? "");
      job?.resolve(event.bodyText ?? "");
    }
    this.dispatchEvent(new EslEventReceived(event));
  }

  #setState(state: EslClientState, error?: Error): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === "connected") { for (const waiter of this.#waiters.splice(0)) waiter.resolve(); }
    this.dispatchEvent(new EslStateChange(state, error));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
