/**
 * Bearer-token authentication of `/v1/*` (`Authorization: Bearer $API_TOKEN`),
 * with failed logins throttled per client address.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { AuthThrottle } from "../auth_throttle.ts";
import { ApiProblem } from "./problem.ts";
import type { ApiEnv } from "./types.ts";

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

/** The client address of a request, the key of the login throttle. */
function clientAddress(addr: Deno.Addr | undefined): string {
  return addr !== undefined && "hostname" in addr ? addr.hostname : "local";
}

/**
 * Middleware that answers 401 (`unauthorized` problem, with a
 * `WWW-Authenticate: Bearer` challenge) unless the request carries
 * `Authorization: Bearer <token>`. A wrong token counts as a failed login of
 * the client's address in `throttle`; while the throttle blocks that
 * address every request gets 429 `too-many-attempts` with `Retry-After`
 * (RFC 6585 §4), its token unchecked.
 */
export function bearerAuth(token: string, throttle: AuthThrottle): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const client = clientAddress(c.env?.info?.remoteAddr);
    const waitMs = throttle.blocked(client);
    if (waitMs > 0) {
      throw new ApiProblem(
        "too-many-attempts",
        "Authorization: too many wrong tokens from this address; try again later",
        { field: "Authorization", headers: { "retry-after": String(Math.ceil(waitMs / 1000)) } },
      );
    }
    const match = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "");
    if (!match) {
      throw new ApiProblem("unauthorized", "Authorization: Bearer <API_TOKEN> is required", {
        field: "Authorization",
        headers: CHALLENGE,
      });
    }
    if (!await tokensEqual(match[1], token)) {
      throttle.failed(client);
      throw new ApiProblem("unauthorized", "Authorization: the bearer token is not valid", {
        field: "Authorization",
        headers: CHALLENGE,
      });
    }
    throttle.succeeded(client);
    await next();
  };
}
