/**
 * The waits of the tests: poll a condition until it holds, or bound a
 * promise, with a deadline that is a hang guard (not a timing check) and an
 * error naming what was awaited.
 *
 * @module
 */

/** The default deadline: ample on a loaded CI machine. */
export const HANG_GUARD_MS = 60_000;

/** Options of {@linkcode until}. */
export interface UntilOptions {
  /** Give up after this long; 60 s by default. */
  readonly timeoutMs?: number;
  /** Poll this often; 10 ms by default. */
  readonly intervalMs?: number;
}

/**
 * Polls `check` until it returns `true`; rejects with "gave up waiting for
 * `what`" once the deadline has passed (an asynchronous check that hangs
 * counts against the same deadline).
 *
 * @example
 * ```ts
 * import { until } from "./_until.ts";
 *
 * let ready = false;
 * setTimeout(() => ready = true, 20);
 * await until(() => ready, "the flag");
 * ```
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  options: UntilOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? HANG_GUARD_MS;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const result = check();
    const left = Math.max(1, deadline - Date.now());
    if (typeof result === "boolean" ? result : await withDeadline(result, what, left)) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} (${timeoutMs} ms)`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}

/**
 * `promise`'s outcome, or a rejection "gave up waiting for `what`" once `ms`
 * have passed (the timer is cleared either way).
 *
 * @example
 * ```ts
 * import { withDeadline } from "./_until.ts";
 *
 * const value = await withDeadline(Promise.resolve(42), "the answer");
 * ```
 */
export async function withDeadline<T>(
  promise: PromiseLike<T>,
  what: string,
  ms: number = HANG_GUARD_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} (${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `promise` bounded like {@linkcode withDeadline}, the clock starting when
 * the result is first awaited (or `then`, `catch` or `finally` is called): for
 * a promise made before the action that settles it (`const got =
 * nextMessage(s); await send(); await got`), which a test that fails early
 * never awaits and must not leave a timer for.
 */
export function deadlineOnAwait<T>(
  promise: PromiseLike<T>,
  what: string,
  ms: number = HANG_GUARD_MS,
): Promise<T> {
  return new DeadlineOnAwait(() => withDeadline(promise, what, ms));
}

// A promise whose work (the bounded wait) starts on first use.
class DeadlineOnAwait<T> implements Promise<T> {
  readonly [Symbol.toStringTag] = "Promise";
  readonly #start: () => Promise<T>;
  #started: Promise<T> | undefined;

  constructor(start: () => Promise<T>) {
    this.#start = start;
  }

  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.#started ??= this.#start();
    return this.#started.then(onFulfilled, onRejected);
  }

  catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    this.#started ??= this.#start();
    return this.#started.finally(onFinally);
  }
}
