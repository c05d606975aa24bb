/**
 * `POST /v1/pager`: a pager-mode SIP MESSAGE through the PBX.
 *
 * @module
 */

import { createRoute } from "@hono/zod-openapi";
import type { Bridge } from "../../bridge/mod.ts";
import type { ApiApp } from "../types.ts";
import { BEARER, problems } from "../responses.ts";
import { PagerRequest } from "../schemas.ts";

const sendPager = createRoute({
  method: "post",
  path: "/v1/pager",
  tags: ["pager"],
  summary: "Send a pager-mode SIP MESSAGE",
  description: "Sent with FreeSWITCH's `chat` API as a background job; 503 pbx-unavailable " +
    "when the event socket is not connected or the PBX could not send it. `to` and `from` " +
    "must be SIP URIs the bridge may dial (422 invalid-sip-uri), `text` must not contain `|` " +
    "or line breaks (422 validation); both are checked before the PBX.",
  security: BEARER,
  request: {
    body: { required: true, content: { "application/json": { schema: PagerRequest } } },
  },
  responses: {
    202: { description: "Handed to the PBX." },
    ...problems(400, 401, 415, 422, 503),
  },
});

/** Registers `POST /v1/pager`. */
export function pagerRoutes(app: ApiApp, bridge: Bridge): void {
  app.openapi(sendPager, async (c) => {
    await bridge.sendPager(c.req.valid("json"));
    return c.body(null, 202);
  });
}
