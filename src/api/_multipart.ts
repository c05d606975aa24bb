/**
 * A streaming `multipart/form-data` reader (RFC 7578, RFC 2046 §5.1) for
 * file uploads (internal): the body is read as it arrives and a file part's
 * bytes are handed on as they come, never gathered. Part headers, form
 * fields and the preamble are bounded; what breaks the format is a
 * {@linkcode MultipartError}.
 *
 * @module
 */

import { concatBytes } from "../msrp/mod.ts";

/** The longest boundary (RFC 2046 §5.1.1). */
export const MAX_BOUNDARY_LENGTH = 70;
/** Largest header block of one part, and largest preamble before the first boundary. */
export const MAX_PART_HEADER_BYTES = 8 * 1024;

/**
 * Why a form cannot be read: `malformed` (it breaks the format, or ends
 * early), `too-large` (past a limit), `invalid` (well-formed, but not a form
 * the reader takes: a second file part, a field after the file).
 */
export type MultipartErrorKind = "malformed" | "too-large" | "invalid";

/** A form that cannot be read, told apart by its {@linkcode MultipartError.kind}. */
export class MultipartError extends Error {
  /** Why. */
  readonly kind: MultipartErrorKind;
  /** The form field at fault, when there is one. */
  readonly field: string | undefined;

  /** Creates an error of `kind` saying what is wrong, naming `field` when there is one. */
  constructor(kind: MultipartErrorKind, message: string, field?: string) {
    super(message);
    this.name = "MultipartError";
    this.kind = kind;
    this.field = field;
  }
}

/** What a part's headers say of it (RFC 7578 §4.2, §4.4). */
export interface PartHeaders {
  /** `Content-Disposition: form-data; name="…"`: the field name. */
  readonly name: string | undefined;
  /** Its `filename="…"` parameter, as sent: present for a file part. */
  readonly filename: string | undefined;
  /** The part's `Content-Type`, when it has one. */
  readonly contentType: string | undefined;
}

/**
 * What {@linkcode MultipartParser.push} finds: a part begins (the previous
 * one ended), bytes of the current part's body, or the closing boundary
 * (what follows it, the epilogue, is ignored).
 */
export type MultipartEvent =
  | { readonly type: "part"; readonly headers: PartHeaders }
  | { readonly type: "data"; readonly bytes: Uint8Array }
  | { readonly type: "end" };

/** RFC 2046 `bchars`, space not last. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/;
const CR = 0x0d;
const LF = 0x0a;
const HYPHEN = 0x2d;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The boundary of a `multipart/form-data` Content-Type, or `undefined` for
 * any other type.
 *
 * @throws {MultipartError} `malformed` when the boundary is missing, longer
 * than {@linkcode MAX_BOUNDARY_LENGTH} or holds what a boundary may not.
 */
export function formBoundary(contentType: string): string | undefined {
  const [type, ...rest] = contentType.split(";");
  if (type.trim().toLowerCase() !== "multipart/form-data") return undefined;
  const boundary = parameters(rest.join(";")).get("boundary");
  if (boundary === undefined || boundary === "") {
    throw new MultipartError("malformed", "multipart/form-data needs a boundary", "Content-Type");
  }
  if (boundary.length > MAX_BOUNDARY_LENGTH) {
    throw new MultipartError(
      "malformed",
      `the boundary is longer than ${MAX_BOUNDARY_LENGTH} characters`,
      "Content-Type",
    );
  }
  if (!BOUNDARY.test(boundary)) {
    throw new MultipartError(
      "malformed",
      "the boundary holds characters a boundary may not (RFC 2046 §5.1.1)",
      "Content-Type",
    );
  }
  return boundary;
}

/**
 * `; name=value` parameters (values tokens or quoted strings, `\` quoting
 * the next character), names in lower case; the first of a name counts.
 * Text that is not a parameter is skipped up to the next `;`.
 */
