/**
 * SIP message framing for the user agent in `sip_ua.ts`: parsing requests
 * and responses off a TCP byte stream by their Content-Length, and writing
 * them.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Compact header forms (RFC 3261 §7.3.3) that a SIP stack may send. */
const COMPACT: Record<string, string> = {
  i: "call-id",
  l: "content-length",
  c: "content-type",
  f: "from",
  t: "to",
  v: "via",
  m: "contact",
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
  const match = /^SIP\/2\.0 (\d{3})/.exec(message.startLine);
  return match ? Number(match[1]) : 0;
}

/** The first value of a header (name in any case). */
export function headerOf(message: SipMessage, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return message.headers.find(([n]) => n === wanted)?.[1];
}

/** A random token for tags, branches and Call-IDs. */
export function sipRandom(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

// RFC 3261 §25.1: token, the grammar of a header name.
const HEADER_NAME = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

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
   * Starts reading; `onMessage` gets every complete message. When more than
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
          for (let message = this.#next(); message; message = this.#next()) {
            onMessage(message, this);
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

  #next(): SipMessage | undefined {
    let start = 0; // skip keep-alive CRLFs
    while (this.#buffer[start] === 13 || this.#buffer[start] === 10) start++;
    this.#buffer = this.#buffer.subarray(start);
    const end = indexOfBlankLine(this.#buffer);
    if (end < 0) return undefined;
    const [startLine, ...lines] = decoder.decode(this.#buffer.subarray(0, end)).split("\r\n");
    const headers = lines.map((line): [string, string] => {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      return [COMPACT[name] ?? name, line.slice(colon + 1).trim()];
    });
    const length = Number(headers.find(([n]) => n === "content-length")?.[1] ?? "0");
    if (this.#buffer.length < end + 4 + length) return undefined;
    const body = decoder.decode(this.#buffer.subarray(end + 4, end + 4 + length));
    this.#buffer = this.#buffer.slice(end + 4 + length);
    return { startLine, headers, body };
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

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}
