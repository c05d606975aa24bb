/**
 * `cpim`: Common Presence and Instant Messaging message format (RFC 3862),
 * `message/cpim`. Received CPIM messages are unwrapped: later plugins, the
 * webhooks and the application see the inner message (its Content-Type and
 * body), and {@linkcode cpimOf} gives its CPIM envelope (From, To, DateTime,
 * Subject, NS, …). A malformed envelope is rejected with 400, an inner type
 * outside `PLUGIN_CPIM_ACCEPT_TYPES` with 415. {@linkcode wrapCpim} builds
 * CPIM for sending.
 *
 * Configuration (`PLUGIN_CPIM_*`):
 * - `ACCEPT_TYPES`: inner media types accepted (`*`, `type/*` or exact types,
 *   separated by commas or spaces); `*` by default.
 *
 * @example Wrap and parse
 * ```ts
 * import { parseCpim, wrapCpim } from "./cpim.ts";
 *
 * const content = wrapCpim({
 *   from: { name: "Alice", uri: "im:alice@example.com" },
 *   to: [{ uri: "im:bob@example.com" }],
 *   dateTime: new Date("2025-05-04T10:00:00Z"),
 *   contentType: "text/plain",
 *   body: "Hello Bob",
 * });
 * // content.contentType === "message/cpim"
 * const cpim = parseCpim(content.body);
 * console.log(cpim.from?.name, new TextDecoder().decode(cpim.body)); // Alice Hello Bob
 * ```
 *
 * @module
 */

import { isAcceptedType, mediaType, MsrpError, Status } from "../src/msrp/mod.ts";
import {
  createPluginMessage,
  type MessageVerdict,
  type PluginFactory,
  type PluginMessage,
} from "../src/plugins/mod.ts";

/** The media type of CPIM messages. */
export const CPIM_TYPE = "message/cpim";

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

/** An `NS` header: a prefix for extension headers and its namespace URI. */
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
  /** The inner body. */
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
  /** More inner MIME headers (e.g. `Content-ID`), written after Content-Type. */
  readonly contentHeaders?: readonly (readonly [string, string])[];
  /** The inner body; a string is UTF-8. */
  readonly body: string | Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const envelopes = new WeakMap<PluginMessage, CpimMessage>();

function bad(reason: string): MsrpError {
  return new MsrpError(Status.BadRequest, `malformed CPIM: ${reason}`);
}

/** Where the header block starting at `from` ends and the next part starts. */
function splitAtBlankLine(bytes: Uint8Array, from: number): [number, number] | undefined {
  for (let i = from; i < bytes.length; i++) {
    if (i !== from && bytes[i] !== 0x0a) continue;
    const lineStart = i === from ? i : i + 1;
    if (bytes[lineStart] === 0x0a) return [lineStart, lineStart + 1];
    if (bytes[lineStart] === 0x0d && bytes[lineStart + 1] === 0x0a) {
      return [lineStart, lineStart + 2];
    }
  }
  return undefined;
}

function headerLines(bytes: Uint8Array, part: string): string[] {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw bad(`${part} headers are not UTF-8`);
  }
  return text.split(/\r?\n/).filter((line) => line !== "");
}

function parseAddress(value: string, name: string): CpimAddress {
  const m = /^(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>\s]+)>$/.exec(value.trim());
  if (m === null) throw bad(`${name} must be [name] <uri>`);
  const display = m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
  return display ? { name: display, uri: m[3] } : { uri: m[3] };
}

function formatAddress(address: CpimAddress): string {
  if (!address.name) return `<${address.uri}>`;
  return `"${address.name.replace(/["\\]/g, "\\$&")}" <${address.uri}>`;
}

/**
 * Parses a `message/cpim` body: message headers, a blank line, the inner MIME
 * headers (with Content-Type), a blank line, the inner body. Lines end with
 * CRLF (LF is accepted). Throws {@linkcode MsrpError} 400 naming what is
 * wrong (never quoting the content).
 */
