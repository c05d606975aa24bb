/**
 * Operational routes outside `/v1`: health, readiness, metrics, the OpenAPI
 * document and the docs page.
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { Bridge } from "../../bridge/mod.ts";
import type { ApiApp } from "../types.ts";
import { docsPage } from "../docs_page.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "../metrics.ts";
import { ApiProblem } from "../problem.ts";
import { problems } from "../responses.ts";
import { Health, Ready } from "../schemas.ts";

/** Title, version and description of the OpenAPI document. */
export interface ApiInfo {
  /** The API title. */
  readonly title: string;
  /** The service version. */
  readonly version: string;
  /** What the API is. */
  readonly description: string;
}

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["operations"],
  summary: "Liveness",
  responses: {
    200: {
      description: "The process serves requests.",
      content: { "application/json": { schema: Health } },
    },
  },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags: ["operations"],
  summary: "Readiness",
  description: "Ready when the store is writable and MSRP is listening (and, once the PBX " +
    "integration is on, the PBX is connected). 503 not-ready lists the checks in `checks`.",
  responses: {
    200: { description: "Ready.", content: { "application/json": { schema: Ready } } },
    ...problems(503),
  },
});

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  responses: {
    200: {
      description: "Text exposition format 0.0.4.",
      content: { "text/plain": { schema: z.string() } },
    },
  },
});

const openapi = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["operations"],
  summary: "This OpenAPI document",
  responses: {
    200: {
      description: "OpenAPI 3.1, generated from the routes.",
      content: { "application/json": { schema: z.looseObject({}) } },
    },
  },
});

const docs = createRoute({
  method: "get",
  path: "/docs",
  tags: ["operations"],
  summary: "Interactive documentation",
  responses: {
    200: {
      description: "A self-contained HTML page.",
      content: { "text/html": { schema: z.string() } },
    },
  },
});

/** Registers the operational routes. */
export function systemRoutes(app: ApiApp, bridge: Bridge, info: ApiInfo): void {
  app.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));

  app.openapi(readyz, async (c) => {
    const r = await bridge.readiness();
    const checks = { store: r.storeWritable, msrp: r.msrpListening, esl: r.esl };
    const failing = [
      ...(r.storeWritable ? [] : ["store"]),
      ...(r.msrpListening ? [] : ["msrp"]),
      ...(r.esl === "off" || r.esl === "connected" ? [] : ["esl"]),
    ];
    if (failing.length > 0) {
      throw new ApiProblem("not-ready", `checks failing: ${failing.join(", ")}`, {
        extensions: { checks },
      });
    }
    return c.json({ status: "ready" as const, checks }, 200);
  });

  app.openapi(
    metrics,
    async (c) =>
      c.text(renderMetrics(await bridge.metrics()), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );

  app.openapi(openapi, (c) =>
    c.json(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: { title: info.title, version: info.version, description: info.description },
      }),
      200,
    ));

  app.openapi(docs, () => docsPage());
}
