/**
 * SIP message framing for the user agent in `sip_ua.ts`: parsing requests
 * and responses off a TCP byte stream by their Content-Length, and writing
 * them.
 *
 * @module
 */

import { sipSyntaxError } from "./_sip_grammar.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// RFC 3261 §25.1: token, the grammar of a header name.
const HEADER_NAME = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

/** Compact header forms (RFC 3261 §7.3.3) that a SIP stack may send. */
const COMPACT: Record<string, string> = {
  c: "content-type",
  e: "content-encoding",
  f: "from",
  i: "call-id",
  k: "supported",
  l: "content-length",
  m: "contact",
  s: "subject",
  t: "to",
  v: "via",
};

/** One SIP request or response. */
export interface SipMessage {
  /** The request line or the status line. */
  readonly startLine: string;
  /** Headers in order, names lower-cased, compact forms expanded. */
  readonly headers: readonly (readonly [string, string])[];
  /** The body. */
  readonly body: string;
}

/** The status code of a response, or 0 for a request. */
export function statusOf(message: SipMessage): number {
  const match = /^SIP\/2\.0 (\d{3})(?: |$)/i.exec(message.startLine);
  return match ? Number(match[1]) : 0;
}

/** The first value of a header (name in any case). */
export function headerOf(message: SipMessage, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return message.headers.find(([n]) => n === wanted)?.[1];
}

/** A message framed at the start of a byte stream. */
export interface FramedSipMessage {
  /** The message. */
  readonly message: SipMessage;
  /** The bytes it took, keep-alive CRLFs before it included. */
  readonly size: number;
}

/** Why the first message of a byte stream is refused. */
export class SipMessageError extends Error {
  /**
   * The bytes the refused message takes, keep-alive CRLFs before it
   * included; 0 when its end cannot be known (the stream is lost).
   */
  readonly size: number;

  /** Creates the error; `message` says what is wrong. */
  constructor(message: string, size: number) {
    super(message);
    this.name = "SipMessageError";
    this.size = size;
  }

  /** True when the end of the message cannot be known, so neither can the next one's start. */
  get framingLost(): boolean {
    return this.size === 0;
  }
}

/**
 * Frames the first SIP message of a stream (RFC 3261 §7, §18.3): CRLFs before
 * it are skipped (§7.5), folded header lines are unfolded (§7.3.1: the line
 * break and the whitespace around it become one space), compact header names
 * are expanded (§7.3.3) and Content-Length bytes are the body (none without
 * the header). Returns `undefined` until the whole message is in.
 *
 * @throws {SipMessageError} when the message breaks the RFC 3261 grammar of
 * what the user agent reads (see `_sip_grammar.ts`), with its size; or, with
 * size 0, when Content-Length is not a number or given more than once.
 */
export function parseSipMessage(bytes: Uint8Array): FramedSipMessage | undefined {
  let start = 0;
  while (bytes[start] === 13 || bytes[start] === 10) start++;
  const end = indexOfBlankLine(bytes, start);
  if (end < 0) return undefined;
  const [startLine, ...lines] = decoder.decode(bytes.subarray(start, end)).split("\r\n");
  let malformed: string | undefined;
  const headers: [string, string][] = [];
  for (const line of lines) {
    const last = headers[headers.length - 1];
    if (line[0] === " " || line[0] === "\t") {
      if (last) last[1] = trimLws(`${last[1]} ${trimLws(line)}`);
      else malformed ??= "whitespace before the first header field";
      continue;
    }
    const colon = line.indexOf(":");
    const name = trimLws(line.slice(0, Math.max(colon, 0))).toLowerCase();
    if (!HEADER_NAME.test(name)) malformed ??= "a header line without a name and colon";
    headers.push([COMPACT[name] ?? name, trimLws(line.slice(colon + 1))]);
  }
  const lengths = headers.filter(([n]) => n === "content-length");
  // RFC 3261 §18.3: on a stream, Content-Length alone says where the message ends.
  if (lengths.length > 1) throw new SipMessageError("more than one Content-Length", 0);
  const lengthText = lengths[0]?.[1] ?? "0";
  if (!/^[0-9]+$/.test(lengthText)) throw new SipMessageError("bad Content-Length", 0);
  const size = end + 4 + Number(lengthText);
  if (bytes.length < size) return undefined;
  malformed ??= sipSyntaxError(startLine, headers);
  if (malformed) throw new SipMessageError(malformed, size);
  const body = decoder.decode(bytes.subarray(end + 4, size));
  return { message: { startLine, headers, body }, size };
}

