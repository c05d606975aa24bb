/**
 * Inbound MSRP calls through FreeSWITCH (freeswitch-esl.md §4.2): a call
 * parked on a bypass profile whose offer has an `m=message` line gets an MSRP
 * session on our endpoint, FreeSWITCH answers it with our SDP, and the
 * session then connects to the caller (or waits for it). A hangup closes the
 * session; a session closed by the application hangs the call up.
 *
 * The answer is three queued applications on the parked channel — `set
 * switch_m_sdp=<our SDP>`, `set sip_enable_soa=false`, `answer` — which the
 * channel runs in order, so the answer always carries our SDP (sending `api
 * uuid_answer` right after the `set` is queued races it and answers with
 * FreeSWITCH's own SDP). `CHANNEL_ANSWER`'s `variable_rtp_local_sdp_str`
 * confirms what went out.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { parseMsrpUri } from "../msrp/mod.ts";
import { type AcceptedMedia, buildAnswer, type SdpAnswer, SdpError } from "../sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession, SessionOptions } from "../session/mod.ts";
import type { EslEvent } from "./esl_codec.ts";
import type { EslClient, EslEventReceived, EslStateChange } from "./esl_client.ts";

/**
 * Who called whom, from the channel's `CHANNEL_PARK` event. Absent values
 * are `null`; the first six fields match the store's `CallIdentity`.
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

/** Dispatched as `"call"` when FreeSWITCH has answered a call with our SDP. */
export class InboundCallEvent extends Event {
  /** The call; its session is connecting or waiting for the caller. */
  readonly call: InboundCall;

  /** Creates the notice. */
  constructor(call: InboundCall) {
    super("call");
    this.call = call;
  }
}

/** Options of {@linkcode InboundCalls}. */
export interface InboundCallsOptions {
  /** The ESL client; it must receive `CHANNEL_PARK`, `CHANNEL_ANSWER` and `CHANNEL_HANGUP_COMPLETE`. */
  readonly esl: EslClient;
  /** The endpoint that creates and serves the sessions. */
  readonly endpoint: MsrpEndpoint;
  /** Options of each session (accept types, sink …); the endpoint's defaults otherwise. */
  readonly session?: SessionOptions;
  /**
   * Makes the session for a call, e.g. one whose received messages go to a
   * store; `endpoint.createSession(session)` when omitted. A RangeError
   * (session limit) makes the call be refused with 488.
   */
  readonly createSession?: () => MsrpSession;
  /** Answer an `actpass` offer as `active` (connect to the caller) instead of `passive`. */
  readonly preferActive?: boolean;
  /** Longest wait for `CHANNEL_ANSWER` after the answer is queued; 10 s by default. */
  readonly answerTimeoutMs?: number;
  /** Longest wait for the MSRP connection after the answer; 30 s by default. */
  readonly connectTimeoutMs?: number;
  /** Where to log calls (ids and causes only). */
  readonly logger?: Logger;
}

/**
 * Serves inbound MSRP calls. Parked calls without an `m=message` line (audio
 * calls) and channels not in bypass mode are left alone; an offer that
 * cannot be served, or one beyond the endpoint's session limit, is answered
 * `respond 488`. Listen for `"call"` ({@linkcode InboundCallEvent}).
 */