export function parseCpim(bytes: Uint8Array): CpimMessage {
  const first = splitAtBlankLine(bytes, 0);
  if (first === undefined) throw bad("no blank line after the message headers");
  const second = splitAtBlankLine(bytes, first[1]);
  if (second === undefined) throw bad("no blank line after the content headers");

  const headers: [string, string][] = [];
  let from: CpimAddress | undefined;
  const to: CpimAddress[] = [];
  const cc: CpimAddress[] = [];
  let dateTime: string | undefined;
  const subject: CpimSubject[] = [];
  const ns: CpimNamespace[] = [];
  for (const line of headerLines(bytes.subarray(0, first[0]), "message")) {
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
  for (const line of headerLines(bytes.subarray(first[1], second[0]), "content")) {
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

/** Builds a `message/cpim` body (CRLF line ends) around an inner message. */
export function wrapCpim(init: CpimInit): { contentType: string; body: Uint8Array } {
  const lines: string[] = [];
  const single = (value: string, name: string): string => {
    if (/[\r\n]/.test(value)) throw new TypeError(`CPIM ${name} must be one line`);
    return value;
  };
  if (init.from) lines.push(`From: ${single(formatAddress(init.from), "From")}`);
  for (const a of init.to ?? []) lines.push(`To: ${single(formatAddress(a), "To")}`);
  for (const a of init.cc ?? []) lines.push(`cc: ${single(formatAddress(a), "cc")}`);
  if (init.dateTime !== undefined) {
    const value = init.dateTime instanceof Date ? init.dateTime.toISOString() : init.dateTime;
    lines.push(`DateTime: ${single(value, "DateTime")}`);
  }
  for (const s of init.subject ?? []) {
    lines.push(`Subject:${s.lang ? `;lang=${s.lang}` : ""} ${single(s.text, "Subject")}`);
  }
  for (const n of init.ns ?? []) {
    lines.push(`NS: ${n.prefix ? `${n.prefix} ` : ""}<${single(n.uri, "NS")}>`);
  }
  for (const [name, value] of init.headers ?? []) lines.push(`${name}: ${single(value, name)}`);
  lines.push("", `Content-Type: ${single(init.contentType, "Content-Type")}`);
  for (const [name, value] of init.contentHeaders ?? []) {
    lines.push(`${name}: ${single(value, name)}`);
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const inner = typeof init.body === "string" ? encoder.encode(init.body) : init.body;
  const body = new Uint8Array(head.length + inner.length);
  body.set(head);
  body.set(inner, head.length);
  return { contentType: CPIM_TYPE, body };
}

/**
 * The CPIM envelope of a message the `cpim` plugin unwrapped, for plugins
 * after it and for the application; `undefined` for any other message.
 */
export function cpimOf(message: PluginMessage): CpimMessage | undefined {
  return envelopes.get(message);
}

/** Creates the cpim plugin. */
export const plugin: PluginFactory = (ctx) => {
  const acceptTypes = ctx.config.list("ACCEPT_TYPES", ["*"]);
  return {
    onMessage(message): MessageVerdict {
      if (mediaType(message.contentType) !== CPIM_TYPE || !message.hasBody) return "pass";
      let cpim: CpimMessage;
      try {
        cpim = parseCpim(message.bytes());
      } catch (e) {
        return { reject: (e as MsrpError).status, reason: (e as MsrpError).message };
      }
      if (!isAcceptedType(cpim.contentType, acceptTypes)) {
        return {
          reject: Status.UnsupportedMediaType,
          reason: `CPIM content type ${mediaType(cpim.contentType)} is not accepted`,
        };
      }
      const inner = createPluginMessage({
        id: message.id,
        sessionId: message.sessionId,
        direction: message.direction,
        contentType: cpim.contentType,
        body: cpim.body,
        headers: message.headers,
      });
      envelopes.set(inner, cpim);
      return { rewrite: inner };
    },
  };
};
