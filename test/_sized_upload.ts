/**
 * A streamed HTTP upload with a Content-Length, as curl or a browser sends a
 * file. The platform `fetch` sends every stream body chunked, which the API
 * refuses; node:http streams with a declared length.
 *
 * @module
 */

import { request as httpRequest } from "node:http";
import { once } from "node:events";

/** POSTs `body` (exactly `size` bytes) to `url`, streaming it, and returns the response. */
export async function postSized(
  url: string,
  body: AsyncIterable<Uint8Array>,
  size: number,
  headers: Record<string, string> = {},
): Promise<Response> {
  const req = httpRequest(url, {
    method: "POST",
    headers: { ...headers, "content-length": String(size) },
  });
  const answered = once(req, "response");
  req.on("error", () => {}); // surfaces through `answered`
  for await (const piece of body) {
    if (!req.write(piece)) await Promise.race([once(req, "drain"), answered]);
  }
  req.end();
  const [res] = await answered;
  const chunks: Uint8Array[] = [];
  for await (const chunk of res) chunks.push(chunk);
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of [value].flat()) if (typeof v === "string") responseHeaders.append(name, v);
  }
  return new Response(chunks.length === 0 ? null : new Blob(chunks as BlobPart[]), {
    status: res.statusCode,
    headers: responseHeaders,
  });
}
