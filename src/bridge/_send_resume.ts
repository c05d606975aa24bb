/**
 * Resuming a file we push (RFC 5547 §8, `a=file-range`, the send
 * direction): the spooled copies of transfers that failed part-way, kept
 * for `PARTIAL_RETENTION_MS`, and the range a resumed transfer sends
 * (internal).
 *
 * @module
 */

import type { FileRange } from "../sdp/mod.ts";
import type { SessionFile } from "../store/mod.ts";
import type { Runtime } from "./_runtime.ts";
import { BridgeError } from "./errors.ts";

/** The spooled copy of a transfer of ours that failed part-way. */
export interface KeptCopy {
  /** The spooled file. */
  readonly path: string;
  /** The file as offered. */
  readonly file: SessionFile & { readonly size: number };
  /** The SIP URI called; `null` for a push offered with our SDP (see `Files.offer`). */
  readonly to: string | null;
  /**
   * The file's first bytes the receiver confirmed (its 200s for our chunks,
   * RFC 4975 §7.2: sent once it has taken them; in two-leg bypass they come
   * from the callee itself). The resumed offer proposes the rest.
   */
  readonly confirmed: number;
  /** When it was kept (ms since the epoch). */
  readonly keptAt: number;
}

/**
 * The spooled copies of failed transfers, by transfer id. They hold their
 * quota until taken or expired; expired ones are removed when any is kept or
 * looked up (no timer outlives the bridge; a restart clears the spool).
 */
export class KeptCopies {
  readonly #copies = new Map<string, KeptCopy>();
  readonly #rt: Runtime;

  /** Copies count against `rt`'s quota for its `PARTIAL_RETENTION_MS` at most. */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /** Keeps `copy` for transfer `id` (its spool's quota stays reserved). */
  async keep(id: string, copy: KeptCopy): Promise<void> {
    await this.#expire();
    this.#copies.set(id, copy);
  }

  /**
   * Takes the copy of transfer `id` for a resumed transfer (no second one
   * takes it); `undefined` when there is none or it is past the retention.
   */
  async take(id: string): Promise<KeptCopy | undefined> {
    await this.#expire();
    const copy = this.#copies.get(id);
    this.#copies.delete(id);
    return copy;
  }

  /** Removes the spooled file of `copy` and frees its quota. */
  async discard(copy: KeptCopy): Promise<void> {
    await Deno.remove(copy.path).catch(() => {});
    this.#rt.quota.settle(copy.file.size, 0);
  }

  async #expire(): Promise<void> {
    const cutoff = Date.now() - this.#rt.config.partialRetentionMs;
    for (const [id, copy] of this.#copies) {
      if (copy.keptAt >= cutoff) continue;
      this.#copies.delete(id);
      await this.discard(copy);
    }
  }
}

/**
 * Where a push of a file of `size` bytes starts (1-based), fresh or
 * resumed, from the answer's `a=file-range`: RFC 5547 §8.2, the answerer
 * may narrow the range; an answer without one (an answerer that does not
 * know it) takes the whole file. We hold the whole file, so an answer
 * starting before the range we offered is served too; one stopping short of
 * the file's end is not.
 *
 * @throws {BridgeError} `sdp-not-acceptable` for a range outside the file,
 * reversed, or short of its end.
 */
export function resumedStart(answered: FileRange | undefined, size: number): number {
  if (answered === undefined) return 1;
  const end = answered.end === "*" ? size : answered.end;
  if (answered.start < 1 || end !== size || answered.start > size) {
    throw new BridgeError(
      "sdp-not-acceptable",
      `the answer's a=file-range:${answered.start}-${answered.end} does not end the file of ${size} bytes`,
    );
  }
  return answered.start;
}
