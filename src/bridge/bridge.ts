/**
 * {@linkcode Bridge}: the facade that wires the use cases of the bridge —
 * media (offer/answer), messaging, calls, files, pager, events and health — over
 * one runtime (store, MSRP endpoint, webhooks, plugins) and offers them to
 * the HTTP API.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ComposingIndication, PluginRunner } from "../plugins/mod.ts";
import type { MsrpEndpoint } from "../session/mod.ts";
import type {
  EventRecord,
  ListOptions,
  MessageRecord,
  Page,
  PublishedFileRecord,
  SessionRecord,
} from "../store/mod.ts";
import { composingEventData, createEvent, type FileTransferData } from "../webhooks/mod.ts";
import { Runtime } from "./_runtime.ts";
import { type SessionQuery, Sessions } from "./_sessions.ts";
import { Calls, type EslState } from "./calls.ts";
import { Cluster, type SessionLocation } from "./cluster.ts";
import { EventLog, type EventSubscriber, replyToWebhook } from "./events.ts";
import { Files, type FileSendRequest, type OfferedFile } from "./files.ts";
import type { FileUpload } from "./_upload.ts";
import { type BridgeMetrics, Health, type Readiness } from "./health.ts";
import { Imdn } from "./imdn.ts";
import { type AnsweredSession, Media, type OfferedSession } from "./media.ts";
import { type BridgeSendOptions, Messaging, type SentMessage } from "./messaging.ts";
import { Pager, type PagerMessage } from "./pager.ts";
import { PublishedFiles } from "./published.ts";

/**
 * The service: opens the store, listens for MSRP, delivers webhooks (when
 * `WEBHOOK_URL` is set) and publishes events to subscribers; creates, sends
 * on and closes sessions for the HTTP API. Every session has a row in the
 * store with the MSRP session id as its id; every message has a row kept up
 * to date with its status.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { Logger } from "../log.ts";
 * import { Bridge } from "./mod.ts";
 *
 * const dataDir = await Deno.makeTempDir();
 * const config = loadConfig({ DATA_DIR: dataDir, MSRP_PORT: "0", ESL_MODE: "off" });
 * const bridge = new Bridge(config, new Logger("error"));
 * await bridge.start();
 * const { id } = bridge.createOffer(); // our SDP offer, to send to the peer
 * console.log(bridge.getSession(id)?.state); // "pending" until the answer connects
 * await bridge.stop();
 * await Deno.remove(dataDir, { recursive: true });
 * ```
 */
export class Bridge {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sessions: Sessions;
  readonly #messaging: Messaging;
  readonly #imdn: Imdn;
  readonly #media: Media;
  readonly #calls: Calls;
  readonly #files: Files;
  readonly #published: PublishedFiles;
  readonly #pager: Pager;
  readonly #health: Health;
  readonly #cluster: Cluster;

