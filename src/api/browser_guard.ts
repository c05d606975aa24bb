/**
 * The browser boundary of the HTTP server: which web pages may use the API
 * and the MSRP WebSocket.
 *
 * Two attacks go through the operator's own browser. A page on another site
 * sends requests (or opens the WebSocket, which has no same-origin policy) to
 * the service: the browser marks them with that page's `Origin` (RFC 6454
 * §7), so a request whose `Origin` is not our own and not listed in
 * `ALLOWED_ORIGINS` is refused with 403 `forbidden-origin`. A page whose name
 * re-resolves to 127.0.0.1 (DNS rebinding) is same-origin with itself and
 * sends no foreign `Origin`, but its requests carry its own name in `Host`:
 * without an API token (the API is then open to whoever reaches it) a `Host`
 * that is not a loopback name or listed in `PUBLIC_HOSTS` gets 421
 * `misdirected-request` (RFC 9110 §15.5.20).
 *
 * `/healthz` is exempt from both: it tells nothing but "ok", and probes may
 * reach it under any name.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { ApiProblem } from "./problem.ts";
import type { ApiEnv } from "./types.ts";

/** What the guard accepts. */
export interface BrowserGuardOptions {
  /** Whether the server speaks HTTPS: our own origin is then `https://` plus the `Host`. */
  readonly https: boolean;
  /** Origins allowed besides our own (`scheme://host[:port]`, as `URL.origin` spells them). */
  readonly allowedOrigins: readonly string[];
  /** Whether to refuse a `Host` that is not a loopback name or in `publicHosts`. */
  readonly checkHost: boolean;
  /** `Host` values accepted besides loopback names: `host` (any port) or `host:port`, lowercase. */
  readonly publicHosts: readonly string[];
}

/** Paths served whatever the `Host` and `Origin`. */
const EXEMPT = new Set(["/healthz"]);

/** A `Host` value (RFC 9110 §7.2): a DNS name, IPv4 or bracketed IPv6 literal, optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;

/** Longest header value quoted back in a problem detail. */
const QUOTE_MAX = 200;

function quote(value: string): string {
  return JSON.stringify(value.length > QUOTE_MAX ? `${value.slice(0, QUOTE_MAX)}…` : value);
}

/** True for `localhost`, `[::1]` and the IPv4 loopback block 127.0.0.0/8 (RFC 1122 §3.2.1.3). */
function isLoopbackName(name: string): boolean {
  if (name === "localhost" || name === "[::1]") return true;
  const parts = name.split(".");
  return parts.length === 4 && parts[0] === "127" &&
    parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** The origin (RFC 6454 §6.2, as `URL.origin`) of an http(s) URL, or `undefined`. */
function originOf(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Middleware refusing requests from foreign web pages: 421
 * `misdirected-request` for a `Host` we do not serve (when
 * `options.checkHost`), then 403 `forbidden-origin` for an `Origin` that is
 * neither ours nor allowed (`Origin: null` included). Requests without
 * `Origin` (same-origin GETs, non-browser clients) pass the second check.
 */
export function browserGuard(options: BrowserGuardOptions): MiddlewareHandler<ApiEnv> {
  const scheme = options.https ? "https" : "http";
  const defaultPort = options.https ? "443" : "80";
  const allowed = new Set(options.allowedOrigins);
  const publicHosts = new Set(options.publicHosts);

  const hostServed = (host: string): boolean => {
    const match = HOST.exec(host);
    if (!match) return false;
    const [, name, port = defaultPort] = match;
    return isLoopbackName(name) || publicHosts.has(name) || publicHosts.has(`${name}:${port}`);
  };

  return async (c, next) => {
    if (EXEMPT.has(c.req.path)) return await next();
    // HTTP/2 carries the authority in `:authority`, which Deno puts in the URL.
    const host = (c.req.header("host") ?? new URL(c.req.url).host).toLowerCase();
    if (options.checkHost && !hostServed(host)) {
      throw new ApiProblem(
        "misdirected-request",
        `Host: ${quote(host)} is not served here; without API_TOKEN only loopback names ` +
          "and PUBLIC_HOSTS are",
        { field: "Host" },
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined) {
      const given = originOf(origin);
      const own = HOST.test(host) ? originOf(`${scheme}://${host}`) : undefined;
      if (given === undefined || (given !== own && !allowed.has(given))) {
        throw new ApiProblem(
          "forbidden-origin",
          `Origin: ${quote(origin)} is not this service's origin nor in ALLOWED_ORIGINS`,
          { field: "Origin" },
        );
      }
    }
    await next();
  };
}
