/**
 * Request bodies read as they arrive, in pieces of their own: nothing is
 * gathered, and no buffer is shared with the HTTP server.
 *
 * @module
 */

import { ApiProblem } from "./problem.ts";

/**
 * Bytes read from the body per piece. Small fresh buffers keep a 2 GiB
 * upload's RSS growth lowest (bench/upload_memory.ts: 16 KiB +42 MB, 64 KiB
 * +55 MB); the chunker joins four into one default 64 KiB chunk.
 */
export const UPLOAD_PIECE_BYTES = 16 * 1024;

/** A body being read. */
export interface Upload {
  /**
   * The body's bytes, each piece in a buffer of its own: of at most
   * {@linkcode UPLOAD_PIECE_BYTES} from a byte stream, as they come otherwise.
   */
  readonly pieces: AsyncIterable<Uint8Array>;
  /**
   * Resolves with the byte count once the whole body was read; rejects when
   * it ends short of its declared size or cannot be read. Never settles while
   * `pieces` is not read to its end.
   */
  readonly finished: Promise<number>;
}

/**
 * Reads `body`, declared to be `size` bytes long, with a BYOB reader into a
 * fresh buffer per piece. The server's own read buffers are never kept (a
 * kept view of one pins it), and each piece is filled before it is handed
 * on, so the chunker gets few, full pieces. A body that is not a byte stream
 * (Deno hands small bodies over whole) is passed on as it comes.
 */
export function readUpload(body: ReadableStream<Uint8Array>, size: number): Upload {
  let resolve!: (n: number) => void;
  let reject!: (e: Error) => void;
  const finished = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  finished.catch(() => {});
  async function* pieces(): AsyncGenerator<Uint8Array> {
    const reader = byobReader(body);
    const source = reader === undefined ? body : filledPieces(reader, size);
    let total = 0;
    try {
      for await (const piece of source) {
        total += piece.length;
        if (total === size) resolve(total);
        yield piece;
      }
      if (total !== size) throw new Error(`the body ended after ${total} of ${size} bytes`);
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      // Stopped early (the message failed or was cancelled): the rest is not wanted.
      if (total < size) (reader ?? body).cancel().catch(() => {});
    }
  }
  return { pieces: pieces(), finished };
}

function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream
  }
}

/** Pieces of at most {@linkcode UPLOAD_PIECE_BYTES}, each filled before it is yielded. */
async function* filledPieces(
  reader: ReadableStreamBYOBReader,
  size: number,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  while (total < size) {
    let piece = new Uint8Array(Math.min(UPLOAD_PIECE_BYTES, size - total));
    let filled = 0;
    while (filled < piece.length) {
      const { done, value } = await reader.read(piece.subarray(filled));
      if (value !== undefined) piece = new Uint8Array(value.buffer); // the read hands it back
      if (done) {
        if (filled > 0) yield piece.subarray(0, filled);
        return;
      }
      filled += value.length;
    }
    total += filled;
    yield piece;
  }
}

/** The 411 problem (RFC 9110 §15.5.12): a body must come with its Content-Length. */
export function lengthRequired(): ApiProblem {
  return new ApiProblem(
    "length-required",
    "Content-Length: required; send the body with its size, not chunked " +
      "(e.g. a Blob or File in fetch, curl --data-binary @file)",
    { field: "Content-Length" },
  );
}

/**
 * A raw request body and the size it declares: its `Content-Length`, which
 * must be there (411), a number (422), above zero (422) and at most
 * `maxBytes` (413, `MAX_UPLOAD_BYTES`).
 */
export function sizedBody(
  request: Request,
  maxBytes: number,
): { readonly body: ReadableStream<Uint8Array>; readonly size: number } {
  const header = request.headers.get("content-length");
  if (header === null) throw lengthRequired(); // e.g. an HTTP/2 stream of unknown size
  if (!/^[0-9]{1,16}$/.test(header)) {
    throw new ApiProblem("validation", "Content-Length: must be a number of bytes", {
      field: "Content-Length",
    });
  }
  const size = Number(header);
  const body = request.body;
  if (body === null || size === 0) {
    throw new ApiProblem("validation", "body: must not be empty", { field: "body" });
  }
  if (size > maxBytes) {
    throw new ApiProblem(
      "payload-too-large",
      `body: larger than MAX_UPLOAD_BYTES (${maxBytes} bytes)`,
      { field: "body" },
    );
  }
  return { body, size };
}

/** Longest file name a raw message may carry, in UTF-8 bytes (what common file systems take). */
export const MAX_FILE_NAME_BYTES = 255;

/**
 * Characters a file name may not hold: controls (C0, DEL, C1), line and
 * paragraph separators, and bidirectional overrides and isolates (which
 * could make `evil‮gpj.exe` look like `evil…exe.jpg`).
 */
const FORBIDDEN_IN_NAME = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** RFC 8187 `attr-char`s: what `filename*` keeps unencoded. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

/**
 * The `Content-Disposition` value (RFC 2183, quoted as RFC 6266 says) that
 * names the file a raw message carries: `attachment; filename="…"` with `"`
 * and `\` escaped as quoted-pairs; a name beyond printable ASCII also gets
 * `filename*=UTF-8''…` (RFC 8187), its `filename` then having `_` for each
 * character beyond ASCII.
 *
 * @throws {ApiProblem} `validation` (field `name`) for an empty or blank
 * name, one longer than {@linkcode MAX_FILE_NAME_BYTES}, or one with a
 * character of `FORBIDDEN_IN_NAME` (controls: no header can be injected).
 */
export function attachmentDisposition(name: string): string {
  const invalid = (why: string) => new ApiProblem("validation", `name: ${why}`, { field: "name" });
  if (name.trim() === "") throw invalid("must not be empty");
  if (new TextEncoder().encode(name).length > MAX_FILE_NAME_BYTES) {
    throw invalid(`longer than ${MAX_FILE_NAME_BYTES} bytes of UTF-8`);
  }
  if (FORBIDDEN_IN_NAME.test(name)) {
    throw invalid("must not hold control characters, line separators or bidirectional overrides");
  }
  const ascii = [...name].map((c) => c > "\x7e" ? "_" : c).join("");
  const quoted = `"${ascii.replace(/["\\]/g, "\\$&")}"`;
  if (ascii === name) return `attachment; filename=${quoted}`;
  const encoded = [...new TextEncoder().encode(name)]
    .map((b) => {
      const c = String.fromCharCode(b);
      return b < 0x80 && ATTR_CHAR.test(c)
        ? c
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
  return `attachment; filename=${quoted}; filename*=UTF-8''${encoded}`;
}
