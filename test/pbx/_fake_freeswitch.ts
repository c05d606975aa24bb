/**
 * A FreeSWITCH Event Socket double for tests: an inbound ESL listener on
 * 127.0.0.1 that speaks the wire protocol through `src/pbx/esl_codec.ts`,
 * records every command, and models the parts of FreeSWITCH the bridge uses
 * (freeswitch-esl.md §1, §4.2): auth, `event`/`nixevent`/`noevents`,
 * `filter`, `api`, `bgapi` + `BACKGROUND_JOB`, `sendmsg` (queued per channel,
 * with `CHANNEL_EXECUTE[_COMPLETE]`, `CHANNEL_ANSWER`, `CHANNEL_HANGUP` …),
 * `sendevent` and `exit`. Events are delivered `plain` or `json`, only to
 * connections that subscribed to them and whose filters let them through.
 *
 * It also plays the dialplan `socket` application (§2): {@linkcode
 * FakeFreeSwitch.socket} connects to an outbound-socket server, answers
 * `connect` with the channel's `CHANNEL_DATA`, and serves `myevents`,
 * `linger` (with `full` only, §2.3), `resume`, `sendmsg` and `exit`, with
 * the linger and disconnect notices of §2.4 and §6.8.
 *
 * @module
 */

import {
  encodeApiResponse,
  encodeAuthRequest,
  encodeCommandReply,
  encodeConnectReply,
  encodeDisconnectNotice,
  encodeEventMessage,
  encodeRudeRejection,
  type EslCommand,
  EslCommandParser,
  EslEvent,
  type EslEventFormat,
  type EslHeader,
  EslHeaders,
  type EslHeadersInit,
} from "../../src/pbx/esl_codec.ts";
import { serializeJsonEvent } from "../../src/pbx/esl_event.ts";

/** Options of {@linkcode FakeFreeSwitch}. */
export interface FakeFreeSwitchOptions {
  /** The ESL password (`event_socket.conf` `password`); default `ClueCon`. */
  readonly password?: string;
  /** Refuse every client as a failed ACL does (`text/rude-rejection`). */
  readonly denyAll?: boolean;
  /** `Core-UUID` of generated events. */
  readonly coreUuid?: string;
  /** `FreeSWITCH-Hostname`/`-Switchname` of generated events; default `fs1`. */
  readonly hostname?: string;
  /** `FreeSWITCH-IPv4`, also used in FreeSWITCH's own SDP; default `192.0.2.10`. */
  readonly ipv4?: string;
}

/** An API's scripted output: fixed text, or computed from the arguments. */
export type ApiHandler = string | ((args: string) => string);

/** A command the double received. */
export interface ReceivedCommand {
  /** Which connection sent it (1 for the first accepted connection, and so on). */
  readonly connection: number;
  /** The parsed command. */
  readonly command: EslCommand;
}

/** Options of {@linkcode FakeFreeSwitch.addChannel}. */
export interface ChannelOptions {
  /**
   * Keep `sendmsg` messages queued until {@linkcode FakeFreeSwitch.runQueued}
   * is called, as a channel does between replying `+OK` and running them. By
   * default they run right after the `+OK`.
   */
  readonly deferExecution?: boolean;
}

/** How the `socket` application runs ({@linkcode FakeFreeSwitch.socket}). */
export interface SocketOptions {
  /** The `async` flag: the channel parks while the socket drives it; true by default. */
  readonly async?: boolean;
  /** The `full` flag: the whole command set (`linger`, `api` …); true by default. */
  readonly full?: boolean;
}

/** What a test can read about a channel. */
export interface ChannelSnapshot {
  /** The channel UUID. */
  readonly uuid: string;
  /** Channel variables (the `variable_*` headers without the prefix). */
  readonly variables: ReadonlyMap<string, string>;
  /** Whether the call was answered. */
  readonly answered: boolean;
  /** The hangup cause once the channel hung up. */
  readonly hangupCause: string | undefined;
  /** `sendmsg` messages still waiting to run. */
  readonly queued: number;
  /** The application the channel runs (`variable_current_application`). */
  readonly application: string | undefined;
}

/** Core event names (`src/switch_event.c` `EVENT_NAMES`), `ALL` included. */
const _EVENT_NAMES = new Set(
  ("CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER " +
    "CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD " +
    "CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA " +
    "CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE " +
    "CHANNEL_UUID API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK " +
    "NOTALK SESSION_CRASH MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN " +
    "PRESENCE_OUT PRESENCE_PROBE MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB " +
    "DETECTED_SPEECH DETECTED_TONE PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE " +
    "EXE_SCHEDULE RE_SCHEDULE RELOADXML NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE " +
    "SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS CHANNEL_DATA GENERAL COMMAND SESSION_HEARTBEAT " +
    "CLIENT_DISCONNECTED SERVER_DISCONNECTED SEND_INFO RECV_INFO RECV_RTCP_MESSAGE " +
    "SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START RECORD_STOP PLAYBACK_START PLAYBACK_STOP " +
    "CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START MEDIA_BUG_STOP CONFERENCE_DATA_QUERY " +
    "CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT CALL_DETAIL DEVICE_STATE TEXT " +
    "SHUTDOWN_REQUESTED ALL").split(" "),
);

