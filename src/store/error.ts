/**
 * The error type of the store.
 *
 * @module
 */

/**
 * What went wrong in the store:
 * - `not-found`: the row to update does not exist.
 * - `invalid-argument`: an id, cursor or limit is unusable.
 * - `schema-too-new`: the database was written by a newer version of the service.
 * - `quota-exceeded`: received content would take the data directory past its quota.
 * - `too-large`: a received file is larger than its offer said (RFC 5547).
 * - `closed`: the store was closed.
 * - `unavailable`: the database cannot be reached or refused the statement.
 */
export type StoreErrorCode =
  | "not-found"
  | "invalid-argument"
  | "schema-too-new"
  | "quota-exceeded"
  | "too-large"
  | "closed"
  | "unavailable";

/** An error of the store, told apart by its {@linkcode StoreError.code}. */
export class StoreError extends Error {
  /** What went wrong. */
  readonly code: StoreErrorCode;

  /** Creates an error with a code and a human-readable message. */
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = "StoreError";
    this.code = code;
  }
}
