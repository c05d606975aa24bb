/**
 * The file-transfer attributes of RFC 5547: `a=file-selector`,
 * `a=file-transfer-id`, `a=file-disposition`, `a=file-date`, `a=file-icon`
 * and `a=file-range`, parsed from and formatted to attribute text.
 *
 * @module
 */

import { malformed, quote, type SdpAttribute } from "./_lines.ts";
import { compact } from "./_compact.ts";
import type { FileDate, FileRange, FileSelector, FileTransfer } from "./types.ts";

const DIGITS = /^[0-9]+$/;
const TOKEN = /^[!#-'*+\-.0-9A-Z^-~]+$/;
const HASH_VALUE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$/;
const DATE_KINDS = ["creation", "modification", "read"] as const;
// RFC 5547: a quoted file name percent-encodes these four characters.
const NAME_ESCAPES: Readonly<Record<string, string>> = {
  '"': "%22",
  "%": "%25",
  "\r": "%0D",
  "\n": "%0A",
};
const NAME_ESCAPED = /%(22|25|0D|0A)/gi;

/** `key:value` or `key:"quoted value"` pairs separated by spaces, as in RFC 5547. */
function keyValues(attribute: SdpAttribute): [string, string][] {
  const text = attribute.value ?? "";
  const pairs: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === " ") {
      i++;
      continue;
    }
    const colon = text.indexOf(":", i);
    if (colon < 0) {
      throw malformed(
        attribute.line,
        `a=${attribute.name}: expected "name:value", got ${quote(text.slice(i))}`,
      );
    }
    const key = text.slice(i, colon).toLowerCase();
    let value: string;
    if (text[colon + 1] === '"') {
      const close = text.indexOf('"', colon + 2);
      if (close < 0) {
        throw malformed(attribute.line, `a=${attribute.name}: unclosed quote after ${key}:`);
      }
      value = text.slice(colon + 2, close);
      i = close + 1;
    } else {
      const space = text.indexOf(" ", colon);
      const end = space < 0 ? text.length : space;
      value = text.slice(colon + 1, end);
      i = end;
    }
    pairs.push([key, value]);
  }
  return pairs;
}

function parseSelector(attribute: SdpAttribute): FileSelector {
  let name: string | undefined;
  let type: string | undefined;
  let size: number | undefined;
  let hash: FileSelector["hash"];
  for (const [key, value] of keyValues(attribute)) {
    if (key === "name") {
      name = value.replace(NAME_ESCAPED, (escape) => decodeURIComponent(escape));
    } else if (key === "type") {
      type = value;
    } else if (key === "size") {
      if (!DIGITS.test(value)) {
        throw malformed(attribute.line, `a=file-selector: bad size ${quote(value)}`);
      }
      size = Number(value);
    } else if (key === "hash" && hash === undefined) {
      // RFC 5547: hash-selector = "hash:" hash-algorithm ":" hash-value; the first is kept.
      const colon = value.indexOf(":");
      const algorithm = value.slice(0, colon);
      const digest = value.slice(colon + 1);
      if (colon <= 0 || !HASH_VALUE.test(digest)) {
        throw malformed(attribute.line, `a=file-selector: bad hash ${quote(value)}`);
      }
      hash = { algorithm, value: digest };
    }
  }
  return compact({ name, type, size, hash });
}

function parseDate(attribute: SdpAttribute): FileDate {
  const date: Record<string, string> = {};
  for (const [key, value] of keyValues(attribute)) {
    if ((DATE_KINDS as readonly string[]).includes(key)) date[key] = value;
  }
  return date;
}

function parseRange(attribute: SdpAttribute): FileRange {
  const [start, end, extra] = (attribute.value ?? "").trim().split("-");
  if (
    extra !== undefined || !DIGITS.test(start ?? "") || Number(start) < 1 ||
    (end !== "*" && !DIGITS.test(end ?? ""))
  ) {
    throw malformed(
      attribute.line,
      `a=file-range: expected "<start>-<stop>", got ${quote(attribute.value ?? "")}`,
    );
  }
  return { start: Number(start), end: end === "*" ? "*" : Number(end) };
}

function token(attribute: SdpAttribute): string {
  const value = (attribute.value ?? "").trim();
  if (!TOKEN.test(value)) {
    throw malformed(attribute.line, `a=${attribute.name}: bad value ${quote(value)}`);
  }
  return value;
}

/**
 * The file-transfer attributes among a media line's attributes, or
 * `undefined` when there are none. Only the first of each attribute counts.
 *
 * @throws {SdpError} `malformed`, naming the line and attribute, for a bad size,
 * hash, range, transfer id or disposition.
 */
export function parseFileTransfer(attributes: readonly SdpAttribute[]): FileTransfer | undefined {
  const find = (name: string) => attributes.find((a) => a.name === name);
  const selector = find("file-selector");
  const transferId = find("file-transfer-id");
  const disposition = find("file-disposition");
  const date = find("file-date");
  const range = find("file-range");
  const icon = find("file-icon");
  if (!selector && !transferId && !disposition && !date && !range && !icon) return undefined;
  return compact({
    selector: selector && parseSelector(selector),
    transferId: transferId && token(transferId),
    disposition: disposition && token(disposition),
    date: date && parseDate(date),
    range: range && parseRange(range),
    icon: icon?.value?.trim(),
  });
}

/** The value of an `a=file-selector` attribute, without the `file-selector:` prefix. */
function formatSelector(selector: FileSelector): string {
  const parts: string[] = [];
  if (selector.name !== undefined) {
    parts.push(`name:"${selector.name.replace(/["%\r\n]/g, (c) => NAME_ESCAPES[c])}"`);
  }
  if (selector.type !== undefined) parts.push(`type:${selector.type}`);
  if (selector.size !== undefined) parts.push(`size:${selector.size}`);
  if (selector.hash !== undefined) {
    parts.push(`hash:${selector.hash.algorithm}:${selector.hash.value}`);
  }
  return parts.join(" ");
}

/**
 * The attributes (without `a=`) describing a file transfer, in RFC 5547 order.
 * With `answer`, only what an answer echoes: selector, transfer id and range.
 */
export function formatFileTransfer(transfer: FileTransfer, answer = false): string[] {
  const lines: string[] = [];
  if (transfer.selector) lines.push(`file-selector:${formatSelector(transfer.selector)}`);
  if (transfer.transferId !== undefined) lines.push(`file-transfer-id:${transfer.transferId}`);
  if (!answer && transfer.disposition !== undefined) {
    lines.push(`file-disposition:${transfer.disposition}`);
  }
  if (!answer && transfer.date) {
    const date = transfer.date;
    const parts = DATE_KINDS.flatMap((kind) => {
      const value = date[kind];
      return value === undefined ? [] : [`${kind}:"${value}"`];
    });
    if (parts.length > 0) lines.push(`file-date:${parts.join(" ")}`);
  }
  if (!answer && transfer.icon !== undefined) lines.push(`file-icon:${transfer.icon}`);
  if (transfer.range) lines.push(`file-range:${transfer.range.start}-${transfer.range.end}`);
  return lines;
}
