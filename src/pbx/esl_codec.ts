/**
 * The FreeSWITCH Event Socket (ESL) wire codec. Pure: bytes in, typed values
 * out, and back.
 *
 * - {@linkcode EslParser} reads what FreeSWITCH sends (replies, API output,
 *   events, notices); {@linkcode EslCommandParser} reads what a client sends.
 *   Both take byte slices split anywhere.
 * - The `encode*` functions write both sides exactly as FreeSWITCH and its
 *   clients do, byte for byte (see the wire transcripts in `test/fixtures/esl/`).
 *
 * @module
 */

import { concatBytes, isMediaType } from "../msrp/mod.ts";
import { parseContentLength } from "./_bytes.ts";
import { EslError } from "./esl_error.ts";
import { assertDialSafe } from "./sip_uri.ts";
import {
  EslEvent,
  type EslEventFormat,
  parseHeaderLine,
  parseJsonEvent,
  parsePlainEvent,
  serializeJsonEvent,
  serializePlainEvent,
} from "./esl_event.ts";
import {
  decodeHeaderValue,
  type EslHeader,
  EslHeaders,
  type EslHeadersInit,
} from "./esl_headers.ts";

export { EslError } from "./esl_error.ts";
export { EslEvent, type EslEventFormat } from "./esl_event.ts";
export { type EslHeader, EslHeaders, type EslHeadersInit } from "./esl_headers.ts";

/** A message FreeSWITCH sent: a header block and an optional body. */
export interface EslMessage {
  /** Top-level headers in order; values `%XX`-decoded, as libesl does. */
  readonly headers: EslHeaders;
  /** The `Content-Type` header, for example `command/reply` or `text/event-plain`. */
  readonly contentType: string | undefined;
  /** The `Content-Length` bytes after the header block, when there were any. */
  readonly body?: Uint8Array;
  /**
   * The event carried by a `text/event-plain` or `text/event-json` message, or
   * the `CHANNEL_DATA` event of an outbound-mode `connect` reply.
   */
  readonly event?: EslEvent;
}

/** A command a client sent: the command line, literal headers, optional body. */
export interface EslCommand {
  /** The whole command line, for example `api status`. */
  readonly line: string;
  /** The first word of the line, lower-cased, for example `api`. */
  readonly name: string;
  /** The rest of the line after the first space (empty when there is none). */
  readonly args: string;
  /** The header lines in order, values literal (FreeSWITCH does not decode them). */
  readonly headers: EslHeaders;
  /** The `content-length` bytes after the header block, when there were any. */
  readonly body?: Uint8Array;
}

/** Size limits of the parsers. */
export interface EslParserLimits {
  /** Largest header block, line feeds included. */
  readonly maxHeaderBytes?: number;
  /** Largest body. */
  readonly maxBodyBytes?: number;
}

/** The goodbye text of `text/disconnect-notice` (67 bytes). */
export const ESL_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/** The body of `text/rude-rejection`, sent when the ACL refuses the client (24 bytes). */
export const ESL_ACCESS_DENIED = "Access Denied, go away.\n";

/** The headers FreeSWITCH appends to the `CHANNEL_DATA` event of an outbound `connect` reply. */
const _CONNECT_REPLY_HEADERS = ["Content-Type", "Reply-Text", "Socket-Mode", "Control"];

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

interface _Frame {
  readonly lines: readonly string[];
  readonly body: Uint8Array | undefined;
}

/** Splits a byte stream into header blocks (lines) and their bodies, and converts each. */
class _Framer<T> {
  readonly #convert: (frame: _Frame) => T;
  readonly #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  readonly #firstLineIsCommand: boolean;
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #lineStart = 0;
  #lines: string[] = [];
  #bodyStart = 0;
  #bodyLength = -1;
  #failed: EslError | undefined;

