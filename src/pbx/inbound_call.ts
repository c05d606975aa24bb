/**
 * An inbound MSRP call answered through FreeSWITCH with the bridge's own SDP
 * (freeswitch-esl.md §4.2), whether its channel is driven over the inbound
 * event socket (`calls.ts`) or over an outbound socket (`esl_outbound.ts`).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { AcceptedMedia, FileRange, FileTransfer, SdpAnswer } from "../sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession, SessionOptions } from "../session/mod.ts";

/**
 * Who called whom, from the channel's `CHANNEL_PARK` (or `CHANNEL_DATA`)
 * event. Absent values are `null`; the first six fields match the store's
 * `CallIdentity`.
 */
export interface CallInfo {
  /** The FreeSWITCH channel UUID (`Unique-ID`). */
  readonly channelUuid: string;
  /** The other leg's channel UUID, when the channel is bridged. */
  readonly otherLegUuid: string | null;
  /** The SIP Call-ID of the INVITE. */
  readonly callId: string | null;
  /** The caller's SIP URI (`sip:` + `variable_sip_from_uri`). */
  readonly fromUri: string | null;
  /** The called SIP URI (`sip:` + `variable_sip_to_uri`). */
  readonly toUri: string | null;
  /** The caller's display name (`Caller-Caller-ID-Name`). */
  readonly fromDisplay: string | null;
  /** The caller's number (`Caller-Caller-ID-Number`). */
  readonly callerNumber: string | null;
  /** The dialled destination (`Caller-Destination-Number`). */
  readonly destination: string | null;
}

/**
 * Where a call stands: FreeSWITCH is `answering` with our SDP, has
 * `answered`, the MSRP session is `connected`, or the channel has `ended`.
 */
export type InboundCallState = "answering" | "answered" | "connected" | "ended";

/** An inbound MSRP call and its session. */
export class InboundCall {
  /** Caller and callee. */
  readonly info: CallInfo;
  /** The MSRP session that carries the call's messages. */
  readonly session: MsrpSession;
  /** What the offer and our answer negotiated. */
  readonly media: AcceptedMedia;
  /** Our answer SDP, as FreeSWITCH sends it in the 200 OK. */
  readonly answerSdp: string;
  /** @internal Settles with the SDP that `CHANNEL_ANSWER` reports, or fails on hangup. */
  readonly answered: PromiseWithResolvers<string> = Promise.withResolvers();
  #state: InboundCallState = "answering";
  #hangupCause: string | undefined;

  /** Creates the record; {@linkcode InboundCalls} does this. */
  constructor(info: CallInfo, session: MsrpSession, answer: SdpAnswer) {
    this.info = info;
    this.session = session;
    this.media = answer.accepted;
    this.answerSdp = answer.sdp;
    this.answered.promise.catch(() => {});
  }

  /** Where the call stands. */
  get state(): InboundCallState {
    return this.#state;
  }

  /** FreeSWITCH's hangup cause once the channel ended, for example `NORMAL_CLEARING`. */
  get hangupCause(): string | undefined {
    return this.#hangupCause;
  }

