/**
 * Splits SDP text into typed lines (RFC 4566 §5) and attributes, keeping the
 * line numbers that error messages name.
 *
 * @module
 */

import { SdpError } from "./error.ts";

/** One `<type>=<value>` line. */
export interface SdpLine {
  /** The one-letter type, e.g. `m`. */
  readonly type: string;
  /** Everything after `=`, without trailing white space. */
  readonly value: string;
  /** The 1-based line number. */
  readonly line: number;
}

/** One `a=<name>[:<value>]` line (RFC 4566 §5.13). */
export interface SdpAttribute {
  /** The attribute name, lower-cased. */
  readonly name: string;
  /** The value after the first `:`, or `undefined` for a property attribute. */
  readonly value: string | undefined;
  /** The 1-based line number. */
  readonly line: number;
}

/** The session part of a description and its `m=` sections. */
export interface SdpSections {
  /** The lines before the first `m=` line, starting with `v=`. */
  readonly session: readonly SdpLine[];
  /** Each `m=` line followed by the lines up to the next `m=` line. */
  readonly media: readonly (readonly SdpLine[])[];
}

const LINE = /^([a-z])=(.*)$/;
const MAX_QUOTED = 60;

/** A `malformed` {@linkcode SdpError} whose message starts with the line number. */
export function malformed(line: number, problem: string): SdpError {
  return new SdpError("malformed", `line ${line}: ${problem}`, { line });
}

/** The text quoted for an error message, shortened when long. */
export function quote(text: string): string {
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);
}

/**
 * Splits SDP text at CRLF, LF or CR, skipping blank lines, into the session
 * part and the `m=` sections.
 *
 * @throws {SdpError} `malformed` when a line is not `<letter>=<value>`, the
 * first line is not `v=0`, or there is no `m=` line.
 */
export function splitSections(sdp: string): SdpSections {
  const lines: SdpLine[] = [];
  const raw = sdp.split(/\r\n|\r|\n/);
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i].trimEnd();
    if (text === "") continue;
    const match = LINE.exec(text);
    if (!match) throw malformed(i + 1, `expected "<type>=<value>", got ${quote(text)}`);
    lines.push({ type: match[1], value: match[2], line: i + 1 });
  }
  const first = lines[0];
  if (first === undefined) throw new SdpError("malformed", "empty session description");
  if (first.type !== "v") {
    throw malformed(
      first.line,
      `a session description starts with "v=0", got ${
        quote(`${first.type}=${first.value}`)
      } (RFC 4566 §5)`,
    );
  }
  if (first.value !== "0") throw malformed(first.line, `unsupported SDP version v=${first.value}`);
  const start = lines.findIndex((l) => l.type === "m");
  if (start < 0) throw new SdpError("malformed", "no m= line: the session has no media");
  const media: SdpLine[][] = [];
  for (const line of lines.slice(start)) {
    if (line.type === "m") media.push([line]);
    else media[media.length - 1].push(line);
  }
  return { session: lines.slice(0, start), media };
}

/** The `a=` lines among `lines`, split into name and value. */
export function attributesOf(lines: readonly SdpLine[]): SdpAttribute[] {
  const attributes: SdpAttribute[] = [];
  for (const { type, value, line } of lines) {
    if (type !== "a") continue;
    const colon = value.indexOf(":");
    attributes.push({
      name: (colon < 0 ? value : value.slice(0, colon)).toLowerCase(),
      value: colon < 0 ? undefined : value.slice(colon + 1),
      line,
    });
  }
  return attributes;
}