export class InboundCalls extends EventTarget {
  readonly #esl: EslClient;
  readonly #endpoint: MsrpEndpoint;
  readonly #sessionOptions: SessionOptions;
  readonly #createSession: (() => MsrpSession) | undefined;
  readonly #preferActive: boolean;
  readonly #answerTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #calls = new Map<string, InboundCall>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #onEvent = (e: Event) => this.#handle((e as EslEventReceived).event);
  readonly #onState = (e: Event) => {
    if ((e as EslStateChange).state === "connected") this.#track(this.#resync());
  };
  #closed = false;

  /** Starts serving the calls the ESL client reports. */
  constructor(options: InboundCallsOptions) {
    super();
    this.#esl = options.esl;
    this.#endpoint = options.endpoint;
    this.#sessionOptions = options.session ?? {};
    this.#createSession = options.createSession;
    this.#preferActive = options.preferActive ?? false;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.#log = options.logger?.with({ component: "inbound-calls" });
    this.#esl.addEventListener("event", this.#onEvent);
    this.#esl.addEventListener("state", this.#onState);
  }

  /** The calls whose channel is up, by channel UUID. */
  get calls(): ReadonlyMap<string, InboundCall> {
    return this.#calls;
  }

  /**
   * Stops serving: every call's session is closed, which hangs its channel
   * up, and pending work is awaited. The ESL client is left open.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#esl.removeEventListener("event", this.#onEvent);
    this.#esl.removeEventListener("state", this.#onState);
    for (const call of this.#calls.values()) {
      call.answered.reject(new Error("bridge closing"));
      call.session.close("bridge closing");
    }
    while (this.#tasks.size > 0) await Promise.allSettled(this.#tasks);
  }

  #handle(event: EslEvent): void {
    const uuid = event.uniqueId;
    if (uuid === undefined || this.#closed) return;
    try {
      if (event.name === "CHANNEL_PARK") this.#onPark(uuid, event);
      if (event.name === "CHANNEL_ANSWER") {
        this.#calls.get(uuid)?.answered.resolve(event.get("variable_rtp_local_sdp_str") ?? "");
      }
      if (event.name === "CHANNEL_HANGUP_COMPLETE") {
        this.#onHangup(uuid, event.get("Hangup-Cause") ?? "UNKNOWN");
      }
    } catch (error) {
      this.#log?.error("inbound call event failed", {
        uuid,
        event: event.name,
        error: String(error),
      });
    }
  }

  #onPark(uuid: string, event: EslEvent): void {
    const offer = event.remoteSdp;
    if (this.#calls.has(uuid) || event.get("Call-Direction") !== "inbound") return;
    if (offer === undefined || !/^m=message /m.test(offer)) return;
    if (event.get("variable_endpoint_disposition") !== "RECEIVED_NOMEDIA") {
      this.#log?.warn("msrp offer on a channel not in bypass mode left alone", { uuid });
      return;
    }
    let session: MsrpSession | undefined;
    let answer: SdpAnswer;
    try {
      session = this.#createSession?.() ?? this.#endpoint.createSession(this.#sessionOptions);
      answer = buildAnswer(offer, {
        path: session.localPath,
        address: parseMsrpUri(session.localUri).host,
        port: this.#endpoint.port,
        acceptTypes: session.acceptTypes,
        preferActive: this.#preferActive,
        originUsername: "msrp-bridge",
      });
    } catch (error) {
      session?.close("offer not served");
      const reason = error instanceof SdpError
        ? error.code
        : error instanceof RangeError
        ? "session limit"
        : String(error);
      this.#log?.warn("msrp call rejected with 488", { uuid, reason });
      this.#track(this.#quietly("respond 488", this.#esl.sendmsg(uuid, "respond", "488")));
      return;
    }
    const call = new InboundCall(_callInfo(uuid, event), session, answer);
    this.#calls.set(uuid, call);
    session.addEventListener("close", () => this.#sessionClosed(call), { once: true });
    this.#track(this.#establish(call));
  }

  /** Has FreeSWITCH answer with our SDP, then connects the session or waits for the caller. */
  async #establish(call: InboundCall): Promise<void> {
    const uuid = call.info.channelUuid;
    try {
      await Promise.all([
        this.#esl.sendmsg(uuid, "set", `switch_m_sdp=${call.answerSdp}`),
        this.#esl.sendmsg(uuid, "set", "sip_enable_soa=false"),
        this.#esl.sendmsg(uuid, "answer"),
      ]);
      const sent = await _within(call.answered.promise, this.#answerTimeoutMs, "CHANNEL_ANSWER");
      if (sent !== call.answerSdp) throw new Error("FreeSWITCH answered with an SDP of its own");
    } catch (error) {
      call.session.close(`answer failed: ${(error as Error).message}`);
      return;
    }
    call.advance("answered");
    this.#log?.info("msrp call answered", { uuid, session: call.session.id });
    this.dispatchEvent(new InboundCallEvent(call));
    try {
      const { media, session } = call;
      const connected = media.setup === "active"
        ? this.#endpoint.connectSession(session, media.remotePath, {
          fingerprint: media.fingerprint?.hash.toLowerCase() === "sha-256"
            ? media.fingerprint.value
            : undefined,
        })
        : session.ready;
      await _within(connected, this.#connectTimeoutMs, "the MSRP connection");
    } catch (error) {
      call.session.close(`msrp connection failed: ${(error as Error).message}`);
      return;
    }
    call.advance("connected");
  }

  #onHangup(uuid: string, cause: string | undefined): void {
    const call = this.#calls.get(uuid);
    if (call === undefined) return;
    this.#calls.delete(uuid);
    this.#log?.info("msrp call ended", { uuid, session: call.session.id, cause });
    call.end(cause);
  }

  /** The application (or a failure) closed the session: hang the channel up. */
  #sessionClosed(call: InboundCall): void {
    if (call.state !== "ended") this.#track(this.#kill(call));
  }

  /** Hangs a call's channel up; a channel FreeSWITCH no longer knows ends the call. */
  async #kill(call: InboundCall): Promise<void> {
    const uuid = call.info.channelUuid;
    const output = await this.#quietly("uuid_kill", this.#esl.api(`uuid_kill ${uuid}`));
    if (output?.startsWith("-ERR")) this.#onHangup(uuid, undefined);
  }

  /**
   * After a reconnect: calls whose channel went away meanwhile end, and
   * channels whose session closed meanwhile are hung up.
   */
  async #resync(): Promise<void> {
    for (const [uuid, call] of this.#calls) {
      const exists = (await this.#quietly("uuid_exists", this.#esl.api(`uuid_exists ${uuid}`)))
        ?.trim();
      if (exists === "false") this.#onHangup(uuid, undefined);
      else if (exists === "true" && call.session.closed) await this.#kill(call);
    }
  }

  /** Resolves with the result, or with `undefined` after logging a failure. */
  async #quietly<T>(what: string, work: Promise<T>): Promise<T | undefined> {
    try {
      return await work;
    } catch (error) {
      this.#log?.warn(`${what} failed`, { error: (error as Error).message });
      return undefined;
    }
  }

  #track(task: Promise<unknown>): void {
    const tracked = task.then(() => {}, (error) => {
      this.#log?.error("inbound call task failed", { error: String(error) });
    }).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
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