  /**
   * Creates a stopped bridge; {@linkcode start} opens everything. `plugins`
   * (see `src/plugins/`) see sessions and messages in `PLUGINS` order; the
   * composing indications they announce are published as `session.composing`.
   */
  constructor(config: Config, log: Logger, plugins?: PluginRunner) {
    const rt = this.#rt = new Runtime(config, log, plugins);
    this.#events = new EventLog(rt);
    this.#sessions = new Sessions(rt, this.#events, (id, info) => this.#messaging.sink(id, info));
    this.#imdn = new Imdn(rt, this.#events, this.#sessions);
    this.#messaging = new Messaging(rt, this.#events, this.#sessions, this.#imdn);
    this.#published = new PublishedFiles(rt);
    this.#media = new Media(
      rt,
      this.#sessions,
      this.#published,
      (id, pulled) => this.#files.sendPulled(id, pulled),
    );
    this.#calls = new Calls(
      rt,
      this.#sessions,
      this.#media,
      (event) => this.#pager.received(event),
    );
    this.#files = new Files(
      rt,
      this.#events,
      this.#sessions,
      this.#calls,
      this.#media,
      this.#messaging,
    );
    this.#pager = new Pager(rt, this.#events, this.#calls);
    this.#health = new Health(rt, this.#sessions, this.#messaging, this.#calls);
    this.#cluster = new Cluster(rt, this.#events, this.#calls, this.#sessions);
    plugins?.onComposing((event) => this.#rt.track(this.#composing(event)));
  }

  /** The service logger. */
  get logger(): Logger {
    return this.#rt.log;
  }

  /** The MSRP endpoint (MSRP over WebSocket is adopted there); throws before {@linkcode start}. */
  get endpoint(): MsrpEndpoint {
    return this.#rt.endpoint;
  }

  /** The PBX event-socket connection (`off` with `ESL_MODE=off`). */
  get eslState(): EslState {
    return this.#calls.eslState;
  }

  /**
   * Opens the store (ending what a previous run left open), listens for
   * MSRP, starts webhook delivery and the PBX integration. Rejects, with
   * everything closed again, when any of them fails (e.g. the MSRP port is
   * taken).
   */
  async start(): Promise<void> {
    const rt = this.#rt;
    const recovered = await rt.open((event, reply) =>
      replyToWebhook(event, reply, this.#messaging, rt.log)
    );
    await this.#events.start();
    await this.#events.publishRecovered(recovered);
    await this.#files.clearSpool();
    rt.log.info("msrp listening", { uri: rt.endpoint.ownUri });
    rt.dispatcher?.start();
    rt.log.info("webhooks", { enabled: rt.dispatcher !== undefined });
    rt.run();
    try {
      await this.#cluster.start();
      this.#calls.start();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /**
   * Stops: refuses new work, ends event subscriptions, closes every session
   * (messages in flight fail with the reason `shutdown`), the MSRP listener
   * and connections, stops webhook delivery and closes the store.
   */
  async stop(): Promise<void> {
    const rt = this.#rt;
    if (!rt.running) return;
    rt.beginStopping();
    this.#events.closeSubscribers();
    await this.#cluster.stop();
    await this.#calls.close();
    this.#sessions.closeAll("shutdown");
    await rt.endpoint.close();
    await rt.drain();
    await rt.plugins?.close();
    await rt.close();
    rt.log.info("bridge stopped");
  }

  /** The instance this process is (`INSTANCE_ID`). */
  get instanceId(): string {
    return this.#rt.config.instanceId;
  }

  /**
   * Where session `id` is served: here (also for an unknown id), by another
   * instance sharing the store, or by one that was lost.
   */
  locateSession(id: string): Promise<SessionLocation> {
    return this.#cluster.locateSession(id);
  }

  /** Where the session of message `id` is served, and its content kept. */
  locateMessage(id: string): Promise<SessionLocation> {
    return this.#cluster.locateMessage(id);
  }

  /** What `/readyz` reports. */
  readiness(): Promise<Readiness> {
    return this.#health.readiness();
  }

  /** Counters and gauges for `/metrics`. */
  metrics(): Promise<BridgeMetrics> {
    return this.#health.metrics();
  }

  /**
   * Calls `subscriber.event` for every event published from now on, until
   * the returned function is called or the bridge stops.
   */
  subscribe(subscriber: EventSubscriber): () => void {
    return this.#events.subscribe(subscriber);
  }

  /** Up to `limit` logged events after sequence number `after`, oldest first (for replay). */
  eventsSince(after: number, limit: number): Promise<EventRecord[]> {
    return this.#events.since(after, limit);
  }

  /**
   * Answers an SDP offer: creates a session (WebSocket when the offer's MSRP
   * line is, else TCP), records it and connects to the peer when our
   * negotiated role is active; otherwise the peer connects to us.
   */
  createSessionFromOffer(sdp: string): Promise<AnsweredSession> {
    return this.#media.answer(sdp);
  }

  /** Creates a session with our offer (`a=setup:actpass`); see {@linkcode applyAnswer}. */
  createOffer(): Promise<OfferedSession> {
    return this.#media.offer();
  }

  /**
   * Applies the answer to our offer: when we are the active side, connects
   * and resolves once the connection is bound; otherwise waits for the peer.
   * The answer to an offer of {@linkcode offerFile} then sends the file.
   */
  applyAnswer(id: string, sdp: string): Promise<SessionRecord> {
    return this.#media.applyAnswer(id, sdp);
  }

  /**
   * Places a session through the PBX with a SIP INVITE carrying our offer;
   * resolves once the call is answered (see `Calls.originate`).
   */
  originate(to: string): Promise<OfferedSession> {
    return this.#calls.originate(to);
  }

  /**
   * Pushes a file through the PBX (RFC 5547); resolves once the call is
   * answered and the file queued (see `Files.send`).
   */
  sendFile(request: FileSendRequest): Promise<FileTransferData> {
    return this.#files.send(request);
  }

  /**
   * Offers a file with an SDP offer of ours (RFC 5547); its answer, applied
   * with {@linkcode applyAnswer}, sends it (see `Files.offer`).
   */
  offerFile(upload: FileUpload): Promise<OfferedFile> {
    return this.#files.offer(upload);
  }

  /**
   * Resumes file transfer `id`, a push that failed part-way, from its
   * stored copy (RFC 5547 §8; see `Files.resume`): through the PBX as it
   * was, or with a new offer of ours (then with `offer`).
   */
  resumeFile(id: string, to?: string): Promise<FileTransferData | OfferedFile> {
    return this.#files.resume(id, to);
  }

  /**
   * Publishes a file for peers to pull (RFC 5547 §6; see
   * `PublishedFiles.publish`).
   */
  publishFile(upload: FileUpload): Promise<PublishedFileRecord> {
    return this.#published.publish(upload);
  }

  /** The files published for peers to pull, oldest first. */
  listPublishedFiles(): Promise<PublishedFileRecord[]> {
    return this.#published.list();
  }

  /**
   * Deletes published file `id`; pulls reading it go on (see
   * `PublishedFiles.delete`).
   */
  deletePublishedFile(id: string): Promise<void> {
    return this.#published.delete(id);
  }

  /** The state of a file we push, by its id (its session's), or `undefined`. */
  getFileTransfer(id: string): Promise<FileTransferData | undefined> {
    return this.#files.get(id);
  }

  /** Sends a pager-mode SIP MESSAGE through the PBX (see `Pager.send`). */
  sendPager(message: PagerMessage): Promise<void> {
    return this.#pager.send(message);
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
  ): Promise<SentMessage> {
    return this.#messaging.send(sessionId, body, options);
  }

  /**
   * Ends a session (messages in flight fail with `reason`) and resolves once
   * its row says so; a no-op when it has ended.
   */
  closeSession(id: string, reason: string): Promise<void> {
    return this.#sessions.close(id, reason);
  }

  /** The row of session `id`; throws before {@linkcode start}. */
  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.#sessions.get(id);
  }

  /** A page of session rows, newest first; throws before {@linkcode start}. */
  listSessions(query: SessionQuery = {}): Promise<Page<SessionRecord>> {
    return this.#sessions.list(query);
  }

  /**
   * Sends the display notification (IMDN, RFC 5438) of received CPIM message
   * `id` that asked for one; a no-op once sent.
   *
   * @throws {BridgeError} `not-found`, `imdn-not-requested`, `session-closed`.
   */
  markDisplayed(id: string): Promise<void> {
    return this.#imdn.displayed(id);
  }

  /** The row of message `id`; throws before {@linkcode start}. */
  getMessage(id: string): Promise<MessageRecord | undefined> {
    return this.#messaging.get(id);
  }

  /**
   * A page of session `sessionId`'s messages, oldest first.
   *
   * @throws {BridgeError} `not-found` without such a session.
   */
  listMessages(sessionId: string, options: ListOptions = {}): Promise<Page<MessageRecord>> {
    return this.#messaging.list(sessionId, options);
  }

  /** A composing indication a plugin announced (RFC 3994), published as `session.composing`. */
  async #composing({ session, indication }: ComposingIndication): Promise<void> {
    if (!this.#rt.running) return;
    const row = await this.#sessions.get(session.id);
    await this.#events.publish(
      createEvent("session.composing", composingEventData(session.id, row, indication)),
    );
  }
}
