/**
 * The HTTP API application: routes, bearer authentication, problem
 * responses and the OpenAPI document generated from the route definitions.
 *
 * @module
 */

import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { AuthThrottle } from "../auth_throttle.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { type Bridge, BridgeError } from "../bridge/mod.ts";
import { StoreError } from "../store/mod.ts";
import { bearerAuth } from "./auth.ts";
import { browserGuard } from "./browser_guard.ts";
import { forwardToOwner } from "./forward.ts";
import { consoleRoutes } from "./console/mod.ts";
import { ApiProblem, problemResponse } from "./problem.ts";
import { lengthRequired } from "./upload.ts";
import { BEARER_SCHEME } from "./responses.ts";
import { eventRoutes } from "./routes/events.ts";
import { fileRoutes } from "./routes/files.ts";
import { messageRoutes } from "./routes/messages.ts";
import { pagerRoutes } from "./routes/pager.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { type ApiInfo, systemRoutes } from "./routes/system.ts";
import type { ApiApp, ApiEnv } from "./types.ts";
import { validationHook } from "./validation.ts";
import meta from "../../deno.json" with { type: "json" };

/** Largest JSON request body; larger message bodies go as raw bodies. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

const INFO: ApiInfo = {
  title: "msrp-bridge",
  version: meta.version,
  description: "MSRP chat and file transfer over HTTP: sessions, messages, received " +
    "content and events. /v1 needs `Authorization: Bearer $API_TOKEN` when API_TOKEN is " +
    "set; after AUTH_FAILURE_LIMIT wrong tokens an address gets 429 until the window passes. " +
    "A request with a foreign `Origin` gets 403, and without API_TOKEN one whose `Host` is " +
    "not a loopback name or in PUBLIC_HOSTS gets 421 (/healthz excepted). Errors are " +
    "application/problem+json (RFC 9457).",
};

/** The problem for any error a handler throws. */
function toProblem(error: unknown, c: Context<ApiEnv>, log: Logger): ApiProblem {
  if (error instanceof ApiProblem) return error;
  if (error instanceof BridgeError) {
    const detail = error.field ? `${error.field}: ${error.message}` : error.message;
    return new ApiProblem(error.code, detail, { field: error.field });
  }
  if (error instanceof StoreError && error.code === "not-found") {
    return new ApiProblem("not-found", error.message);
  }
  if (error instanceof StoreError && error.code === "invalid-argument") {
    return new ApiProblem("validation", error.message);
  }
  if (error instanceof HTTPException && error.status === 400) {
    return new ApiProblem("malformed-json", "body: the request body is not valid JSON", {
      field: "body",
    });
  }
  if (error instanceof HTTPException && error.status === 415) {
    const type = c.req.header("content-type");
    return new ApiProblem(
      "unsupported-media-type",
      type ? `Content-Type: ${type} is not accepted here` : "Content-Type: is required",
      { field: "Content-Type" },
    );
  }
  log.error("request failed", {
    method: c.req.method,
    path: c.req.path,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return new ApiProblem("internal", "the request failed; the service log has the cause");
}

/** Logs each request at debug level: method, path, status and duration, nothing else. */
function accessLog(log: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const start = performance.now();
    await next();
    log.log("debug", "http request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - start),
    });
  };
}

/** Caps JSON bodies (they are parsed whole) at `max` bytes with a 413 problem. */
function jsonBodyLimit(max: number): MiddlewareHandler<ApiEnv> {
  const limit = bodyLimit({
    maxSize: max,
    onError: () =>
      problemResponse(
        new ApiProblem("payload-too-large", `body: JSON bodies are limited to ${max} bytes`, {
          field: "body",
        }),
      ),
  });
  return (c, next) => JSON_TYPE.test(c.req.header("content-type") ?? "") ? limit(c, next) : next();
}

/**
 * Refuses chunked request bodies (`Transfer-Encoding`) with 411 (RFC 9110
 * §15.5.12). Deno's HTTP/1.1 server reads a chunked body without
 * backpressure and spends CPU per chunk that grows with what it has
 * buffered: a slow reader (an MSRP peer) and small chunks would stall the
 * event loop. A declared length avoids both and streams at full speed.
 */
function refuseChunked(): MiddlewareHandler<ApiEnv> {
  return (c, next) => {
    if (c.req.header("transfer-encoding") === undefined) return next();
    return Promise.resolve(problemResponse(lengthRequired()));
  };
}

/**
 * Creates the HTTP API of `bridge`: `/healthz`, `/readyz`, `/metrics`,
 * `/openapi.json`, `/docs` and the `/v1` routes (bearer authentication when
 * `config.apiToken` is set, failed logins counted in `authThrottle`), behind
 * the browser guard (`Origin`, and `Host` without a token), which also
 * covers routes added to the app later (the MSRP WebSocket). Serve it with
 * `Deno.serve((req, info) => app.fetch(req, { info }))`.
 */
export function createApp(
  bridge: Bridge,
  config: Config,
  authThrottle: AuthThrottle = new AuthThrottle(
    config.authFailureLimit,
    config.authFailureWindowMs,
  ),
): ApiApp {
  const log = bridge.logger.with({ component: "http" });
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  app.openAPIRegistry.registerComponent("securitySchemes", BEARER_SCHEME, {
    type: "http",
    scheme: "bearer",
    description: "API_TOKEN; required when the service has one.",
  });
  app.use("*", accessLog(log));
  app.use(
    "*",
    browserGuard({
      https: config.httpTlsCert !== undefined,
      allowedOrigins: config.allowedOrigins,
      checkHost: config.apiToken === undefined,
      publicHosts: config.publicHosts,
    }),
  );
  if (config.apiToken !== undefined) app.use("/v1/*", bearerAuth(config.apiToken, authThrottle));
  // Operations on a session another instance serves go to it (GETs read the shared store).
  const instanceId = bridge.instanceId;
  app.use(
    "/v1/sessions/:id/*",
    forwardToOwner({
      methods: ["POST", "PUT"],
      locate: (c) => bridge.locateSession(c.req.param("id") ?? ""),
      instanceId,
    }),
  );
  app.use(
    "/v1/sessions/:id",
    forwardToOwner({
      methods: ["DELETE"],
      locate: (c) => bridge.locateSession(c.req.param("id") ?? ""),
      instanceId,
    }),
  );
  app.use(
    "/v1/messages/:id/displayed",
    forwardToOwner({
      methods: ["POST"],
      locate: (c) => bridge.locateMessage(c.req.param("id") ?? ""),
      instanceId,
    }),
  );
  app.use(
    "/v1/messages/:id/content",
    forwardToOwner({
      methods: ["GET", "HEAD"],
      locate: (c) => bridge.locateMessage(c.req.param("id") ?? ""),
      instanceId,
    }),
  );
  app.use("/v1/*", refuseChunked());
  app.use("/v1/*", jsonBodyLimit(Math.min(MAX_JSON_BYTES, config.maxUploadBytes)));
  systemRoutes(app, bridge, INFO);
  sessionRoutes(app, bridge);
  messageRoutes(app, bridge, config);
  fileRoutes(app, bridge, config);
  eventRoutes(app, bridge);
  pagerRoutes(app, bridge);
  consoleRoutes(app);
  app.notFound((c) =>
    problemResponse(
      new ApiProblem("not-found", `no route for ${c.req.method} ${c.req.path}`),
      c.req.path,
    )
  );
  app.onError((error, c) => problemResponse(toProblem(error, c, log), c.req.path));
  return app;
}
