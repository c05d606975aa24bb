/**
 * Requests for a session that another instance serves (several bridges on
 * one PostgreSQL database): sent on to the owner over its HTTP API, bodies
 * streamed both ways with their declared length, so that a load balancer may
 * send any request to any instance. The client's own credentials go along
 * (the instances share `API_TOKEN`); `X-Msrp-Bridge-Forwarded-By` marks the
 * request, and a marked request is never forwarded again.
 *
 * @module
 */

import { type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import type { Context, MiddlewareHandler } from "hono";
import type { SessionLocation } from "../bridge/mod.ts";
import { ApiProblem, problemResponse } from "./problem.ts";
import type { ApiEnv } from "./types.ts";

/** The header naming the instance that forwarded a request. */
export const FORWARDED_BY = "x-msrp-bridge-forwarded-by";

/** Headers of one hop only (RFC 9110 §7.6.1), and `Host`, which names the owner instead. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Options of {@linkcode forwardToOwner}. */
export interface ForwardOptions {
  /** The methods of the route that are forwarded. */
  readonly methods: readonly string[];
  /** Where the session the request is about is served. */
  readonly locate: (c: Context<ApiEnv>) => Promise<SessionLocation>;
  /** This instance's id, put in {@linkcode FORWARDED_BY}. */
  readonly instanceId: string;
}

/**
 * Sends a request about a session served by another instance to that
 * instance and answers with its response; a request about a session of a
 * lost instance (not taken over yet), or one the owner does not answer, gets
 * 503 `instance-unavailable` naming the instance (member `owner`).
 */
export function forwardToOwner(options: ForwardOptions): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (!options.methods.includes(c.req.method) || c.req.header(FORWARDED_BY) !== undefined) {
      return await next();
    }
    const where = await options.locate(c);
    if (where.kind === "here") return await next();
    if (where.kind === "gone") return unavailable(c, where.instance, "stopped answering");
    try {
      return await forward(c.req.raw, where.url, options.instanceId);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      return unavailable(c, where.instance, `could not be reached (${reason})`);
    }
  };
}

function unavailable(c: Context<ApiEnv>, instance: string, what: string): Response {
  const problem = new ApiProblem(
    "instance-unavailable",
    `the session is served by instance ${instance}, which ${what}; ` +
      "a survivor ends its sessions once its lease (INSTANCE_LEASE_MS) has passed",
    { extensions: { owner: instance } },
  );
  return problemResponse(problem, c.req.path);
}

/** `req` sent to the same path and query at `origin`, and the answer as a `Response`. */
async function forward(req: Request, origin: string, instanceId: string): Promise<Response> {
  const url = new URL(req.url);
  const target = new URL(url.pathname + url.search, origin);
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers[name] = value;
  });
  headers[FORWARDED_BY] = instanceId;
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const answer = await new Promise<IncomingMessage>((resolve, reject) => {
    const out = send(target, { method: req.method, headers }, resolve);
    out.on("error", reject);
    // Streamed with its declared length: the owner refuses chunked bodies.
    (async () => {
      if (req.body) {
        for await (const piece of req.body) {
          if (!out.write(piece)) await new Promise((r) => out.once("drain", r));
        }
      }
      out.end();
    })().catch((e) => out.destroy(e));
  });
  const back = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) back.append(name, v);
  }
  const status = answer.statusCode ?? 502;
  const empty = status === 204 || status === 304 || req.method === "HEAD";
  if (empty) answer.resume();
  return new Response(
    empty ? null : Readable.toWeb(answer) as ReadableStream<Uint8Array>,
    { status, headers: back },
  );
}
