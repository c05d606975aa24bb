/**
 * The bridge service: the store, the MSRP endpoint, webhook delivery and the
 * in-process event feed, and the operations the HTTP API offers on them.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { type MsrpTls, readMsrpTls } from "./_msrp_tls.ts";
import {
  chatCommand,
  EslClient,
  type EslEvent,
  type EslEventReceived,
  EslOutboundServer,
  type InboundCallEvent,
  InboundCalls,
} from "./pbx/mod.ts";
import {
  createPluginMessage,
  type OutgoingContent,
  type PluginRunner,
  type PluginSession,
  pluginSession,
} from "./plugins.ts";
import { effectivePort, isMediaType, MsrpError, parseMsrpUri, Status } from "./msrp/mod.ts";
import { headerOf, type SipInviteResult, SipUserAgent } from "./pbx/sip_ua.ts";
import { parseDialTarget, parseSipUri, SipUriError } from "./pbx/sip_uri.ts";
import {
  type AcceptedMedia,
  buildAnswer,
  buildOffer,
  isWebSocketProtocol,
  type LocalMsrpEndpoint,
  type LocalMsrpOffer,
  parseAnswer,
  parseSessionDescription,
  SdpError,
  type SessionDescription,
} from "./sdp/mod.ts";
import {
  connectNegotiated,
  type DeliveryResult,
  expectNegotiatedPeer,
  type IncomingMessageInfo,
  type IncomingMessageSink,
  MsrpEndpoint,
  type MsrpSession,
  type OutgoingMessage,
  type SessionCloseEvent,
} from "./session/mod.ts";
import {
  type CallIdentity,
  Checkpointer,
  ContentQuota,
  type EventRecord,
  type MessageRecord,
  openStore,
  type RecoveryResult,
  type SessionRecord,
  type Store,
  StoreError,
  StoreSink,
  type WebhookBacklog,
} from "./store/mod.ts";
import {
  composingEventData,
  type ComposingIndicationData,
  createEvent,
  inlineText,
  MAX_INLINE_TEXT_BYTES,
  messageEventData,
  publishEvent,
  sessionEventData,
  WebhookDispatcher,
  type WebhookEvent,
  type WebhookReply,
} from "./webhooks/mod.ts";

/**
 * Why an operation of the bridge failed:
 * - `not-found`: no session or message with that id.
 * - `session-closed`: the session has ended.
 * - `not-awaiting-answer`: the session did not make an offer that is still unanswered.
 * - `invalid-sdp`: the SDP text does not parse.
 * - `sdp-not-acceptable`: the SDP parses but cannot be negotiated.
 * - `invalid-sip-uri`: a SIP URI is malformed or holds what may not reach the PBX.
 * - `connect-failed`: the MSRP connection to the peer failed.
 * - `session-limit`: `MAX_SESSIONS` sessions are open.
 * - `pbx-unavailable`: the operation needs the PBX integration, which is not available.
 * - `shutting-down`: the service is stopping.
 */
export type BridgeErrorCode =
  | "not-found"
  | "session-closed"
  | "not-awaiting-answer"
  | "invalid-sdp"
  | "sdp-not-acceptable"
  | "invalid-sip-uri"
  | "connect-failed"
  | "session-limit"
  | "pbx-unavailable"
  | "validation"
  | "shutting-down";

/** An operation of the bridge that failed, told apart by its {@linkcode BridgeError.code}. */
export class BridgeError extends Error {
  /** What went wrong. */
  readonly code: BridgeErrorCode;
  /** The request field at fault, when there is one. */
  readonly field: string | undefined;

  /** Creates an error with a code, a human-readable message and the field at fault. */
  constructor(code: BridgeErrorCode, message: string, field?: string) {
    super(message);
    this.name = "BridgeError";
    this.code = code;
    this.field = field;
  }
}

/** State of the connection to the PBX's event socket. */
export type EslState = "off" | "connecting" | "connected" | "disconnected";

/** A session created from an offer, with our answer. */
export interface AnsweredSession {
  /** The session id (also the session part of our MSRP URI). */
  readonly id: string;
  /** Our answer SDP. */
  readonly answer: string;
}

/** A session created with our offer, waiting for the answer. */
export interface OfferedSession {
  /** The session id (also the session part of our MSRP URI). */
  readonly id: string;
  /** Our offer SDP. */
  readonly offer: string;
}

/** A pager-mode message (SIP MESSAGE outside a session). */
export interface PagerMessage {
  /** SIP URI of the recipient. */
  readonly to: string;
  /** SIP URI of the sender. */
  readonly from: string;
  /** The text. */
  readonly text: string;
}

/** Options of {@linkcode Bridge.sendMessage}. */
export interface BridgeSendOptions {
  /** Content-Type of the body. */
  readonly contentType: string;
  /** Size of a streamed body, when known. */
  readonly size?: number;
  /** Ask the receiver for a success REPORT, so the status becomes `delivered`. */
  readonly report?: boolean;
}

/** A message handed to a session: its row as inserted and its delivery state. */
export interface SentMessage {
  /** The message row. */
  readonly record: MessageRecord;
  /** The message being sent; `done` settles with the outcome. */
  readonly outgoing: OutgoingMessage;
}

