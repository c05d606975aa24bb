/**
 * The responses and REPORTs the sessions on one connection write, in the
 * order of the requests they answer. A chunk's 200 waits until its sink has
 * written the chunk (see `IncomingMessageSink.write`); what is answered after
 * it, on any session of the connection, waits behind it.
 *
 * @module
 */

import { Fifo } from "./_fifo.ts";
import type { SessionLink } from "./_session_link.ts";

interface Slot {
  /** True once `run` may be called. */
  ready: boolean;
  run: () => void;
}

const byLink = new WeakMap<SessionLink, Replies>();

/** One connection's answers, written in order. */
export class Replies {
  readonly #link: SessionLink;
  readonly #slots = new Fifo<Slot>();
  #running = false;

  private constructor(link: SessionLink) {
    this.#link = link;
  }

  /** The answers of `link`, shared by every session on it. */
  static of(link: SessionLink): Replies {
    let replies = byLink.get(link);
    if (replies === undefined) byLink.set(link, replies = new Replies(link));
    return replies;
  }

  /** Answers that wait for a write, and those queued behind them. */
  get waiting(): number {
    return this.#slots.length;
  }

  /** Writes `parts` (whole frames) now, or after the answers that wait before them. */
  post(parts: readonly Uint8Array[]): void {
    if (this.#running || this.#slots.length === 0) this.#link.post(parts);
    else this.#slots.push({ ready: true, run: () => this.#link.post(parts) });
  }

  /**
   * Calls `answer` once `written` settles — with its rejection reason, or
   * `undefined` when it fulfilled — and every answer queued before it was
   * written; what `answer` posts goes out at once, before later answers.
   */
  after(written: Promise<unknown>, answer: (error: unknown) => void): void {
    const slot: Slot = { ready: false, run: () => {} };
    this.#slots.push(slot);
    const settle = (error: unknown): void => {
      slot.run = () => answer(error);
      slot.ready = true;
      this.#drain();
    };
    written.then(() => settle(undefined), (e) => settle(e ?? new Error("write failed")));
  }

  #drain(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#slots.peek()?.ready) {
        const slot = this.#slots.shift()!;
        try {
          slot.run();
        } catch (e) {
          // A bug in an answer must not hold back the answers after it.
          reportError(e);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
