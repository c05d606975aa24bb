/**
 * The hash of an RFC 5547 file selector (`hash:sha-1:72:24:5F:…`): its
 * value as colon-separated hex bytes, and when two hashes are the same.
 *
 * @module
 */

/** A selector's hash: an algorithm (e.g. `sha-1`) and its value (`72:24:5F:…`). */
export interface SelectorHash {
  /** The hash algorithm, e.g. `sha-1` (any case). */
  readonly algorithm: string;
  /** The value, hex bytes separated by colons (any case). */
  readonly value: string;
}

/** The value as lower-case hex without colons (`72:24:5F` → `72245f`), as digests print it. */
export function hashHex(value: string): string {
  return value.replaceAll(":", "").toLowerCase();
}

/** A hex digest in the selector's form: upper-case bytes separated by colons (RFC 5547 §9). */
export function selectorHashValue(hex: string): string {
  return hex.toUpperCase().match(/../g)?.join(":") ?? "";
}

/** Whether `a` and `b` are the same hash: `sha-1:72:24:…` and `SHA-1:7224…` are. */
export function sameHash(a: SelectorHash, b: SelectorHash): boolean {
  return a.algorithm.toLowerCase() === b.algorithm.toLowerCase() &&
    hashHex(a.value) === hashHex(b.value);
}
