/**
 * Retry delays: capped exponential backoff with jitter, for webhook
 * deliveries and ESL reconnects alike.
 *
 * @module
 */

/**
 * How a delay is drawn below its ceiling: `none` is the ceiling itself,
 * `full` anything from 0 up to it, `equal` its upper half (never retrying
 * at once, still spreading many clients apart).
 */
export type Jitter = "none" | "full" | "equal";

/**
 * The delay before retrying after failed attempt number `attempt` (1-based):
 * the ceiling `min(capMs, baseMs · 2^(attempt-1))`, jittered as `jitter` says.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  jitter: Jitter,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  if (jitter === "none") return ceiling;
  if (jitter === "full") return Math.floor(random() * ceiling);
  return Math.floor(ceiling / 2 + random() * ceiling / 2);
}
