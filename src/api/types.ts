/**
 * Types shared by the API modules.
 *
 * @module
 */

import type { OpenAPIHono } from "@hono/zod-openapi";

/** The Hono environment: `Deno.serve` passes the connection info as `env.info`. */
export interface ApiEnv {
  /** Bindings passed to `app.fetch`. */
  Bindings: {
    /** The connection of the request. */
    info: Deno.ServeHandlerInfo;
  };
}

/** The application type of the API. */
export type ApiApp = OpenAPIHono<ApiEnv>;