/** The headers every event starts with, in order (`switch_event_prep_for_delivery_detailed`). */
const _STANDARD_HEADERS = [
  "Event-Name",
  "Core-UUID",
  "FreeSWITCH-Hostname",
  "FreeSWITCH-Switchname",
  "FreeSWITCH-IPv4",
  "FreeSWITCH-IPv6",
  "Event-Date-Local",
  "Event-Date-GMT",
  "Event-Date-Timestamp",
  "Event-Calling-File",
  "Event-Calling-Function",
  "Event-Calling-Line-Number",
  "Event-Sequence",
];

/** SIP status → hangup cause for `respond`, as observed in freeswitch-esl.md §4.4.4. */
const _RESPOND_CAUSES: Record<string, string> = {
  "404": "UNALLOCATED_NUMBER",
  "408": "RECOVERY_ON_TIMER_EXPIRE",
  "480": "NO_USER_RESPONSE",
  "486": "USER_BUSY",
  "487": "ORIGINATOR_CANCEL",
  "488": "INCOMPATIBLE_DESTINATION",
  "503": "NORMAL_TEMPORARY_FAILURE",
  "603": "CALL_REJECTED",
};

type _Origin = readonly [file: string, func: string, line: string];

/** The events `myevents` subscribes an outbound socket to (§2.4). */
const _MYEVENTS = new Set(
  ("CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA " +
    "CHANNEL_DESTROY CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP " +
    "CHANNEL_HANGUP_COMPLETE CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK " +
    "CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK " +
    "DETECTED_SPEECH DTMF NOTALK TALK").split(" "),
);

/** Commands an outbound socket without `full` may send (§2.3). */
const _SINGLE_CHANNEL_COMMANDS = new Set([
  "connect",
  "getvar",
  "myevents",
  "resume",
  "filter",
  "divert_events",
  "sendmsg",
  "exit",
]);

/** The state of a connection the double opened as the `socket` application. */
interface _Outbound {
  readonly uuid: string;
  readonly async: boolean;
  readonly full: boolean;
  connected: boolean;
  myevents: boolean;
  /** `linger` seconds; `null` without a limit, `undefined` when not lingering. */
  linger: number | null | undefined;
  resume: boolean;
  /** The socket's end was applied to the channel (at `exit`, or when the connection closed). */
  released: boolean;
}

interface _Filter {
  readonly header: string;
  readonly value: string;
}

/** One accepted ESL connection and its listener state. */
class _Session {
  readonly id: number;
  readonly conn: Deno.TcpConn;
  readonly parser = new EslCommandParser();
  authed = false;
  format: EslEventFormat = "plain";
  all = false;
  readonly events = new Set<string>();
  readonly subclasses = new Set<string>();
  filters: _Filter[] = [];
  /** Set by `exit` or a failed `auth`: the connection closes once its replies are sent. */
  ending = false;
  closed = false;
  /** Set when the double opened this connection as the `socket` application. */
  readonly outbound: _Outbound | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(id: number, conn: Deno.TcpConn, outbound?: _Outbound) {
    this.id = id;
    this.conn = conn;
    this.outbound = outbound;
  }

