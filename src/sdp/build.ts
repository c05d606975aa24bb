/**
 * SDP offer/answer for MSRP media (RFC 3264, RFC 4975 §8): building an offer,
 * answering an offer, and reading the answer to our offer. The text is
 * written by `_write.ts` and read by `parse.ts` (see docs/architecture.md,
 * "Decisions").
 *
 * @module
 */

import { parseFingerprint } from "../transport/fingerprint.ts";
import { compact } from "./_compact.ts";
import { formatFileTransfer } from "./_file_transfer.ts";
import { checkLocal, type Local, ownMedia, sessionOf } from "./_write.ts";
import { SdpError } from "./error.ts";
import {
  answerDirection,
  answererRole,
  intersectAcceptTypes,
  isSecureProtocol,
  isWebSocketProtocol,
  negotiatedDirection,
  offererRole,
} from "./negotiate.ts";
import { parseSessionDescription } from "./parse.ts";
import type {
  AcceptedMedia,
  Direction,
  FileTransfer,
  LocalMsrpEndpoint,
  LocalMsrpOffer,
  MediaDescription,
  MsrpMediaDescription,
  SdpAnswer,
  SessionDescription,
} from "./types.ts";

/**
 * What must never be in an answer: `${` starts a variable expansion (or an
 * API call) in FreeSWITCH, which passes our answer as an application
 * argument (`set switch_m_sdp=…`).
 */
const EXPANSION = "${";

/** Whether offered text (a media type, an `m=` format) may be repeated in an answer. */
function echoable(text: string): boolean {
  return !/[${}]/.test(text);
}

/**
 * The `a=accept-wrapped-types` of our answer (RFC 4975 §8.6): without an
 * offered list, ours; with one, the wrapped types we accept that they offer.
 * When we set no wrapped types of our own but answer `message/cpim`, what we
 * accept at all stands for them, so `*` repeats theirs. Types holding `$`,
 * `{` or `}` are never answered.
 */
function wrappedTypes(
  endpoint: LocalMsrpEndpoint,
  acceptTypes: readonly string[],
  offered: readonly string[],
): readonly string[] {
  if (offered.length === 0) return endpoint.acceptWrappedTypes ?? [];
  let ours = endpoint.acceptWrappedTypes;
  if (ours === undefined) {
    if (!acceptTypes.some((type) => type.toLowerCase() === "message/cpim")) return [];
    ours = endpoint.acceptTypes;
  }
  const wrapped = ours.includes("*") ? [...offered] : intersectAcceptTypes(ours, offered);
  return wrapped.filter(echoable);
}

/** The direction we offer: `sendonly` for a file transfer (a push, RFC 5547), else `sendrecv`. */
function offeredDirection(local: LocalMsrpOffer): Direction {
  return local.direction ?? (local.fileTransfer ? "sendonly" : "sendrecv");
}

/**
 * Builds an SDP offer with one `m=message` line for our endpoint: `c=` and
 * `o=` with our address, `a=accept-types`, `a=accept-wrapped-types`,
 * `a=path`, `a=max-size`, `a=setup` (`actpass` unless told otherwise, so the
 * answerer may choose, RFC 6135), `a=connection:new`, the direction
 * (`sendonly` for a file transfer, a push in RFC 5547 terms, else
 * `sendrecv`), `a=fingerprint` for TLS protocols, `a=msrp-cema` when
 * `cema`, and the RFC 5547 attributes of `fileTransfer`. CRLF line endings.
 *
 * @example
 * ```ts
 * const sdp = buildOffer({
 *   path: ["msrp://192.0.2.10:2855/s3cr3t;tcp"],
 *   address: "192.0.2.10",
 *   port: 2855,
 *   acceptTypes: ["text/plain", "message/cpim"],
 * });
 * ```
 *
 * @throws {SdpError} `invalid-argument` when `local` has no or a bad `path`
 * URI, no accept types, a bad port or address, or a transport without an
 * MSRP protocol.
 */
