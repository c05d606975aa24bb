/**
 * Streaming request bodies with a size limit: bytes pass through as they are
 * read, nothing is gathered.
 *
 * @module
 */

/** The body went past the limit. */
export class UploadTooLargeError extends Error {
  /** The limit in bytes. */
  readonly limit: number;

  /** Creates the error for a limit of `limit` bytes. */
  constructor(limit: number) {
    super(`the body is larger than MAX_UPLOAD_BYTES (${limit} bytes)`);
    this.name = "UploadTooLargeError";
    this.limit = limit;
  }
}

/** A body passed through a limit. */
export interface LimitedUpload {
  /** The body's bytes; errors with {@linkcode UploadTooLargeError} past the limit. */
  readonly stream: ReadableStream<Uint8Array>;
  /**
   * Resolves with the byte count once the whole body was read; rejects with
   * {@linkcode UploadTooLargeError} past the limit. Never settles when the
   * body is not read to its end.
   */
  readonly finished: Promise<number>;
}

/** Passes `body` through unchanged while counting, failing past `limit` bytes. */
export function limitUpload(body: ReadableStream<Uint8Array>, limit: number): LimitedUpload {
  let total = 0;
  let resolve!: (n: number) => void;
  let reject!: (e: Error) => void;
  const finished = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  finished.catch(() => {});
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.length;
        if (total > limit) {
          const error = new UploadTooLargeError(limit);
          reject(error);
          controller.error(error);
          return;
        }
        controller.enqueue(chunk);
      },
      flush() {
        resolve(total);
      },
    }),
  );
  return { stream, finished };
}
