/**
 * MSRP URIs (RFC 4975 §6, §9): parsing, formatting, comparison, and the keys
 * used to route frames by session and to reuse connections.
 *
 * @module
 */

import { MsrpError, Status } from "./status.ts";

/**
 * A parsed `msrp:` or `msrps:` URI (RFC 4975 §9):
 * `scheme "://" [userinfo "@"] host [":" port] ["/" session-id] ";" transport *(";" param)`.
 */
export interface MsrpUri {
  /** `msrps` means the connection must be protected with TLS (RFC 4975 §6). */
  readonly scheme: "msrp" | "msrps";
  /** The userinfo before `@`, when present: an account, not the session (RFC 4975 §6). */
  readonly user?: string;
  /** Host name or IP address; an IPv6 address is kept without its brackets. */
  readonly host: string;
  /** The port as written, or `undefined` when the URI has none. */
  readonly port?: number;
  /** The session-id, or `undefined` when the URI names a device such as a relay. */
  readonly sessionId?: string;
  /** The transport parameter, lower-cased, e.g. `tcp` or `ws` (RFC 7977). */
  readonly transport: string;
  /** The `;name[=value]` parameters after the transport, in order, as written. */
  readonly params: readonly (readonly [string, string | undefined])[];
}

// RFC 4975 §15.4 registers 2855; RFC 4976 falls back to it for relay URIs without a port.
const DEFAULT_PORT = 2855;

