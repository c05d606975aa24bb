/**
 * The error type of webhook delivery.
 *
 * @module
 */

/**
 * What went wrong:
 * - `invalid-config`: the URL, secret or a limit of the dispatcher is unusable.
 */
export type WebhookErrorCode = "invalid-config";

/** An error of webhook delivery, told apart by its {@linkcode WebhookError.code}. */
export class WebhookError extends Error {
  /** What went wrong. */
  readonly code: WebhookErrorCode;

  /** Creates an error with a code and a human-readable message. */
  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.name = "WebhookError";
    this.code = code;
  }
}
