/**
 * A typed view of the `sdp-transform` npm package's parser, which the SDP tests
 * use as an independent reader of the SDP we write; the package ships no type
 * declarations. The product writes and parses SDP itself (src/sdp/).
 *
 * @module
 */

import * as sdpTransform from "sdp-transform";

/** A `c=` line: `IN IP<version> <ip>`. */
export interface TransformConnection {
  /** 4 or 6. */
  version: 4 | 6;
  /** The address. */
  ip: string;
}

/** An `o=` line. */
export interface TransformOrigin {
  /** The user name, `-` when there is none. */
  username: string;
  /** The numeric session id; `sdp-transform` parses small ones into numbers. */
  sessionId: string | number;
  /** The session version. */
  sessionVersion: number;
  /** Always `IN`. */
  netType: string;
  /** 4 or 6. */
  ipVer: 4 | 6;
  /** The address. */
  address: string;
}

/** An attribute `sdp-transform` has no grammar for, written verbatim as `a=<value>`. */
export interface TransformAttribute {
  /** Everything after `a=`. */
  value: string;
}

/** An `m=` section. */
export interface TransformMedia {
  /** The media type, e.g. `message`. */
  type: string;
  /** The port. */
  port: number;
  /** The protocol, e.g. `TCP/MSRP`. */
  protocol: string;
  /** The formats separated by spaces; a lone number is parsed into a number. */
  payloads?: string | number;
  /** A media-level `c=` line. */
  connection?: TransformConnection;
  /** `a=setup`. */
  setup?: string;
  /** `a=connection`. */
  connectionType?: string;
  /** `a=sendrecv`, `a=sendonly`, `a=recvonly` or `a=inactive`. */
  direction?: string;
  /** `a=fingerprint:<type> <hash>`. */
  fingerprint?: { type: string; hash: string };
  /** Other attributes, in order. */
  invalid?: TransformAttribute[];
}

/** A whole session description. */
export interface TransformSession {
  /** `v=`. */
  version?: number;
  /** `o=`. */
  origin?: TransformOrigin;
  /** `s=`. */
  name?: string;
  /** The session-level `c=`. */
  connection?: TransformConnection;
  /** `t=`. */
  timing?: { start: number; stop: number };
  /** Session-level attributes without a grammar. */
  invalid?: TransformAttribute[];
  /** The `m=` sections. */
  media: TransformMedia[];
}

interface SdpTransform {
  parse(sdp: string): TransformSession;
}

const lib: SdpTransform = sdpTransform;

/** Parses a session description the way `sdp-transform` does. */
export function parse(sdp: string): TransformSession {
  return lib.parse(sdp);
}
