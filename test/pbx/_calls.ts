/**
 * Shared pieces of the inbound-call tests (inbound ESL and outbound socket):
 * the caller's MSRP side and offer, the headers of a parked bypass channel,
 * and waiting on calls and sessions.
 *
 * @module
 */

import { nextMessage } from "../_messages.ts";
import { deadlineOnAwait } from "../_until.ts";
import { assertEquals } from "../_assert.ts";
import type { InboundCall, InboundCallEvent } from "../../src/pbx/calls.ts";
import type { EslHeader } from "../../src/pbx/esl_codec.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint, type MsrpSession, type SessionCloseEvent } from "../../src/session/mod.ts";

/** The channel UUID of the fixtures' parked call. */
export const CALL = "5b0f3d2e-8a47-4c1e-b9d6-1e2f3a4b5c6d";

/** An audio-only offer (no `m=message` line). */
export const AUDIO_OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n" +
  "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/** An MSRP endpoint on 127.0.0.1, any free port. */
export function endpoint(
  options: ConstructorParameters<typeof MsrpEndpoint>[0] = {},
): MsrpEndpoint {
  return new MsrpEndpoint({ hostname: "127.0.0.1", port: 0, ...options }).listen();
}

/** The caller: its own endpoint and the session its offer describes. */
export function caller(setup: "active" | "passive") {
  const ep = endpoint();
  const session = ep.createSession({ acceptTypes: ["text/plain"] });
  const offer = buildOffer({
    path: session.localPath,
    address: "127.0.0.1",
    port: ep.port,
    acceptTypes: ["text/plain"],
    setup,
    originUsername: "alice",
  });
  return { ep, session, offer };
}

/**
 * The headers of a parked inbound call on the bypass profile (cf.
 * channel-park-msrp-offer.txt), from SIP URI `from` (Alice's by default).
 */
export function parkHeaders(
  uuid: string,
  offer: string,
  disposition = "RECEIVED_NOMEDIA",
  from = "alice@127.0.0.1:5090",
): EslHeader[] {
  return [
    ["Channel-State", "CS_EXECUTE"],
    ["Channel-Call-State", "RINGING"],
    ["Channel-Name", "sofia/msrp/alice@127.0.0.1:5090"],
    ["Unique-ID", uuid],
    ["Call-Direction", "inbound"],
    ["Answer-State", "ringing"],
    ["Caller-Caller-ID-Name", "Alice Example"],
    ["Caller-Caller-ID-Number", "alice"],
    ["Caller-Destination-Number", "msrp"],
    ["Caller-Context", "public"],
    ["variable_sip_from_uri", from],
    ["variable_sip_to_uri", "msrp@127.0.0.1:5080"],
    ["variable_sip_call_id", `${uuid}@127.0.0.1`],
    ["variable_sofia_profile_name", "msrp"],
    ["variable_switch_r_sdp", offer],
    ["variable_endpoint_disposition", disposition],
    ["variable_current_application", "park"],
  ];
}

/**
 * Resolves with the next call `target` (InboundCalls or the outbound server)
 * reports; awaiting it fails after the hang guard.
 */
export function nextCall(target: EventTarget): Promise<InboundCall> {
  return deadlineOnAwait(
    new Promise((resolve) =>
      target.addEventListener("call", (e) => resolve((e as InboundCallEvent).call), {
        once: true,
      })
    ),
    "the next call",
  );
}

/** Resolves with the session's close reason; awaiting it fails after the hang guard. */
export function closed(session: MsrpSession): Promise<string> {
  if (session.closed) return Promise.resolve(session.closeReason);
  return deadlineOnAwait(
    new Promise((resolve) =>
      session.addEventListener("close", (e) => resolve((e as SessionCloseEvent).reason), {
        once: true,
      })
    ),
    `session ${session.localUri} to close`,
  );
}

/** Text goes both ways between the bridge's session and the caller's. */
export async function exchange(ours: MsrpSession, theirs: MsrpSession): Promise<void> {
  const atBridge = nextMessage(ours);
  theirs.send("Hello bridge");
  assertEquals((await atBridge).text(), "Hello bridge");
  const atCaller = nextMessage(theirs);
  ours.send("Hello Alice");
  assertEquals((await atCaller).text(), "Hello Alice");
}