export function buildOffer(local: LocalMsrpOffer): string {
  const checked = checkLocal(local);
  return sessionOf(checked, [
    ownMedia(checked, {
      port: local.port,
      protocol: checked.protocol,
      setup: local.setup ?? "actpass",
      direction: offeredDirection(local),
      acceptTypes: local.acceptTypes,
      acceptWrappedTypes: local.acceptWrappedTypes ?? [],
      cema: local.cema ?? false,
      fileTransfer: local.fileTransfer ? formatFileTransfer(local.fileTransfer) : [],
    }),
  ]);
}

/** Why a media line cannot be served, or what we answer for it. */
type Negotiation =
  | { readonly ok: false; readonly reason: string }
  | { readonly ok: true; readonly accepted: AcceptedMedia; readonly media: string[] };

/**
 * Why the peer's `a=fingerprint` on a TLS line cannot pin its certificate,
 * or `undefined` when it can or there is none: RFC 8122 §5 forbids MD5 and
 * MD2, and we check SHA-1, SHA-256, SHA-384 and SHA-512 only.
 */
function fingerprintProblem(media: MsrpMediaDescription): string | undefined {
  if (media.fingerprint === undefined || !isSecureProtocol(media.protocol)) return undefined;
  try {
    parseFingerprint(media.fingerprint.hash, media.fingerprint.value);
    return undefined;
  } catch (e) {
    return `a=fingerprint: ${(e as Error).message}`;
  }
}

function negotiate(offered: MsrpMediaDescription, local: Local): Negotiation {
  const { endpoint } = local;
  if (offered.port === 0) return { ok: false, reason: "disabled (port 0)" };
  if (offered.protocol !== local.protocol) {
    return { ok: false, reason: `protocol ${offered.protocol}, we serve ${local.protocol}` };
  }
  const badFingerprint = fingerprintProblem(offered);
  if (badFingerprint !== undefined) return { ok: false, reason: badFingerprint };
  // RFC 7977: a WebSocket client cannot accept connections, so it is always
  // the active party and we, the WebSocket server, the passive one.
  const webSocket = isWebSocketProtocol(offered.protocol);
  const role = answererRole(offered.setup, endpoint.preferActive === true && !webSocket);
  if (role === undefined) return { ok: false, reason: "a=setup:holdconn asks for no connection" };
  if (webSocket && role === "active") {
    return { ok: false, reason: "a=setup:passive, but a WebSocket client must connect (RFC 7977)" };
  }
  // Types holding "$", "{" or "}" are never answered: we may accept any subset of theirs.
  const acceptTypes = intersectAcceptTypes(endpoint.acceptTypes, offered.acceptTypes)
    .filter(echoable);
  if (acceptTypes.length === 0) {
    return {
      ok: false,
      reason: `no common type: offer accepts ${offered.acceptTypes.join(" ")}, we accept ${
        endpoint.acceptTypes.join(" ")
      }`,
    };
  }
  const wrapped = wrappedTypes(endpoint, acceptTypes, offered.acceptWrappedTypes);
  // RFC 7701: CEMA is used only when both sides announce a=msrp-cema.
  const cema = offered.cema && endpoint.cema === true;
  const direction = answerDirection(offered.direction);
  // RFC 5547: the answer repeats the selector and transfer id of the file
  // offered, and its range, narrowed to ours when we answer one (§8.2); to
  // a pull (§6) it describes the file we send.
  const offeredFile = offered.fileTransfer;
  const pull = endpoint.sentFile !== undefined && offeredFile?.selector !== undefined &&
    direction === "sendonly";
  const answeredFile = pull
    ? endpoint.sentFile
    : offeredFile && endpoint.fileRange && offeredFile.selector
    ? { ...offeredFile, range: endpoint.fileRange }
    : offeredFile;
  const fileTransfer = answeredFile ? formatFileTransfer(answeredFile, !pull) : [];
  if (fileTransfer.some((line) => line.includes(EXPANSION))) {
    return { ok: false, reason: 'the file selector, which the answer must repeat, holds "${"' };
  }
  const accepted = compact<AcceptedMedia>({
    mediaIndex: offered.index,
    protocol: offered.protocol,
    remotePath: [...offered.path],
    localPath: [...endpoint.path],
    acceptTypes,
    remoteAcceptTypes: [...offered.acceptTypes],
    remoteAcceptWrappedTypes: [...offered.acceptWrappedTypes],
    setup: role,
    connection: "new",
    cema,
    direction,
    remoteMaxSize: offered.maxSize,
    fingerprint: offered.fingerprint,
    remoteAddress: offered.connectionAddress,
    remotePort: offered.port,
    fileTransfer: answeredFile,
  });
  const media = ownMedia(local, {
    port: endpoint.port,
    protocol: offered.protocol,
    setup: role,
    direction,
    acceptTypes,
    acceptWrappedTypes: wrapped,
    cema,
    fileTransfer,
  });
  return { ok: true, accepted, media };
}

