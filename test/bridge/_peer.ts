/**
 * A peer in one session with the bridge, negotiated through the facade:
 * the peer offers `a=setup:active` and dials the bridge's answer.
 *
 * @module
 */

import type { Bridge } from "../../src/bridge/mod.ts";
import { buildOffer, type LocalMsrpOffer, parseAnswer } from "../../src/sdp/mod.ts";
import type {
  IncomingMessage,
  MessageEvent,
  MsrpEndpoint,
  MsrpSession,
  SessionOptions,
} from "../../src/session/mod.ts";

/** The bridge's session id and the peer's side of the session. */
export interface PeerSession {
  /** The bridge's session id. */
  readonly id: string;
  /** The peer's session, connected. */
  readonly session: MsrpSession;
  /** What the peer received, in order. */
  readonly received: IncomingMessage[];
}

/**
 * The SDP offer of `session`, a session of `peer` on 127.0.0.1: it connects
 * (`a=setup:active`) and accepts every type unless `overrides` say otherwise.
 */
export function peerOffer(
  peer: MsrpEndpoint,
  session: MsrpSession,
  overrides: Partial<LocalMsrpOffer> = {},
): LocalMsrpOffer {
  return {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    setup: "active",
    ...overrides,
  };
}

/** What {@linkcode openPeer} offers with. */
export interface OpenPeerOptions {
  /** The peer session's options (e.g. its chunk size). */
  readonly session?: SessionOptions;
  /** What the offer says otherwise than {@linkcode peerOffer}'s defaults. */
  readonly offer?: Partial<LocalMsrpOffer>;
}

/** Offers a session from `peer` to `bridge` and connects it to the bridge's answer. */
export function openPeer(
  bridge: Bridge,
  peer: MsrpEndpoint,
  options: OpenPeerOptions = {},
): Promise<PeerSession> {
  return negotiatePeer(peer, options, (offer) => bridge.createSessionFromOffer(offer));
}

/**
 * Offers a session from `peer` through `offerTo`, which returns the bridge's
 * session id and SDP answer, and connects it to that answer; what the peer
 * receives is recorded from the start.
 */
export async function negotiatePeer(
  peer: MsrpEndpoint,
  options: OpenPeerOptions,
  offerTo: (
    offer: string,
  ) => { id: string; answer: string } | Promise<{ id: string; answer: string }>,
): Promise<PeerSession> {
  const session = peer.createSession(options.session);
  const received: IncomingMessage[] = [];
  session.addEventListener("message", (e) => received.push((e as MessageEvent).message));
  const local = peerOffer(peer, session, options.offer);
  const { id, answer } = await offerTo(buildOffer(local));
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  return { id, session, received };
}
