/**
 * FreeSWITCH events as ESL carries them: the typed {@linkcode EslEvent} and
 * its `plain` and `json` serializations (`src/switch_event.c:
 * switch_event_serialize` and `switch_event_serialize_json_obj`).
 *
 * @module
 */

import { concatBytes } from "../msrp/mod.ts";
import { parseContentLength } from "./_bytes.ts";
import { EslError } from "./esl_error.ts";
import {
  decodeHeaderValue,
  encodeHeaderValue,
  type EslHeader,
  EslHeaders,
  type EslHeadersInit,
} from "./esl_headers.ts";

/** The event formats this layer reads and writes (`event plain|json …`). */
export type EslEventFormat = "plain" | "json";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const _ARRAY_PREFIX = "ARRAY::";
const _ARRAY_SEPARATOR = "|:";

/** A FreeSWITCH event: decoded headers in order, and an optional body. */
export class EslEvent {
  /** The event's headers, values decoded, in the order FreeSWITCH sent them. */
  readonly headers: EslHeaders;
  /** The event body (for example a `BACKGROUND_JOB` result or a `MESSAGE` text). */
  readonly body: Uint8Array | undefined;

  /**
   * Creates an event. A string body is stored as UTF-8.
   *
   * @throws {EslError} when there is no `Event-Name` header.
   */
  constructor(headers: EslHeadersInit | EslHeaders, body?: Uint8Array | string) {
    this.headers = headers instanceof EslHeaders ? headers : new EslHeaders(headers);
    if (!this.headers.has("Event-Name")) throw new EslError("event has no Event-Name header");
    this.body = typeof body === "string" ? _encoder.encode(body) : body;
  }

  /** The event name (`Event-Name`), for example `CHANNEL_PARK` or `CUSTOM`. */
  get name(): string {
    return this.headers.get("Event-Name") ?? "";
  }

  /** The `Event-Subclass` of a `CUSTOM` event. */
  get subclass(): string | undefined {
    return this.headers.get("Event-Subclass");
  }

  /** The channel UUID (`Unique-ID`). */
  get uniqueId(): string | undefined {
    return this.headers.get("Unique-ID");
  }

  /** The other leg's channel UUID (`Other-Leg-Unique-ID`). */
  get otherLegUniqueId(): string | undefined {
    return this.headers.get("Other-Leg-Unique-ID");
  }

  /** The remote SDP (`variable_switch_r_sdp`), for example an MSRP offer. */
  get remoteSdp(): string | undefined {
    return this.headers.get("variable_switch_r_sdp");
  }

  /** The body read as UTF-8, or `undefined` without a body. */
  get bodyText(): string | undefined {
    return this.body === undefined ? undefined : _decoder.decode(this.body);
  }

  /** Value of the first header called `name` (any case). */
  get(name: string): string | undefined {
    return this.headers.get(name);
  }
}

/**
 * Splits one `Name: value` line at its first colon and skips the spaces after
 * it, as FreeSWITCH and libesl do.
 *
 * @throws {EslError} when the line has no colon.
 */
export function parseHeaderLine(line: string): EslHeader {
  const colon = line.indexOf(":");
  if (colon <= 0) throw new EslError(`malformed header line: ${JSON.stringify(line)}`);
  let start = colon + 1;
  while (line[start] === " ") start++;
  return [line.slice(0, colon), line.slice(start)];
}

function _indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x0a) return i;
  }
  return -1;
}

/**
 * Parses a `text/event-plain` payload: URL-encoded `Name: value` lines, an
 * empty line, and for events with a body an inner `Content-Length` followed by
 * exactly that many body bytes.
 *
 * @throws {EslError} when the payload is not a well-formed plain event.
 */
export function parsePlainEvent(payload: Uint8Array): EslEvent {
  const end = _indexOfBlankLine(payload);
  if (end < 0) throw new EslError("plain event has no blank line after its headers");
  const lines = _decoder.decode(payload.subarray(0, end)).split("\n");
  const headers: EslHeader[] = lines.map((line) => {
    const [name, value] = parseHeaderLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    return [name, decodeHeaderValue(value)];
  });
  const rest = payload.subarray(end + 2);
  const last = headers.at(-1);
  if (last === undefined || last[0] !== "Content-Length") {
    if (rest.length > 0) throw new EslError("plain event has bytes after its headers");
    return new EslEvent(headers);
  }
  const length = parseContentLength(last[1]);
  if (length !== rest.length) {
    throw new EslError(`plain event body is ${rest.length} bytes, Content-Length says ${length}`);
  }
  return new EslEvent(headers.slice(0, -1), rest.slice());
}

/**
 * Serializes an event as FreeSWITCH's `plain` format: each header as
 * `Name: <encoded value>` and, with a body, `Content-Length: N`, an empty line
 * and the raw body; without one, a single empty line.
 */
export function serializePlainEvent(event: EslEvent): Uint8Array {
  let head = "";
  for (const [name, value] of event.headers) {
    head += `${name}: ${encodeHeaderValue(value) || "_undef_"}\n`;
  }
  if (event.body === undefined) return _encoder.encode(head + "\n");
  return concatBytes([
    _encoder.encode(`${head}Content-Length: ${event.body.length}\n\n`),
    event.body,
  ]);
}

/**
 * Parses a `text/event-json` payload. Multi-valued headers (JSON arrays) are
 * joined into FreeSWITCH's `ARRAY::v1|:v2` form; `_body` becomes the body and
 * its companion `Content-Length` member is dropped.
 *
 * @throws {EslError} when the payload is not a JSON object with an `Event-Name`.
 */
export function parseJsonEvent(payload: Uint8Array): EslEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(_decoder.decode(payload));
  } catch (error) {
    throw new EslError("json event is not valid JSON", { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new EslError("json event is not a JSON object");
  }
  const members = Object.entries(parsed as Record<string, unknown>);
  const body = members.find(([name]) => name === "_body")?.[1];
  const headers: EslHeader[] = members
    .filter(([name]) => name !== "_body" && !(body !== undefined && name === "Content-Length"))
    .map(([name, value]) => [name, _jsonHeaderValue(value)]);
  return new EslEvent(headers, body === undefined ? undefined : String(body));
}

/**
 * Serializes an event as FreeSWITCH's unformatted `json` format: one string
 * member per header in order (`ARRAY::` values as arrays) and, with a body,
 * `"Content-Length":"N"` and `"_body"`.
 */
export function serializeJsonEvent(event: EslEvent): Uint8Array {
  const members = Array.from(
    event.headers,
    ([name, value]) => `${JSON.stringify(name)}:${_jsonValue(value)}`,
  );
  if (event.body !== undefined) {
    members.push(`"Content-Length":"${event.body.length}"`);
    members.push(`"_body":${JSON.stringify(_decoder.decode(event.body))}`);
  }
  return _encoder.encode(`{${members.join(",")}}`);
}

function _jsonHeaderValue(value: unknown): string {
  if (Array.isArray(value)) return _ARRAY_PREFIX + value.map(String).join(_ARRAY_SEPARATOR);
  return String(value);
}

function _jsonValue(value: string): string {
  if (!value.startsWith(_ARRAY_PREFIX)) return JSON.stringify(value);
  return JSON.stringify(value.slice(_ARRAY_PREFIX.length).split(_ARRAY_SEPARATOR));
}
