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
import type { EventRecord, MessageRecord, RecoveryResult } from "../store/mod.ts";
import {
  createEvent,
  messageEventData,
  publishEvent,
  sessionEventData,
  type WebhookEvent,
  type WebhookReply,
} from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";

/** Receives the events the bridge publishes, as recorded in the event log. */
export interface EventSubscriber {
  /** A new event. */
  event(record: EventRecord): void;
  /** The bridge is stopping: no more events. */
  close(): void;
}

/** The event log of the bridge and who hears of new events. */
export class EventLog {
  readonly #rt: Runtime;
  readonly #subscribers = new Set<EventSubscriber>();

  /** Logs into `rt`'s store, and into its webhook outbox when webhooks are on. */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /** Records an event, wakes webhook delivery and tells subscribers. */
  publish(event: WebhookEvent): void {
    this.notify(this.record(event));
  }

  /**
   * Stores an event in the log (and the webhook outbox) without telling
   * anyone, e.g. inside a transaction; {@linkcode notify} tells of it after.
   */
  record(event: WebhookEvent): EventRecord {
    return publishEvent(this.#rt.store, event, { webhook: this.#rt.dispatcher !== undefined });
  }

  /** Wakes webhook delivery and tells subscribers of a stored event. */
  notify(record: EventRecord): void {
    this.#rt.dispatcher?.wake();
    for (const subscriber of this.#subscribers) subscriber.event(record);
  }

  /** Tells what the previous run left unfinished: its messages failed, its sessions ended. */
  publishRecovered(recovered: RecoveryResult): void {
    const sessions = new Map(recovered.sessions.map((s) => [s.id, s]));
    for (const row of recovered.messages) {
      const session = sessions.get(row.sessionId) ?? this.#rt.store.getSession(row.sessionId);
      this.publish(createEvent("message.failed", messageEventData(row, session)));
    }
    for (const row of recovered.sessions) {
      this.publish(createEvent("session.ended", sessionEventData(row)));
    }
  }

  /**
   * Calls `subscriber.event` for every event published from now on, until
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
    for (const subscriber of [...this.#subscribers]) subscriber.close();
    this.#subscribers.clear();
  }

  /** Up to `limit` logged events after sequence number `after`, oldest first. */
  since(after: number, limit: number): EventRecord[] {
    return this.#rt.store.eventsSince(after, limit);
  }
}

/** Where webhook replies are sent: the messaging use case. */
export interface WebhookReplyTarget {
  /** The bridge takes new work. */
  readonly running: boolean;
  /** Session `sessionId` is open. */
  isOpen(sessionId: string): boolean;
  /** Sends `text` into an open session and returns its message row. */
  sendText(sessionId: string, text: string, contentType: string): MessageRecord;
}

/**
 * Sends a webhook receiver's reply (`{"text","contentType"}`) back into the
 * session of `event`. A reply to `pager.received`, to a session that is not
 * open, or whose `contentType` is not a media type (RFC 4975 §9: no header
 * injection through it) is logged and dropped.
 */
export function replyToWebhook(
  event: WebhookEvent,
  reply: WebhookReply,
  target: WebhookReplyTarget,
  log: Logger,
): void {
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
  const record = target.sendText(sessionId, reply.text, contentType);
  log.info("webhook reply sent", { sessionId, messageId: record.id });
}
