/**
 * The disk quota of received content: bytes stored under the data
 * directory plus bytes reserved by messages still being received.
 *
 * @module
 */

/**
 * Counts received content against a quota. A message being received
 * reserves its declared size (or, when unknown, as far as its bytes
 * reach); when it ends, its reservation becomes the bytes it stored.
 *
 * @example
 * ```ts
 * const quota = new ContentQuota(1000, 0);
 * quota.reserve(600); // true
 * quota.reserve(600); // false: 1200 bytes would exceed 1000
 * quota.settle(600, 600); // the message stored all its bytes
 * quota.usedBytes; // 600
 * ```
 */
export class ContentQuota {
  /** Most bytes of content. */
  readonly limitBytes: number;
  #stored: number;
  #reserved = 0;

  /**
   * Starts from `storedBytes` already stored (see `Store.storedContentBytes`).
   *
   * @throws {RangeError} when a figure is not a whole number ≥ 0.
   */
  constructor(limitBytes: number, storedBytes: number) {
    for (const [name, n] of [["limitBytes", limitBytes], ["storedBytes", storedBytes]] as const) {
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new RangeError(`${name} must be a whole number ≥ 0, got ${n}`);
      }
    }
    this.limitBytes = limitBytes;
    this.#stored = storedBytes;
  }

  /** Bytes stored plus bytes reserved. */
  get usedBytes(): number {
    return this.#stored + this.#reserved;
  }

  /** Reserves `bytes` when they fit under the quota; false (nothing reserved) when not. */
  reserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.#reserved += bytes;
    return true;
  }

  /** A message that reserved `reservedBytes` ended, having stored `storedBytes`. */
  settle(reservedBytes: number, storedBytes: number): void {
    this.#reserved -= reservedBytes;
    this.#stored += storedBytes;
  }
}
