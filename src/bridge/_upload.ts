/**
 * An uploaded file (internal): checking the fields an offer or answer
 * carries for it, and storing it under `DATA_DIR` while its SHA-1 is
 * computed — what a file we push and a file we publish are written with.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { isMediaType } from "../msrp/media_type.ts";
import { selectorHashValue } from "../sdp/mod.ts";
import type { Runtime } from "./_runtime.ts";
import { BridgeError, errorText } from "./errors.ts";

/** The longest file name we offer. */
const MAX_NAME_LENGTH = 255;
/**
 * What a name may not hold: the selector's name is a quoted string (RFC
 * 5547 §9), so no quote or control character, and FreeSWITCH drops an SDP
 * holding `${` (see docs/security.md), so none of `$ { }`.
 */
const UNSAFE_NAME = /["\p{Cc}${}]/u;
/** What a selector's `type:` may not hold: white space ends it, quotes and `$ { }` as for names. */
const UNSAFE_TYPE = /[\s"${}]/;
/** `a=file-disposition` (RFC 5547 §6): a token, without `$ { }`. */
const DISPOSITION = /^[!#%-'*+\-.0-9A-Z^-z|~]{1,64}$/;

/** A file to push or publish: stored and hashed, then offered. */
export interface FileUpload {
  /** The file name offered. */
  readonly name: string;
  /** The file's media type, sent as its Content-Type. */
  readonly type: string;
  /** `a=file-disposition`, e.g. `render` or `attachment`; left out when absent. */
  readonly disposition?: string;
  /**
   * The file's size in bytes, which the body must come to exactly; when
   * absent, the body's length (the quota is then reserved as its bytes come).
   */
  readonly size?: number;
  /** The file's bytes. */
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * `filename` (e.g. a form's file part, a path stripped) as a name we may
 * offer: each character a name may not hold (quotes, controls, `$ { }`)
 * becomes `_`, and a name longer than 255 characters is shortened,
 * keeping its extension; `undefined` when nothing is left.
 */
export function offerableName(filename: string): string | undefined {
  const chars = [...filename.trim()].map((c) => UNSAFE_NAME.test(c) ? "_" : c);
  let name = chars.join("");
  if (name.length > MAX_NAME_LENGTH) {
    const dot = name.lastIndexOf(".");
    const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
    const stem = [...name.slice(0, name.length - extension.length)];
    name = "";
    for (const c of stem) {
      if (name.length + c.length + extension.length > MAX_NAME_LENGTH) break;
      name += c;
    }
    name += extension;
  }
  return name.trim() === "" ? undefined : name;
}

/**
 * `contentType` (e.g. a form's file part's) as a type we may offer: as it
 * is when we may, else without its parameters, else
 * `application/octet-stream` (also when absent).
 */
export function offerableType(contentType: string | undefined): string {
  const offerable = (type: string) => isMediaType(type) && !UNSAFE_TYPE.test(type);
  if (contentType !== undefined && offerable(contentType)) return contentType;
  const bare = contentType?.split(";")[0].trim();
  return bare !== undefined && offerable(bare) ? bare : "application/octet-stream";
}

/**
 * Checks the fields of `request` for an offer or an answer to carry them.
 *
 * @throws {BridgeError} `validation` for a name, type or disposition the offer cannot carry. */
export function checkUpload(request: FileUpload): void {
  const { name, type, disposition } = request;
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || UNSAFE_NAME.test(name)) {
    throw new BridgeError(
      "validation",
      `must be 1 to ${MAX_NAME_LENGTH} characters without quotes, control characters or $ { }`,
      "name",
    );
  }
  if (!isMediaType(type) || UNSAFE_TYPE.test(type)) {
    throw new BridgeError(
      "validation",
      "must be a media type without white space, quotes or $ { }",
      "type",
    );
  }
  if (disposition !== undefined && !DISPOSITION.test(disposition)) {
    throw new BridgeError(
      "validation",
      "must be a token such as render or attachment",
      "disposition",
    );
  }
}

/** A stored file: its SHA-1 as a selector writes it, and its size. */
export interface SpooledFile {
  /** Colon-separated upper-case hex bytes (RFC 5547 §9). */
  readonly sha1: string;
  /** Its size in bytes. */
  readonly size: number;
}

/**
 * Writes `body` to `path` (a new file, its directory made when missing),
 * hashing it on the way; resolves with the SHA-1 and the file's size. The
 * bytes are reserved under `rt`'s `DATA_QUOTA_BYTES`: `size` at once when
 * given, else as they come; they stay reserved once stored. On failure the
 * file is removed and the reservation freed.
 *
 * @throws {BridgeError} `payload-too-large` past `DATA_QUOTA_BYTES`;
 * `validation` (field `body`) when it is not `size` bytes, is empty, or
 * cannot be read (a `BridgeError` it throws passes as it is).
 */
export async function spoolFile(
  rt: Runtime,
  body: AsyncIterable<Uint8Array>,
  path: string,
  size: number | undefined,
): Promise<SpooledFile> {
  const { quota } = rt;
  let reserved = 0;
  const reserve = (bytes: number) => {
    if (!quota.reserve(bytes)) {
      throw new BridgeError(
        "payload-too-large",
        "disk quota exceeded (DATA_QUOTA_BYTES)",
        "body",
      );
    }
    reserved += bytes;
  };
  if (size !== undefined) reserve(size);
  const hash = createHash("sha1");
  let total = 0;
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const piece of body) {
        total += piece.length;
        if (size === undefined) reserve(piece.length);
        else if (total > size) break;
        hash.update(piece);
        let written = 0;
        while (written < piece.length) written += await file.write(piece.subarray(written));
      }
    } catch (e) {
      throw e instanceof BridgeError ? e : new BridgeError("validation", errorText(e), "body");
    } finally {
      file.close();
    }
    if (size !== undefined && total !== size) {
      throw new BridgeError(
        "validation",
        `the body has ${total > size ? "more" : total} bytes, not its declared ${size}`,
        "body",
      );
    }
    if (total === 0) throw new BridgeError("validation", "the file is empty", "body");
    return { sha1: selectorHashValue(hash.digest("hex")), size: total };
  } catch (e) {
    await Deno.remove(path).catch(() => {});
    quota.settle(reserved, 0);
    throw e;
  }
}

/** Bytes read from a stored file per piece. */
const READ_PIECE_BYTES = 64 * 1024;

/**
 * Reads `file` from byte `offset` (0-based) in fresh pieces (the sender
 * may keep them); the caller closes it.
 */
export async function* readPieces(
  file: Deno.FsFile,
  offset: number,
): AsyncGenerator<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  while (true) {
    const piece = new Uint8Array(READ_PIECE_BYTES);
    const n = await file.read(piece);
    if (n === null) return;
    yield piece.subarray(0, n);
  }
}
