/**
 * Calls through the PBX, in and out. In: with `ESL_MODE=inbound` the bridge
 * keeps an event-socket connection to FreeSWITCH, with `ESL_MODE=outbound`
 * FreeSWITCH's `socket` application connects per call; either way an MSRP
 * call becomes a recorded session with the caller's identity. Out:
 * {@linkcode Calls.originate} places a session with a SIP INVITE.
 *
 * @module
 */

import {
  type CallAnswerChanges,
  type CallInfo,
  EslClient,
  type EslEvent,
  type EslEventReceived,
  EslOutboundServer,
  type InboundCallEvent,
  InboundCalls,
} from "../pbx/mod.ts";
import { headerOf, type SipInviteResult, SipUserAgent } from "../pbx/sip_ua.ts";
import { parseSipUri } from "../pbx/sip_uri.ts";
import { type AcceptedMedia, buildOffer, type FileRange, parseAnswer } from "../sdp/mod.ts";
import type { MsrpSession } from "../session/mod.ts";
import type { SessionFile } from "../store/mod.ts";
import type { Resumption } from "./_resume.ts";
import type { PulledFile } from "./published.ts";
import type { Runtime } from "./_runtime.ts";
import { fileOffer, pushedFile, type Sessions } from "./_sessions.ts";
import { BridgeError, dialTarget, errorText, sdpFailure } from "./errors.ts";
import { CONNECT_WAIT_MS, type Media, type OfferedSession } from "./media.ts";

/** A FreeSWITCH channel UUID. */
const CHANNEL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** State of the connection to the PBX's event socket. */
export type EslState = "off" | "connecting" | "connected" | "disconnected";

/** Host and port of `SIP_URI` (checked at start-up; 5060 when absent), and `host:port`. */
function sipServer(uri: string): { hostname: string; port: number; authority: string } {
  const { host, hostKind, port = 5060 } = parseSipUri(uri);
  return { hostname: host, port, authority: `${hostKind === "ipv6" ? `[${host}]` : host}:${port}` };
}

/** The PBX side of the bridge: the event socket, inbound calls and calls we place. */
export class Calls {
  readonly #rt: Runtime;
  readonly #sessions: Sessions;
  readonly #media: Media;
  readonly #onEslEvent: (event: EslEvent) => void;
  /** Pushes that continue a file received in part, by session id, until recorded. */
  readonly #resumptions = new Map<string, Resumption>();
  /** Pulls of published files, by session id, until recorded. */
  readonly #pulls = new Map<string, PulledFile>();
  #esl: EslClient | undefined;
  #calls: InboundCalls | EslOutboundServer | undefined;

  /**
   * Serves calls into `sessions`; `onEslEvent` hears every event of the
   * inbound event socket (pager mode listens there).
   */
  constructor(
    rt: Runtime,
    sessions: Sessions,
    media: Media,
    onEslEvent: (event: EslEvent) => void,
  ) {
    this.#rt = rt;
    this.#sessions = sessions;
    this.#media = media;
    this.#onEslEvent = onEslEvent;
  }

  /** The PBX event-socket connection (`off` with `ESL_MODE=off` and before start). */
  get eslState(): EslState {
    if (this.#calls instanceof EslOutboundServer) {
      return this.#calls.listening ? "connected" : "disconnected";
    }
    return this.#esl?.state ?? "off";
  }

  /** The inbound event-socket connection, with `ESL_MODE=inbound` once started. */
  get esl(): EslClient | undefined {
    return this.#esl;
  }

  /**
   * Connects to the event socket (`ESL_MODE=inbound`) or listens for
   * FreeSWITCH's outbound sockets (`ESL_MODE=outbound`; throws when the
   * port cannot be bound); does nothing with `ESL_MODE=off`.
   */
  start(): void {
    const mode = this.#rt.config.eslMode;
    if (mode === "inbound") this.#startInbound();
    if (mode === "outbound") this.#startOutboundSocket();
  }

