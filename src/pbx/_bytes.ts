/**
 * Byte helpers shared by the ESL modules (internal).
 *
 * @module
 */

import { EslError } from "./esl_error.ts";

/**
 * Reads a `Content-Length` value: decimal digits only.
 *
 * @throws {EslError} when the value is not a non-negative integer.
 */
export function parseContentLength(value: string): number {
  const trimmed = value.trim();
  if (!/^[0-9]{1,10}$/.test(trimmed)) {
    throw new EslError(`invalid Content-Length: ${JSON.stringify(value)}`);
  }
  return Number(trimmed);
}
