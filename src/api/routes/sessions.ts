/**
 * Session routes: create (answer an offer, make an offer, or originate
 * through the PBX), apply an answer, list, show and close.
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { Bridge } from "../../bridge/mod.ts";
import type { ApiApp } from "../types.ts";
import { ApiProblem } from "../problem.ts";
import { BEARER, problems } from "../responses.ts";
import {
  AnswerRequest,
  CreatedSession,
  CreateSessionRequest,
  IdParam,
  PageQuery,
  Session,
  SessionPage,
} from "../schemas.ts";
import { sessionView } from "../views.ts";

const createSession = createRoute({
  method: "post",
  path: "/v1/sessions",
  tags: ["sessions"],
  summary: "Create a session",
  description: "With `offer`: answers an SDP offer (201 with `answer`); an offer with " +
    "`a=recvonly` and an `a=file-selector` pulls a file published with " +
    "POST /v1/files/published (RFC 5547 §6; the answer is `a=sendonly` and the file is " +
    "sent, followed with GET /v1/files/{id}), and is 422 sdp-not-acceptable when the " +
    "selector has neither name nor hash or names no single published file. " +
    "With `createOffer`: " +
    "makes an offer (201 with `offer`); apply the answer with PUT /v1/sessions/{id}/answer " +
    "(an offer not answered within OFFER_TIMEOUT_MS ends its session). " +
    "With `to`: originates through the PBX (422 invalid-sip-uri for a `to` the bridge may " +
    "not dial, checked first; 503 pbx-unavailable until the PBX integration is available).",
  security: BEARER,
  request: {
    body: { required: true, content: { "application/json": { schema: CreateSessionRequest } } },
  },
  responses: {
    201: {
      description: "The session was created.",
      headers: z.object({ Location: z.string() }),
      content: { "application/json": { schema: CreatedSession } },
    },
    ...problems(400, 401, 415, 422, 503),
  },
});

const applyAnswer = createRoute({
  method: "put",
  path: "/v1/sessions/{id}/answer",
  tags: ["sessions"],
  summary: "Apply the answer to our offer",
  description: "When we are the active side, the bridge connects before answering. For a " +
    "file offered with POST /v1/files (no `to`) the file is then sent; an answer that does " +
    "not take it (does not receive it, or its `a=file-range` stops short of the file's end) " +
    "is 422 and the offer waits for another.",
  security: BEARER,
  request: {
    params: IdParam,
    body: { required: true, content: { "application/json": { schema: AnswerRequest } } },
  },
  responses: {
    200: {
      description: "The session, `active` once connected.",
      content: { "application/json": { schema: Session } },
    },
    ...problems(400, 401, 404, 409, 415, 422, 502, 503),
  },
});

const listSessions = createRoute({
  method: "get",
  path: "/v1/sessions",
  tags: ["sessions"],
  summary: "List sessions, newest first",
  security: BEARER,
  request: {
    query: PageQuery.extend({ state: z.enum(["pending", "active", "ended"]).optional() }),
  },
  responses: {
    200: { description: "A page.", content: { "application/json": { schema: SessionPage } } },
    ...problems(401, 422),
  },
});

const getSession = createRoute({
  method: "get",
  path: "/v1/sessions/{id}",
  tags: ["sessions"],
  summary: "Show a session",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    200: { description: "The session.", content: { "application/json": { schema: Session } } },
    ...problems(401, 404),
  },
});

const deleteSession = createRoute({
  method: "delete",
  path: "/v1/sessions/{id}",
  tags: ["sessions"],
  summary: "Close a session",
  description: "Messages in flight fail. Closing an ended session does nothing.",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    204: { description: "Closed." },
    ...problems(401, 404),
  },
});

/** Registers the session routes. */
export function sessionRoutes(app: ApiApp, bridge: Bridge): void {
  app.openapi(createSession, async (c) => {
    const body = c.req.valid("json");
    let created;
    if (body.offer !== undefined) created = await bridge.createSessionFromOffer(body.offer);
    else if (body.createOffer) created = await bridge.createOffer();
    else created = await bridge.originate(body.to!);
    c.header("Location", `/v1/sessions/${created.id}`);
    return c.json(created, 201);
  });

  app.openapi(applyAnswer, async (c) => {
    const { id } = c.req.valid("param");
    const session = await bridge.applyAnswer(id, c.req.valid("json").answer);
    return c.json(sessionView(session), 200);
  });

  app.openapi(listSessions, async (c) => {
    const page = await bridge.listSessions(c.req.valid("query"));
    return c.json({ items: page.items.map(sessionView), nextCursor: page.nextCursor ?? null }, 200);
  });

  app.openapi(getSession, async (c) => {
    const { id } = c.req.valid("param");
    const session = await bridge.getSession(id);
    if (!session) throw new ApiProblem("not-found", `id: no session ${id}`, { field: "id" });
    return c.json(sessionView(session), 200);
  });

  app.openapi(deleteSession, async (c) => {
    await bridge.closeSession(c.req.valid("param").id, "closed by API");
    return c.body(null, 204);
  });
}