  /**
   * Hangs up the PBX channel `uuid` (of a session another instance owned and
   * lost); resolves `false` when there is no event socket, the id is not a
   * channel UUID, or FreeSWITCH does not know the channel.
   */
  async hangUpChannel(uuid: string): Promise<boolean> {
    // Only a UUID reaches the event socket: the id comes from the shared store.
    if (!this.#esl || !CHANNEL_UUID.test(uuid)) return false;
    const reply = await this.#esl.api(`uuid_kill ${uuid} LOSE_RACE`);
    return !reply.startsWith("-ERR");
  }

  /** Ends every call and the event-socket connection. */
  async close(): Promise<void> {
    await this.#calls?.close();
    this.#esl?.close();
  }

  /**
   * Places a session through the PBX ("two-leg bypass", §4.4 of the ESL
   * reference): sends an INVITE with our offer (`a=setup:actpass`) to
   * extension `out` at `SIP_URI` with `X-Msrp-Target: <to>`, and
   * starts the session from the callee's answer. Resolves once the call is
   * answered (and, when we are the active side, connected). Closing the
   * session sends BYE; a BYE from the PBX closes the session.
   *
   * @throws {BridgeError} `invalid-sip-uri` when `to` is not a dialable SIP
   * URI (see `parseDialTarget`), checked before anything else;
   * `pbx-unavailable` when the PBX cannot be reached or the callee rejects
   * the call (the message names the SIP status, which is also recorded on
   * the ended session); `connect-failed` when the MSRP connection fails;
   * `sdp-not-acceptable` for an answer we cannot use; `session-closed` when
   * the session was closed while ringing.
   *
   * With `file`, the offer pushes that file (RFC 5547 §6: `a=sendonly`,
   * `a=file-selector`, `a=file-transfer-id`, `a=file-disposition`,
   * `a=file-date`) and the session is recorded of kind `file-transfer`;
   * with `range` too, the offer asks for that part of it (`a=file-range`,
   * RFC 5547 §8) and `fileRange` is the part the answer took.
   */
  async originate(
    to: string,
    file?: SessionFile,
    range?: FileRange,
  ): Promise<OfferedSession & { readonly fileRange?: FileRange }> {
    to = dialTarget(to, "to");
    const { config, log, store } = this.#rt;
    this.#rt.checkRunning();
    if (config.eslMode === "off") {
      throw new BridgeError(
        "pbx-unavailable",
        `cannot reach ${to}: calls through the PBX need the ESL integration, which is off (ESL_MODE=off)`,
      );
    }
    const server = sipServer(config.sipUri);
    let ua: SipUserAgent;
    try {
      ua = await SipUserAgent.connect({
        server,
        maxMessageBytes: config.sipMaxMessageBytes,
        logger: log,
      });
    } catch (e) {
      throw new BridgeError(
        "pbx-unavailable",
        `cannot reach the PBX at ${config.sipUri}: ${errorText(e)}`,
      );
    }
    let session: MsrpSession;
    try {
      session = this.#sessions.create("tcp");
    } catch (e) {
      await ua.close();
      throw e;
    }
    const local = {
      ...this.#media.localOffer(session),
      ...(file ? { fileTransfer: fileOffer(file, range) } : {}),
    };
    const offer = buildOffer(local);
    const callId = `${session.id}@${server.hostname}`;
    try {
      await this.#sessions.record(session, "out", [], { toUri: to, callId, file });
    } catch (e) {
      await ua.close();
      throw e;
    }
    const ended = Promise.withResolvers<void>();
    // Closed while ringing (e.g. DELETE): the INVITE is cancelled (RFC 3261 §9.1).
    const ringing = new AbortController();
    session.addEventListener("close", () => {
      ended.resolve();
      ringing.abort();
    }, { once: true });
    let result: SipInviteResult;
    try {
      result = await ua.invite({
        requestUri: `sip:out@${server.authority}`,
        headers: [["X-Msrp-Target", to]],
        sdp: offer,
        callId,
        timeoutMs: CONNECT_WAIT_MS,
        signal: ringing.signal,
      });
    } catch (e) {
      session.close(`sip: ${errorText(e)}`);
      await ua.close();
      throw new BridgeError("pbx-unavailable", `call to ${to} failed: ${errorText(e)}`);
    }
    const { status, reason, dialog } = result;
    const cause = /text="([^"]*)"/.exec(headerOf(result.response, "reason") ?? "")?.[1] ?? null;
    await store.updateSession(session.id, { sipStatus: status, hangupCause: cause });
    if (!dialog) {
      const cancelled = session.closed;
      session.close(`sip ${status} ${reason}`);
      await ua.close();
      if (cancelled) {
        log.info("originate cancelled", { sessionId: session.id, to, status });
        throw new BridgeError(
          "session-closed",
          `session ${session.id} was closed while ringing: SIP ${status} ${reason}`,
        );
      }
      log.info("originate rejected", { sessionId: session.id, to, status });
      throw new BridgeError("pbx-unavailable", `call to ${to} failed: SIP ${status} ${reason}`);
    }
    dialog.addEventListener("bye", () => session.close("hangup: BYE"), { once: true });
    this.#rt.track((async () => {
      await ended.promise;
      await dialog.bye().catch((e) => log.warn("bye failed", { error: errorText(e) }));
      await ua.close();
    })());
    if (session.closed) {
      throw new BridgeError("session-closed", `session ${session.id} ended while ringing`);
    }
    let accepted: AcceptedMedia;
    try {
      accepted = parseAnswer(result.answerSdp ?? "", local);
    } catch (e) {
      session.close("answer not acceptable");
      throw sdpFailure(e, "answer");
    }
    await store.updateSession(session.id, { remotePath: accepted.remotePath });
    log.info("originate answered", { sessionId: session.id, to, role: accepted.setup });
    await this.#media.connect(session, accepted);
    const fileRange = accepted.fileTransfer?.range;
    return fileRange ? { id: session.id, offer, fileRange } : { id: session.id, offer };
  }

  #startInbound(): void {
    const { config, log } = this.#rt;
    const esl = new EslClient({
      hostname: config.eslHost,
      port: config.eslPort,
      password: config.eslPassword,
      logger: log,
    });
    esl.addEventListener("event", (e) => this.#onEslEvent((e as EslEventReceived).event));
    const calls = new InboundCalls({
      esl,
      endpoint: this.#rt.endpoint,
      createSession: () => this.#sessions.create("tcp"),
      claim: (info) => this.#rt.store.claim(`call:${info.channelUuid}`),
      prepareAnswer: (info, session, offered) => this.#prepareAnswer(info, session, offered),
      logger: log,
    });
    calls.addEventListener("answering", (e) => this.#recordCall(e as InboundCallEvent));
    this.#esl = esl;
    this.#calls = calls;
    esl.start();
  }

  /**
   * `ESL_MODE=outbound`: FreeSWITCH's `socket` application connects to us per
   * call. There is no inbound event socket then, so pager mode is unavailable.
   */
  #startOutboundSocket(): void {
    const { config, log } = this.#rt;
    const server = new EslOutboundServer({
      hostname: config.eslOutboundHost,
      port: config.eslOutboundPort,
      allow: config.eslOutboundAllow,
      endpoint: this.#rt.endpoint,
      createSession: () => this.#sessions.create("tcp"),
      prepareAnswer: (info, session, offered) => this.#prepareAnswer(info, session, offered),
      logger: log,
    });
    server.addEventListener("answering", (e) => this.#recordCall(e as InboundCallEvent));
    this.#calls = server.listen();
  }

  /**
   * A call pulling a published file (RFC 5547 §6) is answered with that
   * file (see `Media.pull`), and a pull we do not serve refuses the call.
   * A file pushed by a call through the PBX continues the same caller's
   * partial file as an offer through the API does (RFC 5547 §8; one
   * decision, `PartialFiles.resume`): our answer's `a=file-range` asks for
   * the bytes after those held. A range we cannot serve refuses the call.
   */
  async #prepareAnswer(
    info: CallInfo,
    session: MsrpSession,
    offered: AcceptedMedia,
  ): Promise<CallAnswerChanges | undefined> {
    const pulled = await this.#media.pull(session, offered);
    if (pulled) {
      this.#pulls.set(session.id, pulled);
      session.addEventListener("close", () => this.#pulls.delete(session.id), { once: true });
      return { sentFile: fileOffer(pulled.file, pulled.range) };
    }
    const file = pushedFile(offered);
    if (!file) return undefined;
    const range = offered.fileTransfer?.range;
    const resumption = await this.#media.partials.resume(session, file, range, info.fromUri);
    if (!resumption.partial) return undefined;
    this.#resumptions.set(session.id, resumption);
    session.addEventListener("close", () => this.#resumptions.delete(session.id), { once: true });
    return { fileRange: resumption.range };
  }

  /**
   * Records the session of an inbound call with the caller's identity, of
   * kind `file-transfer` for an RFC 5547 push (continuing the partial file
   * `#prepareAnswer` found, if any) or pull (direction `out`; the file is
   * then sent).
   */
  #recordCall(event: InboundCallEvent): void {
    const { call } = event;
    const info = call.info;
    const resumption = this.#resumptions.get(call.session.id);
    this.#resumptions.delete(call.session.id);
    const pulled = this.#pulls.get(call.session.id);
    this.#pulls.delete(call.session.id);
    event.waitUntil(
      this.#sessions.record(call.session, pulled ? "out" : "in", call.media.remotePath, {
        file: pulled?.file ?? resumption?.file ?? pushedFile(call.media),
        resume: resumption?.partial,
        fromUri: info.fromUri,
        toUri: info.toUri,
        fromDisplay: info.fromDisplay,
        callId: info.callId,
        channelUuid: info.channelUuid,
        otherLegUuid: info.otherLegUuid,
      }).then(() => {
        this.#sessions.negotiated(call.session.id, call.media);
        if (pulled) this.#media.sendPulled(call.session.id, pulled);
      }),
    );
  }
}
