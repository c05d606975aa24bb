/**
 * Durable webhook delivery: the outbox in the store is the backlog; the
 * dispatcher posts due deliveries, records the outcome and schedules
 * retries. Delivery is at least once: receivers drop duplicates by event id.
 *
 * @module
 */

import { Logger } from "../log.ts";
import type { Store, WebhookRecord } from "../store/mod.ts";
import { backoffDelay } from "../_backoff.ts";
import { SerialWork } from "../_serial.ts";
import { WebhookError } from "./error.ts";
import type { WebhookEvent } from "./event.ts";
import { signWebhook } from "./signature.ts";

/** A text the receiver asked to send back into the session, from a 2xx body `{"reply":{…}}`. */
export interface WebhookReply {
  /** The text to send. */
  readonly text: string;
  /** Its Content-Type, when the receiver gave one. */
  readonly contentType?: string;
}

/** Called after a delivery whose 2xx response carried a reply. */
export type WebhookReplyHandler = (
  event: WebhookEvent,
  reply: WebhookReply,
) => void | Promise<void>;

/** The part of the store the dispatcher uses. */
export type WebhookStore = Pick<
  Store,
  | "claimWebhooks"
  | "markWebhookDelivered"
  | "markWebhookFailed"
  | "nextWebhookAttemptAt"
>;

/** Options of a {@linkcode WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  /** Where events are posted (http or https). */
  readonly url: string;
  /** The HMAC-SHA256 key of the signature. */
  readonly secret: string;
  /** The store holding the outbox. */
  readonly store: WebhookStore;
  /** Attempts before a delivery is given up; 20 when omitted. */
  readonly maxAttempts?: number;
  /** Retry delay after the first failure, ms; 1000 when omitted. */
  readonly baseDelayMs?: number;
  /** Longest retry delay, ms; 600000 (10 min) when omitted. */
  readonly maxDelayMs?: number;
  /** Randomize retry delays (full jitter); `true` when omitted. */
  readonly jitter?: boolean;
  /** Time for one request, response body included, ms; 10000 when omitted. */
  readonly requestTimeoutMs?: number;
  /** Requests in flight at once; 4 when omitted. */
  readonly concurrency?: number;
  /** Longest pause between looks at the outbox, ms; 1000 when omitted. */
  readonly pollIntervalMs?: number;
  /** How long `stop()` waits for requests in flight before aborting them, ms; 10000 when omitted. */
  readonly stopTimeoutMs?: number;
  /** Called with replies from receivers. */
  readonly onReply?: WebhookReplyHandler;
  /** Where to log; info level to stderr when omitted. */
  readonly logger?: Logger;
}

/** Largest response body read for a reply. */
const MAX_REPLY_BYTES = 64 * 1024;
/** Extra lease time past the request timeout before a crashed attempt is retried. */
const LEASE_SLACK_MS = 60_000;

type Outcome =
  | { readonly kind: "delivered"; readonly response: Response }
  | { readonly kind: "failed"; readonly error: string }
  | { readonly kind: "stopped" };

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

class StopSignal extends Error {}

function positive(name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isFinite(n) || n <= 0) {
    throw new WebhookError("invalid-config", `${name} must be a positive number`);
  }
  return n;
}

/** An error message without URLs (a webhook URL may carry credentials). */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)]+/gi, "<url>");
}

async function readLimited(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<string | undefined> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel();
        return undefined;
      }
      parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return new TextDecoder().decode(all);
}

