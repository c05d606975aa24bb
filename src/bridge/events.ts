/**
 * The events of the bridge: recorded in the event log (and the webhook
 * outbox), told to in-process subscribers (the server-sent event stream),
 * replayed from the log, and webhook receivers' replies sent back into
 * their session.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { isMediaType } from "../msrp/mod.ts";
import type { EventRecord, MessageRecord, RecoveryResult, Store } from "../store/mod.ts";
import {
  createEvent,
  messageEventData,
  publishEvent,
  sessionEventData,
  type WebhookEvent,
  type WebhookReply,
} from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";
import { SerialWork } from "../_serial.ts";

/** Receives the events the bridge publishes, as recorded in the event log. */
export interface EventSubscriber {
  /** A new event. */
  event(record: EventRecord): void;
  /** The bridge is stopping: no more events. */
  close(): void;
}

/** Events read from the log per query while telling subscribers. */
const TAIL_PAGE = 500;
/**
 * How often the log is read for events that other instances appended (a
 * store shared by several bridges); this instance's own are told at once.
 */
const SHARED_LOG_POLL_MS = 200;

/**
 * The event log of the bridge and who hears of new events. Subscribers hear
 * of events in the log's order, read back from the log after they commit,
 * so that on a shared store they hear every instance's events.
 */
export class EventLog {
  readonly #rt: Runtime;
  readonly #subscribers = new Set<EventSubscriber>();
  /** The position of the last event told to subscribers. */
  #told = 0;
  /** Reads the log, one read at a time (a failed read is logged by `track`). */
  readonly #tailer = new SerialWork(() => this.#rt.track(this.#readNew()).catch(() => {}));
  #poll: ReturnType<typeof setInterval> | undefined;

  /** Logs into `rt`'s store, and into its webhook outbox when webhooks are on. */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /** Starts telling subscribers of events appended from now on. */
  async start(): Promise<void> {
    this.#told = await this.#rt.store.lastEventSeq();
    if (this.#rt.store.kind === "postgres") {
      this.#poll = setInterval(() => this.#tail(), SHARED_LOG_POLL_MS);
    }
  }

  /** Records an event, then wakes webhook delivery and tells subscribers. */
  publish(event: WebhookEvent): Promise<EventRecord> {
    return this.#rt.track(
      this.record(event).then((record) => {
        this.notify(record);
        return record;
      }),
    );
  }

  /**
   * Stores an event in the log (and the webhook outbox) without telling
   * anyone, e.g. inside the transaction `store`; {@linkcode notify} tells of
   * it after the commit.
   */
  record(event: WebhookEvent, store: Store = this.#rt.store): Promise<EventRecord> {
    return publishEvent(store, event, { webhook: this.#rt.dispatcher !== undefined });
  }

  /**
   * Wakes webhook delivery and tells subscribers of the events stored since
   * the last time. With nobody subscribed, the mark moves to `newest` (the
   * event just stored, when the caller has it) without reading the log.
   */
  notify(newest?: EventRecord): void {
    this.#rt.dispatcher?.wake();
    if (newest !== undefined && this.#subscribers.size === 0) {
      this.#told = Math.max(this.#told, newest.seq);
      return;
    }
    this.#tail();
  }

  /** Tells what the previous run left unfinished: its messages failed, its sessions ended. */
  async publishRecovered(recovered: RecoveryResult): Promise<void> {
    await this.recordRecovered(recovered);
    this.notify();
  }

  /**
   * Stores `message.failed` and `session.ended` for what a restart or a
   * take-over ended, e.g. inside the transaction `store` that ended them;
   * {@linkcode notify} tells of them after the commit.
   */
  async recordRecovered(recovered: RecoveryResult, store: Store = this.#rt.store): Promise<void> {
    const sessions = new Map(recovered.sessions.map((s) => [s.id, s]));
    for (const row of recovered.messages) {
      const session = sessions.get(row.sessionId) ?? await store.getSession(row.sessionId);
      await this.record(createEvent("message.failed", messageEventData(row, session)), store);
    }
    for (const row of recovered.sessions) {
      await this.record(createEvent("session.ended", sessionEventData(row)), store);
    }
  }

  /**
   * Calls `subscriber.event` for every event appended from now on, until
   * the returned function is called or {@linkcode closeSubscribers}; while
   * the bridge does not run, closes `subscriber` at once.
   */
  subscribe(subscriber: EventSubscriber): () => void {
    if (!this.#rt.running) {
      subscriber.close();
      return () => {};
    }
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Tells every subscriber that no more events come, and forgets them. */
  closeSubscribers(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
    for (const subscriber of [...this.#subscribers]) subscriber.close();
    this.#subscribers.clear();
  }

  /** Up to `limit` logged events after sequence number `after`, oldest first. */
  since(after: number, limit: number): Promise<EventRecord[]> {
    return this.#rt.store.eventsSince(after, limit);
  }

  /** Reads the log past the last event told and tells subscribers, one reader at a time. */
  #tail(): void {
    this.#tailer.run();
  }

  /** Tells subscribers of the events past the mark; with none, moves the mark to the end. */
  async #readNew(): Promise<void> {
    if (this.#subscribers.size === 0) {
      const last = await this.#rt.store.lastEventSeq();
      // A subscriber that came meanwhile reads from the mark instead: nothing is skipped.
      if (this.#subscribers.size === 0) {
        this.#told = Math.max(this.#told, last);
        return;
      }
    }
    let page: EventRecord[];
    do {
      page = await this.#rt.store.eventsSince(this.#told, TAIL_PAGE);
      for (const record of page) {
        this.#told = record.seq;
        for (const subscriber of this.#subscribers) subscriber.event(record);
      }
    } while (page.length === TAIL_PAGE);
  }
}

/** Where webhook replies are sent: the messaging use case. */
export interface WebhookReplyTarget {
  /** The bridge takes new work. */
  readonly running: boolean;
  /** Session `sessionId` is open. */
  isOpen(sessionId: string): boolean;
  /** Sends `text` into an open session and returns its message row. */
  sendText(sessionId: string, text: string, contentType: string): Promise<MessageRecord>;
}

/**
 * Sends a webhook receiver's reply (`{"text","contentType"}`) back into the
 * session of `event`. A reply to `pager.received`, to a session that is not
 * open, or whose `contentType` is not a media type (RFC 4975 §9: no header
 * injection through it) is logged and dropped.
 */
export async function replyToWebhook(
  event: WebhookEvent,
  reply: WebhookReply,
  target: WebhookReplyTarget,
  log: Logger,
): Promise<void> {
  if (event.type === "pager.received") return;
  const sessionId = event.data.sessionId;
  if (!target.running || !target.isOpen(sessionId)) {
    log.warn("webhook reply dropped: session not open", { sessionId });
    return;
  }
  const contentType = reply.contentType ?? "text/plain";
  if (!isMediaType(contentType)) {
    log.warn("webhook reply dropped: its contentType is not a media type", { sessionId });
    return;
  }
  const record = await target.sendText(sessionId, reply.text, contentType);
  log.info("webhook reply sent", { sessionId, messageId: record.id });
}
