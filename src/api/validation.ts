/**
 * Turns request validation failures into `validation` problems (422) that
 * name each invalid field.
 *
 * @module
 */

import type { z } from "@hono/zod-openapi";
import { ApiProblem, type FieldError } from "./problem.ts";

/** What was validated: the JSON body, the query, path parameters or headers. */
export type ValidationTarget = "json" | "form" | "query" | "param" | "header" | "cookie";

function fieldOf(issue: z.core.$ZodIssue, target: ValidationTarget): string {
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => (path ? `${path}.${k}` : k)).join(", ");
  }
  if (path) return path;
  return target === "json" ? "body" : target;
}

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return "unknown field";
  return issue.message;
}

/** The field errors of a failed validation. */
export function fieldErrors(error: z.ZodError, target: ValidationTarget): FieldError[] {
  return error.issues.map((issue) => ({
    field: fieldOf(issue, target),
    message: messageOf(issue),
  }));
}

/**
 * The validation hook of every route: throws a `validation` problem whose
 * detail names the first invalid field and whose `errors` list all of them.
 */
export function validationHook(
  result:
    & { target: ValidationTarget }
    & (
      | { success: true }
      | { success: false; error: z.ZodError }
    ),
): undefined {
  if (result.success) return undefined;
  const errors = fieldErrors(result.error, result.target);
  const [first] = errors;
  throw new ApiProblem("validation", `${first.field}: ${first.message}`, {
    field: first.field,
    errors,
  });
}
