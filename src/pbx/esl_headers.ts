/**
 * ESL header lists and the percent-encoding FreeSWITCH applies to event
 * header values (`src/switch_utils.c:switch_url_encode_opt`).
 *
 * @module
 */

/** One header: its name and its value. */
export type EslHeader = readonly [name: string, value: string];

/** What {@linkcode EslHeaders} can be built from. */
export type EslHeadersInit = Iterable<EslHeader> | Readonly<Record<string, string>>;

/**
 * An ordered, immutable list of headers. Lookups ignore the case of the name,
 * as FreeSWITCH's do; iteration yields the headers in wire order, duplicates
 * included.
 */
export class EslHeaders implements Iterable<EslHeader> {
  readonly #entries: readonly EslHeader[];

  /** Creates a header list from pairs (kept in order) or a plain object. */
  constructor(init: EslHeadersInit = []) {
    const pairs = Symbol.iterator in init
      ? init as Iterable<EslHeader>
      : Object.entries(init as Readonly<Record<string, string>>);
    this.#entries = Array.from(pairs, ([name, value]): EslHeader => [name, value]);
  }

  /** Number of headers, duplicates included. */
  get size(): number {
    return this.#entries.length;
  }

  /** Value of the first header called `name` (any case), or `undefined`. */
  get(name: string): string | undefined {
    const wanted = name.toLowerCase();
    return this.#entries.find(([n]) => n.toLowerCase() === wanted)?.[1];
  }

  /** Whether a header called `name` (any case) is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** A copy without the headers whose names (any case) are listed. */
  without(...names: string[]): EslHeaders {
    const drop = new Set(names.map((n) => n.toLowerCase()));
    return new EslHeaders(this.#entries.filter(([n]) => !drop.has(n.toLowerCase())));
  }

  /**
   * A copy where the first header called `name` (any case) has `value`,
   * or with the header appended when it was absent.
   */
  with(name: string, value: string): EslHeaders {
    const wanted = name.toLowerCase();
    const index = this.#entries.findIndex(([n]) => n.toLowerCase() === wanted);
    if (index < 0) return new EslHeaders([...this.#entries, [name, value]]);
    return new EslHeaders(
      this.#entries.map((entry, i): EslHeader => i === index ? [entry[0], value] : entry),
    );
  }

  /** The headers in wire order. */
  [Symbol.iterator](): Iterator<EslHeader> {
    return this.#entries[Symbol.iterator]();
  }
}

const _HEX = "0123456789ABCDEF";
const _UNSAFE = new Set(Array.from('\r\n "#%&+:;<=>?@[\\]^`{|}', (c) => c.charCodeAt(0)));
const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

function _isUpperHex(byte: number | undefined): boolean {
  return byte !== undefined &&
    ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46));
}

function _hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Percent-encodes a header value exactly as FreeSWITCH does for `event plain`:
 * every UTF-8 byte below 0x20 or above 0x7E and each of
 * `` "#%&+:;<=>?@[\]^`{|} `` and space become `%XX` (uppercase hex), except a
 * `%` that already starts an uppercase `%XX` escape, which is kept.
 */
export function encodeHeaderValue(value: string): string {
  const bytes = _encoder.encode(value);
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    const escape = byte === 0x25 && _isUpperHex(bytes[i + 1]) && _isUpperHex(bytes[i + 2]);
    if (!escape && (byte < 0x20 || byte > 0x7e || _UNSAFE.has(byte))) {
      out += "%" + _HEX[byte >> 4] + _HEX[byte & 0x0f];
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out;
}

/**
 * Decodes `%XX` escapes (either case of hex) the way `esl_url_decode` does:
 * `+` stays `+`, a `%` without two hex digits stays as it is, and the bytes
 * are read as UTF-8 (malformed sequences become U+FFFD instead of throwing).
 */
export function decodeHeaderValue(value: string): string {
  if (!value.includes("%")) return value;
  const bytes = _encoder.encode(value);
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const high = bytes[i] === 0x25 ? _hexValue(bytes[i + 1]) : -1;
    const low = high >= 0 ? _hexValue(bytes[i + 2]) : -1;
    if (low >= 0) {
      out[length++] = high * 16 + low;
      i += 2;
    } else {
      out[length++] = bytes[i];
    }
  }
  return _decoder.decode(out.subarray(0, length));
}
