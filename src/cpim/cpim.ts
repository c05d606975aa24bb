/**
 * CPIM messages (RFC 3862, `message/cpim`): parsing and building, with
 * bounds on what a peer can make us hold, and namespaced headers
 * (`NS: imdn <urn:ietf:params:imdn>` then `imdn.Message-ID: …`, RFC 3862 §3.2).
 *
 * @module
 */

import { CpimError } from "./error.ts";

/** The media type of CPIM messages. */
export const CPIM_TYPE = "message/cpim";

/** Most bytes of the two header blocks together (message and content headers). */
export const MAX_CPIM_HEAD_BYTES = 64 * 1024;

/** Most header lines of the two header blocks together. */
export const MAX_CPIM_HEADERS = 128;

/** A CPIM address: `Formal Name <uri>` (RFC 3862 §3.3.1). */
export interface CpimAddress {
  /** The display name, when given. */
  readonly name?: string;
  /** The URI, e.g. `im:alice@example.com` or `sip:alice@example.com`. */
  readonly uri: string;
}

/** A `Subject` header, optionally in a language (`Subject:;lang=fr …`). */
export interface CpimSubject {
  /** The subject text. */
  readonly text: string;
  /** Its language tag, when given. */
  readonly lang?: string;
}

/** An `NS` header: a prefix for extension headers and its namespace URI (RFC 3862 §3.3.7). */
export interface CpimNamespace {
  /** The prefix used in header names (`Prefix.Header`); may be empty. */
  readonly prefix: string;
  /** The namespace URI. */
  readonly uri: string;
}

/** A parsed CPIM message. */
export interface CpimMessage {
  /** The `From` header. */
  readonly from?: CpimAddress;
  /** The `To` headers. */
  readonly to: readonly CpimAddress[];
  /** The `cc` headers. */
  readonly cc: readonly CpimAddress[];
  /** The `DateTime` header as written (RFC 3339). */
  readonly dateTime?: string;
  /** The `Subject` headers. */
  readonly subject: readonly CpimSubject[];
  /** The `NS` headers. */
  readonly ns: readonly CpimNamespace[];
  /** All message headers in order, names as written, values with parameters. */
  readonly headers: readonly (readonly [string, string])[];
  /** Content-Type of the inner message. */
  readonly contentType: string;
  /** The inner MIME headers in order, Content-Type included. */
  readonly contentHeaders: readonly (readonly [string, string])[];
  /** The inner body (what of it `bytes` held). */
  readonly body: Uint8Array;
}

/** What {@linkcode wrapCpim} builds a CPIM message from. */
export interface CpimInit {
  /** The `From` header. */
  readonly from?: CpimAddress;
  /** The `To` headers. */
  readonly to?: readonly CpimAddress[];
  /** The `cc` headers. */
  readonly cc?: readonly CpimAddress[];
  /** The `DateTime` header: a date, or an RFC 3339 string written as is. */
  readonly dateTime?: Date | string;
  /** The `Subject` headers. */
  readonly subject?: readonly CpimSubject[];
  /** The `NS` headers. */
  readonly ns?: readonly CpimNamespace[];
  /** More message headers (e.g. `Require`, `Prefix.Header`), written after the others. */
  readonly headers?: readonly (readonly [string, string])[];
  /** Content-Type of the inner message. */
  readonly contentType: string;
  /** More inner MIME headers (e.g. `Content-Disposition`), written after Content-Type. */
  readonly contentHeaders?: readonly (readonly [string, string])[];
  /** The inner body; a string is UTF-8. */
  readonly body: string | Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** Control characters other than horizontal tab: never in a header line. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const MEDIA_TYPE =
  /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[^;\s]+=("[^"]*"|[^;\s"]+))*$/;

function bad(reason: string): CpimError {
  return new CpimError("malformed-cpim", `malformed CPIM: ${reason}`);
}

/** Where the header block starting at `from` ends and the next part starts, within `limit`. */
function splitAtBlankLine(
  bytes: Uint8Array,
  from: number,
  limit: number,
): [number, number] | undefined {
  const end = Math.min(bytes.length, limit);
  for (let i = from; i < end; i++) {
    if (i !== from && bytes[i] !== 0x0a) continue;
    const lineStart = i === from ? i : i + 1;
    if (bytes[lineStart] === 0x0a) return [lineStart, lineStart + 1];
    if (bytes[lineStart] === 0x0d && bytes[lineStart + 1] === 0x0a) {
      return [lineStart, lineStart + 2];
    }
  }
  return undefined;
}

