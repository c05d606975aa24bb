/**
 * The file inside stored `message/cpim` content (RFC 3862): where its body
 * starts and its Content-Type, read from the head of the stored document.
 * The sink checks a wrapped file's hash from there; the API serves it from
 * there.
 *
 * @module
 */

import { CpimError, MAX_CPIM_HEAD_BYTES, parseCpim } from "../cpim/mod.ts";

/** Where the body of a wrapped file starts in its stored CPIM document. */
export interface WrappedFile {
  /** The byte offset of the body: after the message and MIME header blocks. */
  readonly offset: number;
  /** The Content-Type of the inner MIME part. */
  readonly contentType: string;
}

/**
 * Reads the head of the CPIM document `file` (from its start; the header
 * blocks end within {@linkcode MAX_CPIM_HEAD_BYTES}) and says where the
 * wrapped body starts; `undefined` when its headers cannot be read (cut
 * off, malformed, or longer than that). The file is left at the position
 * the head was read to.
 */
export async function wrappedFile(file: Deno.FsFile): Promise<WrappedFile | undefined> {
  const head = new Uint8Array(MAX_CPIM_HEAD_BYTES + 1);
  let filled = 0;
  while (filled < head.length) {
    const n = await file.read(head.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  try {
    const cpim = parseCpim(head.subarray(0, filled));
    return { offset: filled - cpim.body.length, contentType: cpim.contentType };
  } catch (e) {
    if (e instanceof CpimError) return undefined;
    throw e;
  }
}
