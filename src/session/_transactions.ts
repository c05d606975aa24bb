/**
 * The transactions of a connection that await their responses, in the order
 * they were sent.
 *
 * A peer answers the requests of one connection in order, nearly always
 * (RFC 4975 §7.2 does not require it), so the response to take is almost
 * always the oldest one: that is an array step, where a `Map` of a few
 * thousand transaction ids costs a hash insert and delete per chunk. A
 * response out of order is found through an index of the ids, built when
 * one comes and dropped once as many responses in order as transactions
 * wait came after it (so rebuilding it costs O(1) per response).
 *
 * @module
 */

/** Transactions awaiting responses, oldest first, by transaction id. */
export class Transactions<T> {
  #ids: (string | undefined)[] = [];
  #values: (T | undefined)[] = [];
  #head = 0;
  #live = 0;
  /** Sequence number of `#ids[0]`: positions in the index survive compaction. */
  #base = 0;
  #index: Map<string, number> | undefined;
  /** Responses in order since the index was last used. */
  #inOrder = 0;

  /** How many wait. */
  get size(): number {
    return this.#live;
  }

  /** Adds the newest transaction. */
  add(transactionId: string, value: T): void {
    this.#index?.set(transactionId, this.#base + this.#ids.length);
    this.#ids.push(transactionId);
    this.#values.push(value);
    this.#live++;
  }

  /** Removes transaction `transactionId` and returns its value; `undefined` when it is not waiting. */
  take(transactionId: string): T | undefined {
    if (this.#live === 0) return undefined;
    let at = this.#head;
    if (this.#ids[at] !== transactionId) {
      this.#index ??= this.#buildIndex();
      const position = this.#index.get(transactionId);
      if (position === undefined) return undefined;
      at = position - this.#base;
      this.#inOrder = 0;
    } else if (this.#index !== undefined && ++this.#inOrder >= Math.max(64, this.#live)) {
      this.#index = undefined;
    }
    const value = this.#values[at];
    this.#ids[at] = undefined;
    this.#values[at] = undefined;
    this.#index?.delete(transactionId);
    if (--this.#live === 0) {
      this.clear();
    } else if (at === this.#head) {
      this.#advance();
    }
    return value;
  }

  /** The oldest waiting transaction's id and value. */
  oldest(): [string, T] | undefined {
    if (this.#live === 0) return undefined;
    return [this.#ids[this.#head]!, this.#values[this.#head] as T];
  }

  /** The waiting transactions, oldest first (a copy: taking them meanwhile is safe). */
  entries(): [string, T][] {
    const out: [string, T][] = [];
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i];
      if (id !== undefined) out.push([id, this.#values[i] as T]);
    }
    return out;
  }

  /** Forgets every transaction. */
  clear(): void {
    this.#base += this.#ids.length;
    this.#ids = [];
    this.#values = [];
    this.#head = 0;
    this.#live = 0;
    this.#index = undefined;
  }

  // Moves the head past taken transactions; drops the taken part once it is most of the arrays.
  #advance(): void {
    const ids = this.#ids;
    let head = this.#head;
    while (head < ids.length && ids[head] === undefined) head++;
    if (head >= 1024 && head * 2 >= ids.length) {
      this.#ids = ids.slice(head);
      this.#values = this.#values.slice(head);
      this.#base += head;
      head = 0;
    }
    this.#head = head;
  }

  #buildIndex(): Map<string, number> {
    const index = new Map<string, number>();
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i];
      if (id !== undefined) index.set(id, this.#base + i);
    }
    return index;
  }
}