  send(bytes: Uint8Array): void {
    if (this.closed) return;
    this.#writes = this.#writes.then(() => this.#writeAll(bytes)).catch(() => this.close());
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length && !this.closed;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  /** Waits for queued writes, then closes. */
  async finish(): Promise<void> {
    await this.#writes;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }

  wants(event: EslEvent): boolean {
    if (!this.authed || this.ending) return false;
    const own = this.outbound;
    if (own?.myevents && event.uniqueId === own.uuid && _MYEVENTS.has(event.name)) return true;
    const subscribed = this.all ||
      (this.events.has(event.name) &&
        (event.name !== "CUSTOM" || event.subclass === undefined ||
          this.subclasses.has(event.subclass)));
    return subscribed && _passesFilters(this.filters, event);
  }
}

/** `mod_event_socket.c:event_handler`: positive filters admit, `-` filters drop. */
function _passesFilters(filters: readonly _Filter[], event: EslEvent): boolean {
  if (filters.length === 0) return true;
  let send = false;
  for (const filter of filters) {
    const value = event.get(filter.header);
    if (value === undefined) continue;
    let positive = true;
    let i = 0;
    for (; i < filter.value.length && "+- ".includes(filter.value[i]); i++) {
      if (filter.value[i] !== " ") positive = filter.value[i] === "+";
    }
    if (send && positive) continue;
    const wanted = filter.value.slice(i);
    const match = filter.value.startsWith("/")
      ? _regexMatches(wanted, value)
      : wanted.toLowerCase() === value.toLowerCase();
    if (!match) continue;
    if (!positive) return false;
    send = true;
  }
  return send;
}

/** `switch_regex_perform` with a `/pattern/flags` expression (flags `i`, `s`). */
function _regexMatches(expression: string, value: string): boolean {
  const last = expression.lastIndexOf("/");
  if (last <= 0) return false;
  const flags = expression.slice(last + 1).replace(/[^is]/g, "");
  try {
    return new RegExp(expression.slice(1, last), flags).test(value);
  } catch {
    return false;
  }
}

interface _QueuedMessage {
  readonly headers: EslHeaders;
  readonly body: Uint8Array | undefined;
}

class _Channel {
  readonly uuid: string;
  base: EslHeaders;
  readonly variables = new Map<string, string>();
  readonly queue: _QueuedMessage[] = [];
  readonly deferExecution: boolean;
  answered = false;
  hangupCause: string | undefined;

  constructor(uuid: string, base: EslHeaders, deferExecution: boolean) {
    this.uuid = uuid;
    this.base = base;
    this.deferExecution = deferExecution;
  }

  /** Channel headers then `variable_*` headers, as channel events carry them. */
  headers(): EslHeader[] {
    const variables = Array.from(this.variables, ([n, v]): EslHeader => [`variable_${n}`, v]);
    return [...this.base, ...variables];
  }
}

const _decoder = new TextDecoder();

/**
 * The double. Construct it to start listening on 127.0.0.1 (a free port);
 * `await close()` at the end of every test.
 */
export class FakeFreeSwitch {
  /** Where the double listens. */
  readonly hostname = "127.0.0.1";
  /** The port it listens on. */
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #password: string;
  readonly #denyAll: boolean;
  readonly #coreUuid: string;
  readonly #host: string;
  readonly #ipv4: string;
  readonly #sessions = new Set<_Session>();
  readonly #serving = new Set<Promise<void>>();
  readonly #apis = new Map<string, ApiHandler>();
  readonly #channels = new Map<string, _Channel>();
  readonly #received: ReceivedCommand[] = [];
  readonly #waiters: { match: (c: EslCommand) => boolean; resolve: (c: EslCommand) => void }[] = [];
  readonly #accepting: Promise<void>;
  #nextConnection = 1;
  #sequence = 5000;

  /** Starts listening. */
  constructor(options: FakeFreeSwitchOptions = {}) {
    this.#password = options.password ?? "ClueCon";
    this.#denyAll = options.denyAll ?? false;
    this.#coreUuid = options.coreUuid ?? "2a8d5e7c-1f0b-4f21-9a3e-6b1c0d9e4f11";
    this.#host = options.hostname ?? "fs1";
    this.#ipv4 = options.ipv4 ?? "192.0.2.10";
    this.#listener = Deno.listen({ hostname: this.hostname, port: 0 });
    this.port = this.#listener.addr.port;
    this.#apis.set("uuid_answer", (args) => this.#uuidAnswer(args));
    this.#apis.set("uuid_kill", (args) => this.#uuidKill(args));
    this.#apis.set("uuid_setvar", (args) => this.#uuidSetvar(args));
    this.#apis.set("uuid_getvar", (args) => this.#uuidGetvar(args));
    this.#apis.set("uuid_exists", (args) => this.#channels.has(args.trim()) ? "true" : "false");
    this.#apis.set("uuid_dump", (args) => this.#uuidDump(args));
    this.#apis.set("show", (args) => this.#show(args));
    this.#accepting = this.#accept();
  }

  /** Every command received so far, on any connection, in order. */
  get commands(): readonly ReceivedCommand[] {
    return [...this.#received];
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#sessions.size;
  }

  /**
   * Scripts the output of `api <command>` (and `bgapi <command>`). Built in:
   * `uuid_answer`, `uuid_kill`, `uuid_setvar`, `uuid_getvar`, `uuid_exists`,
   * `uuid_dump <uuid> json` and `show channels as json`; any other command
   * answers `-ERR <command> Command not found!\n`.
   */
  setApi(command: string, handler: ApiHandler): void {
    this.#apis.set(command, handler);
  }

  /**
   * Resolves with the first command, received before or after this call, that
   * matches, once the double has handled it (its reply is queued for sending).
   */
  waitForCommand(match: (command: EslCommand) => boolean): Promise<EslCommand> {
    const found = this.#received.find((r) => match(r.command));
    if (found) return Promise.resolve(found.command);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /**
   * Registers a parked channel that `sendmsg` and the `uuid_*` APIs can act on.
   * `headers` are its channel headers, for example those of a `CHANNEL_PARK`
   * event (the standard `Event-*` block is dropped; `variable_*` headers
   * become its variables). A channel with `variable_endpoint_disposition:
   * RECEIVED_NOMEDIA` is in bypass mode (§4.2).
   */
  addChannel(headers: EslHeadersInit | EslHeaders, options: ChannelOptions = {}): string {
    const all = headers instanceof EslHeaders ? headers : new EslHeaders(headers);
    const uuid = all.get("Unique-ID");
    if (uuid === undefined) throw new TypeError("a channel needs a Unique-ID header");
    const base = new EslHeaders(
      Array.from(all).filter(([n]) => !_STANDARD_HEADERS.includes(n) && !n.startsWith("variable_")),
    );
    const channel = new _Channel(uuid, base, options.deferExecution ?? false);
    for (const [name, value] of all) {
      if (name.startsWith("variable_")) channel.variables.set(name.slice(9), value);
    }
    this.#channels.set(uuid, channel);
    return uuid;
  }

  /** What the double knows of a channel, or `undefined` once it is destroyed. */
  channel(uuid: string): ChannelSnapshot | undefined {
    const channel = this.#channels.get(uuid);
    if (!channel) return undefined;
    return {
      uuid,
      variables: new Map(channel.variables),
      answered: channel.answered,
      hangupCause: channel.hangupCause,
      queued: channel.queue.length,
      application: channel.variables.get("current_application"),
    };
  }

  /**
   * Runs the dialplan `socket` application on a channel (§2.1): connects to
   * `target` and serves the outbound-socket protocol there. Resolves once
   * the connection is open; the socket's commands are recorded like any
   * other. When the socket closes without `resume`, the channel hangs up;
   * with it, the channel goes back to `park` (the next dialplan action).
   */
  async socket(
    uuid: string,
    target: { readonly hostname: string; readonly port: number },
    options: SocketOptions = {},
  ): Promise<void> {
    const channel = this.#channels.get(uuid);
    if (!channel) throw new TypeError(`no channel ${uuid}`);
    const flags = [options.async ?? true ? "async" : "", options.full ?? true ? "full" : ""];
    channel.variables.set("current_application", "socket");
    channel.variables.set(
      "current_application_data",
      `${target.hostname}:${target.port} ${flags.filter(Boolean).join(" ")}`.trim(),
    );
    const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
    conn.setNoDelay(true);
    const session = new _Session(this.#nextConnection++, conn, {
      uuid,
      async: options.async ?? true,
      full: options.full ?? true,
      connected: false,
      myevents: false,
      linger: undefined,
      resume: false,
      released: false,
    });
    this.#sessions.add(session);
    const serving = this.#serve(session).finally(() => {
      this.#sessions.delete(session);
      this.#serving.delete(serving);
      this.#socketClosed(session);
    });
    this.#serving.add(serving);
  }

  /** Runs the `sendmsg` messages queued on a channel, in order. */
  runQueued(uuid: string): void {
    const channel = this.#channels.get(uuid);
    if (channel) this.#drain(channel);
  }

  /**
   * Fires an event to every connection subscribed to it whose filters let it
   * through, and returns how many connections it was sent to. The standard
   * `Event-*` block is generated; values for it in `headers` win (so the
   * headers of a fixture event are reproduced as they are), and the other
   * headers follow in their order.
   */
  emit(
    name: string,
    headers: EslHeadersInit | EslHeaders = [],
    body?: Uint8Array | string,
  ): number {
    return this.#fire(this.#event(name, headers, body));
  }

  /**
   * Closes every connection abruptly, as a FreeSWITCH restart does, and keeps
   * listening so clients can reconnect. Channels are kept.
   */
  async dropConnections(): Promise<void> {
    for (const session of this.#sessions) session.close();
    await Promise.all(this.#serving);
  }

  /** Stops listening, closes every connection and waits until all is done. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    await this.dropConnections();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        conn.setNoDelay(true);
        const session = new _Session(this.#nextConnection++, conn);
        this.#sessions.add(session);
        const serving = this.#serve(session).finally(() => {
          this.#sessions.delete(session);
          this.#serving.delete(serving);
        });
        this.#serving.add(serving);
      }
    } catch {
      // the listener was closed
    }
  }

  async #serve(session: _Session): Promise<void> {
    if (this.#denyAll) {
      session.send(encodeRudeRejection());
      session.send(encodeDisconnectNotice());
      await session.finish();
      return;
    }
    if (session.outbound === undefined) session.send(encodeAuthRequest());
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!session.closed) {
        const n = await session.conn.read(buffer);
        if (n === null) break;
        for (const command of session.parser.push(buffer.subarray(0, n))) {
          this.#handle(session, command);
          if (session.ending) break;
        }
        if (session.ending) break;
      }
    } catch {
      // the connection was closed or reset, or sent bytes that cannot be framed
    }
    await session.finish();
  }

  #handle(session: _Session, command: EslCommand): void {
    this.#received.push({ connection: session.id, command });
    if (session.outbound) this.#outboundCommand(session, session.outbound, command);
    else if (session.authed) this.#authedCommand(session, command);
    else this.#loginCommand(session, command);
    for (const waiter of [...this.#waiters]) {
      if (!waiter.match(command)) continue;
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(command);
    }
  }

  #loginCommand(session: _Session, command: EslCommand): void {
    if (command.name === "auth") {
      if (command.args === this.#password) {
        session.authed = true;
        session.send(encodeCommandReply("+OK accepted"));
      } else {
        this.#goodbye(session, "-ERR invalid");
      }
    } else if (command.name === "exit") {
      this.#goodbye(session, "+OK bye");
    } else {
      session.send(encodeCommandReply("-ERR command not found"));
    }
  }

  #goodbye(session: _Session, replyText: string): void {
    session.send(encodeCommandReply(replyText));
    session.send(encodeDisconnectNotice({ headers: _disconnectHeaders(session, "disconnect") }));
    session.ending = true;
    this.#socketClosed(session);
  }

  /** `parse_command` on an outbound socket: `connect` first, then the allowed set (§2.2–§2.4). */
  #outboundCommand(session: _Session, own: _Outbound, command: EslCommand): void {
    const channel = this.#channels.get(own.uuid);
    if (!own.connected) {
      if (command.name !== "connect" || !channel) return this.#goodbye(session, "-ERR invalid");
      own.connected = true;
      session.authed = true;
      const data = this.#event("CHANNEL_DATA", [
        ["Event-Calling-File", "mod_event_socket.c"],
        ["Event-Calling-Function", "parse_command"],
        ["Event-Calling-Line-Number", "2029"],
        ...channel.headers(),
      ]);
      return session.send(encodeConnectReply(data, {
        socketMode: own.async ? "async" : "static",
        control: own.full ? "full" : "single-channel",
      }));
    }
    if (!own.full && !_SINGLE_CHANNEL_COMMANDS.has(command.name)) {
      return session.send(encodeCommandReply("-ERR command not found"));
    }
    switch (command.name) {
      case "myevents": {
        if (own.myevents) return session.send(encodeCommandReply("-ERR aready enabled."));
        own.myevents = true;
        session.format = command.args.includes("json") ? "json" : "plain";
        return session.send(encodeCommandReply("+OK Events Enabled"));
      }
      case "linger": {
        const seconds = command.args.trim() === "" ? null : Number(command.args.trim());
        own.linger = seconds;
        const text = seconds === null ? "+OK will linger" : `+OK will linger ${seconds} seconds`;
        return session.send(encodeCommandReply(text));
      }
      case "resume":
        own.resume = true;
        return session.send(encodeCommandReply("+OK"));
      case "sendmsg":
        return this.#sendmsg(session, command, own.uuid);
      default:
        return this.#authedCommand(session, command);
    }
  }

