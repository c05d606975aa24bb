/**
 * The data model of session descriptions as far as MSRP needs them
 * (RFC 4566, RFC 4975 §8, RFC 5547, RFC 6135, RFC 7701, RFC 7977).
 *
 * @module
 */

/** The `m=` protocols that carry MSRP (RFC 4975 §8.1, RFC 7977). */
export type MsrpProtocol = "TCP/MSRP" | "TCP/TLS/MSRP" | "TCP/WS/MSRP" | "TCP/WSS/MSRP";

/** A value of `a=setup` (RFC 4145 §4, used for MSRP by RFC 6135). */
export type SetupAttribute = "active" | "passive" | "actpass" | "holdconn";

/** The negotiated role: `active` opens the connection, `passive` waits for it. */
export type SetupRole = "active" | "passive";

/** A value of `a=connection` (RFC 4145 §5). */
export type ConnectionAttribute = "new" | "existing";

/** A media direction attribute (RFC 4566 §6, RFC 3264 §6.1). */
export type Direction = "sendrecv" | "sendonly" | "recvonly" | "inactive";

/** An `a=fingerprint` of the certificate a TLS peer will present (RFC 8122 §5). */
export interface Fingerprint {
  /** The hash function as written, e.g. `SHA-256` or `sha-1`. */
  readonly hash: string;
  /** Colon-separated hex bytes as written, e.g. `4A:AD:B9:…`. */
  readonly value: string;
}

/** The address of a `c=` line (RFC 4566 §5.7), without a multicast TTL or count. */
export interface ConnectionAddress {
  /** 4 for `IN IP4`, 6 for `IN IP6`. */
  readonly family: 4 | 6;
  /** An IP address or a host name, as written. */
  readonly address: string;
}

/** The `o=` line (RFC 4566 §5.2). */
export interface SdpOrigin {
  /** The user name; `-` when there is none. */
  readonly username: string;
  /** The numeric session id, kept as text because it may exceed 2^53. */
  readonly sessionId: string;
  /** The session version, kept as text. */
  readonly sessionVersion: string;
  /** The address of the machine the session was created on. */
  readonly address: ConnectionAddress;
}

/** The `a=file-selector` of a file transfer (RFC 5547). */
export interface FileSelector {
  /** The file name, with `%22`, `%25`, `%0D` and `%0A` decoded. */
  readonly name?: string;
  /** The media type of the file, with any parameters. */
  readonly type?: string;
  /** The size in octets. */
  readonly size?: number;
  /** A hash of the content, e.g. `{ algorithm: "sha-1", value: "72:24:5F:…" }`. */
  readonly hash?: { readonly algorithm: string; readonly value: string };
}

/** The `a=file-date` of a file transfer (RFC 5547): RFC 5322 date-time strings. */
export interface FileDate {
  /** When the file was created. */
  readonly creation?: string;
  /** When the file was last modified. */
  readonly modification?: string;
  /** When the file was last read. */
  readonly read?: string;
}

/** The `a=file-range` of a file transfer (RFC 5547): 1-based, inclusive octets. */
export interface FileRange {
  /** The first octet, counting from 1. */
  readonly start: number;
  /** The last octet, or `*` for the end of the file. */
  readonly end: number | "*";
}

/** The file-transfer attributes of an MSRP media line (RFC 5547). */
export interface FileTransfer {
  /** `a=file-selector`: which file. */
  readonly selector?: FileSelector;
  /** `a=file-transfer-id`: distinguishes this transfer from a repeated one. */
  readonly transferId?: string;
  /** `a=file-disposition`, e.g. `render` or `attachment`. */
  readonly disposition?: string;
  /** `a=file-date`. */
  readonly date?: FileDate;
  /** `a=file-range`: the part of the file to transfer. */
  readonly range?: FileRange;
  /** `a=file-icon`: a `cid:` URL of a preview sent in the same SIP body. */
  readonly icon?: string;
}

/** An `m=message` line with an MSRP protocol and its attributes (RFC 4975 §8). */
export interface MsrpMediaDescription {
  /** Discriminates MSRP lines from other media. */
  readonly kind: "msrp";
  /** The 0-based position among the `m=` lines. */
  readonly index: number;
  /** The `m=` port; 0 means the line is disabled or rejected (RFC 3264 §6). */
  readonly port: number;
  /** The `m=` protocol. */
  readonly protocol: MsrpProtocol;
  /** The `m=` formats, normally `["*"]`. */
  formats: string[];
  /** `a=path`: relays first, the peer's own URI last (RFC 4975 §8.2, RFC 4976). */
  path: string[];
  /** `a=accept-types`: media types, `type/*` or `*` (RFC 4975 §8.6). */
  acceptTypes: string[];
  /** `a=accept-wrapped-types`: types accepted only inside a wrapper such as CPIM. */
  acceptWrappedTypes: string[];
  /** `a=max-size`: the largest message the peer wants to receive, in octets. */
  readonly maxSize?: number;
  /** `a=setup`, media level or else session level (RFC 6135). */
  readonly setup?: SetupAttribute;
  /** `a=connection`, media level or else session level (RFC 6135). */
  readonly connection?: ConnectionAttribute;
  /** The first `a=fingerprint`, media level or else session level (RFC 8122). */
  readonly fingerprint?: Fingerprint;
  /** True when `a=msrp-cema` is present (RFC 7701). */
  readonly cema: boolean;
  /** The direction attribute, media level or else session level; `sendrecv` by default. */
  readonly direction: Direction;
  /** The media-level `c=` address, or else the session-level one. */
  readonly connectionAddress?: ConnectionAddress;
  /** RFC 5547 attributes, when any is present. */
  readonly fileTransfer?: FileTransfer;
}