/**
 * A rejected line: the offered `m=` line with port 0 and no attributes (RFC
 * 3264 §6). Its formats are ignored, so those holding `$`, `{` or `}` are left out.
 */
function rejected(offered: MediaDescription): string[] {
  const type = offered.kind === "msrp" ? "message" : offered.type;
  const formats = offered.formats.filter(echoable);
  return [`m=${type} 0 ${offered.protocol} ${formats.length > 0 ? formats.join(" ") : "*"}`];
}

/**
 * Answers an SDP offer (RFC 3264) for our MSRP endpoint. The first MSRP line
 * we can serve is accepted: it is enabled, its protocol is ours
 * (`local.protocol`, by default the one our own URI implies), its `a=setup`
 * leaves us a role, it shares a content type with us, and on a TLS line its
 * `a=fingerprint`, if any, uses SHA-1, SHA-256, SHA-384 or SHA-512 (RFC 8122
 * §5; MD5 and MD2 are refused). Every other line (audio, video, a second
 * MSRP line, a protocol we do not serve) is answered with port 0, in the
 * same order, which rejects it (RFC 3264 §6).
 *
 * The accepted line carries `a=accept-types` with the types both sides
 * accept (ours when the offer has `*`; never a type holding `$`, `{` or
 * `}`), `a=accept-wrapped-types` likewise (when the offer lists wrapped
 * types and we set none, those of ours that they list once we answer
 * `message/cpim`),
 * our `a=path`, `a=setup` with our role (see {@linkcode answererRole}; a
 * WebSocket client is always active, RFC 7977), `a=connection:new`, the
 * mirrored direction (RFC 3264 §6.1), `a=msrp-cema` when both support CEMA
 * (RFC 7701), `a=fingerprint` for TLS protocols, `a=max-size`, and the file
 * selector and transfer id of a file transfer (RFC 5547).
 *
 * @example
 * ```ts
 * declare const offerSdp: string; // the SDP body of an INVITE
 * const { sdp, accepted } = buildAnswer(offerSdp, {
 *   path: ["msrp://192.0.2.10:2855/s3cr3t;tcp"],
 *   address: "192.0.2.10",
 *   port: 2855,
 *   acceptTypes: ["text/plain"],
 * });
 * accepted.setup; // "passive": wait for the peer to connect
 * ```
 *
 * @throws {SdpError} `malformed` when the offer text does not parse (see
 * {@linkcode parseSessionDescription}); `no-acceptable-media`, listing each
 * line's problem, when no line can be served (a SIP user agent then answers
 * 488 Not Acceptable Here), or when the answer would repeat a `${` of the
 * offer (in a file selector or an `m=` type or protocol: FreeSWITCH would
 * expand it); `invalid-argument` when `local` is unusable.
 */
