/**
 * The grammar of a frame's head (RFC 4975 §9) as text: the start line and the
 * header lines of a complete head into a {@linkcode FrameHead}. The streaming
 * parser (`parser.ts`) finds where a head starts and ends; this reads it.
 *
 * @module
 */

import { type FrameHead, type MsrpHeaders, parseByteRange, parsePath } from "./message.ts";
import { MsrpError, Status } from "./status.ts";

// Method: one or more of A-Z; status code: three digits (RFC 4975 §9). Plain
// loops: a head is read per chunk and per response, and these words are short.
function isMethod(word: string): boolean {
  if (word.length === 0) return false;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c < 65 || c > 90) return false;
  }
  return true;
}

function isStatusCode(word: string): boolean {
  if (word.length !== 3) return false;
  for (let i = 0; i < 3; i++) {
    const c = word.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Reads the text of a complete head (start line, then header lines, LF or
 * CRLF ended, without the blank line or end-line that closed it). Headers
 * are appended to `headers` as they are read, so that after a failure the
 * ones read so far can be answered with.
 *
 * @throws {MsrpError} 400 when the start line or a header line is malformed,
 * To-Path or From-Path is missing or empty, a request with a body has no
 * Content-Type, or Byte-Range is malformed.
 */
export function parseHead(text: string, hasBody: boolean, headers: MsrpHeaders): FrameHead {
  let eol = text.indexOf("\n");
  const startLine = text.slice(0, eol > 0 && text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol);
  // "MSRP" SP transact-id SP (method / status-code [SP comment]) (RFC 4975 §9); the
  // streaming parser checked "MSRP" and the id's characters.
  const sp2 = startLine.indexOf(" ", 5);
  const transactionId = startLine.slice(5, sp2 < 0 ? startLine.length : sp2);
  const rest = sp2 < 0 ? "" : startLine.slice(sp2 + 1);
  const sp3 = rest.indexOf(" ");
  const word = sp3 < 0 ? rest : rest.slice(0, sp3);
  const response = isStatusCode(word);
  if (!response && !(isMethod(word) && sp3 < 0)) {
    throw new MsrpError(Status.BadRequest, "malformed start line");
  }
  while (eol >= 0 && eol < text.length - 1) {
    const from = eol + 1;
    eol = text.indexOf("\n", from);
    const line = text.slice(from, eol < 0 ? text.length : eol);
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MsrpError(Status.BadRequest, "malformed header line");
    headers.append(line.slice(0, colon).trimEnd(), line.slice(colon + 1).trim());
  }
  const to = headers.get("to-path");
  const from = headers.get("from-path");
  if (to === undefined || from === undefined) {
    throw new MsrpError(Status.BadRequest, "To-Path and From-Path are required");
  }
  const toPath = parsePath(to);
  const fromPath = parsePath(from);
  if (toPath.length === 0 || fromPath.length === 0) {
    throw new MsrpError(Status.BadRequest, "empty To-Path or From-Path");
  }
  if (response) {
    return {
      kind: "response",
      transactionId,
      status: Number(word),
      comment: sp3 < 0 ? "" : rest.slice(sp3 + 1),
      headers,
      toPath,
      fromPath,
    };
  }
  const range = headers.get("byte-range");
  const contentType = headers.get("content-type");
  if (hasBody && contentType === undefined) {
    throw new MsrpError(Status.BadRequest, "a body requires Content-Type");
  }
  return {
    kind: "request",
    transactionId,
    method: word,
    headers,
    toPath,
    fromPath,
    byteRange: range === undefined ? undefined : parseByteRange(range),
    contentType,
    messageId: headers.get("message-id"),
  };
}

/**
 * Appends to `headers` what can be read of a failed head's header lines
 * (skipping the start line and folded lines), so the failure can be answered.
 */
export function salvageHeaders(headers: MsrpHeaders, text: string): void {
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trimEnd();
    const colon = line.indexOf(":");
    if (colon > 0 && line.charCodeAt(0) !== 32 && line.charCodeAt(0) !== 9) {
      headers.append(line.slice(0, colon).trimEnd(), line.slice(colon + 1).trim());
    }
  }
}
