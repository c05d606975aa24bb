/**
 * The HTTP API (Hono): sessions, messages, content, server-sent events,
 * health, metrics and the generated OpenAPI document.
 *
 * @module
 */

export { createApp } from "./app.ts";
export type { ApiApp, ApiEnv } from "./types.ts";
export { ApiProblem, PROBLEM_BASE, type ProblemKind, problemType } from "./problem.ts";
