/**
 * What inbound (`calls.ts`) and outbound-socket (`esl_outbound.ts`) call
 * serving share (internal): an MSRP offer on a bypass channel becomes a
 * session and our answer SDP, FreeSWITCH answers with it, the session
 * connects; a hangup ends the session and a closed session hangs up.
 *
 * The answer is three queued applications on the channel — `set
 * switch_m_sdp=<our SDP>`, `set sip_enable_soa=false`, `answer` — which the
 * channel runs in order, so the answer always carries our SDP (sending `api
 * uuid_answer` right after the `set` is queued races it and answers with
 * FreeSWITCH's own SDP, freeswitch-esl.md §4.2). `CHANNEL_ANSWER`'s
 * `variable_rtp_local_sdp_str` confirms what went out.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { parseMsrpUri } from "../msrp/mod.ts";
import {
  buildAnswer,
  type LocalMsrpEndpoint,
  parseSessionDescription,
  type SdpAnswer,
  SdpError,
} from "../sdp/mod.ts";
import {
  connectNegotiated,
  expectNegotiatedPeer,
  type MsrpEndpoint,
  type MsrpSession,
  type SessionOptions,
} from "../session/mod.ts";
import type { EslEvent } from "./esl_codec.ts";
import {
  type CallInfo,
  type CallNotices,
  type CallServingOptions,
  InboundCall,
} from "./inbound_call.ts";

/** How one call's channel is driven: the inbound client, or the call's own outbound socket. */
export interface ChannelControl {
  /** Queues a dialplan application on the channel (`sendmsg … execute`). */
  execute(app: string, arg?: string): Promise<void>;
  /** Hangs the channel up; resolves `false` when FreeSWITCH no longer knows it. */
  hangup(): Promise<boolean>;
}

/** What became of an offered channel. */
export type OfferOutcome = "answering" | "ignored" | "rejected";

/** Serves the calls; the two ESL modes feed it offers, answers and hangups. */
export class CallAnswerer {
  readonly #endpoint: MsrpEndpoint;
  readonly #sessionOptions: SessionOptions;
  readonly #createSession: (() => MsrpSession) | undefined;
  readonly #claim: ((call: CallInfo) => Promise<boolean>) | undefined;
  readonly #prepareAnswer: CallServingOptions["prepareAnswer"];
  /** Channels whose claim is being decided, or whose answer is being prepared. */
  readonly #claiming = new Set<string>();
  readonly #preferActive: boolean;
  readonly #answerTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #notices: CallNotices;
  readonly #calls = new Map<string, InboundCall>();
  readonly #controls = new Map<InboundCall, ChannelControl>();
  readonly #tasks = new Set<Promise<void>>();

  /** Starts serving; `notices` hear of every call we answer and FreeSWITCH answered. */
  constructor(options: CallServingOptions, log: Logger | undefined, notices: CallNotices) {
    this.#endpoint = options.endpoint;
    this.#sessionOptions = options.session ?? {};
    this.#createSession = options.createSession;
    this.#claim = options.claim;
    this.#prepareAnswer = options.prepareAnswer;
    this.#preferActive = options.preferActive ?? false;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.#log = log;
    this.#notices = notices;
  }

  /** The calls whose channel is up, by channel UUID. */
  get calls(): ReadonlyMap<string, InboundCall> {
    return this.#calls;
  }