/** A random token for tags, branches and Call-IDs. */
export function sipRandom(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/**
 * Serializes a message; Content-Length is added.
 *
 * @throws {TypeError} when the start line or a header value holds CR, LF or
 * NUL (it would end the line and start a header of its own), or a header name
 * is not a token.
 */
export function serializeSip(
  startLine: string,
  headers: readonly (readonly [string, string])[],
  body = "",
): Uint8Array {
  if (LINE_BREAK_OR_NUL.test(startLine)) {
    throw new TypeError("a SIP start line must not contain CR, LF or NUL");
  }
  for (const [name, value] of headers) {
    if (!HEADER_NAME.test(name)) throw new TypeError(`bad SIP header name ${JSON.stringify(name)}`);
    if (LINE_BREAK_OR_NUL.test(value)) {
      throw new TypeError(`SIP header ${name} must not contain CR, LF or NUL`);
    }
  }
  const bytes = encoder.encode(body);
  const lines = [startLine, ...headers.map(([n, v]) => `${n}: ${v}`)];
  lines.push(`Content-Length: ${bytes.length}`, "", "");
  const head = encoder.encode(lines.join("\r\n"));
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

/** Frames SIP messages on a TCP byte stream by their Content-Length. */
export class SipConnection {
  /** The connection. */
  readonly conn: Deno.TcpConn;
  /** Settles when the connection has closed. */
  readonly reading: Promise<void>;
  #buffer = new Uint8Array(0);

  /**
   * Starts reading; `onMessage` gets every complete message that
   * {@linkcode parseSipMessage} accepts — a refused one is skipped, and one
   * whose end cannot be known closes the connection. When more than
   * `maxBytes` wait without making a complete message, `onOverflow` is told
   * how many and the connection is closed.
   */
  constructor(
    conn: Deno.TcpConn,
    onMessage: (message: SipMessage, from: SipConnection) => void,
    maxBytes = Infinity,
    onOverflow?: (buffered: number) => void,
  ) {
    this.conn = conn;
    this.reading = (async () => {
      try {
        for await (const chunk of conn.readable) {
          const joined = new Uint8Array(this.#buffer.length + chunk.length);
          joined.set(this.#buffer);
          joined.set(chunk, this.#buffer.length);
          this.#buffer = joined;
          if (!this.#deliver(onMessage)) {
            this.close();
            break;
          }
          if (this.#buffer.length > maxBytes) {
            onOverflow?.(this.#buffer.length);
            this.close();
            break;
          }
        }
      } catch {
        // closed
      }
    })();
  }

  // Hands out every complete message buffered; false when framing is lost.
  #deliver(onMessage: (message: SipMessage, from: SipConnection) => void): boolean {
    while (true) {
      let framed: FramedSipMessage | undefined;
      try {
        framed = parseSipMessage(this.#buffer);
      } catch (e) {
        if (!(e instanceof SipMessageError) || e.framingLost) return false;
        this.#buffer = this.#buffer.slice(e.size);
        continue;
      }
      if (!framed) {
        let start = 0; // keep-alive CRLFs wait for nothing
        while (this.#buffer[start] === 13 || this.#buffer[start] === 10) start++;
        this.#buffer = this.#buffer.subarray(start);
        return true;
      }
      this.#buffer = this.#buffer.slice(framed.size);
      onMessage(framed.message, this);
    }
  }

  /** Writes all of `bytes`. */
  async write(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  /** Closes the connection; a no-op when it is closed. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

// RFC 3261 §25.1: the whitespace around a value is SP and HTAB only; String.trim would also
// take a value's own characters such as U+FEFF (RFC 4475 §3.1.1.2).
function trimLws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

function indexOfBlankLine(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}