/** What `/readyz` reports. */
export interface Readiness {
  /** The database takes a write and the content directory a file. */
  readonly storeWritable: boolean;
  /** The MSRP listener is open. */
  readonly msrpListening: boolean;
  /** The PBX connection. */
  readonly esl: EslState;
}

/** Counters and gauges for `/metrics`, counted since start. */
export interface BridgeMetrics {
  /** Sessions open now. */
  readonly sessionsOpen: number;
  /** MSRP connections open now. */
  readonly msrpConnections: number;
  /** Messages received completely. */
  readonly messagesIn: number;
  /** Messages sent (`sent` or `delivered`). */
  readonly messagesOut: number;
  /** Body bytes received. */
  readonly bytesIn: number;
  /** Body bytes sent. */
  readonly bytesOut: number;
  /** Failed outgoing messages by MSRP status code. */
  readonly failuresByCode: ReadonlyMap<number, number>;
  /** Incoming messages that ended incomplete or could not be stored. */
  readonly incomingFailures: number;
  /** The webhook outbox; `undefined` without `WEBHOOK_URL`. */
  readonly webhookBacklog: WebhookBacklog | undefined;
  /** The PBX connection. */
  readonly esl: EslState;
}

/** Receives the events the bridge publishes, as recorded in the event log. */
export interface EventSubscriber {
  /** A new event. */
  event(record: EventRecord): void;
  /** The bridge is stopping: no more events. */
  close(): void;
}

/**
 * A plugin that announces the peer's composing indications (the
 * `is-composing` plugin, RFC 3994); the bridge publishes them as
 * `session.composing`.
 */
interface ComposingSource {
  onComposing(
    listener: (event: { session: PluginSession; indication: ComposingIndicationData }) => void,
  ): () => void;
}

function isComposingSource(plugin: unknown): plugin is ComposingSource {
  return typeof (plugin as Partial<ComposingSource> | undefined)?.onComposing === "function";
}

/** Where the API serves the content of received message `id`. */
export function contentUrl(id: string): string {
  return `/v1/messages/${id}/content`;
}

/** The FreeSWITCH `msrp` profile of the test package (shared/freeswitch). */
/** How long a negotiated session may wait for its connection. */
const CONNECT_WAIT_MS = 60_000;
/** Received bodies up to this size are offered to plugins. */
const PLUGIN_BODY_BYTES = 1024 * 1024;
/** How often the store's WAL is checkpointed from a worker (off the event loop). */
const CHECKPOINT_INTERVAL_MS = 1000;
/** Least time between two "disk quota exceeded" log lines; refusals in between are counted. */
const QUOTA_LOG_INTERVAL_MS = 10_000;
/** WAL pages after which a commit checkpoints by itself, should the worker fall behind. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 16384;
const encoder = new TextEncoder();

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Host and port of `SIP_URI` (checked at start-up; 5060 when absent), and `host:port`. */
function sipServer(uri: string): { hostname: string; port: number; authority: string } {
  const { host, hostKind, port = 5060 } = parseSipUri(uri);
  return { hostname: host, port, authority: `${hostKind === "ipv6" ? `[${host}]` : host}:${port}` };
}

/** `text` as a dialable SIP URI (lower-case scheme), or `invalid-sip-uri` naming `field`. */
function dialTarget(text: string, field: string): string {
  try {
    return parseDialTarget(text).text;
  } catch (e) {
    if (!(e instanceof SipUriError)) throw e;
    const message = `not a SIP URI the bridge may dial: ${e.message}`;
    throw new BridgeError("invalid-sip-uri", message, field);
  }
}

function sdpFailure(e: unknown, field: string): unknown {
  if (!(e instanceof SdpError)) return e;
  const code = e.code === "malformed" ? "invalid-sdp" : "sdp-not-acceptable";
  return new BridgeError(code, e.message, field);
}

/**
 * The service: opens the store, listens for MSRP, delivers webhooks (when
 * `WEBHOOK_URL` is set) and publishes events to subscribers; creates, sends
 * on and closes sessions for the HTTP API. Every session has a row in the
 * store with the MSRP session id as its id; every message has a row kept up
 * to date with its status.
 */
export class Bridge {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #live = new Map<string, MsrpSession>();
  readonly #pluginSessions = new Map<string, PluginSession>();
  readonly #plugins: PluginRunner | undefined;
  #esl: EslClient | undefined;
  #calls: InboundCalls | EslOutboundServer | undefined;
  readonly #offers = new Map<string, LocalMsrpOffer>();
  readonly #subscribers = new Set<EventSubscriber>();
  readonly #work = new Set<Promise<unknown>>();
  readonly #failures = new Map<number, number>();
  #store: Store | undefined;
  #endpoint: MsrpEndpoint | undefined;
  #msrpTls: MsrpTls | undefined;
  #dispatcher: WebhookDispatcher | undefined;
  #checkpointer: Checkpointer | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #incomingFailures = 0;
  #quota: ContentQuota | undefined;
  #quotaLoggedAt = -Infinity;
  #quotaRefusals = 0;