  /**
   * Serves a parked inbound channel: without an `m=message` line (an audio
   * call), not in bypass mode, or claimed by another bridge, it is
   * `ignored`; an offer that cannot be served, or one beyond the session
   * limit, or one `prepareAnswer` rejects, is `rejected` with `respond
   * 488`; otherwise FreeSWITCH is made to
   * answer with our SDP once the `answering` notice is done (a failure there
   * rejects the call with `respond 503`).
   */
  async offer(uuid: string, event: EslEvent, control: ChannelControl): Promise<OfferOutcome> {
    const offer = event.remoteSdp;
    if (this.#calls.has(uuid) || this.#claiming.has(uuid)) return "ignored";
    if (event.get("Call-Direction") !== "inbound") return "ignored";
    if (offer === undefined || !/^m=message /m.test(offer)) return "ignored";
    if (event.get("variable_endpoint_disposition") !== "RECEIVED_NOMEDIA") {
      this.#log?.warn("msrp offer on a channel not in bypass mode left alone", { uuid });
      return "ignored";
    }
    const info = _callInfo(uuid, event);
    this.#claiming.add(uuid);
    let served: { session: MsrpSession; answer: SdpAnswer } | "ignored" | "rejected";
    try {
      served = await this.#claimAndPrepare(info, offer, control);
    } finally {
      this.#claiming.delete(uuid);
    }
    if (typeof served === "string") return served;
    const { session, answer } = served;
    const call = new InboundCall(info, session, answer);
    expectNegotiatedPeer(this.#endpoint, session, call.media);
    this.#calls.set(uuid, call);
    this.#controls.set(call, control);
    session.addEventListener("close", () => this.#sessionClosed(call), { once: true });
    try {
      await this.#notices.answering(call);
    } catch (error) {
      this.#log?.error("msrp call rejected with 503", { uuid, error: String(error) });
      this.#calls.delete(uuid);
      this.#controls.delete(call);
      session.close("call not recorded");
      this.track(this.quietly("respond 503", control.execute("respond", "503")));
      return "rejected";
    }
    this.track(this.#establish(call, control));
    return "answering";
  }

  /**
   * Claims the call (see `CallServingOptions.claim`), creates its session
   * and builds our answer, as `prepareAnswer` changes it; an offer that
   * cannot be served is refused with `respond 488`.
   */
  async #claimAndPrepare(
    info: CallInfo,
    offer: string,
    control: ChannelControl,
  ): Promise<{ session: MsrpSession; answer: SdpAnswer } | "ignored" | "rejected"> {
    const uuid = info.channelUuid;
    if (this.#claim) {
      try {
        if (!await this.#claim(info)) {
          this.#log?.info("msrp call claimed by another bridge", { uuid });
          return "ignored";
        }
      } catch (error) {
        this.#log?.error("msrp call not claimed: left alone", { uuid, error: String(error) });
        return "ignored";
      }
    }
    let session: MsrpSession | undefined;
    try {
      session = this.#createSession?.() ?? this.#endpoint.createSession(this.#sessionOptions);
      const description = parseSessionDescription(offer);
      const local: LocalMsrpEndpoint = {
        path: session.localPath,
        address: parseMsrpUri(session.localUri).host,
        port: this.#endpoint.port,
        acceptTypes: session.acceptTypes,
        preferActive: this.#preferActive,
        originUsername: "msrp-bridge",
      };
      let answer = buildAnswer(description, local);
      const changes = await this.#prepareAnswer?.(info, session, answer.accepted);
      if (changes?.fileRange || changes?.sentFile) {
        const { fileRange, sentFile } = changes;
        answer = buildAnswer(description, { ...local, fileRange, sentFile });
      }
      return { session, answer };
    } catch (error) {
      session?.close("offer not served");
      const reason = error instanceof SdpError
        ? error.code
        : error instanceof RangeError
        ? "session limit"
        : String(error);
      this.#log?.warn("msrp call rejected with 488", { uuid, reason });
      this.track(this.quietly("respond 488", control.execute("respond", "488")));
      return "rejected";
    }
  }

  /** `CHANNEL_ANSWER` of a channel: `sdp` is what FreeSWITCH sent (`rtp_local_sdp_str`). */
  answered(uuid: string, sdp: string): void {
    this.#calls.get(uuid)?.answered.resolve(sdp);
  }

  /** The channel is gone (`CHANNEL_HANGUP_COMPLETE`, or FreeSWITCH no longer knows it). */
  hungUp(uuid: string, cause: string | undefined): void {
    const call = this.#calls.get(uuid);
    if (call === undefined) return;
    this.#calls.delete(uuid);
    this.#controls.delete(call);
    this.#log?.info("msrp call ended", { uuid, session: call.session.id, cause });
    call.end(cause);
  }

  /** Hangs a call's channel up; a channel FreeSWITCH no longer knows ends the call. */
  async hangUp(call: InboundCall): Promise<void> {
    const control = this.#controls.get(call);
    if (control === undefined) return;
    const known = await this.quietly("hangup", control.hangup());
    if (known === false) this.hungUp(call.info.channelUuid, undefined);
  }

  /** Closes every call's session (which hangs its channel up) and awaits pending work. */
  async close(): Promise<void> {
    for (const call of this.#calls.values()) {
      call.answered.reject(new Error("bridge closing"));
      call.session.close("bridge closing");
    }
    while (this.#tasks.size > 0) await Promise.allSettled(this.#tasks);
  }

  /** Resolves with the result, or with `undefined` after logging a failure. */
  async quietly<T>(what: string, work: Promise<T>): Promise<T | undefined> {
    try {
      return await work;
    } catch (error) {
      this.#log?.warn(`${what} failed`, { error: (error as Error).message });
      return undefined;
    }
  }

  /** Keeps `task` until it settles; {@linkcode close} awaits it. */
  track(task: Promise<unknown>): void {
    const tracked = task.then(() => {}, (error) => {
      this.#log?.error("inbound call task failed", { error: String(error) });
    }).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  /** Has FreeSWITCH answer with our SDP, then connects the session or waits for the caller. */
  async #establish(call: InboundCall, control: ChannelControl): Promise<void> {
    const uuid = call.info.channelUuid;
    try {
      await Promise.all([
        control.execute("set", `switch_m_sdp=${call.answerSdp}`),
        control.execute("set", "sip_enable_soa=false"),
        control.execute("answer"),
      ]);
      const sent = await _within(call.answered.promise, this.#answerTimeoutMs, "CHANNEL_ANSWER");
      if (sent !== call.answerSdp) throw new Error("FreeSWITCH answered with an SDP of its own");
    } catch (error) {
      call.session.close(`answer failed: ${(error as Error).message}`);
      return;
    }
    call.advance("answered");
    this.#log?.info("msrp call answered", { uuid, session: call.session.id });
    this.#notices.answered(call);
    try {
      const connected = connectNegotiated(this.#endpoint, call.session, call.media);
      await _within(connected, this.#connectTimeoutMs, "the MSRP connection");
    } catch (error) {
      call.session.close(`msrp connection failed: ${(error as Error).message}`);
      return;
    }
    call.advance("connected");
  }

  /** The application (or a failure) closed the session: hang the channel up. */
  #sessionClosed(call: InboundCall): void {
    if (call.state !== "ended") this.track(this.hangUp(call));
  }
}

function _callInfo(uuid: string, event: EslEvent): CallInfo {
  const sipUri = (value: string | undefined) => value === undefined ? null : `sip:${value}`;
  return {
    channelUuid: uuid,
    otherLegUuid: event.otherLegUniqueId ?? null,
    callId: event.get("variable_sip_call_id") ?? null,
    fromUri: sipUri(event.get("variable_sip_from_uri")),
    toUri: sipUri(event.get("variable_sip_to_uri")),
    fromDisplay: event.get("Caller-Caller-ID-Name") ?? null,
    callerNumber: event.get("Caller-Caller-ID-Number") ?? null,
    destination: event.get("Caller-Destination-Number") ?? null,
  };
}

/** Settles like `work`, or rejects once `ms` have passed without it settling. */
async function _within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
