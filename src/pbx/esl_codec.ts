/**
 * The FreeSWITCH Event Socket (ESL) wire codec. Pure: bytes in, typed values
 * out, and back.
 *
 * - {@linkcode EslParser} reads what FreeSWITCH sends (replies, API output,
 *   events, notices); {@linkcode EslCommandParser} reads what a client sends.
 *   Both take byte slices split anywhere.
 * - The `encode*` functions (`esl_encode.ts`, re-exported here) write both
 *   sides exactly as FreeSWITCH and its clients do, byte for byte (see the
 *   wire transcripts in `test/fixtures/esl/`).
 *
 * @module
 */

import { parseContentLength } from "./_bytes.ts";
import { EslError } from "./esl_error.ts";
import { EslEvent, parseHeaderLine, parseJsonEvent, parsePlainEvent } from "./esl_event.ts";
import { decodeHeaderValue, type EslHeader, EslHeaders } from "./esl_headers.ts";

export * from "./esl_encode.ts";
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

/** The headers FreeSWITCH appends to the `CHANNEL_DATA` event of an outbound `connect` reply. */
const _CONNECT_REPLY_HEADERS = ["Content-Type", "Reply-Text", "Socket-Mode", "Control"];

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