function parameters(text: string): Map<string, string> {
  const found = new Map<string, string>();
  const pattern = /\s*;?\s*([^\s;=]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/gy;
  let at = 0;
  while (at < text.length) {
    pattern.lastIndex = at;
    const m = pattern.exec(text);
    if (m === null) {
      const next = text.indexOf(";", at + 1);
      if (next < 0) break;
      at = next;
      continue;
    }
    const name = m[1].toLowerCase();
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/gs, "$1") : m[3].trim();
    if (!found.has(name)) found.set(name, value);
    at = pattern.lastIndex;
  }
  return found;
}

/** The index of `needle` in `haystack` from `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(needle[0], from); i >= 0 && i <= last;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = haystack.indexOf(needle[0], i + 1);
  }
  return -1;
}

/**
 * Where a tail of `bytes` from `from` on that may begin `needle` (carried
 * on with the next bytes) starts; `bytes.length` when none may.
 */
function partialStart(bytes: Uint8Array, needle: Uint8Array, from: number): number {
  for (let i = Math.max(from, bytes.length - needle.length + 1); i < bytes.length; i++) {
    if (bytes[i] !== needle[0]) continue;
    let j = 1;
    while (i + j < bytes.length && bytes[i + j] === needle[j]) j++;
    if (i + j === bytes.length) return i;
  }
  return bytes.length;
}

/**
 * The headers of one part, from its header block (lines of `Name: value`).
 *
 * @throws {MultipartError} `malformed` for a line that is not a header, or
 * a part without `Content-Disposition: form-data`.
 */
function partHeaders(block: Uint8Array): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | undefined;
  const lines = block.length === 0 ? [] : decoder.decode(block).split("\r\n");
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      throw new MultipartError("malformed", "a part's header line is not Name: value");
    }
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") disposition ??= value;
    if (name === "content-type") contentType ??= value;
  }
  const [kind, ...rest] = (disposition ?? "").split(";");
  if (kind.trim().toLowerCase() !== "form-data") {
    throw new MultipartError("malformed", "a part has no Content-Disposition: form-data");
  }
  const params = parameters(rest.join(";"));
  return { name: params.get("name"), filename: params.get("filename"), contentType };
}

type State = "preamble" | "delimiter" | "headers" | "body" | "epilogue";

/**
 * A push parser of a `multipart/form-data` body: give it the body's bytes
 * as they come, split anywhere, with {@linkcode push}, and
 * {@linkcode finish} at its end. It keeps only what may still begin a
 * boundary or belongs to a header block it has not seen the end of, at
 * most {@linkcode MAX_PART_HEADER_BYTES}. The bytes of `data` events are
 * views of the bytes pushed (or of a fresh copy).
 *
 * @example
 * ```ts
 * const parser = new MultipartParser("xyz");
 * const body = new TextEncoder().encode(
 *   '--xyz\r\nContent-Disposition: form-data; name="to"\r\n\r\nsip:bob@pbx\r\n--xyz--\r\n',
 * );
 * const events = parser.push(body);
 * parser.finish();
 * events.map((e) => e.type); // ["part", "data", "end"]
 * ```
 */
export class MultipartParser {
  readonly #delimiter: Uint8Array;
  #state: State = "preamble";
  /** Bytes kept from earlier pushes. */
  #carry: Uint8Array;
  /** Preamble bytes skipped. */
  #skipped = 0;

  /** Parses a body whose parts are separated by `boundary` (see {@linkcode formBoundary}). */
  constructor(boundary: string) {
    this.#delimiter = encoder.encode(`\r\n--${boundary}`);
    // The first boundary may open the body: read it as if a line ended before it.
    this.#carry = encoder.encode("\r\n");
  }

  /** Whether the closing boundary was read. */
  get done(): boolean {
    return this.#state === "epilogue";
  }

