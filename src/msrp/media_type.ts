/**
 * The one rule for a media type the bridge puts in a `Content-Type` header
 * (RFC 4975 §9, after RFC 2045 §5.1): `type "/" subtype *( ";" parameter )`,
 * tokens only, parameter values a token or a quoted string. Nothing in it can
 * end the header line, so a caller's type cannot add headers. Pure code.
 *
 * @example
 * ```ts
 * import { isMediaType } from "./media_type.ts";
 *
 * isMediaType("text/plain; charset=utf-8"); // true
 * isMediaType("text/plain\r\nX-Injected: 1"); // false
 * ```
 *
 * @module
 */

// RFC 4975 §9: token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E)
const TOKEN = "[!#-'*+\\-.0-9A-Z^-~]+";
// quoted-string = DQUOTE *(qdtext / qd-esc) DQUOTE; qdtext is SP, HTAB, visible ASCII but
// DQUOTE and BACKSLASH, or non-ASCII text (C1 controls excluded); qd-esc is \\ or \".
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\u00a0-\\uffff]|\\\\[\\\\"])*"';
// Optional spaces or tabs around ";" are accepted, as senders commonly write them.
const PARAMETER = `[ \\t]*;[ \\t]*${TOKEN}(?:=(?:${TOKEN}|${QUOTED}))?`;

/** The media type grammar, for schemas that need a pattern (see {@linkcode isMediaType}). */
export const MEDIA_TYPE_PATTERN: RegExp = new RegExp(`^${TOKEN}/${TOKEN}(?:${PARAMETER})*$`);

/**
 * Whether `text` is a media type the bridge may send as a `Content-Type`:
 * `type/subtype` with optional `;name=value` parameters (RFC 4975 §9). Line
 * breaks, NUL and other control characters are never part of one.
 */
export function isMediaType(text: string): boolean {
  return MEDIA_TYPE_PATTERN.test(text);
}

/**
 * Throws unless `text` is a media type (see {@linkcode isMediaType}).
 *
 * @throws {TypeError} naming `what`.
 */
export function assertMediaType(text: string, what: string): void {
  if (!isMediaType(text)) {
    throw new TypeError(`${what} is not a media type (type/subtype;name=value, RFC 4975 §9)`);
  }
}