function parseReply(text: string | undefined): WebhookReply | undefined {
  if (!text || !text.trimStart().startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const reply = (value as { reply?: unknown }).reply as Record<string, unknown> | undefined;
  if (typeof reply !== "object" || reply === null || typeof reply.text !== "string") {
    return undefined;
  }
  return typeof reply.contentType === "string"
    ? { text: reply.text, contentType: reply.contentType }
    : { text: reply.text };
}

/**
 * Posts the deliveries of the outbox: JSON bodies signed with
 * {@linkcode signWebhook}, headers `X-Msrp-Bridge-Event`,
 * `X-Msrp-Bridge-Delivery` (the outbox id), `X-Msrp-Bridge-Timestamp` and
 * `X-Msrp-Bridge-Signature`. A 2xx response delivers; any other response,
 * a timeout or a network error schedules a retry with capped exponential
 * backoff until `maxAttempts`. Only the deliveries being posted are held in
 * memory; the backlog stays in the store.
 */
export class WebhookDispatcher {
  readonly #url: string;
  readonly #secret: string;
  readonly #store: WebhookStore;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #jitter: boolean;
  readonly #requestTimeoutMs: number;
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  readonly #stopTimeoutMs: number;
  readonly #onReply: WebhookReplyHandler | undefined;
  readonly #log: Logger;
  readonly #inFlight = new Map<number, InFlight>();
  readonly #replies = new Set<Promise<void>>();
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Looks at the outbox, one look at a time. */
  readonly #pumper = new SerialWork(() => this.#look());

  /** Creates a stopped dispatcher; throws `invalid-config` for unusable options. */
  constructor(options: WebhookDispatcherOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new WebhookError("invalid-config", "the webhook URL is not a valid URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new WebhookError("invalid-config", "the webhook URL must be http or https");
    }
    if (options.secret === "") {
      throw new WebhookError("invalid-config", "the webhook secret is empty");
    }
    this.#url = url.href;
    this.#secret = options.secret;
    this.#store = options.store;
    this.#maxAttempts = Math.trunc(positive("maxAttempts", options.maxAttempts, 20));
    this.#baseDelayMs = positive("baseDelayMs", options.baseDelayMs, 1000);
    this.#maxDelayMs = positive("maxDelayMs", options.maxDelayMs, 600_000);
    this.#jitter = options.jitter ?? true;
    this.#requestTimeoutMs = positive("requestTimeoutMs", options.requestTimeoutMs, 10_000);
    this.#concurrency = Math.trunc(positive("concurrency", options.concurrency, 4));
    this.#pollIntervalMs = positive("pollIntervalMs", options.pollIntervalMs, 1000);
    this.#stopTimeoutMs = positive("stopTimeoutMs", options.stopTimeoutMs, 10_000);
    this.#onReply = options.onReply;
    this.#log = (options.logger ?? new Logger()).with({ component: "webhooks" });
  }

  /** Deliveries being posted right now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts delivering. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#pump();
  }

  /** Looks at the outbox now, e.g. right after an event was enqueued. */
  wake(): void {
    this.#pump();
  }

  /**
   * Stops delivering: waits up to `stopTimeoutMs` for requests in flight and
   * reply handlers, then aborts the remaining requests (they stay due in the
   * outbox).
   */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pumper.idle();
    const posts = [...this.#inFlight.values()];
    const everything = Promise.allSettled([...posts.map((p) => p.done), ...this.#replies]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#stopTimeoutMs);
    });
    await Promise.race([everything, timeout]);
    clearTimeout(timer);
    for (const post of this.#inFlight.values()) post.controller.abort(new StopSignal());
    await Promise.allSettled(posts.map((p) => p.done));
  }

  /** Looks at the outbox once at a time; a wake-up meanwhile looks again after. */
  #pump(): void {
    if (this.#running) this.#pumper.run();
  }

  /** One look at the outbox; when it is unavailable, the next look is after the poll interval. */
  async #look(): Promise<void> {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      await this.#fill();
    } catch (e) {
      this.#log.error("webhook outbox unavailable", { error: describe(e) });
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#pump(), this.#pollIntervalMs);
    }
  }

  /** Takes due deliveries up to the concurrency, then sets the timer for the next. */
  async #fill(): Promise<void> {
    const free = this.#concurrency - this.#inFlight.size;
    if (free > 0) {
      const now = Date.now();
      const lease = now + 2 * this.#requestTimeoutMs + LEASE_SLACK_MS;
      for (const record of await this.#store.claimWebhooks(now, free, lease)) {
        if (this.#running) this.#begin(record);
        else await this.#store.markWebhookFailed(record.id, "dispatcher stopped", Date.now());
      }
    }
    if (!this.#running || this.#inFlight.size >= this.#concurrency) return; // a finishing post pumps
    const next = await this.#store.nextWebhookAttemptAt();
    const delay = next === undefined
      ? this.#pollIntervalMs
      : Math.min(this.#pollIntervalMs, Math.max(1, next - Date.now()));
    clearTimeout(this.#timer);
    if (this.#running) this.#timer = setTimeout(() => this.#pump(), delay);
  }

  #begin(record: WebhookRecord): void {
    const controller = new AbortController();
    const done = this.#deliver(record, controller)
      .catch((e) =>
        this.#log.error("webhook delivery error", { delivery: record.id, error: describe(e) })
      )
      .finally(() => {
        this.#inFlight.delete(record.id);
        this.#pump();
      });
    this.#inFlight.set(record.id, { controller, done });
  }

  async #deliver(record: WebhookRecord, controller: AbortController): Promise<void> {
    const outcome = await this.#post(record, controller);
    const fields = { delivery: record.id, type: record.type, attempt: record.attempts };
    if (outcome.kind === "stopped") {
      await this.#store.markWebhookFailed(record.id, "dispatcher stopped", Date.now());
      return;
    }
    if (outcome.kind === "delivered") {
      await this.#store.markWebhookDelivered(record.id);
      this.#log.log("debug", "webhook delivered", { ...fields, status: outcome.response.status });
      const reply = parseReply(await this.#body(outcome.response, controller));
      if (reply && this.#onReply) this.#reply(record, reply);
      return;
    }
    if (record.attempts >= this.#maxAttempts) {
      await this.#store.markWebhookFailed(record.id, outcome.error, null);
      this.#log.error("webhook given up", { ...fields, error: outcome.error });
      return;
    }
    const delay = backoffDelay(
      record.attempts,
      this.#baseDelayMs,
      this.#maxDelayMs,
      this.#jitter ? "full" : "none",
    );
    await this.#store.markWebhookFailed(record.id, outcome.error, Date.now() + delay);
    this.#log.warn("webhook attempt failed", { ...fields, error: outcome.error, retryInMs: delay });
  }

  async #post(record: WebhookRecord, controller: AbortController): Promise<Outcome> {
    const timer = setTimeout(() => controller.abort(), this.#requestTimeoutMs);
    try {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const response = await fetch(this.#url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "msrp-bridge",
          "X-Msrp-Bridge-Event": record.type,
          "X-Msrp-Bridge-Delivery": String(record.id),
          "X-Msrp-Bridge-Timestamp": timestamp,
          "X-Msrp-Bridge-Signature": await signWebhook(this.#secret, timestamp, record.payload),
        },
        body: record.payload,
        redirect: "manual",
        signal: controller.signal,
      });
      if (response.ok) return { kind: "delivered", response };
      await response.body?.cancel();
      return { kind: "failed", error: `HTTP ${response.status}` };
    } catch (e) {
      if (controller.signal.reason instanceof StopSignal) return { kind: "stopped" };
      if (controller.signal.aborted) {
        return { kind: "failed", error: `no response within ${this.#requestTimeoutMs} ms` };
      }
      return { kind: "failed", error: `network error: ${describe(e)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The response body (bounded, within the request timeout), or `undefined`. */
  async #body(response: Response, controller: AbortController): Promise<string | undefined> {
    if (!response.body) return undefined;
    const timer = setTimeout(() => controller.abort(), this.#requestTimeoutMs);
    try {
      return await readLimited(response.body, MAX_REPLY_BYTES);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #reply(record: WebhookRecord, reply: WebhookReply): void {
    const event = JSON.parse(record.payload) as WebhookEvent;
    const handled = (async () => await this.#onReply!(event, reply))()
      .catch((e) =>
        this.#log.error("webhook reply handler failed", { delivery: record.id, error: describe(e) })
      )
      .finally(() => this.#replies.delete(handled));
    this.#replies.add(handled);
  }
}
