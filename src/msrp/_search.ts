/**
 * Byte-pattern search used to find end-lines in bodies (Boyer–Moore–Horspool).
 *
 * @module
 */

/** A compiled pattern with its Horspool shift table. */
export interface BytePattern {
  /** The pattern bytes. */
  readonly bytes: Uint8Array;
  /** Shift per byte value of the haystack under the pattern's last position. */
  readonly shift: Int32Array;
}

/**
 * Compiles a pattern for {@linkcode indexOfPattern}, reusing `shift` (256
 * entries) when given.
 */
export function compilePattern(bytes: Uint8Array, shift = new Int32Array(256)): BytePattern {
  const m = bytes.length;
  shift.fill(m);
  for (let i = 0; i < m - 1; i++) shift[bytes[i]] = m - 1 - i;
  return { bytes, shift };
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
  const m = p.length;
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
