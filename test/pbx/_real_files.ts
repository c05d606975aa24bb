/**
 * What the RFC 5547 file-transfer tests against the real FreeSWITCH share
 * (shared/freeswitch, started with `.ci/freeswitch.sh start`; `ESL_HOST`,
 * `ESL_PORT`, `ESL_PASSWORD` and `FS_SIP_URI` from its output, defaulting
 * to what it prints): the bridge and its API on it, a SIP phone that pushes
 * files to the `msrp` extension, and the events and sessions to wait for.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { assert } from "../_assert.ts";
import {
  buildOffer,
  type FileRange,
  type FileSelector,
  parseSessionDescription,
} from "../../src/sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession } from "../../src/session/mod.ts";
import type { WebhookEvent } from "../../src/webhooks/mod.ts";
import { type Harness, peerEndpoint, startHarness, waitUntil } from "../api/_harness.ts";
import { type SipCall, SipPhone } from "./_sip_phone.ts";

/** The FreeSWITCH service's settings, as `.ci/freeswitch.sh start` prints them. */
export const FS = {
  ESL_HOST: Deno.env.get("ESL_HOST") ?? "127.0.0.1",
  ESL_PORT: Deno.env.get("ESL_PORT") ?? "8021",
  ESL_PASSWORD: Deno.env.get("ESL_PASSWORD") ?? "ClueCon",
  FS_SIP_URI: Deno.env.get("FS_SIP_URI") ?? "sip:127.0.0.1:5080",
};

/** The `a=file-transfer-id` of {@linkcode pushFile}'s offers unless told otherwise. */
export const TRANSFER_ID = "aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2";

/** Host and port of a `sip:host:port` URI. */
export function sipServer(uri: string): { hostname: string; port: number } {
  const match = /^sip:(?:[^@;]*@)?([^:;]+)(?::(\d+))?/.exec(uri);
  if (!match) throw new Error(`FS_SIP_URI is not a sip: URI: ${uri}`);
  return { hostname: match[1], port: Number(match[2] ?? 5060) };
}

/** `hash:sha-1:…` value of `bytes`: colon-separated upper-case hex (RFC 5547 §9). */
export function sha1Selector(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

/** The bridge and its API, answering calls and placing them through the real FreeSWITCH. */
export async function withFreeSwitch(body: (h: Harness) => Promise<void>): Promise<void> {
  const { hostname, port } = sipServer(FS.FS_SIP_URI);
  await using h = await startHarness({
    ESL_MODE: "inbound",
    ESL_HOST: FS.ESL_HOST,
    ESL_PORT: FS.ESL_PORT,
    ESL_PASSWORD: FS.ESL_PASSWORD,
    SIP_PROFILE: "msrp",
    SIP_URI: `sip:${hostname}:${port};transport=tcp`,
  });
  await waitUntil(() => h.bridge.eslState === "connected", "the event socket");
  await body(h);
}

/** The data of the first `type` event of session `sessionId` in the event log, waiting for it. */
export async function eventOf<T extends WebhookEvent["data"]>(
  h: Harness,
  type: string,
  sessionId: string,
): Promise<T> {
  const find = async () => {
    for (const e of await h.bridge.eventsSince(0, 1000)) {
      if (e.type !== type) continue;
      const data = (JSON.parse(e.payload) as WebhookEvent).data;
      if ("sessionId" in data && data.sessionId === sessionId) return data as T;
    }
    return undefined;
  };
  await waitUntil(async () => await find() !== undefined, `${type} of ${sessionId}`);
  return (await find())!;
}

/** What a push may offer besides the selector. */
export interface PushOptions {
  /** `a=file-range` (RFC 5547 §8); none by default. */
  readonly range?: FileRange;
  /** `a=file-transfer-id`; {@linkcode TRANSFER_ID} by default. */
  readonly transferId?: string;
}

/** Pushes a file offer from the phone: resolves once answered and its MSRP side connected. */
export type Pusher = (selector: FileSelector, options?: PushOptions) => Promise<Push>;

/** A SIP phone on FreeSWITCH that pushes files to the `msrp` extension (RFC 5547, `sendonly`). */
export async function withPhone(body: (push: Pusher) => Promise<void>): Promise<void> {
  await using msrp = peerEndpoint();
  const phone = await SipPhone.open({
    server: sipServer(FS.FS_SIP_URI),
    user: "file-sender",
    displayName: "File Sender",
  });
  try {
    await body((selector, options) => pushFile(phone, msrp, selector, options));
  } finally {
    await phone.close();
  }
}

/** A file offer the bridge answered through FreeSWITCH, with the phone's MSRP side connected. */
export interface Push {
  /** The call. */
  readonly call: SipCall;
  /** The phone's MSRP session. */
  readonly session: MsrpSession;
  /** The SDP offer the phone sent. */
  readonly offer: string;
}

async function pushFile(
  phone: SipPhone,
  msrp: MsrpEndpoint,
  selector: FileSelector,
  options: PushOptions = {},
): Promise<Push> {
  const session = msrp.createSession({ chunkSize: 64 * 1024 });
  const offer = buildOffer({
    path: session.localPath,
    address: "127.0.0.1",
    port: msrp.port,
    acceptTypes: ["message/cpim", "application/octet-stream"],
    acceptWrappedTypes: ["*"],
    setup: "active",
    direction: "sendonly",
    originUsername: "file-sender",
    fileTransfer: {
      selector,
      transferId: options.transferId ?? TRANSFER_ID,
      disposition: "attachment",
      ...(options.range ? { range: options.range } : {}),
    },
  });
  const call = await phone.invite("msrp", offer);
  const answer = parseSessionDescription(call.answerSdp).media[0];
  assert(answer.kind === "msrp", "the 200 OK answers the MSRP line");
  await msrp.connectSession(session, answer.path);
  await session.ready;
  return { call, session, offer };
}

/** The bridge's session of the call with `callId`. */
export async function sessionOfCall(h: Harness, callId: string): Promise<string> {
  let id: string | undefined;
  await waitUntil(async () => {
    id = (await h.bridge.listSessions()).items.find((s) => s.callId === callId)?.id;
    return id !== undefined;
  }, `the session of call ${callId}`);
  return id!;
}
