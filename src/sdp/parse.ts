/**
 * Parses session descriptions (RFC 4566) and validates their MSRP media lines
 * (RFC 4975 §8, RFC 6135, RFC 7701, RFC 7977, RFC 8122, RFC 5547).
 *
 * @module
 */

import { MsrpError } from "../msrp/status.ts";
import { parseMsrpUri } from "../msrp/uri.ts";
import { parseFileTransfer } from "./_file_transfer.ts";
import {
  attributesOf,
  malformed,
  quote,
  type SdpAttribute,
  type SdpLine,
  splitSections,
} from "./_lines.ts";
import { compact } from "./_compact.ts";
import { SdpError } from "./error.ts";
import type {
  ConnectionAddress,
  ConnectionAttribute,
  Direction,
  Fingerprint,
  MediaDescription,
  MsrpMediaDescription,
  MsrpProtocol,
  SdpOrigin,
  SessionDescription,
  SetupAttribute,
} from "./types.ts";

const MSRP_PROTOCOLS: readonly MsrpProtocol[] = [
  "TCP/MSRP",
  "TCP/TLS/MSRP",
  "TCP/WS/MSRP",
  "TCP/WSS/MSRP",
];
const SETUP_VALUES: readonly SetupAttribute[] = ["active", "passive", "actpass", "holdconn"];
const CONNECTION_VALUES: readonly ConnectionAttribute[] = ["new", "existing"];
const DIRECTIONS: readonly string[] = ["sendrecv", "sendonly", "recvonly", "inactive"];
const DIGITS = /^[0-9]+$/;
// RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX); lower case is accepted too.
const FINGERPRINT = /^(\S+) +([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*)$/;

/** Session-level attributes that media lines inherit (RFC 4145 §4, RFC 8122 §5). */
interface SessionDefaults {
  readonly connectionAddress?: ConnectionAddress;
  readonly setup?: SetupAttribute;
  readonly connection?: ConnectionAttribute;
  readonly fingerprint?: Fingerprint;
  readonly direction?: Direction;
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter((word) => word !== "");
}

/** `IN IP4 <address>` or `IN IP6 <address>`, without a `/ttl` or `/count` suffix. */
function parseAddress(
  netType: string,
  addrType: string,
  address: string,
): ConnectionAddress | undefined {
  if (netType !== "IN" || address === "") return undefined;
  const family = addrType === "IP4" ? 4 : addrType === "IP6" ? 6 : undefined;
  if (family === undefined) return undefined;
  const slash = address.indexOf("/");
  return { family, address: slash < 0 ? address : address.slice(0, slash) };
}

function parseConnectionLine(line: SdpLine): ConnectionAddress {
  const parts = words(line.value);
  const address = parts.length === 3 ? parseAddress(parts[0], parts[1], parts[2]) : undefined;
  if (!address) {
    throw malformed(
      line.line,
      `expected "c=IN IP4|IP6 <address>", got ${quote(`c=${line.value}`)}`,
    );
  }
  return address;
}

function parseOrigin(line: SdpLine): SdpOrigin {
  const parts = words(line.value);
  const address = parts.length === 6 ? parseAddress(parts[3], parts[4], parts[5]) : undefined;
  if (!address || !DIGITS.test(parts[1]) || !DIGITS.test(parts[2])) {
    throw malformed(
      line.line,
      `expected "o=<username> <sess-id> <sess-version> IN IP4|IP6 <address>", got ${
        quote(`o=${line.value}`)
      }`,
    );
  }
  return { username: parts[0], sessionId: parts[1], sessionVersion: parts[2], address };
}

function first(attributes: readonly SdpAttribute[], name: string): SdpAttribute | undefined {
  return attributes.find((a) => a.name === name);
}

/** The only occurrence of an attribute; RFC 4975 §8 allows one per media line. */
function single(attributes: readonly SdpAttribute[], name: string): SdpAttribute | undefined {
  const found = attributes.filter((a) => a.name === name);
  if (found.length > 1) {
    throw malformed(found[1].line, `a=${name} repeated (first on line ${found[0].line})`);
  }
  return found[0];
}

function enumValue<T extends string>(attribute: SdpAttribute, allowed: readonly T[]): T {
  const value = (attribute.value ?? "").trim().toLowerCase();
  const match = allowed.find((a) => a === value);
  if (match === undefined) {
    throw malformed(
      attribute.line,
      `a=${attribute.name}: unknown value ${quote(value)} (expected ${allowed.join(", ")})`,
    );
  }
  return match;
}

function parseFingerprint(attribute: SdpAttribute): Fingerprint {
  const match = FINGERPRINT.exec((attribute.value ?? "").trim());
  if (!match) {
    throw malformed(
      attribute.line,
      `a=fingerprint: expected "<hash-function> <XX:XX:…>", got ${quote(attribute.value ?? "")}`,
    );
  }
  return { hash: match[1], value: match[2] };
}

/** The inheritable attributes of a session section or a media section. */
function parseShared(
  lines: readonly SdpLine[],
  attributes: readonly SdpAttribute[],
): SessionDefaults {
  const c = lines.find((l) => l.type === "c");
  const setup = first(attributes, "setup");
  const connection = first(attributes, "connection");
  const fingerprint = first(attributes, "fingerprint");
  const direction = attributes.find((a) => a.value === undefined && DIRECTIONS.includes(a.name));
  return compact<SessionDefaults>({
    connectionAddress: c && parseConnectionLine(c),
    setup: setup && enumValue(setup, SETUP_VALUES),
    connection: connection && enumValue(connection, CONNECTION_VALUES),
    fingerprint: fingerprint && parseFingerprint(fingerprint),
    direction: direction?.name as Direction | undefined,
  });
}

/** Splits a list attribute; an empty list is an error. */
function list(attribute: SdpAttribute): string[] {
  const items = words(attribute.value ?? "");
  if (items.length === 0) throw malformed(attribute.line, `a=${attribute.name} is empty`);
  return items;
}

function parsePath(attribute: SdpAttribute): string[] {
  const uris = list(attribute);
  for (const uri of uris) {
    try {
      parseMsrpUri(uri);
    } catch (error) {
      if (!(error instanceof MsrpError)) throw error;
      throw new SdpError("malformed", `line ${attribute.line}: a=path: ${error.message}`, {
        line: attribute.line,
        cause: error,
      });
    }
  }
  return uris;
}

function parseMsrpMedia(
  mLine: SdpLine,
  index: number,
  port: number,
  protocol: MsrpProtocol,
  formats: string[],
  lines: readonly SdpLine[],
  session: SessionDefaults,
): MsrpMediaDescription {
  const attributes = attributesOf(lines);
  const own = parseShared(lines, attributes);
  const path = single(attributes, "path");
  const acceptTypes = single(attributes, "accept-types");
  const wrapped = single(attributes, "accept-wrapped-types");
  const maxSize = single(attributes, "max-size");
  const where = `m=message on line ${mLine.line}`;
  // A disabled line (port 0, RFC 3264 §6) need not describe the session any more.
  if (port !== 0 && !path) throw malformed(mLine.line, `${where} has no a=path (RFC 4975 §8.2)`);
  if (port !== 0 && !acceptTypes) {
    throw malformed(mLine.line, `${where} has no a=accept-types, which RFC 4975 §8.1 requires`);
  }
  const size = maxSize?.value?.trim() ?? "";
  if (maxSize && !DIGITS.test(size)) {
    throw malformed(maxSize.line, `a=max-size: expected a number of octets, got ${quote(size)}`);
  }
  return compact<MsrpMediaDescription>({
    kind: "msrp",
    index,
    port,
    protocol,
    formats,
    path: path ? parsePath(path) : [],
    acceptTypes: acceptTypes ? list(acceptTypes) : [],
    acceptWrappedTypes: wrapped ? words(wrapped.value ?? "") : [],
    maxSize: maxSize && Number(size),
    setup: own.setup ?? session.setup,
    connection: own.connection ?? session.connection,
    fingerprint: own.fingerprint ?? session.fingerprint,
    cema: attributes.some((a) => a.name === "msrp-cema"),
    direction: own.direction ?? session.direction ?? "sendrecv",
    connectionAddress: own.connectionAddress ?? session.connectionAddress,
    fileTransfer: parseFileTransfer(attributes),
  });
}

function parseMedia(
  lines: readonly SdpLine[],
  index: number,
  session: SessionDefaults,
): MediaDescription {
  const mLine = lines[0];
  // RFC 4566 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
  const [type = "", portText = "", protocolText = "", ...formats] = words(mLine.value);
  const port = Number(portText.split("/")[0]);
  if (protocolText === "" || !DIGITS.test(portText.split("/")[0]) || port > 65535) {
    throw malformed(
      mLine.line,
      `expected "m=<media> <port> <proto> <fmt> ...", got ${quote(`m=${mLine.value}`)}`,
    );
  }
  const protocol = MSRP_PROTOCOLS.find((p) => p === protocolText.toUpperCase());
  if (type.toLowerCase() === "message" && protocol) {
    return parseMsrpMedia(mLine, index, port, protocol, formats, lines, session);
  }
  return { kind: "other", index, type, port, protocol: protocolText, formats };
}

/**
 * Parses a session description. Lines may end in CRLF, LF or CR; blank lines
 * are skipped; unknown line types and attributes are ignored. Each `m=message`
 * line with an MSRP protocol (`TCP/MSRP`, `TCP/TLS/MSRP`, `TCP/WS/MSRP`,
 * `TCP/WSS/MSRP`, matched case-insensitively) becomes an MSRP media
 * description; every other `m=` line is kept as `kind: "other"`. Media lines
 * inherit `c=`, `a=setup`, `a=connection`, `a=fingerprint` and the direction
 * from the session level.
 *
 * @example
 * ```ts
 * const sd = parseSessionDescription(
 *   "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
 *     "m=message 2855 TCP/MSRP *\r\na=accept-types:text/plain\r\n" +
 *     "a=path:msrp://192.0.2.1:2855/abc;tcp\r\n",
 * );
 * sd.media[0].kind; // "msrp"
 * ```
 *
 * @throws {SdpError} `malformed`, naming the line and attribute, when: the text
 * is not `<type>=<value>` lines starting with `v=0`; there is no `m=` line;
 * an `o=`, `c=` or `m=` line is malformed; an enabled MSRP line lacks `a=path`
 * (RFC 4975 §8.2) or `a=accept-types` (RFC 4975 §8.1); an `a=path` URI is not
 * a valid MSRP URI; `a=path`, `a=accept-types`, `a=accept-wrapped-types` or
 * `a=max-size` is repeated; or `a=max-size`, `a=setup`, `a=connection`,
 * `a=fingerprint` or an RFC 5547 attribute has a bad value.
 */
export function parseSessionDescription(sdp: string): SessionDescription {
  const sections = splitSections(sdp);
  const origin = sections.session.find((l) => l.type === "o");
  const name = sections.session.find((l) => l.type === "s");
  const defaults = parseShared(sections.session, attributesOf(sections.session));
  return compact<SessionDescription>({
    origin: origin && parseOrigin(origin),
    sessionName: name?.value,
    connectionAddress: defaults.connectionAddress,
    media: sections.media.map((lines, index) => parseMedia(lines, index, defaults)),
  });
}
