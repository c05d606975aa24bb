/**
 * Byte-pattern search used to find end-lines in bodies (Boyer–Moore–Horspool).
 *
 * @module
 */

/** A compiled pattern with its Horspool shift table. */
export interface BytePattern {
  /** The pattern bytes: the first `length` of these. */
  readonly bytes: Uint8Array;
  /** The pattern's length. */
  readonly length: number;
  /** Shift per byte value of the haystack under the pattern's last position. */
  readonly shift: Int32Array;
}

/**
 * Compiles the first `length` bytes of `bytes` (all of them by default) as
 * a pattern for {@linkcode indexOfPattern}, reusing `shift` (256 entries)
 * when given.
 */
export function compilePattern(
  bytes: Uint8Array,
  shift: Int32Array = new Int32Array(256),
  length: number = bytes.length,
): BytePattern {
  const m = length;
  shift.fill(m);
  for (let i = 0; i < m - 1; i++) shift[bytes[i]] = m - 1 - i;
  return { bytes, length, shift };
}

/** Index of the first occurrence of the pattern in `hay[from, to)`, or -1. */
export function indexOfPattern(
  hay: Uint8Array,
  pattern: BytePattern,
  from: number,
  to: number,
): number {
  const p = pattern.bytes;
  const shift = pattern.shift;
  const m = pattern.length;
  const last = m - 1;
  const lastByte = p[last];
  let i = from;
  const stop = to - m;
  while (i <= stop) {
    const b = hay[i + last];
    if (b === lastByte) {
      let j = last - 1;
      while (j >= 0 && hay[i + j] === p[j]) j--;
      if (j < 0) return i;
    }
    i += shift[b];
  }
  return -1;
}