// MSRP URIs are US-ASCII only (RFC 4975 §6) and never contain spaces.
const NOT_URI_CHAR = /[^\x21-\x7e]/;
// RFC 3986 userinfo without ":", since RFC 4975 §6 forbids password information.
const USERINFO = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/;
// RFC 3986 reg-name without ";", which would be taken for the transport separator.
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,=]|%[0-9A-Fa-f]{2})+$/;
const DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${DEC_OCTET}(?:\\.${DEC_OCTET}){3}$`);
const DIGITS_AND_DOTS = /^[0-9.]+$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const PORT = /^[0-9]{1,5}$/;
// RFC 4975 §9: session-id = 1*( unreserved / "+" / "=" / "/" ).
const SESSION_ID = /^[A-Za-z0-9\-._~+=/]+$/;
// RFC 4975 §9: transport = "tcp" / 1*ALPHANUM.
const TRANSPORT = /^[A-Za-z0-9]+$/;
// RFC 4975 §9: token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E).
const TOKEN = /^[!#-'*+\-.0-9A-Z^-~]+$/;
const PCT_ENCODED = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function invalid(text: string, problem: string): MsrpError {
  return new MsrpError(Status.BadRequest, `invalid MSRP URI ${JSON.stringify(text)}: ${problem}`);
}

function ipv4Octets(text: string): number[] | undefined {
  return IPV4.test(text) ? text.split(".").map(Number) : undefined;
}

/** 16-bit groups of a colon-separated run; the last may be a dotted IPv4 address. */
function hexGroups(run: string, ipv4Tail: boolean): number[] | undefined {
  if (run === "") return [];
  const pieces = run.split(":");
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    if (ipv4Tail && i === pieces.length - 1 && piece.includes(".")) {
      const octets = ipv4Octets(piece);
      if (!octets) return undefined;
      groups.push((octets[0] << 8) | octets[1], (octets[2] << 8) | octets[3]);
    } else if (HEX_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2), or `undefined`. */
function ipv6Groups(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length === 1) {
    const groups = hexGroups(text, true);
    return groups?.length === 8 ? groups : undefined;
  }
  if (halves.length !== 2) return undefined;
  const head = hexGroups(halves[0], false);
  const tail = hexGroups(halves[1], true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The canonical text of an IPv6 address (RFC 5952 §4). */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < groups.length && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * The host as compared by RFC 4975 §6.1: IPv6 canonical and bracketed,
 * percent-encoded unreserved characters decoded, lower-cased.
 */
function hostKey(host: string): string {
  if (host.includes(":")) {
    const groups = ipv6Groups(host);
    return `[${groups ? formatIpv6(groups) : host.toLowerCase()}]`;
  }
  return host.replace(PCT_ENCODED, (escape, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escape;
  }).toLowerCase();
}

function parsePort(text: string, digits: string): number {
  const port = PORT.test(digits) ? Number(digits) : 0;
  if (port < 1 || port > 65535) throw invalid(text, `bad port "${digits}" (expected 1-65535)`);
  return port;
}

function parseHostPort(text: string, hostPort: string): { host: string; port?: number } {
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw invalid(text, 'unclosed "[" around IPv6 address');
    const host = hostPort.slice(1, close);
    if (host === "") throw invalid(text, "empty host");
    if (!ipv6Groups(host)) throw invalid(text, `bad IPv6 address "${host}"`);
    const after = hostPort.slice(close + 1);
    if (after === "") return { host };
    if (!after.startsWith(":")) throw invalid(text, `unexpected "${after}" after IPv6 address`);
    return { host, port: parsePort(text, after.slice(1)) };
  }
  const colon = hostPort.indexOf(":");
  if (colon !== hostPort.lastIndexOf(":")) {
    throw invalid(text, "IPv6 address must be enclosed in [ ]");
  }
  const host = colon < 0 ? hostPort : hostPort.slice(0, colon);
  if (host === "") throw invalid(text, "empty host");
  if (DIGITS_AND_DOTS.test(host) && host.includes(".")) {
    if (!IPV4.test(host)) throw invalid(text, `bad IPv4 address "${host}"`);
  } else if (!REG_NAME.test(host)) {
    throw invalid(text, `bad character in host "${host}"`);
  }
  return colon < 0 ? { host } : { host, port: parsePort(text, hostPort.slice(colon + 1)) };
}

function parseParam(text: string, param: string): [string, string | undefined] {
  const eq = param.indexOf("=");
  const name = eq < 0 ? param : param.slice(0, eq);
  const value = eq < 0 ? undefined : param.slice(eq + 1);
  // RFC 4975 §9: URI-parameter = token ["=" token].
  if (!TOKEN.test(name) || (value !== undefined && !TOKEN.test(value))) {
    throw invalid(text, `bad URI parameter "${param}"`);
  }
  return [name, value];
}

/**
 * Parses an MSRP URI (RFC 4975 §9). The scheme is matched case-insensitively
 * and stored lower-cased, as is the transport; everything else is kept as
 * written. Host names include the random `*.invalid` names of WebSocket
 * clients (RFC 7977). A numeric host without a port is accepted although
 * RFC 4975 §6 says it must have one.
 *
 * @throws {MsrpError} 400 naming what is wrong: missing or unsupported
 * scheme, empty host, bad IPv4 or IPv6 address, unclosed bracket, bad port,
 * bad session-id, missing transport, bad parameter, or a space or other
 * character outside printable US-ASCII.
 */
export function parseMsrpUri(text: string): MsrpUri {
  if (NOT_URI_CHAR.test(text)) {
    throw invalid(text, "contains a space, control or non-ASCII character");
  }
  const sep = text.indexOf("://");
  if (sep < 0) throw invalid(text, "missing scheme (expected msrp:// or msrps://)");
  const scheme = text.slice(0, sep).toLowerCase();
  if (scheme !== "msrp" && scheme !== "msrps") {
    throw invalid(text, `unsupported scheme "${text.slice(0, sep)}" (expected msrp or msrps)`);
  }
  const rest = text.slice(sep + 3);
  // "@" occurs only after userinfo and "/" never occurs in it, so an "@" before
  // the first "/" ends the userinfo (which may itself contain ";").
  const slash = rest.indexOf("/");
  const at = rest.indexOf("@");
  let user: string | undefined;
  let hostStart = 0;
  if (at >= 0 && (slash < 0 || at < slash)) {
    user = rest.slice(0, at);
    if (user.includes(":")) throw invalid(text, "userinfo must not contain a password");
    if (!USERINFO.test(user)) throw invalid(text, `bad userinfo "${user}"`);
    hostStart = at + 1;
  }
  let end = hostStart;
  while (end < rest.length && rest[end] !== "/" && rest[end] !== ";") end++;
  const { host, port } = parseHostPort(text, rest.slice(hostStart, end));

  let sessionId: string | undefined;
  if (rest[end] === "/") {
    const semi = rest.indexOf(";", end + 1);
    const stop = semi < 0 ? rest.length : semi;
    sessionId = rest.slice(end + 1, stop);
    if (sessionId === "") throw invalid(text, "empty session-id after /");
    if (!SESSION_ID.test(sessionId)) throw invalid(text, `bad session-id "${sessionId}"`);
    end = stop;
  }
  if (end >= rest.length) throw invalid(text, "missing transport (e.g. ;tcp)");
  const [transport, ...rawParams] = rest.slice(end + 1).split(";");
  if (transport === "") throw invalid(text, "missing transport (e.g. ;tcp)");
  if (!TRANSPORT.test(transport)) throw invalid(text, `bad transport "${transport}"`);
  return {
    scheme,
    ...(user === undefined ? {} : { user }),
    host,
    ...(port === undefined ? {} : { port }),
    ...(sessionId === undefined ? {} : { sessionId }),
    transport: transport.toLowerCase(),
    params: rawParams.map((param) => parseParam(text, param)),
  };
}

/**
 * Formats an MSRP URI, bracketing an IPv6 host; the inverse of
 * {@linkcode parseMsrpUri} for the URIs it returns. The parts are not
 * validated.
 */
export function formatMsrpUri(uri: MsrpUri): string {
  const host = uri.host.includes(":") ? `[${uri.host}]` : uri.host;
  let out = `${uri.scheme}://${uri.user === undefined ? "" : `${uri.user}@`}${host}`;
  if (uri.port !== undefined) out += `:${uri.port}`;
  if (uri.sessionId !== undefined) out += `/${uri.sessionId}`;
  out += `;${uri.transport}`;
  for (const [name, value] of uri.params) {
    out += value === undefined ? `;${name}` : `;${name}=${value}`;
  }
  return out;
}

