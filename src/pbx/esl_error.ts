/**
 * The error type of the Event Socket (ESL) layer.
 *
 * @module
 */

/** Thrown when ESL bytes cannot be framed or parsed, or a value cannot be sent. */
export class EslError extends Error {
  /** Creates an ESL error with a message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EslError";
  }
}
