/**
 * SIP and SIPS URIs (RFC 3261 §19.1, grammar of §25.1), and the stricter rule
 * for a URI that goes into a FreeSWITCH dial string, an ESL command or a SIP
 * header the PBX's dialplan reads. Pure code, no I/O.
 *
 * RFC 3261 lets a URI hold characters that mean something else to
 * FreeSWITCH: `,` separates dial-string legs, `[…]` carries per-leg channel
 * variables, `$` starts a variable expansion, `'` quotes arguments, and
 * `?…` headers become headers of the outgoing INVITE. A dial target must be
 * a URI and free of all of these: {@linkcode parseDialTarget}.
 *
 * @example
 * ```ts
 * import { parseDialTarget, parseSipUri } from "./sip_uri.ts";
 *
 * parseSipUri("sip:alice@example.com:5060;transport=tcp").port; // 5060
 * parseDialTarget("sip:bob@pbx.example.com").user; // "bob"
 * parseDialTarget("sip:a@b,[api_on_answer=x]sofia/internal/c"); // throws SipUriError
 * ```
 *
 * @module
 */

/** Why a text is not a SIP URI, or not one that may be dialed. */
export class SipUriError extends Error {
  /** Creates the error; `message` says what is wrong, without repeating the whole input. */
  constructor(message: string) {
    super(message);
    this.name = "SipUriError";
  }
}

/** A parsed `sip:` or `sips:` URI. Parts keep their `%` escapes as written. */
export interface SipUri {
  /** `sip` or `sips` (lower-cased). */
  readonly scheme: "sip" | "sips";
  /** The user part, when there is a userinfo. */
  readonly user: string | undefined;
  /** The password of the userinfo (RFC 3261 §19.1.1: not recommended). */
  readonly password: string | undefined;
  /** The host: a name, an IPv4 address, or an IPv6 address without its brackets. */
  readonly host: string;
  /** What {@linkcode SipUri.host} is. */
  readonly hostKind: "name" | "ipv4" | "ipv6";
  /** The port, when given. */
  readonly port: number | undefined;
  /** The URI parameters in order; a parameter without `=` has the value `undefined`. */
  readonly params: readonly (readonly [name: string, value: string | undefined])[];
  /** The headers after `?`, in order. */
  readonly headers: readonly (readonly [name: string, value: string])[];
  /** The whole URI with the scheme lower-cased and everything else as written. */
  readonly text: string;
}

// RFC 3261 §25.1: unreserved = alphanum / mark; escaped = "%" HEXDIG HEXDIG.
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const ESCAPED = "%[0-9A-Fa-f]{2}";
const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESCAPED})+$`);
const PASSWORD = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESCAPED})*$`);
const PARAM_CHARS = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+$`);
const HEADER_NAME = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})+$`);
const HEADER_VALUE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})*$`);
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
// hostname = *( domainlabel "." ) toplabel [ "." ]; a toplabel starts with a letter.
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const PORT = /^[0-9]{1,5}$/;
const HEX4 = /^[0-9A-Fa-f]{1,4}$/;

/**
 * Parses a SIP or SIPS URI (RFC 3261 §25.1 `SIP-URI` / `SIPS-URI`): scheme,
 * optional userinfo (`user[:password]@`, unreserved and escaped characters
 * plus `& = + $ , ; ? /` in the user), host (name, IPv4 address or
 * `[IPv6]`), optional port (0–65535), `;` parameters and `?` headers. The
 * scheme is case-insensitive. Nothing else is accepted: no whitespace, no
 * control characters, no angle brackets or display name.
 *
 * @throws {SipUriError} when `text` is not such a URI.
 */
export function parseSipUri(text: string): SipUri {
  const control = /[\s\p{Cc}]/u.exec(text);
  if (control) throw new SipUriError(`must not contain ${JSON.stringify(control[0])}`);
  const colon = text.indexOf(":");
  const scheme = text.slice(0, Math.max(colon, 0)).toLowerCase();
  if (scheme !== "sip" && scheme !== "sips") {
    throw new SipUriError("must start with sip: or sips:");
  }
  let rest = text.slice(colon + 1);
  let headers: [string, string][] = [];
  const at = rest.lastIndexOf("@");
  // "?" may appear in the user part (user-unreserved); headers start at the first after "@".
  const headerStart = rest.indexOf("?", at + 1);
  if (headerStart >= 0) {
    headers = parseHeaders(rest.slice(headerStart + 1));
    rest = rest.slice(0, headerStart);
  }
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const split = userinfo.indexOf(":");
    user = split < 0 ? userinfo : userinfo.slice(0, split);
    password = split < 0 ? undefined : userinfo.slice(split + 1);
    if (!USER.test(user)) throw new SipUriError(`bad user part${badCharacter(user, USER)}`);
    if (password !== undefined && !PASSWORD.test(password)) {
      throw new SipUriError(`bad password${badCharacter(password, PASSWORD)}`);
    }
  }
  const semicolon = rest.indexOf(";");
  const hostport = semicolon < 0 ? rest : rest.slice(0, semicolon);
  const params = semicolon < 0 ? [] : parseParams(rest.slice(semicolon + 1));
  const { host, hostKind, port } = parseHostport(hostport);
  return {
    scheme,
    user,
    password,
    host,
    hostKind,
    port,
    params,
    headers,
    text: `${scheme}:${text.slice(colon + 1)}`,
  };
}

/**
 * Parses a URI the bridge may dial or name to the PBX: {@linkcode parseSipUri}
 * and, beyond RFC 3261, none of what FreeSWITCH reads in a dial string, an
 * ESL command or a dialplan header — no headers (`?…`), no password, no
 * IPv6 literal (its brackets), none of `, $ ' [ ]`, no `; ? /` in the user
 * part, and no FreeSWITCH `fs_…` parameters (which reroute a call).
 *
 * @throws {SipUriError} when `text` is not a SIP URI or not a dialable one.
 */