export function buildAnswer(
  offer: SessionDescription | string,
  local: LocalMsrpEndpoint,
): SdpAnswer {
  const description = typeof offer === "string" ? parseSessionDescription(offer) : offer;
  const checked = checkLocal(local);
  let accepted: AcceptedMedia | undefined;
  const reasons: string[] = [];
  const media = description.media.map((offered) => {
    if (offered.kind !== "msrp") {
      reasons.push(`m=${offered.type} (media ${offered.index}): not MSRP`);
      return rejected(offered);
    }
    if (accepted !== undefined) return rejected(offered);
    const result = negotiate(offered, checked);
    if (!result.ok) {
      reasons.push(`m=message (media ${offered.index}): ${result.reason}`);
      return rejected(offered);
    }
    accepted = result.accepted;
    return result.media;
  });
  if (accepted === undefined) {
    throw new SdpError(
      "no-acceptable-media",
      `no acceptable media in offer: ${reasons.join("; ")}`,
    );
  }
  const sdp = sessionOf(checked, media);
  if (sdp.includes(EXPANSION)) {
    throw new SdpError("no-acceptable-media", 'the answer would repeat "${" from the offer');
  }
  return { sdp, accepted };
}

/**
 * Reads the answer to an offer made with {@linkcode buildOffer} and the same
 * `offerLocal`. The answer's first MSRP line is ours. Our role is the
 * opposite of the answerer's (see {@linkcode offererRole}): `active` when it
 * answers `passive` or has no `a=setup`, `passive` when it answers `active`.
 *
 * @throws {SdpError} `malformed` when the answer does not parse or has no MSRP
 * line; `no-acceptable-media` when it rejects the line (port 0), shares no
 * content type with us, or on a TLS line has an `a=fingerprint` with another
 * hash function than SHA-1, SHA-256, SHA-384 or SHA-512 (RFC 8122 §5);
 * `negotiation-failed` when it changes the protocol or its `a=setup`
 * contradicts ours; `invalid-argument` when `offerLocal` is unusable.
 */
export function parseAnswer(
  answer: SessionDescription | string,
  offerLocal: LocalMsrpOffer,
): AcceptedMedia {
  const description = typeof answer === "string" ? parseSessionDescription(answer) : answer;
  const checked = checkLocal(offerLocal);
  const media = description.media.find((m): m is MsrpMediaDescription => m.kind === "msrp");
  if (!media) throw new SdpError("malformed", "answer has no MSRP m=message line");
  if (media.port === 0) {
    throw new SdpError(
      "no-acceptable-media",
      `answer rejected the MSRP line (media ${media.index}, port 0)`,
    );
  }
  if (media.protocol !== checked.protocol) {
    throw new SdpError(
      "negotiation-failed",
      `answer changed the protocol from ${checked.protocol} to ${media.protocol}`,
    );
  }
  const badFingerprint = fingerprintProblem(media);
  if (badFingerprint !== undefined) {
    throw new SdpError("no-acceptable-media", `answer: ${badFingerprint}`);
  }
  const acceptTypes = intersectAcceptTypes(offerLocal.acceptTypes, media.acceptTypes);
  if (acceptTypes.length === 0) {
    throw new SdpError(
      "no-acceptable-media",
      `no common type: answer accepts ${media.acceptTypes.join(" ")}, we accept ${
        offerLocal.acceptTypes.join(" ")
      }`,
    );
  }
  // Our push: what we offered, with the part of the file the answer took (RFC 5547 §8).
  const answeredRange = media.fileTransfer?.range;
  let fileTransfer: FileTransfer | undefined = media.fileTransfer;
  if (offerLocal.fileTransfer) {
    const { range: _asked, ...offered } = offerLocal.fileTransfer;
    fileTransfer = answeredRange ? { ...offered, range: answeredRange } : offered;
  }
  return compact<AcceptedMedia>({
    mediaIndex: media.index,
    protocol: media.protocol,
    remotePath: [...media.path],
    localPath: [...offerLocal.path],
    acceptTypes,
    remoteAcceptTypes: [...media.acceptTypes],
    remoteAcceptWrappedTypes: [...media.acceptWrappedTypes],
    setup: offererRole(offerLocal.setup ?? "actpass", media.setup),
    connection: media.connection ?? "new",
    cema: offerLocal.cema === true && media.cema,
    direction: negotiatedDirection(offeredDirection(offerLocal), media.direction),
    remoteMaxSize: media.maxSize,
    fingerprint: media.fingerprint,
    remoteAddress: media.connectionAddress,
    remotePort: media.port,
    fileTransfer,
  });
}