  /**
   * Reads the next bytes of the body; returns what they complete, in order.
   *
   * @throws {MultipartError} `malformed` when the bytes break the format;
   * `too-large` for a part's header block, or a preamble, past
   * {@linkcode MAX_PART_HEADER_BYTES}. The parser is not to be used after.
   */
  push(bytes: Uint8Array): MultipartEvent[] {
    if (this.done) return [];
    let buffer = bytes;
    if (this.#carry.length > 0) {
      buffer = new Uint8Array(this.#carry.length + bytes.length);
      buffer.set(this.#carry);
      buffer.set(bytes, this.#carry.length);
    }
    const events: MultipartEvent[] = [];
    let at = 0;
    while (at < buffer.length && !this.done) {
      const next = this.#step(buffer, at, events);
      if (next === undefined) break;
      at = next;
    }
    this.#carry = this.done ? new Uint8Array(0) : buffer.slice(at);
    if (this.#state === "headers" && this.#carry.length > MAX_PART_HEADER_BYTES) {
      throw new MultipartError(
        "too-large",
        `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`,
      );
    }
    return events;
  }

  /**
   * The body ended.
   *
   * @throws {MultipartError} `malformed` when it ended before its closing boundary.
   */
  finish(): void {
    if (this.#state !== "epilogue") {
      throw new MultipartError("malformed", "the body ends before its closing boundary", "body");
    }
  }

  /**
   * Reads what it can of `buffer` from `at`, adding to `events`; returns
   * where to go on, or `undefined` when more bytes are needed (the rest is
   * carried).
   */
  #step(buffer: Uint8Array, at: number, events: MultipartEvent[]): number | undefined {
    const delimiter = this.#delimiter;
    switch (this.#state) {
      case "preamble": {
        const found = indexOf(buffer, delimiter, at);
        const skip = found >= 0 ? found - at : partialStart(buffer, delimiter, at) - at;
        this.#skipped += skip;
        if (this.#skipped > MAX_PART_HEADER_BYTES + 2) {
          throw new MultipartError(
            "too-large",
            `no boundary within the first ${MAX_PART_HEADER_BYTES} bytes`,
            "body",
          );
        }
        if (found < 0) return skip === 0 ? undefined : at + skip;
        this.#state = "delimiter";
        return found + delimiter.length;
      }
      case "delimiter": {
        // After a boundary: "--" closes the body; else padding, then a line end.
        if (buffer.length - at < 2) return undefined;
        if (buffer[at] === HYPHEN && buffer[at + 1] === HYPHEN) {
          this.#state = "epilogue";
          events.push({ type: "end" });
          return at + 2;
        }
        let i = at;
        while (i < buffer.length && (buffer[i] === 0x20 || buffer[i] === 0x09)) i++;
        if (i - at > MAX_PART_HEADER_BYTES) {
          throw new MultipartError("too-large", "too much padding after a boundary", "body");
        }
        if (buffer.length - i < 2) return undefined;
        if (buffer[i] !== CR || buffer[i + 1] !== LF) {
          throw new MultipartError("malformed", "a boundary is not followed by a line end", "body");
        }
        this.#state = "headers";
        return i + 2;
      }
      case "headers": {
        if (buffer.length - at >= 2 && buffer[at] === CR && buffer[at + 1] === LF) {
          events.push({ type: "part", headers: partHeaders(new Uint8Array(0)) });
          this.#state = "body";
          return at + 2;
        }
        const end = indexOf(buffer, HEADERS_END, at);
        if (end < 0 || end - at > MAX_PART_HEADER_BYTES) {
          if (buffer.length - at > MAX_PART_HEADER_BYTES) {
            throw new MultipartError(
              "too-large",
              `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`,
            );
          }
          return undefined;
        }
        events.push({ type: "part", headers: partHeaders(buffer.subarray(at, end)) });
        this.#state = "body";
        return end + HEADERS_END.length;
      }
      case "body": {
        const found = indexOf(buffer, delimiter, at);
        const end = found >= 0 ? found : partialStart(buffer, delimiter, at);
        if (end > at) events.push({ type: "data", bytes: buffer.subarray(at, end) });
        if (found < 0) return end === at ? undefined : end;
        this.#state = "delimiter";
        return found + delimiter.length;
      }
      case "epilogue":
        return buffer.length;
    }
  }
}

/** The blank line that ends a header block. */
const HEADERS_END = encoder.encode("\r\n\r\n");

/** The events of the multipart body `source` (split anywhere), ending with its end. */
async function* multipartEvents(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncGenerator<MultipartEvent> {
  const parser = new MultipartParser(boundary);
  for await (const bytes of source) yield* parser.push(bytes);
  parser.finish();
}

/** Limits of {@linkcode readForm}. */
export interface FormLimits {
  /** The field names taken; another is `invalid`. */
  readonly fields: readonly string[];
  /** Largest value of one field, bytes (`too-large` beyond). */
  readonly maxFieldBytes: number;
  /** Largest file, bytes (`too-large` beyond, as its bytes come). */
  readonly maxFileBytes: number;
}

/** The file part of a form, its bytes still to be read. */
export interface FormFile {
  /** Its `filename` parameter, as sent. */
  readonly filename: string;
  /** Its Content-Type, when it has one. */
  readonly contentType: string | undefined;
  /**
   * Its bytes, as they arrive; read to the end, the rest of the form is
   * checked too (nothing but its end may follow the file).
   *
   * Fails with a {@linkcode MultipartError}.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

/** A form read up to its file. */
export interface Form {
  /** The fields before the file (values as UTF-8 text). */
  readonly fields: ReadonlyMap<string, string>;
  /** The file part; `undefined` when the form has none. */
  readonly file: FormFile | undefined;
}

/**
 * Reads the `multipart/form-data` body `source` with `boundary` up to its
 * one file part (the part with a `filename`): the fields before it, each
 * once and named in `limits.fields`, and the file, whose bytes are read as
 * the caller reads them. Nothing but the form's end may follow the file.
 *
 * @throws {MultipartError} `malformed` for a broken or truncated form;
 * `too-large` past the limits; `invalid` for an unknown or repeated field,
 * a field after the file, or a second file.
 */
export async function readForm(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
  limits: FormLimits,
): Promise<Form> {
  const events = multipartEvents(source, boundary);
  const fields = new Map<string, string>();
  let field: { name: string; bytes: Uint8Array[]; size: number } | undefined;
  const endField = () => {
    if (field) fields.set(field.name, decoder.decode(concatBytes(field.bytes)));
    field = undefined;
  };
  try {
    while (true) {
      const next = await events.next();
      if (next.done) return { fields, file: undefined };
      const event = next.value;
      if (event.type === "end") {
        endField();
        continue;
      }
      if (event.type === "data") {
        // Data follows its part's start, and every part before the file starts a field.
        const current = field!;
        current.size += event.bytes.length;
        if (current.size > limits.maxFieldBytes) {
          throw new MultipartError(
            "too-large",
            `longer than ${limits.maxFieldBytes} bytes`,
            current.name,
          );
        }
        current.bytes.push(event.bytes.slice());
        continue;
      }
      endField();
      const { name, filename, contentType } = event.headers;
      if (filename !== undefined) {
        const file = { filename, contentType, body: fileBody(events, limits.maxFileBytes) };
        return { fields, file };
      }
      if (name === undefined) throw new MultipartError("malformed", "a form field has no name");
      if (!limits.fields.includes(name)) {
        throw new MultipartError("invalid", "not a field of this form", name);
      }
      if (fields.has(name)) throw new MultipartError("invalid", "given twice", name);
      field = { name, bytes: [], size: 0 };
    }
  } catch (e) {
    await events.return(undefined);
    throw e;
  }
}

/** The bytes of the file part being read from `events`, then the form's end. */
async function* fileBody(
  events: AsyncGenerator<MultipartEvent>,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  try {
    while (true) {
      const next = await events.next();
      if (next.done) return;
      const event = next.value;
      if (event.type === "data") {
        total += event.bytes.length;
        if (total > maxBytes) {
          throw new MultipartError(
            "too-large",
            `the file is larger than ${maxBytes} bytes`,
            "file",
          );
        }
        yield event.bytes;
      } else if (event.type === "part") {
        const { name, filename } = event.headers;
        throw filename !== undefined
          ? new MultipartError("invalid", "a form takes one file part", "file")
          : new MultipartError("invalid", "form fields must come before the file part", name);
      }
    }
  } finally {
    await events.return(undefined);
  }
}
