/**
 * The error types of the Event Socket (ESL) layer.
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

/**
 * Thrown when there is no usable connection to FreeSWITCH: it cannot be
 * reached, refused the login, went away, or stopped answering.
 */
export class EslConnectionError extends EslError {
  /** Creates the error with a message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EslConnectionError";
  }
}

/** Thrown when FreeSWITCH answered a command with `-ERR …` (or `-USAGE …`). */
export class EslCommandError extends EslError {
  /** The command line that failed, for example `sendmsg <uuid>`. */
  readonly command: string;
  /** FreeSWITCH's `Reply-Text`, for example `-ERR invalid session id [<uuid>]`. */
  readonly reply: string;

  /** Creates the error from the command line and the reply text. */
  constructor(command: string, reply: string) {
    super(`${command}: ${reply}`);
    this.name = "EslCommandError";
    this.command = command;
    this.reply = reply;
  }
}