/** Any other `m=` line (audio, video, an unknown protocol …), kept to be rejected. */
export interface OtherMediaDescription {
  /** Discriminates other media from MSRP lines. */
  readonly kind: "other";
  /** The 0-based position among the `m=` lines. */
  readonly index: number;
  /** The media type, e.g. `audio`. */
  readonly type: string;
  /** The `m=` port. */
  readonly port: number;
  /** The `m=` protocol, e.g. `RTP/AVP`. */
  readonly protocol: string;
  /** The `m=` formats, e.g. payload type numbers. */
  formats: string[];
}

/** One `m=` line. */
export type MediaDescription = MsrpMediaDescription | OtherMediaDescription;

/** A parsed session description. */
export interface SessionDescription {
  /** The `o=` line, when present. */
  readonly origin?: SdpOrigin;
  /** The `s=` line, when present. */
  readonly sessionName?: string;
  /** The session-level `c=` address, when present. */
  readonly connectionAddress?: ConnectionAddress;
  /** The `m=` lines in order. */
  media: MediaDescription[];
}

/** What the bridge offers or answers for its side of an MSRP session. */
export interface LocalMsrpEndpoint {
  /**
   * Our `a=path`: the `Use-Path` URIs of our relays first, then our own URI
   * last (RFC 4976).
   */
  readonly path: readonly string[];
  /** The IPv4 or IPv6 address (or host name) for `c=` and `o=`. */
  readonly address: string;
  /** The port of the `m=` line. */
  readonly port: number;
  /** The types we accept; must not be empty (RFC 4975 §8.1). */
  readonly acceptTypes: readonly string[];
  /** The types we accept inside a wrapper such as `message/cpim`. */
  readonly acceptWrappedTypes?: readonly string[];
  /** The largest message we want to receive, in octets. */
  readonly maxSize?: number;
  /**
   * The protocol we serve; by default derived from our own URI: `msrps` means
   * TLS, `;ws` means WebSocket (RFC 7977).
   */
  readonly protocol?: MsrpProtocol;
  /** The fingerprint of our TLS certificate (RFC 8122). */
  readonly fingerprint?: Fingerprint;
  /** True when we support CEMA (RFC 7701). */
  readonly cema?: boolean;
  /**
   * When answering a file push (RFC 5547), the `a=file-range` to answer
   * with, e.g. to resume a transfer from the bytes already held; it must lie
   * within the offered range (the whole file when none is offered: RFC 5547
   * §8.2, the answerer may only narrow it). Ignored for other offers.
   */
  readonly fileRange?: FileRange;
  /**
   * When answering a file pull (RFC 5547 §6: an offer with `a=recvonly` and
   * an `a=file-selector`, asking us to send the file), the file we send:
   * the answer carries these attributes (the selector of our file, the
   * offer's transfer id, its disposition, the range sent) instead of
   * repeating the offer's. Ignored for other offers.
   */
  readonly sentFile?: FileTransfer;
  /** When answering an `actpass` offer, take the active role instead of passive. */
  readonly preferActive?: boolean;
  /** The `s=` line; `-` by default. */
  readonly sessionName?: string;
  /** The user name of `o=`; `-` by default. */
  readonly originUsername?: string;
  /** The numeric session id of `o=`; random by default. */
  readonly originSessionId?: string;
  /** The session version of `o=`; 0 by default (increase it for each re-offer). */
  readonly originVersion?: number;
}

/** What `buildOffer` needs beyond the local endpoint. */
export interface LocalMsrpOffer extends LocalMsrpEndpoint {
  /** The `a=setup` to offer; `actpass` by default (RFC 6135). */
  readonly setup?: "actpass" | "active" | "passive";
  /** The direction to offer; `sendonly` for a file push, else `sendrecv`. */
  readonly direction?: Direction;
  /** RFC 5547 attributes of a file transfer. */
  readonly fileTransfer?: FileTransfer;
}

/** The MSRP session negotiated by an offer and its answer, seen from our side. */
export interface AcceptedMedia {
  /** The 0-based index of the negotiated `m=` line. */
  readonly mediaIndex: number;
  /** The negotiated protocol. */
  readonly protocol: MsrpProtocol;
  /** The peer's `a=path`; its last URI is the peer itself. */
  remotePath: string[];
  /** Our `a=path`. */
  localPath: string[];
  /** The types both sides accept (what our SDP lists when we answered). */
  acceptTypes: string[];
  /** The peer's `a=accept-types`: what we may send. */
  remoteAcceptTypes: string[];
  /** The peer's `a=accept-wrapped-types`. */
  remoteAcceptWrappedTypes: string[];
  /** Our role: `active` connects to the peer, `passive` waits (RFC 6135). */
  readonly setup: SetupRole;
  /** `new` or `existing` connection (RFC 6135). */
  readonly connection: ConnectionAttribute;
  /** True when both sides support CEMA (RFC 7701). */
  readonly cema: boolean;
  /** Our direction: what we may do with messages. */
  readonly direction: Direction;
  /** The peer's `a=max-size`. */
  readonly remoteMaxSize?: number;
  /** The peer's certificate fingerprint, to check its TLS certificate against. */
  readonly fingerprint?: Fingerprint;
  /** The peer's `c=` address: where to connect when CEMA is in use (RFC 7701). */
  readonly remoteAddress?: ConnectionAddress;
  /** The peer's `m=` port. */
  readonly remotePort: number;
  /** The file transfer described by the offer, if any (RFC 5547). */
  readonly fileTransfer?: FileTransfer;
}

/** The result of `buildAnswer`. */
export interface SdpAnswer {
  /** The answer SDP, CRLF line endings. */
  readonly sdp: string;
  /** The negotiated session. */
  readonly accepted: AcceptedMedia;
}