export function parseDialTarget(text: string): SipUri {
  const uri = parseSipUri(text);
  if (uri.headers.length > 0) throw new SipUriError("headers (?…) are not allowed");
  if (uri.password !== undefined) throw new SipUriError("a password is not allowed");
  if (uri.hostKind === "ipv6") {
    throw new SipUriError("an IPv6 literal is not allowed (its brackets mean channel variables)");
  }
  const reserved = /[;?/]/.exec(uri.user ?? "");
  if (reserved) {
    throw new SipUriError(`the user part must not contain ${JSON.stringify(reserved[0])}`);
  }
  for (const [name] of uri.params) {
    if (/^fs_/i.test(name)) throw new SipUriError(`parameter ${name} is not allowed`);
  }
  assertDialSafe(uri.text, "the URI");
  return uri;
}

// Characters that change the meaning of a FreeSWITCH dial string, an ESL command line or
// header, or a `chat` API argument list.
const DIAL_UNSAFE = /[,|[\]{}$'"\\<>\s\p{Cc}]/u;

/**
 * The last check before a value reaches a dial string, an ESL command or a
 * SIP header the dialplan reads: throws when it holds any of
 * `, | [ ] { } $ ' " \ < >`, whitespace or a control character.
 *
 * @throws {SipUriError} naming `what` and the first such character.
 */
export function assertDialSafe(value: string, what: string): void {
  const found = DIAL_UNSAFE.exec(value);
  if (found) {
    throw new SipUriError(`${what} must not contain ${JSON.stringify(found[0])}`);
  }
}

function badCharacter(text: string, allowed: RegExp): string {
  for (const char of text) {
    if (!allowed.test(char) && char !== "%") return ` (character ${JSON.stringify(char)})`;
  }
  return /%(?![0-9A-Fa-f]{2})/.test(text) ? " (bad % escape)" : "";
}

function parseHostport(
  hostport: string,
): { host: string; hostKind: SipUri["hostKind"]; port: number | undefined } {
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) throw new SipUriError("unclosed [ in the host");
    host = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw new SipUriError("bad text after ]");
    portText = after === "" ? undefined : after.slice(1);
    if (!isIpv6(host)) throw new SipUriError("bad IPv6 address");
  } else {
    const colon = hostport.indexOf(":");
    host = colon < 0 ? hostport : hostport.slice(0, colon);
    portText = colon < 0 ? undefined : hostport.slice(colon + 1);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!PORT.test(portText) || port > 65535) throw new SipUriError("bad port");
  }
  if (hostport.startsWith("[")) return { host, hostKind: "ipv6", port };
  if (host === "") throw new SipUriError("no host");
  const ipv4 = IPV4.exec(host);
  if (ipv4) {
    if (ipv4.slice(1).some((octet) => Number(octet) > 255)) {
      throw new SipUriError("bad IPv4 address");
    }
    return { host, hostKind: "ipv4", port };
  }
  if (!HOSTNAME.test(host)) throw new SipUriError(`bad host${badCharacter(host, /[A-Za-z0-9.-]/)}`);
  return { host, hostKind: "name", port };
}

function isIpv6(text: string): boolean {
  let groups = text;
  let budget = 8;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const ipv4 = IPV4.exec(text.slice(lastColon + 1));
    if (!ipv4 || ipv4.slice(1).some((octet) => Number(octet) > 255)) return false;
    groups = text.slice(0, lastColon + 1) + (text[lastColon - 1] === ":" ? "" : "0");
    budget = text[lastColon - 1] === ":" ? 6 : 7;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return false;
  const parts = halves.map((half) => half === "" ? [] : half.split(":"));
  if (!parts.every((list) => list.every((group) => HEX4.test(group)))) return false;
  const count = parts.reduce((sum, list) => sum + list.length, 0);
  return halves.length === 2 ? count < budget : count === budget;
}

function parseParams(text: string): [string, string | undefined][] {
  return text.split(";").map((param): [string, string | undefined] => {
    const equals = param.indexOf("=");
    const name = equals < 0 ? param : param.slice(0, equals);
    const value = equals < 0 ? undefined : param.slice(equals + 1);
    if (!PARAM_CHARS.test(name)) {
      throw new SipUriError(`bad parameter name${badCharacter(name, PARAM_CHARS)}`);
    }
    if (value !== undefined && !PARAM_CHARS.test(value)) {
      throw new SipUriError(`bad value of parameter ${name}${badCharacter(value, PARAM_CHARS)}`);
    }
    return [name, value];
  });
}

function parseHeaders(text: string): [string, string][] {
  return text.split("&").map((header): [string, string] => {
    const equals = header.indexOf("=");
    if (equals < 0) throw new SipUriError("a header needs name=value");
    const name = header.slice(0, equals);
    const value = header.slice(equals + 1);
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) {
      throw new SipUriError(`bad header${badCharacter(header, /[^\s<>"{}|\\^`]/)}`);
    }
    return [name, value];
  });
}
