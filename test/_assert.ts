/**
 * Minimal assertions for `Deno.test`, in the spirit of `@std/assert` (which is
 * not available here).
 *
 * @module
 */

/** Thrown when an assertion fails. */
export class AssertionError extends Error {
  /** Creates an assertion error with a message. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** A class whose instances an assertion expects, such as `TypeError`. */
export type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function show(value: unknown): string {
  return Deno.inspect(value, { depth: 10, sorted: true });
}

function isKeyed(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === "object" && value !== null;
}

/** Structural equality: same prototype, same own enumerable keys, equal members. */
function equal(a: unknown, b: unknown, seen: Map<unknown, unknown>): boolean {
  if (Object.is(a, b)) return true;
  if (!isKeyed(a) || !isKeyed(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof Date && b instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((byte, i) => byte === y[i]);
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [key, value] of a) {
      if (!b.has(key) || !equal(value, b.get(key), seen)) return false;
    }
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const value of a) if (!b.has(value)) return false;
    return true;
  }
  const keysA = Reflect.ownKeys(a).filter((k) => Object.prototype.propertyIsEnumerable.call(a, k));
  const keysB = Reflect.ownKeys(b).filter((k) => Object.prototype.propertyIsEnumerable.call(b, k));
  if (keysA.length !== keysB.length) return false;
  for (const key of keysA) {
    if (!Object.prototype.propertyIsEnumerable.call(b, key)) return false;
    if (!equal(a[key], b[key], seen)) return false;
  }
  return true;
}

/** Throws unless `condition` is truthy. */
export function assert(condition: unknown, msg?: string): asserts condition {
  if (!condition) throw new AssertionError(msg ?? "assertion failed");
}

/**
 * Throws unless `actual` and `expected` are structurally equal (plain objects,
 * arrays, typed arrays, `Map`, `Set`, `Date` compared by content), printing both.
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected, new Map())) return;
  const prefix = msg ? `${msg}\n` : "";
  throw new AssertionError(
    `${prefix}values are not equal\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`,
  );
}

function checkError<E extends Error>(
  error: unknown,
  errorClass: ErrorClass<E> | undefined,
  msgIncludes: string | undefined,
): E {
  if (errorClass && !(error instanceof errorClass)) {
    throw new AssertionError(
      `expected error of class ${errorClass.name}, got ${show(error)}`,
    );
  }
  if (msgIncludes !== undefined) {
    const message = error instanceof Error ? error.message : String(error);
    if (!message.includes(msgIncludes)) {
      throw new AssertionError(
        `expected error message to include ${show(msgIncludes)}, got ${show(message)}`,
      );
    }
  }
  return error as E;
}

/**
 * Throws unless `fn` throws, optionally an instance of `errorClass` whose
 * message includes `msgIncludes`. Returns the thrown error.
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E>,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, errorClass, msgIncludes);
  }
  throw new AssertionError("expected function to throw");
}

/**
 * Rejects unless the promise returned by `fn` rejects, optionally with an
 * instance of `errorClass` whose message includes `msgIncludes`. Resolves to
 * the rejection reason.
 */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClass?: ErrorClass<E>,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, errorClass, msgIncludes);
  }
  throw new AssertionError("expected promise to reject");
}