/** The end of a header block, or the typed error saying why there is none. */
function blockEnd(bytes: Uint8Array, from: number, part: string): [number, number] {
  const split = splitAtBlankLine(bytes, from, MAX_CPIM_HEAD_BYTES);
  if (split !== undefined) return split;
  if (bytes.length >= MAX_CPIM_HEAD_BYTES) {
    throw new CpimError("too-large", `CPIM headers exceed ${MAX_CPIM_HEAD_BYTES} bytes`);
  }
  throw bad(`no blank line after the ${part} headers`);
}

function headerLines(bytes: Uint8Array, part: string): string[] {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw bad(`${part} headers are not UTF-8`);
  }
  const lines = text.split(/\r?\n/).filter((line) => line !== "");
  for (const [i, line] of lines.entries()) {
    if (CONTROL.test(line)) throw bad(`${part} header line ${i + 1} holds a control character`);
  }
  return lines;
}

function parseAddress(value: string, name: string): CpimAddress {
  const m = /^(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>\s]+)>$/.exec(value.trim());
  if (m === null) throw bad(`${name} must be [name] <uri>`);
  const display = m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
  return display ? { name: display, uri: m[3] } : { uri: m[3] };
}

/**
 * Parses a `message/cpim` body: message headers, a blank line, the inner MIME
 * headers (with Content-Type), a blank line, the inner body (RFC 3862 §3).
 * Lines end with CRLF (LF is accepted). The two header blocks must end within
 * {@linkcode MAX_CPIM_HEAD_BYTES} and hold at most {@linkcode MAX_CPIM_HEADERS}
 * lines, so a prefix of a long message of that size is enough to read its headers.
 *
 * @throws {CpimError} `malformed-cpim` or `too-large`, naming what is wrong.
 */
