/**
 * Offer/answer rules for MSRP media: who connects (RFC 4145, RFC 6135),
 * which content types both sides accept (RFC 4975 §8.6), which directions
 * remain (RFC 3264 §6.1), and which protocol a URI implies.
 *
 * @module
 */

import { isAcceptedType, mediaType } from "../msrp/message.ts";
import { parseMsrpUri } from "../msrp/uri.ts";
import { SdpError } from "./error.ts";
import type { Direction, MsrpProtocol, SetupAttribute, SetupRole } from "./types.ts";

/**
 * Our role as answerer, given the offer's `a=setup`; `undefined` for
 * `holdconn`, which asks for no connection at all.
 *
 * RFC 4145 §4.1, adopted for MSRP by RFC 6135: an `active` offerer gets a
 * `passive` answerer and a `passive` offerer an `active` one; for `actpass`
 * the answerer chooses, and we choose `passive` (we are the reachable side)
 * unless `preferActive`. Without `a=setup` the offerer is `active` and the
 * answerer `passive`: the RFC 4145 §4.1 default, and the connection model
 * of RFC 4975, in which the offerer connects.
 */
export function answererRole(
  offered: SetupAttribute | undefined,
  preferActive = false,
): SetupRole | undefined {
  switch (offered) {
    case undefined:
    case "active":
      return "passive";
    case "passive":
      return "active";
    case "actpass":
      return preferActive ? "active" : "passive";
    case "holdconn":
      return undefined;
  }
}

/**
 * Our role as offerer, given what we offered and the answer's `a=setup`
 * (RFC 4145 §4.1, RFC 6135): the opposite of the answerer's. An answer
 * without `a=setup` leaves the answerer `passive` (the RFC 4145 §4.1
 * default, and the RFC 4975 model in which the offerer connects), so we are
 * `active` whatever we offered.
 *
 * @throws {SdpError} `negotiation-failed` when the answer says `actpass` or
 * `holdconn`, or takes the role we offered for ourselves.
 */
export function offererRole(
  offered: "actpass" | "active" | "passive",
  answered: SetupAttribute | undefined,
): SetupRole {
  if (answered === undefined) return "active";
  if (answered === "actpass" || answered === "holdconn") {
    throw new SdpError(
      "negotiation-failed",
      `answer has a=setup:${answered}; an answer must be active or passive (RFC 4145 §4.1)`,
    );
  }
  const ours: SetupRole = answered === "active" ? "passive" : "active";
  if (offered !== "actpass" && offered !== ours) {
    throw new SdpError(
      "negotiation-failed",
      `answer has a=setup:${answered} but we offered a=setup:${offered}: both would be ${answered}`,
    );
  }
  return ours;
}

/**
 * The content types both lists accept (RFC 4975 §8.6): for each of `ours`,
 * in order, each entry of `theirs` it overlaps, taking the narrower of the
 * two; `*` and `type/*` are wildcards. So `theirs = ["*"]` gives `ours`, and
 * `ours = ["text/*"]` with `theirs = ["text/plain", "image/png"]` gives
 * `["text/plain"]`. Duplicates are dropped; an empty result means there is
 * nothing both accept.
 */
export function intersectAcceptTypes(
  ours: readonly string[],
  theirs: readonly string[],
): string[] {
  const result: string[] = [];
  const seen = new Set<string>();
  for (const mine of ours) {
    for (const other of theirs) {
      // isAcceptedType(x, [y]) is true when the entry y covers x.
      const narrower = isAcceptedType(other, [mine])
        ? other
        : isAcceptedType(mine, [other])
        ? mine
        : undefined;
      if (narrower === undefined || seen.has(mediaType(narrower))) continue;
      seen.add(mediaType(narrower));
      result.push(narrower);
    }
  }
  return result;
}

function directionOf(send: boolean, receive: boolean): Direction {
  if (send) return receive ? "sendrecv" : "sendonly";
  return receive ? "recvonly" : "inactive";
}

function sends(direction: Direction): boolean {
  return direction === "sendrecv" || direction === "sendonly";
}

function receives(direction: Direction): boolean {
  return direction === "sendrecv" || direction === "recvonly";
}

/**
 * The direction an answer gives for an offered one (RFC 3264 §6.1): `sendonly`
 * becomes `recvonly`, `recvonly` becomes `sendonly`, the others stay.
 */
export function answerDirection(offered: Direction): Direction {
  return directionOf(receives(offered), sends(offered));
}

/**
 * What remains for us after an offer and its answer (RFC 3264 §6.1): we send
 * when we offered to send and the peer answered it receives, and we receive
 * when we offered to receive and the peer answered it sends.
 */
export function negotiatedDirection(offered: Direction, answered: Direction): Direction {
  return directionOf(
    sends(offered) && receives(answered),
    receives(offered) && sends(answered),
  );
}

/**
 * The `m=` protocol an MSRP URI implies: `msrps` means TLS (RFC 4975 §8.1)
 * and the `ws` transport WebSocket (RFC 7977).
 *
 * @throws {MsrpError} 400 when `uri` is not a valid MSRP URI.
 * @throws {SdpError} `invalid-argument` for a transport other than `tcp` or `ws`.
 */
export function protocolForUri(uri: string): MsrpProtocol {
  const { scheme, transport } = parseMsrpUri(uri);
  const secure = scheme === "msrps";
  if (transport === "tcp") return secure ? "TCP/TLS/MSRP" : "TCP/MSRP";
  if (transport === "ws") return secure ? "TCP/WSS/MSRP" : "TCP/WS/MSRP";
  throw new SdpError(
    "invalid-argument",
    `no MSRP protocol for transport "${transport}" of ${uri}; set the protocol explicitly`,
  );
}

/** True for the protocols that run over TLS, whose peers send `a=fingerprint`. */
export function isSecureProtocol(protocol: MsrpProtocol): boolean {
  return protocol === "TCP/TLS/MSRP" || protocol === "TCP/WSS/MSRP";
}

/** True for the WebSocket protocols of RFC 7977. */
export function isWebSocketProtocol(protocol: MsrpProtocol): boolean {
  return protocol === "TCP/WS/MSRP" || protocol === "TCP/WSS/MSRP";
}
