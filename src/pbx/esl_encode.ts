/**
 * The ESL encoders: the commands a client sends and what FreeSWITCH sends
 * back (replies, API output, events, notices), byte for byte as FreeSWITCH
 * and its clients write them. Pure. Re-exported by `esl_codec.ts`.
 *
 * @module
 */

import { concatBytes, isMediaType } from "../msrp/mod.ts";
import { EslError } from "./esl_error.ts";
import {
  EslEvent,
  type EslEventFormat,
  serializeJsonEvent,
  serializePlainEvent,
} from "./esl_event.ts";
import { type EslHeader, EslHeaders, type EslHeadersInit } from "./esl_headers.ts";
import { assertDialSafe } from "./sip_uri.ts";

/** The goodbye text of `text/disconnect-notice` (67 bytes). */
export const ESL_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/** The body of `text/rude-rejection`, sent when the ACL refuses the client (24 bytes). */
export const ESL_ACCESS_DENIED = "Access Denied, go away.\n";

const _encoder = new TextEncoder();

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