export function parseCpim(bytes: Uint8Array): CpimMessage {
  const first = blockEnd(bytes, 0, "message");
  const second = blockEnd(bytes, first[1], "content");
  const messageLines = headerLines(bytes.subarray(0, first[0]), "message");
  const contentLines = headerLines(bytes.subarray(first[1], second[0]), "content");
  if (messageLines.length + contentLines.length > MAX_CPIM_HEADERS) {
    throw new CpimError("too-large", `more than ${MAX_CPIM_HEADERS} CPIM header lines`);
  }

  const headers: [string, string][] = [];
  let from: CpimAddress | undefined;
  const to: CpimAddress[] = [];
  const cc: CpimAddress[] = [];
  let dateTime: string | undefined;
  const subject: CpimSubject[] = [];
  const ns: CpimNamespace[] = [];
  for (const line of messageLines) {
    // RFC 3862 §3.1: `Name: value`, or `Name:;param value` for parameters.
    const m = /^([A-Za-z0-9!#$%&'*+\-.^_`|~]+):(;[^ ]*)?(?: (.*))?$/.exec(line);
    if (m === null) throw bad(`message header line ${headers.length + 1} is not "Name: value"`);
    const [, name, params = "", value = ""] = m;
    headers.push([name, params + (params && value ? " " : "") + value]);
    switch (name.toLowerCase()) {
      case "from":
        if (from !== undefined) throw bad("more than one From header");
        from = parseAddress(value, "From");
        break;
      case "to":
        to.push(parseAddress(value, "To"));
        break;
      case "cc":
        cc.push(parseAddress(value, "cc"));
        break;
      case "datetime":
        if (!RFC3339.test(value.trim()) || Number.isNaN(Date.parse(value))) {
          throw bad("DateTime is not an RFC 3339 date-time");
        }
        dateTime = value.trim();
        break;
      case "subject": {
        const lang = /;lang=([A-Za-z0-9-]+)/.exec(params)?.[1];
        subject.push(lang ? { text: value, lang } : { text: value });
        break;
      }
      case "ns": {
        const n = /^([A-Za-z0-9!#$%&'*+\-^_`|~]*)\s*<([^<>\s]+)>$/.exec(value.trim());
        if (n === null) throw bad("NS must be [prefix] <uri>");
        ns.push({ prefix: n[1], uri: n[2] });
        break;
      }
    }
  }

  const contentHeaders: [string, string][] = [];
  for (const line of contentLines) {
    const last = contentHeaders[contentHeaders.length - 1];
    if (/^[ \t]/.test(line) && last !== undefined) {
      last[1] += " " + line.trim(); // folded MIME header
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw bad(`content header line ${contentHeaders.length + 1} has no name`);
    contentHeaders.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  const contentType = contentHeaders.find(([n]) => n.toLowerCase() === "content-type")?.[1];
  if (!contentType || !/^[^\s/]+\/[^\s/;]+/.test(contentType)) {
    throw bad("the inner message has no valid Content-Type");
  }
  return {
    ...(from ? { from } : {}),
    to,
    cc,
    ...(dateTime ? { dateTime } : {}),
    subject,
    ns,
    headers,
    contentType,
    contentHeaders,
    body: bytes.subarray(second[1]),
  };
}

/**
 * The values of the message headers `name` in namespace `uri`: headers
 * named `prefix.name` for each prefix an `NS` header binds to `uri`
 * (RFC 3862 §3.2), names compared without case.
 */
export function namespacedHeaders(cpim: CpimMessage, uri: string, name: string): string[] {
  const names = new Set(
    cpim.ns.filter((n) => n.uri === uri).map((n) => (n.prefix ? `${n.prefix}.${name}` : name))
      .map((n) => n.toLowerCase()),
  );
  return cpim.headers.filter(([n]) => names.has(n.toLowerCase())).map(([, v]) => v);
}

function checkValue(value: string, name: string): string {
  if (CONTROL.test(value)) {
    throw new CpimError(
      "invalid-field",
      `CPIM ${name} must be one line without control characters`,
    );
  }
  return value;
}

function checkName(name: string): string {
  if (!TOKEN.test(name)) throw new CpimError("invalid-field", "a CPIM header name must be a token");
  return name;
}

function formatAddress(address: CpimAddress, header: string): string {
  if (/[<>\s]/.test(address.uri) || address.uri === "") {
    throw new CpimError(
      "invalid-field",
      `CPIM ${header} URI must be non-empty without <, > or spaces`,
    );
  }
  if (!address.name) return `<${address.uri}>`;
  const name = checkValue(address.name, header).replace(/["\\]/g, "\\$&");
  return `"${name}" <${address.uri}>`;
}

/**
 * Builds a `message/cpim` body (CRLF line ends) around an inner message.
 *
 * @throws {CpimError} `invalid-field` for a header name that is not a token,
 * a value with a line break or another control character, an address URI
 * with `<`, `>` or spaces, or a Content-Type that is not a media type: no
 * caller can add a header line of its own.
 */
export function wrapCpim(init: CpimInit): { contentType: string; body: Uint8Array } {
  const lines: string[] = [];
  if (init.from) lines.push(`From: ${formatAddress(init.from, "From")}`);
  for (const a of init.to ?? []) lines.push(`To: ${formatAddress(a, "To")}`);
  for (const a of init.cc ?? []) lines.push(`cc: ${formatAddress(a, "cc")}`);
  if (init.dateTime !== undefined) {
    const value = init.dateTime instanceof Date ? init.dateTime.toISOString() : init.dateTime;
    if (!RFC3339.test(value)) throw new CpimError("invalid-field", "DateTime must be RFC 3339");
    lines.push(`DateTime: ${value}`);
  }
  for (const s of init.subject ?? []) {
    if (s.lang !== undefined && !/^[A-Za-z0-9-]+$/.test(s.lang)) {
      throw new CpimError("invalid-field", "a Subject language must be a language tag");
    }
    lines.push(`Subject:${s.lang ? `;lang=${s.lang}` : ""} ${checkValue(s.text, "Subject")}`);
  }
  for (const n of init.ns ?? []) {
    const prefix = n.prefix ? `${checkName(n.prefix)} ` : "";
    lines.push(`NS: ${prefix}${formatAddress({ uri: n.uri }, "NS")}`);
  }
  for (const [name, value] of init.headers ?? []) {
    lines.push(`${checkName(name)}: ${checkValue(value, name)}`);
  }
  if (!MEDIA_TYPE.test(init.contentType)) {
    throw new CpimError("invalid-field", "the inner Content-Type must be a media type");
  }
  lines.push("", `Content-Type: ${init.contentType}`);
  for (const [name, value] of init.contentHeaders ?? []) {
    lines.push(`${checkName(name)}: ${checkValue(value, name)}`);
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const inner = typeof init.body === "string" ? encoder.encode(init.body) : init.body;
  const body = new Uint8Array(head.length + inner.length);
  body.set(head);
  body.set(inner, head.length);
  return { contentType: CPIM_TYPE, body };
}
