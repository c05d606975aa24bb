/**
 * A client of the bridge's HTTP API for tests and benchmarks: requests with
 * the bearer token, JSON, and streamed uploads with a Content-Length (as curl
 * or a browser sends a file — the platform `fetch` sends every stream body
 * chunked, which the API refuses; node:http streams with a declared length).
 *
 * @module
 */

import { request as httpRequest } from "node:http";
import { once } from "node:events";

/** Requests to one API. */
export interface ApiClient {
  /** Base URL of the API, e.g. `http://127.0.0.1:40000`. */
  readonly url: string;
  /** Sends a request to `path` with the bearer token (when there is one). */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Sends JSON to `path` with `method`. */
  json(method: string, path: string, body: unknown): Promise<Response>;
  /** POSTs `size` bytes of `contentType` to `path` as a stream with a Content-Length. */
  upload(
    path: string,
    body: AsyncIterable<Uint8Array>,
    size: number,
    contentType: string,
  ): Promise<Response>;
}

/** A client of the API at `url`, sending `token` as its bearer token when given. */
export function apiClient(url: string, token?: string): ApiClient {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const request = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (token && !headers.has("authorization")) headers.set("authorization", auth.authorization);
    return fetch(`${url}${path}`, { ...init, headers });
  };
  return {
    url,
    request,
    json: (method, path, body) =>
      request(path, {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    upload: (path, body, size, contentType) =>
      postSized(`${url}${path}`, body, size, { ...auth, "content-type": contentType }),
  };
}

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
