/**
 * Errors thrown by plugins, as one line for logs and error messages.
 *
 * @module
 */

/** `error` as one line: its name and message, never a stack or a body. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `thrown ${typeof error}`;
}