  /**
   * The socket is closed (`listener_run` ends): the channel hangs up, or
   * with `resume` goes on with its dialplan — here, back to `park`.
   */
  #socketClosed(session: _Session): void {
    const own = session.outbound;
    if (!own || own.released) return;
    own.released = true;
    const channel = this.#channels.get(own.uuid);
    if (!channel || channel.hangupCause !== undefined) return;
    if (own.resume) {
      channel.variables.set("current_application", "park");
      channel.variables.delete("current_application_data");
    } else {
      this.#hangup(channel, "NORMAL_CLEARING");
    }
  }

  /** A hanging-up channel's sockets: a linger notice, or without linger the goodbye and close. */
  #notifySockets(channel: _Channel): void {
    for (const session of this.#sessions) {
      const own = session.outbound;
      if (own?.uuid !== channel.uuid || !own.connected || session.ending) continue;
      if (own.linger === undefined) {
        session.send(
          encodeDisconnectNotice({ headers: _disconnectHeaders(session, "disconnect") }),
        );
        session.ending = true;
        session.finish();
        continue;
      }
      const headers: EslHeader[] = [
        ["Controlled-Session-UUID", own.uuid],
        ["Content-Disposition", "linger"],
        ["Channel-Name", channel.base.get("Channel-Name") ?? ""],
      ];
      if (own.linger !== null) headers.push(["Linger-Time", String(own.linger)]);
      session.send(encodeDisconnectNotice({ headers, body: "" }));
    }
  }

  #authedCommand(session: _Session, command: EslCommand): void {
    switch (command.name) {
      case "event":
        return session.send(encodeCommandReply(this.#subscribe(session, command.args)));
      case "nixevent":
        return session.send(encodeCommandReply(this.#nixevent(session, command.args)));
      case "noevents":
        session.all = false;
        session.events.clear();
        session.subclasses.clear();
        return session.send(encodeCommandReply("+OK no longer listening for events"));
      case "filter":
        return session.send(encodeCommandReply(this.#filter(session, command.args)));
      case "api":
        return session.send(encodeApiResponse(this.#api(command.args)));
      case "bgapi":
        return this.#bgapi(session, command);
      case "sendmsg":
        return this.#sendmsg(session, command);
      case "sendevent":
        return this.#sendevent(session, command);
      case "exit":
        return this.#goodbye(session, "+OK bye");
      default:
        return session.send(encodeCommandReply("-ERR command not found"));
    }
  }

  #subscribe(session: _Session, args: string): string {
    const words = args.split(" ").filter((w) => w !== "");
    if (words[0] === "xml") return "-ERR the fake FreeSWITCH does not send xml events";
    if (words[0] === "plain" || words[0] === "json") {
      session.format = words.shift() as EslEventFormat;
    }
    let keys = 0;
    let custom = false;
    for (const word of words) {
      const name = word.toUpperCase();
      if (custom) {
        session.subclasses.add(word);
      } else if (_EVENT_NAMES.has(name)) {
        keys++;
        if (name === "ALL") session.all = true;
        session.events.add(name);
        custom = name === "CUSTOM";
      }
    }
    return keys > 0 ? `+OK event listener enabled ${session.format}` : "-ERR no keywords supplied";
  }

  #nixevent(session: _Session, args: string): string {
    let custom = false;
    for (const word of args.split(" ").filter((w) => w !== "")) {
      const name = word.toUpperCase();
      if (custom) {
        session.subclasses.delete(word);
      } else if (_EVENT_NAMES.has(name)) {
        if (name === "ALL") session.all = false;
        session.events.delete(name);
        custom = name === "CUSTOM";
      }
    }
    return "+OK events nixed";
  }

  #filter(session: _Session, args: string): string {
    const [first, ...rest] = args.trimStart().split(" ");
    let header = first;
    let value: string | undefined = rest.length > 0 ? rest.join(" ") : undefined;
    if (header.toLowerCase() === "delete" && value !== undefined) {
      const space = value.indexOf(" ");
      header = space < 0 ? value : value.slice(0, space);
      const deleted = space < 0 ? undefined : value.slice(space + 1);
      session.filters = header.toLowerCase() === "all"
        ? []
        : session.filters.filter((f) =>
          f.header.toLowerCase() !== header.toLowerCase() ||
          (deleted !== undefined && f.value !== deleted)
        );
      return `+OK filter deleted. [${header}][${deleted ?? ""}]`;
    }
    if (value === undefined) return "-ERR invalid syntax";
    if (header.toLowerCase() === "add") {
      const space = value.indexOf(" ");
      if (space < 0) return "-ERR invalid syntax";
      header = value.slice(0, space);
      value = value.slice(space + 1);
    }
    session.filters.push({ header, value });
    return `+OK filter added. [${header}]=[${value}]`;
  }

  #api(line: string): string {
    const space = line.indexOf(" ");
    const name = space < 0 ? line : line.slice(0, space);
    const args = space < 0 ? "" : line.slice(space + 1);
    const handler = this.#apis.get(name);
    if (handler === undefined) return `-ERR ${name} Command not found!\n`;
    const output = typeof handler === "string" ? handler : handler(args);
    return output === "" ? "-ERR no reply\n" : output;
  }

  #bgapi(session: _Session, command: EslCommand): void {
    const jobUuid = command.headers.get("Job-UUID") ?? crypto.randomUUID();
    session.send(encodeCommandReply(`+OK Job-UUID: ${jobUuid}`, [["Job-UUID", jobUuid]]));
    const space = command.args.indexOf(" ");
    const name = space < 0 ? command.args : command.args.slice(0, space);
    const args = space < 0 ? "" : command.args.slice(space + 1);
    const headers: EslHeader[] = [
      ["Event-Calling-File", "mod_event_socket.c"],
      ["Event-Calling-Function", "api_exec"],
      ["Event-Calling-Line-Number", "1580"],
      ["Job-UUID", jobUuid],
      ["Job-Command", name],
    ];
    if (args !== "") headers.push(["Job-Command-Arg", args]);
    this.#fire(this.#event("BACKGROUND_JOB", headers, this.#api(command.args)));
  }

  #sendmsg(session: _Session, command: EslCommand, controlled = ""): void {
    const uuid = command.args.trim() || command.headers.get("session-id") || controlled;
    const channel = this.#channels.get(uuid);
    if (!channel) {
      return session.send(encodeCommandReply(`-ERR invalid session id [${uuid}]`));
    }
    channel.queue.push({ headers: command.headers, body: command.body });
    session.send(encodeCommandReply("+OK"));
    if (!channel.deferExecution) this.#drain(channel);
  }

  #sendevent(session: _Session, command: EslCommand): void {
    const name = command.args.trim().toUpperCase();
    const given = command.headers.without("content-length");
    const eventUuid = given.get("Event-UUID") ?? crypto.randomUUID();
    const headers = given.has("Event-UUID") ? given : given.with("Event-UUID", eventUuid);
    session.send(encodeCommandReply(`+OK ${eventUuid}`));
    this.#fire(this.#event(name, headers, command.body));
  }

  /** Runs queued messages in order, as a parked channel does between applications. */
  #drain(channel: _Channel): void {
    while (channel.queue.length > 0 && this.#channels.has(channel.uuid)) {
      const message = channel.queue.shift() as _QueuedMessage;
      const callCommand = message.headers.get("call-command")?.toLowerCase();
      if (callCommand === "execute") this.#execute(channel, message);
      if (callCommand === "hangup") {
        this.#hangup(channel, message.headers.get("hangup-cause") ?? "NORMAL_CLEARING");
      }
    }
  }

  /** `switch_core_session_exec`: `CHANNEL_EXECUTE`, the application, `CHANNEL_EXECUTE_COMPLETE`. */
  #execute(channel: _Channel, message: _QueuedMessage): void {
    const app = message.headers.get("execute-app-name") ?? "";
    const arg = message.headers.get("execute-app-arg") ??
      (message.body === undefined ? "" : _decoder.decode(message.body));
    const appHeaders: EslHeader[] = [["Application", app]];
    if (arg !== "") appHeaders.push(["Application-Data", arg]);
    const uuid = message.headers.get("Event-UUID") ?? crypto.randomUUID();
    const origin: _Origin = ["switch_core_session.c", "switch_core_session_exec", "2942"];
    this.#channelEvent(channel, "CHANNEL_EXECUTE", origin, [...appHeaders, [
      "Application-UUID",
      uuid,
    ]]);
    if (app === "set") this.#set(channel, arg);
    if (app === "answer") this.#answer(channel);
    if (app === "hangup") this.#hangup(channel, arg || "NORMAL_CLEARING", false);
    if (app === "respond") this.#respond(channel, arg);
    this.#channelEvent(channel, "CHANNEL_EXECUTE_COMPLETE", origin, [
      ...appHeaders,
      ["Application-Response", "_none_"],
      ["Application-UUID", uuid],
    ]);
    if (channel.hangupCause !== undefined) this.#destroy(channel);
  }

  /** `mod_dptools.c:base_set`: splits at the first `=`; an empty value unsets. */
  #set(channel: _Channel, arg: string): void {
    const equals = arg.indexOf("=");
    if (equals <= 0) return;
    const value = arg.slice(equals + 1);
    if (value === "") channel.variables.delete(arg.slice(0, equals));
    else channel.variables.set(arg.slice(0, equals), value);
  }

  /**
   * `sofia_answer_channel` (§4.2): a bypass channel with `switch_m_sdp` answers
   * with that SDP verbatim; otherwise FreeSWITCH answers with its own MSRP SDP.
   */
  #answer(channel: _Channel): void {
    if (channel.answered || channel.hangupCause !== undefined) return;
    const appSdp = channel.variables.get("switch_m_sdp");
    const bypass = channel.variables.get("endpoint_disposition") === "RECEIVED_NOMEDIA";
    channel.variables.set("rtp_local_sdp_str", bypass && appSdp ? appSdp : this.#ownSdp(channel));
    channel.answered = true;
    channel.base = channel.base.with("Channel-Call-State", "ACTIVE")
      .with("Answer-State", "answered");
    this.#channelEvent(channel, "CHANNEL_ANSWER", [
      "switch_channel.c",
      "switch_channel_perform_mark_answered",
      "3977",
    ]);
  }

  /** FreeSWITCH's own answer to an MSRP offer (`switch_core_media_gen_local_sdp`, §4.1). */
  #ownSdp(channel: _Channel): string {
    const offer = channel.variables.get("switch_r_sdp") ?? "";
    const types = /^a=accept-types:(.*)$/m.exec(offer)?.[1]?.trim() ?? "text/plain";
    const ip = this.#ipv4;
    return [
      "v=0",
      `o=FreeSWITCH 1736900000 1736900001 IN IP4 ${ip}`,
      "s=FreeSWITCH",
      `c=IN IP4 ${ip}`,
      "t=0 0",
      "m=message 2855 TCP/MSRP *",
      `a=path:msrp://${ip}:2855/${channel.uuid};tcp`,
      `a=accept-types:${types}`,
      `a=accept-wrapped-types:${types}`,
      "a=setup:passive",
      "",
    ].join("\r\n");
  }

  /** `respond <code>`: a final failure rejects the call; below 300 nothing is sent. */
  #respond(channel: _Channel, arg: string): void {
    const code = arg.trim().split(" ")[0];
    if (Number(code) >= 300) this.#hangup(channel, _RESPOND_CAUSES[code] ?? "CALL_REJECTED", false);
  }

  /** Fires `CHANNEL_HANGUP`; with `destroy`, also `CHANNEL_HANGUP_COMPLETE` and `CHANNEL_DESTROY`. */
  #hangup(channel: _Channel, cause: string, destroy = true): void {
    if (channel.hangupCause !== undefined) return;
    channel.hangupCause = cause;
    channel.variables.set("hangup_cause", cause);
    const entries = Array.from(
      channel.base.with("Channel-Call-State", "HANGUP")
        .with("Answer-State", "hangup"),
    );
    const at = entries.findIndex(([n]) => n === "Answer-State") + 1;
    entries.splice(at > 0 ? at : entries.length, 0, ["Hangup-Cause", cause]);
    channel.base = new EslHeaders(entries);
    this.#channelEvent(channel, "CHANNEL_HANGUP", [
      "switch_channel.c",
      "switch_channel_perform_hangup",
      "3440",
    ]);
    this.#notifySockets(channel);
    if (destroy) this.#destroy(channel);
  }

  #destroy(channel: _Channel): void {
    channel.base = channel.base.with("Channel-State", "CS_REPORTING")
      .with("Channel-State-Number", "11");
    this.#channelEvent(channel, "CHANNEL_HANGUP_COMPLETE", [
      "switch_core_state_machine.c",
      "switch_core_session_reporting_state",
      "1012",
    ]);
    channel.base = channel.base.with("Channel-State", "CS_DESTROY")
      .with("Channel-State-Number", "12");
    this.#channelEvent(channel, "CHANNEL_DESTROY", [
      "switch_core_session.c",
      "switch_core_session_perform_destroy",
      "1650",
    ]);
    this.#channels.delete(channel.uuid);
  }

  #channelEvent(channel: _Channel, name: string, origin: _Origin, extra: EslHeader[] = []): void {
    const headers: EslHeader[] = [
      ["Event-Calling-File", origin[0]],
      ["Event-Calling-Function", origin[1]],
      ["Event-Calling-Line-Number", origin[2]],
      ...channel.headers(),
      ...extra,
    ];
    this.#fire(this.#event(name, headers));
  }

  #uuidAnswer(args: string): string {
    const channel = this.#channels.get(args.trim());
    if (!channel) return "-ERROR\n";
    this.#answer(channel);
    return "+OK\n";
  }

  #uuidKill(args: string): string {
    const [uuid, cause] = args.trim().split(" ");
    const channel = this.#channels.get(uuid);
    if (!channel) return "-ERR No such channel!\n";
    this.#hangup(channel, cause || "NORMAL_CLEARING");
    return "+OK\n";
  }

  #uuidSetvar(args: string): string {
    const [uuid, name, ...value] = args.split(" ");
    const channel = this.#channels.get(uuid);
    if (!channel || name === undefined) return "-ERR No such channel!\n";
    if (value.length === 0) channel.variables.delete(name);
    else channel.variables.set(name, value.join(" "));
    return "+OK\n";
  }

  /** `uuid_dump <uuid> json`: the channel's `CHANNEL_DATA` event as JSON. */
  #uuidDump(args: string): string {
    const [uuid, format] = args.trim().split(" ");
    const channel = this.#channels.get(uuid);
    if (!channel) return "-ERR No such channel!\n";
    if (format !== "json") return "-ERR the fake FreeSWITCH dumps json only\n";
    const event = this.#event("CHANNEL_DATA", [
      ["Event-Calling-File", "mod_commands.c"],
      ["Event-Calling-Function", "uuid_dump_function"],
      ["Event-Calling-Line-Number", "6468"],
      ...channel.headers(),
    ]);
    return _decoder.decode(serializeJsonEvent(event));
  }

  /** `show channels as json`, with the columns the bridge reads. */
  #show(args: string): string {
    if (args.trim() !== "channels as json") {
      return "-USAGE: the fake FreeSWITCH shows channels only\n";
    }
    const rows = Array.from(this.#channels.values(), (channel) => ({
      uuid: channel.uuid,
      direction: channel.base.get("Call-Direction") ?? "",
      name: channel.base.get("Channel-Name") ?? "",
      state: channel.base.get("Channel-State") ?? "",
      dest: channel.base.get("Caller-Destination-Number") ?? "",
      application: channel.variables.get("current_application") ?? "",
      callstate: channel.base.get("Channel-Call-State") ?? "",
    }));
    if (rows.length === 0) return '{"row_count": 0}\n';
    return `${JSON.stringify({ row_count: rows.length, rows })}\n`;
  }

  #uuidGetvar(args: string): string {
    const [uuid, name] = args.split(" ");
    const channel = this.#channels.get(uuid);
    if (!channel) return "-ERR No such channel!\n";
    return channel.variables.get(name) ?? "_undef_";
  }

  #event(name: string, init: EslHeadersInit | EslHeaders, body?: Uint8Array | string): EslEvent {
    const given = init instanceof EslHeaders ? init : new EslHeaders(init);
    const now = new Date();
    const pad = (n: number) => String(n).padStart(2, "0");
    const local = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ` +
      `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    const defaults: Record<string, string> = {
      "Core-UUID": this.#coreUuid,
      "FreeSWITCH-Hostname": this.#host,
      "FreeSWITCH-Switchname": this.#host,
      "FreeSWITCH-IPv4": this.#ipv4,
      "FreeSWITCH-IPv6": "::1",
      "Event-Date-Local": local,
      "Event-Date-GMT": now.toUTCString(),
      "Event-Date-Timestamp": `${now.getTime() * 1000}`,
      "Event-Calling-File": "fake_freeswitch.ts",
      "Event-Calling-Function": "emit",
      "Event-Calling-Line-Number": "1",
      "Event-Sequence": `${++this.#sequence}`,
    };
    const standard = _STANDARD_HEADERS.map((header): EslHeader => [
      header,
      header === "Event-Name" ? name : given.get(header) ?? defaults[header],
    ]);
    return new EslEvent([...standard, ...given.without(..._STANDARD_HEADERS)], body);
  }

  #fire(event: EslEvent): number {
    let sent = 0;
    for (const session of this.#sessions) {
      if (!session.wants(event)) continue;
      session.send(encodeEventMessage(event, session.format));
      sent++;
    }
    return sent;
  }
}

/** The headers of an outbound socket's final notice (§1.13); none on an inbound connection. */
function _disconnectHeaders(session: _Session, disposition: string): EslHeader[] {
  if (session.outbound === undefined) return [];
  return [
    ["Controlled-Session-UUID", session.outbound.uuid],
    ["Content-Disposition", disposition],
  ];
}
