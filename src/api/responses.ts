/**
 * Shared pieces of route definitions: problem responses and the bearer
 * security requirement.
 *
 * @module
 */

import { Problem } from "./schemas.ts";

/** The name of the bearer security scheme in the OpenAPI document. */
export const BEARER_SCHEME = "bearerAuth";

/** The security requirement of `/v1/*` routes. */
export const BEARER: { [scheme: string]: string[] }[] = [{ [BEARER_SCHEME]: [] }];

const DESCRIPTIONS: Record<number, string> = {
  400: "Malformed JSON (or multipart/form-data) body.",
  401: "Missing or wrong bearer token.",
  404: "No such session or message.",
  409: "The resource is in the wrong state.",
  411: "The body came without a Content-Length (chunked); send its size.",
  413: "The body is too large.",
  415: "The Content-Type is not accepted.",
  422: "A field has the wrong type or value; `field` names it.",
  502: "The MSRP peer could not be reached.",
  503: "The service cannot do this now (PBX integration unavailable, limits, shutdown).",
};

/** A problem response definition. */
export interface ProblemResponse {
  /** What the status means here. */
  readonly description: string;
  /** The problem body. */
  readonly content: { readonly "application/problem+json": { readonly schema: typeof Problem } };
}

/** Problem response definitions for the given statuses. */
export function problems(...statuses: number[]): Record<number, ProblemResponse> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: DESCRIPTIONS[status],
    content: { "application/problem+json": { schema: Problem } },
  }]));
}
