/**
 * Retry delays: exponential backoff with full jitter.
 *
 * @module
 */

/**
 * The delay before retrying after failed attempt number `attempt` (1-based):
 * `min(capMs, baseMs · 2^(attempt-1))`, or with `jitter` a uniformly random
 * delay from 0 up to that ceiling.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  jitter: boolean,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return jitter ? Math.floor(random() * ceiling) : ceiling;
}
