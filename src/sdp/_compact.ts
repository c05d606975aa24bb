/**
 * Drops `undefined` members, so optional fields are absent rather than
 * present with no value.
 *
 * @module
 */

/** A shallow copy of `object` without the members whose value is `undefined`. */
export function compact<T extends object>(object: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}
