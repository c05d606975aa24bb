/**
 * Requests the relay forwarded and the responses they await (RFC 4976
 * §6.4.1, §6.4.3): answered 408 when the next hop says nothing within the
 * transaction timeout or its connection is lost.
 *
 * @module
 */

import {
  buildReport,
  encodeRequest,
  failureReportOf,
  type RequestHead,
  responseToPath,
  Status,
  transactionIdFor,
} from "../msrp/mod.ts";
import type { RouterLink } from "../session/mod.ts";
import type { Loops } from "./_loop.ts";

/** A forwarded request awaiting the next hop's response. */
export interface Forwarded {
  /** Where the request came from, and where its response goes. */
  readonly source: RouterLink;
  /**
   * The request as received: its first From-Path URI is the previous hop,
   * its first To-Path URI is our URI as the request named it.
   */
  readonly received: RequestHead;
  /**
   * When the response is overdue; none until the end-line was passed on
   * (RFC 4976 §6.4.1: the timer starts once the request was sent on).
   */
  deadline: number;
}

/** Forwarded requests by next hop and transaction id. */
export class ForwardedTransactions {
  readonly #timeoutMs: number;
  readonly #loops: Loops;
  readonly #armed: () => void;
  readonly #pending = new Map<RouterLink, Map<string, Forwarded>>();

  /**
   * Transactions answered 408 after `timeoutMs`, through `loops` to a
   * session of ours; `armed` hears of each timer started (it wants sweeping).
   */
  constructor(timeoutMs: number, loops: Loops, armed: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#loops = loops;
    this.#armed = armed;
  }

  /** Next hops with transactions pending. */
  get size(): number {
    return this.#pending.size;
  }

  /** `received` from `source` is being forwarded to `dest`; its response will be due. */
  expect(dest: RouterLink, source: RouterLink, received: RequestHead): Forwarded {
    let pending = this.#pending.get(dest);
    if (!pending) this.#pending.set(dest, pending = new Map());
    const entry: Forwarded = { source, received, deadline: Infinity };
    pending.set(received.transactionId, entry);
    return entry;
  }

  /** The request was passed on whole: its response is due within the timeout. */
  arm(dest: RouterLink, entry: Forwarded): void {
    if (this.#pending.get(dest)?.get(entry.received.transactionId) !== entry) return;
    entry.deadline = Date.now() + this.#timeoutMs;
    this.#armed();
  }

  /** The transaction a response on `dest` ends, when it is one we forwarded. */
  take(dest: RouterLink, transactionId: string): Forwarded | undefined {
    const pending = this.#pending.get(dest);
    const entry = pending?.get(transactionId);
    if (!pending || !entry) return undefined;
    pending.delete(transactionId);
    if (pending.size === 0) this.#pending.delete(dest);
    return entry;
  }

  /** True while a transaction is pending to or from `link`. */
  involves(link: RouterLink): boolean {
    if (this.#pending.has(link)) return true;
    for (const pending of this.#pending.values()) {
      for (const entry of pending.values()) if (entry.source === link) return true;
    }
    return false;
  }

  /** Answers the transactions overdue at `now` with 408. */
  sweep(now: number): void {
    for (const [dest, pending] of this.#pending) {
      for (const [tid, entry] of pending) {
        if (entry.deadline > now) continue;
        pending.delete(tid);
        this.#timedOut(entry, "no response from the next hop within the transaction timeout");
      }
      if (pending.size === 0) this.#pending.delete(dest);
    }
  }

  /** `link` closed: the requests forwarded to it are answered 408 at once. */
  linkClosed(link: RouterLink): void {
    const pending = this.#pending.get(link);
    this.#pending.delete(link);
    for (const entry of pending?.values() ?? []) {
      this.#timedOut(entry, "the connection to the next hop was lost");
    }
  }

  /**
   * No response came in time, or the next hop's connection was lost. With
   * `Failure-Report: partial` silence means success and the request is just
   * forgotten; otherwise the previous hop's transaction gets 408 (RFC 4975
   * §7.1.1 treats no response as 408) and, as RFC 4976 §6.4.1 asks of a
   * relay that could not deliver a SEND, the sender a 408 REPORT as well: the
   * 408 response only ends the previous hop's transaction.
   */
  #timedOut(entry: Forwarded, reason: string): void {
    const r = entry.received;
    if (entry.source.closed || failureReportOf(r) !== "yes") return;
    this.#loops.answer(entry.source, {
      transactionId: r.transactionId,
      status: Status.RequestTimeout,
      comment: reason,
      toPath: responseToPath(r.method, r.fromPath),
      fromPath: [r.toPath[0]],
    });
    // A session of ours as the sender runs its own timer and fails the message itself.
    if (r.method !== "SEND" || r.messageId === undefined || this.#loops.has(entry.source)) return;
    entry.source.post(encodeRequest(buildReport({
      transactionId: transactionIdFor([]),
      toPath: r.fromPath,
      fromPath: [r.toPath[0]],
      messageId: r.messageId,
      byteRange: r.byteRange ?? { start: 1, end: 0, total: 0 },
      status: Status.RequestTimeout,
      comment: reason,
    })));
  }
}