  /** @internal */
  advance(state: "answered" | "connected"): void {
    if (this.#state !== "ended") this.#state = state;
  }

  /** @internal The channel is gone; closes the session. */
  end(cause: string | undefined): void {
    if (this.#state === "ended") return;
    this.#state = "ended";
    this.#hangupCause = cause;
    const reason = `hangup: ${cause ?? "channel gone"}`;
    this.answered.reject(new Error(reason));
    this.session.close(reason);
  }
}

/**
 * Dispatched as `"answering"` when we start to answer a call with our SDP
 * (its session exists; the caller may reach it as soon as FreeSWITCH has
 * answered, before we hear of that), and as `"call"` once FreeSWITCH has.
 */
export class InboundCallEvent extends Event {
  /** The call; its session is connecting or waiting for the caller. */
  readonly call: InboundCall;
  readonly #pending: Promise<unknown>[] = [];

  /** Creates the notice. */
  constructor(call: InboundCall, type: "answering" | "call" = "call") {
    super(type);
    this.call = call;
  }

  /**
   * On `"answering"`: the answer waits for `work` (e.g. storing the call's
   * session); a rejection refuses the call.
   */
  waitUntil(work: Promise<unknown>): void {
    this.#pending.push(work);
  }

  /** Resolves once the work given to {@linkcode waitUntil} has; rejects when any of it did. */
  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }
}

/** What a call server tells of each call it answers. */
export interface CallNotices {
  /**
   * We start to answer it: record its session now. The answer waits until
   * the returned promise settles; a rejection refuses the call.
   */
  answering(call: InboundCall): Promise<void>;
  /** FreeSWITCH answered it with our SDP. */
  answered(call: InboundCall): void;
}

/** Notices that dispatch {@linkcode InboundCallEvent}s on `target`. */
export function callNotices(target: EventTarget): CallNotices {
  return {
    answering: async (call) => {
      const event = new InboundCallEvent(call, "answering");
      target.dispatchEvent(event);
      await event.settled();
    },
    answered: (call) => target.dispatchEvent(new InboundCallEvent(call)),
  };
}

/** What {@linkcode CallServingOptions.prepareAnswer} changes in our answer to a call. */
export interface CallAnswerChanges {
  /**
   * The `a=file-range` to answer a file push with (RFC 5547 §8.2: within
   * the offered range, which the answer may only narrow), e.g. the bytes
   * still missing of a transfer resumed.
   */
  readonly fileRange?: FileRange;
  /**
   * The file we send to a pull (RFC 5547 §6: the offer has `a=recvonly`
   * and an `a=file-selector`): the answer describes it (see
   * `LocalMsrpEndpoint.sentFile`).
   */
  readonly sentFile?: FileTransfer;
}

/** How inbound MSRP calls are served, whichever way FreeSWITCH hands them over. */
export interface CallServingOptions {
  /** The endpoint that creates and serves the sessions. */
  readonly endpoint: MsrpEndpoint;
  /** Options of each session (accept types, sink …); the endpoint's defaults otherwise. */
  readonly session?: SessionOptions;
  /**
   * Claims a call before anything is created or sent: `false` leaves it to
   * whoever claimed it first (bridges sharing a PBX answer each call once).
   * Every call is served when omitted; a rejection leaves the call alone.
   */
  readonly claim?: (call: CallInfo) => Promise<boolean>;
  /**
   * Makes the session for a call, e.g. one whose received messages go to a
   * store; `endpoint.createSession(session)` when omitted. A RangeError
   * (session limit) makes the call be refused with 488.
   */
  readonly createSession?: () => MsrpSession;
  /**
   * Prepares our answer to a call once it is claimed and its session
   * exists, before the answer is built for FreeSWITCH: `offered` is what
   * the offer negotiates with an unchanged answer, and the result changes
   * it (resuming a file transfer answers its `a=file-range` with the bytes
   * still missing, RFC 5547 §8). A rejection refuses the call with
   * `respond 488` (e.g. an `a=file-range` that cannot be served). When the
   * call does not go on, its session is closed: what the hook holds for it
   * can be let go on the session's `close`.
   */
  readonly prepareAnswer?: (
    call: CallInfo,
    session: MsrpSession,
    offered: AcceptedMedia,
  ) => Promise<CallAnswerChanges | undefined>;
  /** Answer an `actpass` offer as `active` (connect to the caller) instead of `passive`. */
  readonly preferActive?: boolean;
  /** Longest wait for `CHANNEL_ANSWER` after the answer is queued; 10 s by default. */
  readonly answerTimeoutMs?: number;
  /** Longest wait for the MSRP connection after the answer; 30 s by default. */
  readonly connectTimeoutMs?: number;
  /** Where to log calls (ids and causes only). */
  readonly logger?: Logger;
}
