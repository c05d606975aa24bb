/**
 * A peer in one session with the bridge, negotiated through the facade:
 * the peer offers `a=setup:active` and dials the bridge's answer.
 *
 * @module
 */

import type { Bridge } from "../../src/bridge/mod.ts";
import { buildOffer, type LocalMsrpOffer, parseAnswer } from "../../src/sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession } from "../../src/session/mod.ts";

/** The bridge's session id and the peer's side of the session. */
export interface PeerSession {
  /** The bridge's session id. */
  readonly id: string;
  /** The peer's session, connected. */
  readonly session: MsrpSession;
}

/** Offers a session from `peer` to `bridge` and connects it to the bridge's answer. */
export async function openPeer(bridge: Bridge, peer: MsrpEndpoint): Promise<PeerSession> {
  const session = peer.createSession();
  const local: LocalMsrpOffer = {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    setup: "active",
  };
  const { id, answer } = bridge.createSessionFromOffer(buildOffer(local));
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  return { id, session };
}