/** The port to connect to: the URI's port, or 2855 (RFC 4975 §15.4) when it has none. */
export function effectivePort(uri: MsrpUri): number {
  return uri.port ?? DEFAULT_PORT;
}

/**
 * True when two MSRP URIs are equivalent by RFC 4975 §6.1: same scheme; same
 * host, ignoring case and percent-encoding of unreserved characters, with IPv6
 * addresses compared as addresses; the same explicit port or both without one
 * (an explicit 2855 does not match an absent port); the same session-id, case
 * sensitively, or both without one; the same transport, ignoring case.
 * Userinfo and other parameters are ignored. Strings are parsed first.
 *
 * @throws {MsrpError} 400 when a string is not a valid MSRP URI.
 */
export function msrpUriEquals(a: MsrpUri | string, b: MsrpUri | string): boolean {
  const x = typeof a === "string" ? parseMsrpUri(a) : a;
  const y = typeof b === "string" ? parseMsrpUri(b) : b;
  return x.scheme === y.scheme &&
    hostKey(x.host) === hostKey(y.host) &&
    x.port === y.port &&
    x.sessionId === y.sessionId &&
    x.transport.toLowerCase() === y.transport.toLowerCase();
}

/**
 * {@linkcode msrpUriEquals} for URIs received from a peer: identical text is
 * equal at once, and otherwise a URI that does not parse is equal to nothing
 * instead of throwing (RFC 4975 §6.1).
 */
export function sameMsrpUri(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return msrpUriEquals(a, b);
  } catch {
    return false;
  }
}

/**
 * `scheme://host:port`, lower-cased, with the effective port and a canonical
 * bracketed IPv6 host: equal for URIs reachable over the same connection, so
 * it can key a connection table for reuse (RFC 6135).
 */
export function authorityKey(uri: MsrpUri): string {
  return `${uri.scheme}://${hostKey(uri.host)}:${effectivePort(uri)}`;
}

/**
 * The session-id of an MSRP URI without parsing it fully, for routing each
 * received frame by its `To-Path`: the text between the first "/" after `://`
 * and the next ";". `undefined` when there is none. Agrees with
 * {@linkcode parseMsrpUri} on valid URIs; does not validate.
 */
export function sessionIdOf(uriText: string): string | undefined {
  const sep = uriText.indexOf("://");
  if (sep < 0) return undefined;
  // "/" cannot occur in userinfo, host, port, transport or parameters.
  const slash = uriText.indexOf("/", sep + 3);
  if (slash < 0) return undefined;
  const semi = uriText.indexOf(";", slash + 1);
  const id = uriText.slice(slash + 1, semi < 0 ? uriText.length : semi);
  return id === "" ? undefined : id;
}
