/**
 * The head lines of a message's SEND chunks (RFC 4975 §7.1.1), encoded once
 * for all its chunks (internal).
 *
 * @module
 */

import { RequestTemplate } from "../msrp/mod.ts";
import type { OutgoingMessage } from "./outgoing.ts";

/**
 * The template of `message`'s chunks to `toPath` from `fromUri`:
 * Message-ID, Byte-Range (varying), the report headers, its own headers and
 * Content-Type.
 */
export function messageTemplate(
  message: OutgoingMessage,
  toPath: readonly string[],
  fromUri: string,
): RequestTemplate {
  const headers: (readonly [string, string])[] = [
    ["Message-ID", message.messageId],
    ["Byte-Range", ""],
  ];
  if (message.successReport) headers.push(["Success-Report", "yes"]);
  if (message.failureReport !== "yes") headers.push(["Failure-Report", message.failureReport]);
  headers.push(...message.headers);
  return new RequestTemplate({
    method: "SEND",
    toPath,
    fromPath: [fromUri],
    headers,
    contentType: message.contentType,
  }, "Byte-Range");
}