  constructor(
    limits: EslParserLimits,
    defaults: Required<EslParserLimits>,
    command: boolean,
    convert: (frame: _Frame) => T,
  ) {
    this.#convert = convert;
    this.#maxHeaderBytes = limits.maxHeaderBytes ?? defaults.maxHeaderBytes;
    this.#maxBodyBytes = limits.maxBodyBytes ?? defaults.maxBodyBytes;
    this.#firstLineIsCommand = command;
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  push(chunk: Uint8Array): T[] {
    if (this.#failed) throw this.#failed;
    this.#append(chunk);
    const results: T[] = [];
    try {
      for (let frame = this.#next(); frame; frame = this.#next()) {
        results.push(this.#convert(frame));
      }
    } catch (error) {
      this.#failed = error instanceof EslError ? error : new EslError(String(error));
      throw error;
    }
    return results;
  }

  #append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) {
      const kept = this.#end - this.#start;
      const needed = kept + chunk.length;
      const target = needed <= this.#buffer.length
        ? this.#buffer
        : new Uint8Array(Math.max(needed, this.#buffer.length * 2, 4096));
      target.set(this.#buffer.subarray(this.#start, this.#end), 0);
      this.#lineStart -= this.#start;
      this.#bodyStart -= this.#start;
      this.#buffer = target;
      this.#start = 0;
      this.#end = kept;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #next(): _Frame | undefined {
    if (this.#bodyLength >= 0) return this.#takeBody();
    const buffer = this.#buffer;
    for (let i = this.#lineStart; i < this.#end; i++) {
      if (buffer[i] !== 0x0a) continue;
      let lineEnd = i;
      if (lineEnd > this.#lineStart && buffer[lineEnd - 1] === 0x0d) lineEnd--;
      const line = _decoder.decode(buffer.subarray(this.#lineStart, lineEnd));
      this.#lineStart = i + 1;
      if (line !== "") {
        this.#lines.push(line);
      } else if (this.#lines.length > 0) {
        return this.#endOfHeaders();
      } else {
        this.#start = this.#lineStart;
      }
    }
    if (this.#end - this.#start > this.#maxHeaderBytes) {
      throw new EslError(`header block exceeds ${this.#maxHeaderBytes} bytes`);
    }
    return undefined;
  }

  #endOfHeaders(): _Frame | undefined {
    if (this.#lineStart - this.#start > this.#maxHeaderBytes) {
      throw new EslError(`header block exceeds ${this.#maxHeaderBytes} bytes`);
    }
    this.#bodyStart = this.#lineStart;
    const headerLines = this.#firstLineIsCommand ? this.#lines.slice(1) : this.#lines;
    const lengthLine = headerLines.find((line) => /^content-length:/i.test(line));
    const length = lengthLine === undefined
      ? 0
      : parseContentLength(parseHeaderLine(lengthLine)[1]);
    if (length > this.#maxBodyBytes) {
      throw new EslError(`body of ${length} bytes exceeds ${this.#maxBodyBytes} bytes`);
    }
    if (lengthLine === undefined) {
      this.#start = this.#lineStart;
      return this.#finish(undefined);
    }
    this.#bodyLength = length;
    return this.#takeBody();
  }

  #takeBody(): _Frame | undefined {
    if (this.#end - this.#bodyStart < this.#bodyLength) return undefined;
    const body = this.#buffer.slice(this.#bodyStart, this.#bodyStart + this.#bodyLength);
    this.#start = this.#bodyStart + this.#bodyLength;
    this.#lineStart = this.#start;
    this.#bodyLength = -1;
    return this.#finish(body);
  }

  #finish(body: Uint8Array | undefined): _Frame {
    const frame = { lines: this.#lines, body };
    this.#lines = [];
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      this.#lineStart = 0;
    }
    return frame;
  }
}

function _toMessage(frame: _Frame): EslMessage {
  const headers = new EslHeaders(frame.lines.map((line): EslHeader => {
    const [name, value] = parseHeaderLine(line);
    return [name, decodeHeaderValue(value)];
  }));
  const contentType = headers.get("Content-Type");
  const body = frame.body;
  let event: EslEvent | undefined;
  if (contentType === "text/event-plain" || contentType === "text/event-json") {
    if (body === undefined) throw new EslError(`${contentType} message has no body`);
    event = contentType === "text/event-plain" ? parsePlainEvent(body) : parseJsonEvent(body);
  } else if (contentType === "command/reply" && headers.has("Event-Name")) {
    event = new EslEvent(headers.without(..._CONNECT_REPLY_HEADERS));
  }
  return { headers, contentType, ...(body && { body }), ...(event && { event }) };
}

function _toCommand(frame: _Frame): EslCommand {
  const [line, ...headerLines] = frame.lines;
  const space = line.indexOf(" ");
  return {
    line,
    name: (space < 0 ? line : line.slice(0, space)).toLowerCase(),
    args: space < 0 ? "" : line.slice(space + 1),
    headers: new EslHeaders(headerLines.map(parseHeaderLine)),
    ...(frame.body && { body: frame.body }),
  };
}

/**
 * Incremental parser for what FreeSWITCH sends to a client. Feed it byte
 * slices split anywhere; it returns every message completed so far. After an
 * {@linkcode EslError} the stream is unusable and every later call throws.
 *
 * @example
 * ```ts
 * const parser = new EslParser();
 * for (const message of parser.push(bytes)) console.log(message.contentType);
 * ```
 */
export class EslParser {
  readonly #framer: _Framer<EslMessage>;

  /** Creates a parser; default limits are 1 MiB of headers and 64 MiB of body. */
  constructor(limits: EslParserLimits = {}) {
    this.#framer = new _Framer(
      limits,
      { maxHeaderBytes: 1 << 20, maxBodyBytes: 64 << 20 },
      false,
      _toMessage,
    );
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.#framer.buffered;
  }

  /**
   * Adds bytes and returns the messages they complete, in order.
   *
   * @throws {EslError} when the stream is malformed or over a limit.
   */
  push(bytes: Uint8Array): EslMessage[] {
    return this.#framer.push(bytes);
  }
}

/**
 * Incremental parser for what a client sends to FreeSWITCH: a command line,
 * header lines, an empty line, and `content-length` body bytes. Empty lines
 * before a command and CRs before line feeds are skipped, as FreeSWITCH does.
 */
export class EslCommandParser {
  readonly #framer: _Framer<EslCommand>;

  /**
   * Creates a parser; default limits are 1 MiB of headers and FreeSWITCH's
   * 16 MiB of body.
   */
  constructor(limits: EslParserLimits = {}) {
    this.#framer = new _Framer(
      limits,
      { maxHeaderBytes: 1 << 20, maxBodyBytes: 16 << 20 },
      true,
      _toCommand,
    );
  }

  /** Bytes received but not yet part of a complete command. */
  get buffered(): number {
    return this.#framer.buffered;
  }

  /**
   * Adds bytes and returns the commands they complete, in order.
   *
   * @throws {EslError} when the stream is malformed or over a limit.
   */
  push(bytes: Uint8Array): EslCommand[] {
    return this.#framer.push(bytes);
  }
}

/**
 * Parses bytes that hold whole server messages only.
 *
 * @throws {EslError} when they are malformed or end inside a message.
 */
export function parseMessages(bytes: Uint8Array): EslMessage[] {
  const parser = new EslParser();
  const messages = parser.push(bytes);
  if (parser.buffered > 0) throw new EslError("bytes end inside a message");
  return messages;
}

/**
 * Parses bytes that hold whole client commands only.
 *
 * @throws {EslError} when they are malformed or end inside a command.
 */
export function parseCommands(bytes: Uint8Array): EslCommand[] {
  const parser = new EslCommandParser();
  const commands = parser.push(bytes);
  if (parser.buffered > 0) throw new EslError("bytes end inside a command");
  return commands;
}

// ---------------------------------------------------------------- serializers

function _checkLine(text: string, what: string): string {
  if (/[\r\n]/.test(text)) throw new EslError(`${what} must not contain a line break`);
  return text;
}

function _toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === "string" ? _encoder.encode(body) : body;
}

function _headerBlock(headers: Iterable<EslHeader>): string {
  let text = "";
  for (const [name, value] of headers) {
    if (!/^[^\s:]+$/.test(name)) throw new EslError(`invalid header name: ${JSON.stringify(name)}`);
    text += `${name}: ${_checkLine(value, `header ${name}`)}\n`;
  }
  return text;
}

function _headerList(init: EslHeadersInit | EslHeaders): EslHeader[] {
  return Array.from(init instanceof EslHeaders ? init : new EslHeaders(init));
}

/**
 * Encodes any client command: the line, the headers, and with a body a final
 * `content-length` header, the empty line and the body.
 *
 * @throws {EslError} when the line or a header contains a line break.
 */
export function encodeCommand(
  line: string,
  headers: EslHeadersInit | EslHeaders = [],
  body?: Uint8Array | string,
): Uint8Array {
  const list = _headerList(headers);
  if (body !== undefined) list.push(["content-length", String(_toBytes(body).length)]);
  const head = _encoder.encode(`${_checkLine(line, "command")}\n${_headerBlock(list)}\n`);
  return body === undefined ? head : concatBytes([head, _toBytes(body)]);
}

/** Encodes `auth <password>`. */
export function encodeAuth(password: string): Uint8Array {
  return encodeCommand(`auth ${password}`);
}

/** Encodes `event <format> <NAME> …` (names are event names, `ALL`, or `CUSTOM` + subclasses). */
export function encodeSubscribe(format: EslEventFormat, names: readonly string[]): Uint8Array {
  return encodeCommand(`event ${format} ${names.join(" ")}`);
}

/** Encodes `filter <Header> <value>`. */
export function encodeFilter(header: string, value: string): Uint8Array {
  return encodeCommand(`filter ${header} ${value}`);
}

/** Encodes `filter delete <Header> [<value>]` (`filter delete all` with `header` `all`). */
export function encodeFilterDelete(header: string, value?: string): Uint8Array {
  return encodeCommand(`filter delete ${header}${value === undefined ? "" : ` ${value}`}`);
}

/** Encodes `api <command> [<args>]`. */
export function encodeApi(command: string, args = ""): Uint8Array {
  return encodeCommand(args === "" ? `api ${command}` : `api ${command} ${args}`);
}

/** The fields of FreeSWITCH's `chat` API (mod_sms), which sends a pager-mode MESSAGE. */
export interface ChatFields {
  /** The sender, `user@host` (no scheme). */
  readonly from: string;
  /** The recipient, `<profile>/sip:user@host`. */
  readonly to: string;
  /** The text. */
  readonly text: string;
  /** Its media type, for example `text/plain`. */
  readonly contentType: string;
}

/**
 * The `chat sip|<from>|<to>|<text>|<type>` command for {@linkcode encodeApi}
 * or `bgapi`. FreeSWITCH splits it at `|` and ends it at a line break, and
 * `to` is a dial string: nothing may add a field, a leg or a variable.
 *
 * @throws {SipUriError} when `from` or `to` holds any of `, | [ ] { } $ ' " \ < >`,
 * whitespace or a control character.
 * @throws {EslError} when `text` holds `|`, CR, LF or NUL, or `contentType`
 * is not a media type or holds `|`.
 */
export function chatCommand(fields: ChatFields): string {
  assertDialSafe(fields.from, "chat from");
  assertDialSafe(fields.to, "chat to");
  if (/[|\r\n\0]/.test(fields.text)) {
    throw new EslError('chat text must not contain "|", CR, LF or NUL');
  }
  if (!isMediaType(fields.contentType) || fields.contentType.includes("|")) {
    throw new EslError('chat contentType must be a media type without "|"');
  }
  return `chat sip|${fields.from}|${fields.to}|${fields.text}|${fields.contentType}`;
}

/** Encodes `bgapi <command> [<args>]`, with a `Job-UUID` header when one is given. */
export function encodeBgapi(command: string, args = "", jobUuid?: string): Uint8Array {
  const line = args === "" ? `bgapi ${command}` : `bgapi ${command} ${args}`;
  return encodeCommand(line, jobUuid === undefined ? [] : [["Job-UUID", jobUuid]]);
}

/** A `sendmsg` that runs a dialplan application on the channel. */
export interface SendmsgExecute {
  /** `call-command: execute`. */
  readonly command: "execute";
  /** The application, for example `set` or `answer`. */
  readonly app: string;
  /**
   * Its argument. One line goes in `execute-app-arg`; an argument with line
   * breaks (an SDP) goes in a `text/plain` body, the only way to pass one.
   * It may not contain `${` (nor so `$${`): FreeSWITCH expands variables and
   * API calls in application arguments.
   */
  readonly arg?: string;
  /** Repeat count (`loops`). */
  readonly loops?: number;
  /** `event-lock: true`: lock the channel to this message while it runs. */
  readonly eventLock?: boolean;
  /** `Event-UUID`: comes back as `Application-UUID` in `CHANNEL_EXECUTE[_COMPLETE]`. */
  readonly eventUuid?: string;
}

/** A `sendmsg` that hangs the channel up. */
export interface SendmsgHangup {
  /** `call-command: hangup`. */
  readonly command: "hangup";
  /** `hangup-cause`, for example `NORMAL_CLEARING` (FreeSWITCH's default). */
  readonly cause?: string;
}

/** What {@linkcode encodeSendmsg} sends. */
export type SendmsgMessage = SendmsgExecute | SendmsgHangup;

/**
 * Encodes `sendmsg [<uuid>]` (the UUID may be left out on an outbound socket)
 * with its headers in the order FreeSWITCH's clients use.
 *
 * @throws {EslError} when an application argument contains `${`, which
 * FreeSWITCH would expand (`${var}`, `${api(args)}`, and `$${…}`).
 */
export function encodeSendmsg(uuid: string | undefined, message: SendmsgMessage): Uint8Array {
  const line = uuid === undefined ? "sendmsg" : `sendmsg ${uuid}`;
  if (message.command === "hangup") {
    const cause: EslHeader[] = message.cause === undefined ? [] : [["hangup-cause", message.cause]];
    return encodeCommand(line, [["call-command", "hangup"], ...cause]);
  }
  if (message.arg?.includes("${")) {
    throw new EslError(`the argument of ${message.app} must not contain "\${"`);
  }
  const multiLine = message.arg !== undefined && /[\r\n]/.test(message.arg);
  const headers: EslHeader[] = [["call-command", "execute"], ["execute-app-name", message.app]];
  if (message.arg !== undefined && !multiLine) headers.push(["execute-app-arg", message.arg]);
  if (message.loops !== undefined) headers.push(["loops", String(message.loops)]);
  if (message.eventLock) headers.push(["event-lock", "true"]);
  if (message.eventUuid !== undefined) headers.push(["Event-UUID", message.eventUuid]);
  if (!multiLine) return encodeCommand(line, headers);
  headers.push(["content-type", "text/plain"]);
  return encodeCommand(line, headers, message.arg);
}

/** Encodes `sendevent <NAME>` with the event's headers (raw) and optional body. */
export function encodeSendevent(
  name: string,
  headers: EslHeadersInit | EslHeaders,
  body?: Uint8Array | string,
): Uint8Array {
  return encodeCommand(`sendevent ${name}`, headers, body);
}

/** Encodes `exit`. */
export function encodeExit(): Uint8Array {
  return encodeCommand("exit");
}

/** Encodes `connect`, the first command on an outbound socket. */
export function encodeConnect(): Uint8Array {
  return encodeCommand("connect");
}

/**
 * Encodes `myevents`: on an outbound socket `myevents [<format>]`, on an
 * inbound one `myevents <uuid> [<format>]`.
 */
export function encodeMyevents(
  options: { uuid?: string; format?: EslEventFormat } = {},
): Uint8Array {
  const words = ["myevents", options.uuid, options.format].filter((w) => w !== undefined);
  return encodeCommand(words.join(" "));
}

/** Encodes `linger [<seconds>]`. */
export function encodeLinger(seconds?: number): Uint8Array {
  return encodeCommand(seconds === undefined ? "linger" : `linger ${seconds}`);
}

function _serverMessage(headers: Iterable<EslHeader>, body?: Uint8Array | string): Uint8Array {
  const head = _encoder.encode(`${_headerBlock(headers)}\n`);
  return body === undefined ? head : concatBytes([head, _toBytes(body)]);
}

/** Encodes the greeting `Content-Type: auth/request`. */
export function encodeAuthRequest(): Uint8Array {
  return _serverMessage([["Content-Type", "auth/request"]]);
}

/**
 * Encodes a `command/reply` with its `Reply-Text` (raw) and any further
 * headers, such as `Job-UUID` after `bgapi`.
 */
export function encodeCommandReply(
  replyText: string,
  headers: EslHeadersInit | EslHeaders = [],
): Uint8Array {
  return _serverMessage([
    ["Content-Type", "command/reply"],
    ["Reply-Text", replyText],
    ..._headerList(headers),
  ]);
}

/** Encodes an `api/response` carrying the API output. */
export function encodeApiResponse(output: Uint8Array | string): Uint8Array {
  const body = _toBytes(output);
  return _serverMessage(
    [["Content-Type", "api/response"], ["Content-Length", String(body.length)]],
    body,
  );
}

/** Encodes an event message: `Content-Length`, then `Content-Type: text/event-<format>`. */
export function encodeEventMessage(event: EslEvent, format: EslEventFormat): Uint8Array {
  const payload = format === "plain" ? serializePlainEvent(event) : serializeJsonEvent(event);
  return _serverMessage(
    [["Content-Length", String(payload.length)], ["Content-Type", `text/event-${format}`]],
    payload,
  );
}

/**
 * Encodes a `text/disconnect-notice`: any extra headers (raw, for example
 * `Content-Disposition: linger`), then `Content-Length` and the body, by
 * default {@linkcode ESL_GOODBYE}.
 */
export function encodeDisconnectNotice(
  options: { headers?: EslHeadersInit | EslHeaders; body?: string } = {},
): Uint8Array {
  const body = _encoder.encode(options.body ?? ESL_GOODBYE);
  return _serverMessage([
    ["Content-Type", "text/disconnect-notice"],
    ..._headerList(options.headers ?? []),
    ["Content-Length", String(body.length)],
  ], body);
}

/** Encodes the `text/rude-rejection` sent to a client the ACL refuses. */
export function encodeRudeRejection(): Uint8Array {
  return _serverMessage(
    [["Content-Type", "text/rude-rejection"], ["Content-Length", "24"]],
    ESL_ACCESS_DENIED,
  );
}

/** How FreeSWITCH runs an outbound socket, as its `connect` reply states. */
export interface ConnectReplyOptions {
  /** `Socket-Mode`: `async`, or `static` for a synchronous socket. */
  readonly socketMode: "async" | "static";
  /** `Control`: `full` when the `socket` application had the `full` flag. */
  readonly control: "full" | "single-channel";
}

/**
 * Encodes the reply to an outbound `connect`: the channel's `CHANNEL_DATA`
 * event serialized `plain` (URL-encoded, no envelope) with `Content-Type`,
 * `Reply-Text: +OK\n`, `Socket-Mode` and `Control` appended.
 */
export function encodeConnectReply(
  channelData: EslEvent,
  options: ConnectReplyOptions,
): Uint8Array {
  return serializePlainEvent(
    new EslEvent([
      ...channelData.headers,
      ["Content-Type", "command/reply"],
      ["Reply-Text", "+OK\n"],
      ["Socket-Mode", options.socketMode],
      ["Control", options.control],
    ]),
  );
}
