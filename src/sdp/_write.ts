/**
 * Writes our side's SDP (RFC 4566 §5, RFC 4975 §8) by hand: the session lines
 * and our `m=message` section with its MSRP attributes, in a fixed order,
 * CRLF line endings. What goes in is checked first ({@linkcode checkLocal}).
 *
 * @module
 */

import { MsrpError } from "../msrp/status.ts";
import { parseMsrpUri } from "../msrp/uri.ts";
import { SdpError } from "./error.ts";
import { isSecureProtocol, protocolForUri } from "./negotiate.ts";
import type { Direction, LocalMsrpEndpoint, MsrpProtocol, SetupRole } from "./types.ts";

/** What the description of the local endpoint implies. */
export interface Local {
  readonly endpoint: LocalMsrpEndpoint;
  readonly protocol: MsrpProtocol;
  readonly family: 4 | 6;
}

/** The MSRP-specific attributes of one of our media lines. */
export interface OwnMedia {
  readonly port: number;
  readonly protocol: MsrpProtocol;
  readonly setup: "actpass" | SetupRole;
  readonly direction: Direction;
  readonly acceptTypes: readonly string[];
  readonly acceptWrappedTypes: readonly string[];
  readonly cema: boolean;
  readonly fileTransfer: readonly string[];
}

function invalid(message: string): SdpError {
  return new SdpError("invalid-argument", `local endpoint: ${message}`);
}

// RFC 4566 §5.2: <username> and <sess-id> are tokens without spaces; <sess-id> is numeric.
const ORIGIN_TOKEN = /^[!-~]+$/;
const DIGITS = /^[0-9]+$/;
const LINE_BREAK = /[\r\n\0]/;

/**
 * Checks our side's description before anything is written: `a=path` URIs,
 * accept types, port, address and the `o=` and `s=` fields.
 *
 * @throws {SdpError} `invalid-argument` naming what is unusable.
 */
export function checkLocal(endpoint: LocalMsrpEndpoint): Local {
  if (endpoint.path.length === 0) throw invalid("a=path needs at least our own URI");
  for (const uri of endpoint.path) {
    try {
      parseMsrpUri(uri);
    } catch (error) {
      if (!(error instanceof MsrpError)) throw error;
      throw new SdpError("invalid-argument", `local endpoint: a=path: ${error.message}`, {
        cause: error,
      });
    }
  }
  if (endpoint.acceptTypes.length === 0) {
    throw invalid("a=accept-types must not be empty (RFC 4975 §8.1)");
  }
  if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
    throw invalid(`bad port ${endpoint.port}`);
  }
  if (endpoint.address === "" || /\s/.test(endpoint.address)) {
    throw invalid(`bad address ${JSON.stringify(endpoint.address)}`);
  }
  if (endpoint.originUsername !== undefined && !ORIGIN_TOKEN.test(endpoint.originUsername)) {
    throw invalid(`bad o= username ${JSON.stringify(endpoint.originUsername)}`);
  }
  if (endpoint.originSessionId !== undefined && !DIGITS.test(endpoint.originSessionId)) {
    throw invalid(`o= session id must be numeric, got ${JSON.stringify(endpoint.originSessionId)}`);
  }
  const version = endpoint.originVersion;
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0)) {
    throw invalid(`bad o= session version ${version}`);
  }
  if (endpoint.sessionName !== undefined && LINE_BREAK.test(endpoint.sessionName)) {
    throw invalid("s= must not hold CR, LF or NUL");
  }
  // The last URI of a=path is our own (RFC 4976); it says which transport we serve.
  const protocol = endpoint.protocol ?? protocolForUri(endpoint.path[endpoint.path.length - 1]);
  return { endpoint, protocol, family: endpoint.address.includes(":") ? 6 : 4 };
}

/** A random numeric `o=` session id below 2^63 (RFC 4566 §5.2). */
function randomSessionId(): string {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(high & 0x7fffffff) << 32n) | BigInt(low)).toString();
}

/**
 * The lines of one of our media sections: `m=`, then `a=setup`,
 * `a=connection`, the direction and `a=fingerprint`, then the MSRP
 * attributes (RFC 4975 §8) and those of a file transfer (RFC 5547).
 */
export function ownMedia(local: Local, media: OwnMedia): string[] {
  const { endpoint } = local;
  const lines = [
    `m=message ${media.port} ${media.protocol} *`,
    `a=setup:${media.setup}`,
    // RFC 6135: each new MSRP session asks for a new connection.
    "a=connection:new",
    `a=${media.direction}`,
  ];
  if (endpoint.fingerprint && isSecureProtocol(media.protocol)) {
    lines.push(`a=fingerprint:${endpoint.fingerprint.hash} ${endpoint.fingerprint.value}`);
  }
  lines.push(`a=accept-types:${media.acceptTypes.join(" ")}`);
  if (media.acceptWrappedTypes.length > 0) {
    lines.push(`a=accept-wrapped-types:${media.acceptWrappedTypes.join(" ")}`);
  }
  lines.push(`a=path:${endpoint.path.join(" ")}`);
  if (endpoint.maxSize !== undefined) lines.push(`a=max-size:${endpoint.maxSize}`);
  if (media.cema) lines.push("a=msrp-cema");
  lines.push(...media.fileTransfer.map((attribute) => `a=${attribute}`));
  return lines;
}

/** The whole description (RFC 4566 §5): `v=`, `o=`, `s=`, `c=`, `t=`, then the media sections. */
export function sessionOf(local: Local, media: readonly (readonly string[])[]): string {
  const { endpoint, family } = local;
  const origin = [
    endpoint.originUsername ?? "-",
    endpoint.originSessionId ?? randomSessionId(),
    endpoint.originVersion ?? 0,
    `IN IP${family}`,
    endpoint.address,
  ];
  const lines = [
    "v=0",
    `o=${origin.join(" ")}`,
    `s=${endpoint.sessionName ?? "-"}`,
    `c=IN IP${family} ${endpoint.address}`,
    "t=0 0",
    ...media.flat(),
  ];
  return lines.map((line) => `${line}\r\n`).join("");
}
