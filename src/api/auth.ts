/**
 * Bearer-token authentication of `/v1/*` (`Authorization: Bearer $API_TOKEN`).
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { ApiProblem } from "./problem.ts";

const encoder = new TextEncoder();
const CHALLENGE = { "www-authenticate": 'Bearer realm="msrp-bridge"' };

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * True when two tokens are equal. Their SHA-256 digests are compared in
 * constant time, so the time taken tells nothing about the token, not even
 * its length.
 */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Middleware that answers 401 (`unauthorized` problem, with a
 * `WWW-Authenticate: Bearer` challenge) unless the request carries
 * `Authorization: Bearer <token>`.
 */
export function bearerAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    const match = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "");
    if (!match) {
      throw new ApiProblem("unauthorized", "Authorization: Bearer <API_TOKEN> is required", {
        field: "Authorization",
        headers: CHALLENGE,
      });
    }
    if (!await tokensEqual(match[1], token)) {
      throw new ApiProblem("unauthorized", "Authorization: the bearer token is not valid", {
        field: "Authorization",
        headers: CHALLENGE,
      });
    }
    await next();
  };
}