  /** Creates a stopped bridge; {@linkcode start} opens everything. */
  /**
   * Creates the bridge; `plugins` (see `src/plugins.ts`) see sessions and
   * messages in `PLUGINS` order.
   */
  constructor(config: Config, log: Logger, plugins?: PluginRunner) {
    this.#config = config;
    this.#log = log;
    this.#plugins = plugins;
    const composing = plugins?.plugin("is-composing");
    if (isComposingSource(composing)) {
      composing.onComposing(({ session, indication }) => {
        if (this.#state !== "running") return;
        const row = this.store.getSession(session.id);
        this.#publish(
          createEvent("session.composing", composingEventData(session.id, row, indication)),
        );
      });
    }
  }

  /** The service logger. */
  get logger(): Logger {
    return this.#log;
  }

  /** The store; throws before {@linkcode start}. */
  get store(): Store {
    if (!this.#store) throw new Error("the bridge is not started");
    return this.#store;
  }

  /** The MSRP endpoint; throws before {@linkcode start}. */
  get endpoint(): MsrpEndpoint {
    if (!this.#endpoint) throw new Error("the bridge is not started");
    return this.#endpoint;
  }

  /** The PBX event-socket connection (`off` with `ESL_MODE=off`). */
  get eslState(): EslState {
    if (this.#calls instanceof EslOutboundServer) {
      return this.#calls.listening ? "connected" : "disconnected";
    }
    return this.#esl?.state ?? "off";
  }

  /**
   * Opens the store (ending what a previous run left open), listens for
   * MSRP and starts webhook delivery. Rejects, with everything closed again,
   * when any of them fails (e.g. the MSRP port is taken).
   */
  start(): Promise<void> {
    if (this.#state !== "new") return Promise.reject(new Error("the bridge was already started"));
    const config = this.#config;
    let store: Store | undefined;
    let recovered: RecoveryResult;
    try {
      store = openStore(config.dataDir, { walAutocheckpointPages: FALLBACK_AUTOCHECKPOINT_PAGES });
      this.#checkpointer = new Checkpointer(
        store.path,
        CHECKPOINT_INTERVAL_MS,
        (error) => this.#log.warn("wal checkpoint failed", { error }),
      );
      recovered = store.recoverAfterRestart();
      this.#quota = new ContentQuota(config.dataQuotaBytes, store.storedContentBytes());
      this.#log.info("store opened", {
        dataDir: config.dataDir,
        endedSessions: recovered.endedSessions,
        failedMessages: recovered.failedMessages,
        resumedWebhooks: recovered.resumedWebhooks,
      });
      if (config.webhookUrl !== undefined && config.webhookSecret !== undefined) {
        this.#dispatcher = new WebhookDispatcher({
          url: config.webhookUrl,
          secret: config.webhookSecret,
          store,
          logger: this.#log,
          onReply: (event, reply) => this.#reply(event, reply),
        });
      }
      this.#endpoint = this.#listen();
    } catch (e) {
      this.#dispatcher = undefined;
      const checkpointer = this.#checkpointer;
      this.#checkpointer = undefined;
      return (checkpointer?.stop() ?? Promise.resolve()).then(() => {
        store?.close();
        throw e;
      });
    }
    this.#store = store;
    this.#publishRecovered(recovered);
    this.#log.info("msrp listening", { uri: this.#endpoint.ownUri });
    this.#dispatcher?.start();
    this.#log.info("webhooks", { enabled: this.#dispatcher !== undefined });
    this.#state = "running";
    if (config.eslMode === "inbound") this.#startEsl();
    if (config.eslMode === "outbound") {
      try {
        this.#startOutboundSocket();
      } catch (e) {
        return this.stop().then(() => Promise.reject(e));
      }
    }
    return Promise.resolve();
  }

  /**
   * Stops: refuses new work, ends event subscriptions, closes every session
   * (messages in flight fail with the reason `shutdown`), the MSRP listener
   * and connections, stops webhook delivery and closes the store.
   */
  async stop(): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    for (const subscriber of [...this.#subscribers]) subscriber.close();
    this.#subscribers.clear();
    await this.#calls?.close();
    this.#esl?.close();
    for (const session of [...this.#live.values()]) session.close("shutdown");
    await this.endpoint.close();
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#plugins?.close();
    await this.#dispatcher?.stop();
    await this.#checkpointer?.stop();
    this.store.close();
    this.#state = "stopped";
    this.#log.info("bridge stopped");
  }

  /** What `/readyz` reports. */
  async readiness(): Promise<Readiness> {
    return {
      storeWritable: this.#state === "running" && await this.#storeWritable(),
      msrpListening: this.#state === "running",
      esl: this.eslState,
    };
  }

  /** Counters and gauges for `/metrics`. */
  metrics(): BridgeMetrics {
    return {
      sessionsOpen: this.#live.size,
      msrpConnections: this.#endpoint?.connectionCount ?? 0,
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      failuresByCode: new Map(this.#failures),
      incomingFailures: this.#incomingFailures,
      webhookBacklog: this.#dispatcher && this.#state === "running"
        ? this.store.webhookBacklog()
        : undefined,
      esl: this.eslState,
    };
  }

  /**
   * Calls `subscriber.event` for every event published from now on, until
   * the returned function is called or the bridge stops.
   */
  subscribe(subscriber: EventSubscriber): () => void {
    if (this.#state !== "running") {
      subscriber.close();
      return () => {};
    }
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /**
   * Answers an SDP offer: creates a session (WebSocket when the offer's MSRP
   * line is, else TCP), records it and connects to the peer when our
   * negotiated role is active; otherwise the peer connects to us.
   */
  createSessionFromOffer(sdp: string): AnsweredSession {
    this.#checkRunning();
    let description: SessionDescription;
    try {
      description = parseSessionDescription(sdp);
    } catch (e) {
      throw sdpFailure(e, "offer");
    }
    const line = description.media.find((m) => m.kind === "msrp" && m.port !== 0);
    const transport = line?.kind === "msrp" && isWebSocketProtocol(line.protocol) ? "ws" : "tcp";
    const session = this.#createSession(transport);
    let accepted: AcceptedMedia;
    let answer: string;
    try {
      ({ sdp: answer, accepted } = buildAnswer(description, this.#local(session)));
    } catch (e) {
      session.close("offer not acceptable");
      throw sdpFailure(e, "offer");
    }
    this.#record(session, "in", accepted.remotePath);
    if (accepted.setup === "active") {
      this.#track(this.#connect(session, accepted).catch(() => {}));
    } else {
      this.#awaitConnection(session, accepted);
    }
    this.#log.info("session answered", { sessionId: session.id, role: accepted.setup });
    return { id: session.id, answer };
  }

  /** Creates a session with our offer (`a=setup:actpass`); see {@linkcode applyAnswer}. */
  createOffer(): OfferedSession {
    this.#checkRunning();
    const session = this.#createSession("tcp");
    const local: LocalMsrpOffer = { ...this.#local(session), setup: "actpass" };
    const offer = buildOffer(local);
    this.#record(session, "out", []);
    this.#offers.set(session.id, local);
    this.#log.info("session offered", { sessionId: session.id });
    return { id: session.id, offer };
  }

  /**
   * Applies the answer to our offer: when we are the active side, connects
   * and resolves once the connection is bound; otherwise waits for the peer.
   */
  async applyAnswer(id: string, sdp: string): Promise<SessionRecord> {
    this.#checkRunning();
    const local = this.#offers.get(id);
    const session = this.#live.get(id);
    if (!local || !session) {
      if (!this.store.getSession(id)) throw new BridgeError("not-found", `no session ${id}`, "id");
      throw new BridgeError("not-awaiting-answer", `session ${id} is not waiting for an answer`);
    }
    let accepted: AcceptedMedia;
    try {
      accepted = parseAnswer(sdp, local);
    } catch (e) {
      throw sdpFailure(e, "answer");
    }
    this.#offers.delete(id);
    this.store.updateSession(id, { remotePath: accepted.remotePath });
    if (accepted.setup === "active") await this.#connect(session, accepted);
    else this.#awaitConnection(session, accepted);
    return this.store.getSession(id)!;
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
   * URI (see {@linkcode parseDialTarget}), checked before anything else;
   * `pbx-unavailable` when the PBX cannot be reached or the callee rejects
   * the call (the message names the SIP status, which is also recorded on
   * the ended session); `connect-failed` when the MSRP connection fails;
   * `sdp-not-acceptable` for an answer we cannot use.
   */
  async originate(to: string): Promise<OfferedSession> {
    to = dialTarget(to, "to");
    this.#checkRunning();
    if (this.#config.eslMode === "off") {
      throw new BridgeError(
        "pbx-unavailable",
        `cannot reach ${to}: calls through the PBX need the ESL integration, which is off (ESL_MODE=off)`,
      );
    }
    const server = sipServer(this.#config.sipUri);
    let ua: SipUserAgent;
    try {
      ua = await SipUserAgent.connect({
        server,
        maxMessageBytes: this.#config.sipMaxMessageBytes,
        logger: this.#log,
      });
    } catch (e) {
      throw new BridgeError(
        "pbx-unavailable",
        `cannot reach the PBX at ${this.#config.sipUri}: ${errorText(e)}`,
      );
    }
    let session: MsrpSession;
    try {
      session = this.#createSession("tcp");
    } catch (e) {
      await ua.close();
      throw e;
    }
    const local: LocalMsrpOffer = { ...this.#local(session), setup: "actpass" };
    const offer = buildOffer(local);
    const callId = `${session.id}@${server.hostname}`;
    this.#record(session, "out", [], { toUri: to, callId });
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
    this.store.updateSession(session.id, { sipStatus: status, hangupCause: cause });
    if (!dialog) {
      const cancelled = session.closed;
      session.close(`sip ${status} ${reason}`);
      await ua.close();
      if (cancelled) {
        this.#log.info("originate cancelled", { sessionId: session.id, to, status });
        throw new BridgeError(
          "session-closed",
          `session ${session.id} was closed while ringing: SIP ${status} ${reason}`,
        );
      }
      this.#log.info("originate rejected", { sessionId: session.id, to, status });
      throw new BridgeError("pbx-unavailable", `call to ${to} failed: SIP ${status} ${reason}`);
    }
    dialog.addEventListener("bye", () => session.close("hangup: BYE"), { once: true });
    this.#track((async () => {
      await ended.promise;
      await dialog.bye().catch((e) => this.#log.warn("bye failed", { error: errorText(e) }));
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
    this.store.updateSession(session.id, { remotePath: accepted.remotePath });
    this.#log.info("originate answered", { sessionId: session.id, to, role: accepted.setup });
    if (accepted.setup === "active") await this.#connect(session, accepted);
    else this.#awaitConnection(session, accepted);
    return { id: session.id, offer };
  }

  /**
   * Sends a pager-mode SIP MESSAGE through FreeSWITCH (`chat` API run as a
   * background job, so the event connection is never blocked; §5.2 of the ESL
   * reference). Rejects when the PBX is not connected or the MESSAGE failed.
   *
   * @throws {BridgeError} `invalid-sip-uri` when `to` or `from` is not a
   * dialable SIP URI, `validation` when `text` holds `|` or a line break
   * (the `chat` API's separators), both checked before anything else;
   * `pbx-unavailable` when the event socket is not connected or the PBX did
   * not send the MESSAGE.
   */
  async sendPager(message: PagerMessage): Promise<void> {
    const to = dialTarget(message.to, "to");
    const from = dialTarget(message.from, "from").replace(/^sips?:/, "");
    if (/[|\r\n]/.test(message.text)) {
      throw new BridgeError("validation", 'text must not contain "|" or line breaks', "text");
    }
    this.#checkRunning();
    const esl = this.#esl;
    if (!esl || esl.state !== "connected") {
      throw new BridgeError("pbx-unavailable", `the PBX event socket is ${this.eslState}`);
    }
    const result = await esl.bgapi(chatCommand({
      from,
      to: `${this.#config.sipProfile}/${to}`,
      text: message.text,
      contentType: "text/plain",
    }));
    if (!/^\+?OK|^Sent/m.test(result.trim())) {
      throw new BridgeError(
        "pbx-unavailable",
        `the PBX did not send the MESSAGE: ${result.trim()}`,
      );
    }
    this.#log.info("pager sent", { to: message.to });
  }

  #startEsl(): void {
    const config = this.#config;
    const esl = new EslClient({
      hostname: config.eslHost,
      port: config.eslPort,
      password: config.eslPassword,
      logger: this.#log,
    });
    esl.addEventListener("event", (e) => this.#onEslEvent((e as EslEventReceived).event));
    const calls = new InboundCalls({
      esl,
      endpoint: this.endpoint,
      createSession: () => this.#createSession("tcp"),
      logger: this.#log,
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
    const server = new EslOutboundServer({
      hostname: this.#config.eslOutboundHost,
      port: this.#config.eslOutboundPort,
      allow: this.#config.eslOutboundAllow,
      endpoint: this.endpoint,
      createSession: () => this.#createSession("tcp"),
      logger: this.#log,
    });
    server.addEventListener("answering", (e) => this.#recordCall(e as InboundCallEvent));
    this.#calls = server.listen();
  }

  /** Records the session of an inbound call with the caller's identity. */
  #recordCall({ call }: InboundCallEvent): void {
    const info = call.info;
    this.#record(call.session, "in", call.media.remotePath, {
      fromUri: info.fromUri,
      toUri: info.toUri,
      fromDisplay: info.fromDisplay,
      callId: info.callId,
      channelUuid: info.channelUuid,
      otherLegUuid: info.otherLegUuid,
    });
  }

  // Pager mode in (§5.1): an inbound SIP MESSAGE; our own sends come back with Delivery-Failure.
  #onEslEvent(event: EslEvent): void {
    if (event.name !== "MESSAGE" || event.get("Delivery-Failure") !== undefined) return;
    const data = {
      from: `sip:${event.get("from") ?? ""}`,
      to: `sip:${event.get("to") ?? ""}`,
      fromDisplay: /^"?([^"<]*?)"?\s*</.exec(event.get("from_full") ?? "")?.[1] || null,
      callId: event.get("Call-ID") ?? event.get("sip_call_id") ?? null,
      contentType: event.get("type") ?? "text/plain",
      text: event.bodyText ?? "",
    };
    this.#publish(createEvent("pager.received", data));
    this.#log.info("pager received", { from: data.from, to: data.to });
    if (this.#plugins) {
      this.#track(this.#plugins.pager({
        from: data.from,
        to: data.to,
        fromDisplay: data.fromDisplay ?? undefined,
        callId: data.callId ?? undefined,
        contentType: data.contentType,
        text: data.text,
      }));
    }
  }

  /**
   * Queues a message on a session and records it. Its row follows every
   * status change; when it settles, `message.delivered` (status `sent` or
   * `delivered`) or `message.failed` is published.
   */
  sendMessage(
    sessionId: string,
    body: string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options: BridgeSendOptions,
  ): SentMessage {
    this.#checkRunning();
    const session = this.#live.get(sessionId);
    if (!session) {
      if (!this.store.getSession(sessionId)) {
        throw new BridgeError("not-found", `no session ${sessionId}`, "id");
      }
      throw new BridgeError("session-closed", `session ${sessionId} has ended`, "id");
    }
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    const size = bytes instanceof Uint8Array ? bytes.length : options.size;
    const outgoing = session.send(bytes, {
      contentType: options.contentType,
      successReport: options.report ?? false,
      size,
    });
    const record = this.store.insertMessage({
      sessionId,
      direction: "out",
      messageId: outgoing.messageId,
      status: outgoing.status,
      contentType: outgoing.contentType,
      size: size ?? null,
      // A short text is kept in the row, so transcripts show what was sent.
      text: bytes instanceof Uint8Array ? inlineText(outgoing.contentType, bytes) : undefined,
    });
    // A message of one chunk settles in one round trip: its row goes from
    // queued to the outcome, saving a write per text; longer ones show "sending".
    const oneChunk = size !== undefined && size <= session.chunkSize;
    const onStatus = () => {
      if (outgoing.settled || (oneChunk && outgoing.status === "sending")) return;
      this.store.updateMessage(record.id, { status: outgoing.status, bytes: outgoing.bytesSent });
    };
    outgoing.addEventListener("status", onStatus);
    this.#track(outgoing.done.then((result) => {
      outgoing.removeEventListener("status", onStatus);
      this.#settled(record.id, result);
    }));
    return { record, outgoing };
  }

  /** Ends a session (messages in flight fail with `reason`); a no-op when it has ended. */
  closeSession(id: string, reason: string): void {
    const session = this.#live.get(id);
    if (session) {
      session.close(reason);
      return;
    }
    if (!this.store.getSession(id)) throw new BridgeError("not-found", `no session ${id}`, "id");
  }

  /** Listens for MSRP: `msrps` with MSRP_TLS_CERT (its files are read and checked here). */
  #listen(): MsrpEndpoint {
    const config = this.#config;
    this.#msrpTls = readMsrpTls(config);
    return new MsrpEndpoint({
      hostname: config.msrpHost,
      port: config.msrpPort,
      advertiseHost: config.msrpAdvertise,
      tls: this.#msrpTls?.endpoint,
      webSocketAuthority: `${config.msrpAdvertise ?? config.httpHost}:${config.httpPort}`,
      maxSessions: config.maxSessions,
      maxConnections: config.maxConnections,
      maxConnectionsPerIp: config.maxConnectionsPerIp,
      maxUnfinishedPerConnection: config.maxUnfinishedPerConnection,
      parserLimits: {
        maxHeaderBytes: config.maxHeaderBytes,
        maxHeaderCount: config.maxHeaderCount,
        maxChunkBodyBytes: config.maxChunkBytes,
      },
      maxQueuedBytes: config.maxQueuedBytes,
      idleTimeoutMs: config.idleTimeoutMs,
      headTimeoutMs: config.headTimeoutMs,
      transactionTimeoutMs: config.transactionTimeoutMs,
      session: {
        acceptTypes: config.acceptTypes,
        maxMessageBytes: config.maxMessageBytes,
        chunkSize: config.chunkSize,
        maxUnfinishedMessages: config.maxUnfinishedPerSession,
        unfinishedIdleMs: config.unfinishedIdleMs,
      },
    }).listen();
  }

  #checkRunning(): void {
    if (this.#state !== "running") {
      throw new BridgeError("shutting-down", "the service is shutting down");
    }
  }

  #createSession(transport: "tcp" | "ws"): MsrpSession {
    const store = this.store;
    try {
      const session: MsrpSession = this.endpoint.createSession({
        transport,
        sink: (info) => this.#sink(store, session.id, info),
      });
      return session;
    } catch (e) {
      if (e instanceof RangeError) throw new BridgeError("session-limit", e.message);
      throw e;
    }
  }

  /**
   * Our side for SDP: the session's path, host and port from its URI, and
   * for a session on our `msrps` listener the fingerprint of its certificate.
   */
  #local(session: MsrpSession): LocalMsrpEndpoint {
    const uri = parseMsrpUri(session.localUri);
    const tls = uri.transport === "tcp" ? this.#msrpTls : undefined;
    return {
      path: session.localPath,
      address: uri.host,
      port: effectivePort(uri),
      acceptTypes: this.#config.acceptTypes,
      maxSize: this.#config.maxMessageBytes,
      fingerprint: tls && { hash: "sha-256", value: tls.fingerprint },
    };
  }

  /** Records a new session and follows its start and end. */
  #record(
    session: MsrpSession,
    direction: "in" | "out",
    remotePath: readonly string[],
    identity: Partial<CallIdentity> = {},
  ): void {
    this.store.insertSession({
      id: session.id,
      direction,
      localUri: session.localUri,
      remotePath,
      ...identity,
    });
    this.#live.set(session.id, session);
    const info = pluginSession(session, { direction });
    this.#pluginSessions.set(session.id, info);
    session.ready.then(() => {
      if (session.closed) return;
      const row = this.store.updateSession(session.id, {
        state: "active",
        remotePath: session.remotePath ?? remotePath,
      });
      this.#publish(createEvent("session.started", sessionEventData(row)));
      this.#log.info("session started", { sessionId: session.id });
      if (this.#plugins) this.#track(this.#plugins.sessionStarted(info));
    }, () => {});
    session.addEventListener("close", (e) => {
      const reason = (e as SessionCloseEvent).reason;
      this.#live.delete(session.id);
      this.#offers.delete(session.id);
      const row = this.store.updateSession(session.id, {
        state: "ended",
        endedAt: Date.now(),
        endReason: reason,
      });
      this.#publish(createEvent("session.ended", sessionEventData(row)));
      this.#log.info("session ended", { sessionId: session.id, reason });
      this.#pluginSessions.delete(session.id);
      if (this.#plugins) this.#track(this.#plugins.sessionEnded(info, reason));
    }, { once: true });
  }

  /** Connects to the peer the SDP described (see `connectNegotiated`). */
  async #connect(session: MsrpSession, accepted: AcceptedMedia): Promise<void> {
    try {
      await connectNegotiated(this.endpoint, session, accepted);
    } catch (e) {
      const reason = `connection failed: ${errorText(e)}`;
      session.close(reason);
      this.#log.warn("msrp connect failed", { sessionId: session.id, error: errorText(e) });
      throw new BridgeError("connect-failed", reason);
    }
  }

  /** Waits for the peer of the SDP to connect, and ends the session when none does in time. */
  #awaitConnection(session: MsrpSession, accepted: AcceptedMedia): void {
    expectNegotiatedPeer(this.endpoint, session, accepted);
    const timer = setTimeout(
      () => session.close("no connection from the peer"),
      CONNECT_WAIT_MS,
    );
    session.ready.finally(() => clearTimeout(timer)).catch(() => {});
  }

  /**
   * Stores a received message. Content past DATA_QUOTA_BYTES is refused with
   * 413 "disk quota exceeded" (RFC 4975 §10.5: stop sending this message):
   * on the first chunk nothing is recorded; later the message fails and its
   * content is removed (see {@linkcode StoreSink}).
   */
  #sink(store: Store, sessionId: string, info: IncomingMessageInfo): IncomingMessageSink {
    let sink: StoreSink;
    try {
      sink = new StoreSink(store, sessionId, info, {
        quota: this.#quota,
        onClose: (row) => this.#track(this.#received(row)),
      });
    } catch (e) {
      throw this.#quotaRefusal(e, sessionId, info);
    }
    return {
      write: (offset, bytes) => {
        try {
          return sink.write(offset, bytes);
        } catch (e) {
          throw this.#quotaRefusal(e, sessionId, info);
        }
      },
      close: (outcome) => this.#track(sink.close(outcome)),
    };
  }

  /** A quota failure as the MSRP refusal, logged (at most once per interval); others as they are. */
  #quotaRefusal(e: unknown, sessionId: string, info: IncomingMessageInfo): unknown {
    if (!(e instanceof StoreError) || e.code !== "quota-exceeded") return e;
    this.#quotaRefusals++;
    const now = performance.now();
    if (now - this.#quotaLoggedAt >= QUOTA_LOG_INTERVAL_MS) {
      this.#log.warn("disk quota exceeded: received content refused", {
        sessionId,
        messageId: info.messageId,
        size: info.size ?? null,
        usedBytes: this.#quota?.usedBytes,
        quotaBytes: this.#config.dataQuotaBytes,
        refused: this.#quotaRefusals,
      });
      this.#quotaLoggedAt = now;
      this.#quotaRefusals = 0;
    }
    return new MsrpError(Status.RequestEntityTooLarge, "disk quota exceeded");
  }

  async #received(row: MessageRecord): Promise<void> {
    const session = this.store.getSession(row.sessionId);
    if (row.status !== "received") {
      this.#incomingFailures++;
      this.#publish(createEvent("message.failed", messageEventData(row, session)));
      this.#log.warn("message incomplete", { messageId: row.id, bytes: row.bytes });
      return;
    }
    this.#messagesIn++;
    this.#bytesIn += row.bytes;
    let text: string | undefined;
    if (row.bytes <= MAX_INLINE_TEXT_BYTES && /^text\//i.test(row.contentType) && row.contentPath) {
      // Without the file the event still carries contentUrl, which then answers 404.
      const body = await Deno.readFile(row.contentPath).catch(() => undefined);
      text = body && inlineText(row.contentType, body);
      // Kept in the row too, so transcripts list it without reading a file.
      if (text !== undefined) this.store.updateMessage(row.id, { text });
    }
    if (this.#plugins && await this.#consumedByPlugins(row)) return;
    this.#publish(
      createEvent(
        "message.received",
        messageEventData(row, session, { text, contentUrl: contentUrl(row.id) }),
      ),
    );
    this.#log.info("message received", {
      sessionId: row.sessionId,
      messageId: row.id,
      bytes: row.bytes,
    });
  }

  /**
   * Runs the plugins on a received message: sends their replies and
   * forwards, and tells whether one of them consumed it (then no
   * `message.received` is published).
   */
  async #consumedByPlugins(row: MessageRecord): Promise<boolean> {
    const info = this.#pluginSessions.get(row.sessionId);
    if (!info || !this.#plugins) return false;
    const body = row.contentPath && row.bytes <= PLUGIN_BODY_BYTES
      ? await Deno.readFile(row.contentPath).catch(() => undefined)
      : undefined;
    const outcome = await this.#plugins.message(
      info,
      createPluginMessage({
        id: row.messageId,
        sessionId: row.sessionId,
        direction: "in",
        contentType: row.contentType,
        body,
        size: row.bytes,
      }),
    );
    const sendContent = (sessionId: string, content: OutgoingContent) => {
      if (!this.#live.has(sessionId)) return;
      this.sendMessage(sessionId, content.body, { contentType: content.contentType });
    };
    for (const reply of outcome.replies) sendContent(row.sessionId, reply);
    for (const f of outcome.forwards) sendContent(f.sessionId, f.content);
    if (outcome.consumed) {
      this.#log.info("message consumed by plugin", {
        sessionId: row.sessionId,
        messageId: row.id,
        plugin: outcome.consumedBy,
        rejectStatus: outcome.reject?.status,
      });
    }
    return outcome.consumed;
  }

  #settled(id: string, result: DeliveryResult): void {
    const failed = result.status === "failed";
    // The row and its event commit together; subscribers hear of it after the commit.
    const { row, event } = this.store.transaction(() => {
      const row = this.store.updateMessage(id, {
        status: result.status,
        bytes: result.bytesSent,
        errorCode: failed ? result.code : null,
        errorReason: failed ? result.reason : null,
      });
      const session = this.store.getSession(row.sessionId);
      const type = failed ? "message.failed" : "message.delivered";
      return { row, event: this.#logEvent(createEvent(type, messageEventData(row, session))) };
    });
    this.#notify(event);
    if (failed) {
      this.#failures.set(result.code, (this.#failures.get(result.code) ?? 0) + 1);
    } else {
      this.#messagesOut++;
      this.#bytesOut += result.bytesSent;
    }
    const info = this.#pluginSessions.get(row.sessionId);
    if (this.#plugins && info) {
      this.#track(this.#plugins.delivery({
        session: info,
        message: createPluginMessage({
          id: row.messageId,
          sessionId: row.sessionId,
          direction: "out",
          contentType: row.contentType,
          size: result.bytesSent,
        }),
        ...result,
      }));
    }
    this.#log.info("message settled", {
      sessionId: row.sessionId,
      messageId: id,
      status: result.status,
      code: result.code,
      bytes: result.bytesSent,
    });
  }

  /** Tells what the previous run left unfinished: its messages failed, its sessions ended. */
  #publishRecovered(recovered: RecoveryResult): void {
    const sessions = new Map(recovered.sessions.map((s) => [s.id, s]));
    for (const row of recovered.messages) {
      const session = sessions.get(row.sessionId) ?? this.store.getSession(row.sessionId);
      this.#publish(createEvent("message.failed", messageEventData(row, session)));
    }
    for (const row of recovered.sessions) {
      this.#publish(createEvent("session.ended", sessionEventData(row)));
    }
  }

  /** Records an event, wakes webhook delivery and tells subscribers. */
  #publish(event: WebhookEvent): void {
    this.#notify(this.#logEvent(event));
  }

  /** Stores an event in the log (and the webhook outbox); `#notify` tells of it. */
  #logEvent(event: WebhookEvent): EventRecord {
    return publishEvent(this.store, event, { webhook: this.#dispatcher !== undefined });
  }

  /** Wakes webhook delivery and tells subscribers of a stored event. */
  #notify(record: EventRecord): void {
    this.#dispatcher?.wake();
    for (const subscriber of this.#subscribers) subscriber.event(record);
  }

  /** Sends a webhook receiver's reply back into the event's session. */
  #reply(event: WebhookEvent, reply: WebhookReply): void {
    if (event.type === "pager.received") return;
    const sessionId = event.data.sessionId;
    if (this.#state !== "running" || !this.#live.has(sessionId)) {
      this.#log.warn("webhook reply dropped: session not open", { sessionId });
      return;
    }
    const contentType = reply.contentType ?? "text/plain";
    if (!isMediaType(contentType)) {
      this.#log.warn("webhook reply dropped: its contentType is not a media type", { sessionId });
      return;
    }
    const { record } = this.sendMessage(sessionId, reply.text, { contentType });
    this.#log.info("webhook reply sent", { sessionId, messageId: record.id });
  }

  async #storeWritable(): Promise<boolean> {
    try {
      this.store.transaction(() => {});
      const probe = `${this.store.dataDir}/content/.ready-probe`;
      await Deno.writeTextFile(probe, "");
      await Deno.remove(probe);
      return true;
    } catch {
      return false;
    }
  }

  #track<T>(work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => this.#work.delete(tracked));
    this.#work.add(tracked);
    tracked.catch((e) => this.#log.error("background work failed", { error: errorText(e) }));
    return work;
  }
}
