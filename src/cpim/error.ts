/**
 * {@linkcode CpimError}: why a CPIM message (RFC 3862) or an IMDN document
 * (RFC 5438) could not be read or written.
 *
 * @module
 */

/**
 * What went wrong:
 * - `malformed-cpim`: the bytes are not a `message/cpim` message.
 * - `malformed-imdn`: the bytes are not an IMDN document (`message/imdn+xml`).
 * - `too-large`: a part is past its bound (headers, header count, document size, nesting).
 * - `invalid-field`: a value given to a builder would make a bad line (header injection).
 */
export type CpimErrorCode = "malformed-cpim" | "malformed-imdn" | "too-large" | "invalid-field";

/**
 * The one error the `cpim` package throws, told apart by {@linkcode CpimError.code}.
 * Messages name what is wrong, never quote the content.
 *
 * @example
 * ```ts
 * import { CpimError, parseCpim } from "./mod.ts";
 *
 * try {
 *   parseCpim(new TextEncoder().encode("no blank line"));
 * } catch (e) {
 *   console.log(e instanceof CpimError && e.code); // "malformed-cpim"
 * }
 * ```
 */
export class CpimError extends Error {
  /** What went wrong. */
  readonly code: CpimErrorCode;

  /** Creates an error with a code and a human-readable message. */
  constructor(code: CpimErrorCode, message: string) {
    super(message);
    this.name = "CpimError";
    this.code = code;
  }
}
