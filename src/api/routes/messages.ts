/**
 * Message routes: send (JSON text, or any other body streamed as it
 * arrives), list a session's messages, show one, stream received content,
 * and tell that a received message was displayed (IMDN, RFC 5438).
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { Config } from "../../config.ts";
import { CPIM_TYPE } from "../../cpim/mod.ts";
import { isMediaType } from "../../msrp/media_type.ts";
import { mediaType } from "../../msrp/mod.ts";
import type { Bridge, SentMessage } from "../../bridge/mod.ts";
import { wrappedFile } from "../../store/mod.ts";
import type { Context } from "hono";
import type { ApiApp, ApiEnv } from "../types.ts";
import { ApiProblem } from "../problem.ts";
import { BEARER, problems } from "../responses.ts";
import {
  IdParam,
  Message,
  MessageAccepted,
  MessagePage,
  PageQuery,
  SendTextRequest,
} from "../schemas.ts";
import { attachmentDisposition, readUpload, sizedBody } from "../upload.ts";
import { validationHook } from "../validation.ts";
import { messageViewWithText } from "../views.ts";

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** The query of `POST /v1/sessions/{id}/messages`; it applies to raw bodies. */
const RawQuery = z.object({
  report: z.enum(["true", "false"]).optional().openapi({
    description: "For raw bodies: ask for a success REPORT.",
  }),
  raw: z.enum(["true", "false"]).optional().openapi({
    description: "`true`: send the body as it is, also an `application/json` one (which " +
      "is otherwise read as `{text}`).",
  }),
  name: z.string().optional().openapi({
    description: "The file name the body carries (implies `raw=true`): sent as MSRP " +
      '`Content-Disposition: attachment; filename="…"` (RFC 2183, quoted as RFC 6266 ' +
      "says, with `filename*` beyond ASCII). At most 255 bytes of UTF-8, not blank, no " +
      "control characters, line separators or bidirectional overrides (422 otherwise).",
    example: "minutes.pdf",
  }),
});

const sendMessage = createRoute({
  method: "post",
  path: "/v1/sessions/{id}/messages",
  tags: ["messages"],
  summary: "Send a message",
  description: "A JSON body `{text, contentType?, report?, imdn?}` sends `text` (with " +
    "`imdn`, wrapped in CPIM asking for disposition notifications). Any other " +
    "Content-Type — or any body with `raw=true` or `name`, a JSON file too — sends the " +
    "body as it arrives (never buffered whole) with that type, up to MAX_UPLOAD_BYTES " +
    "(JSON ones up to 8 MiB); the body needs a Content-Length (411 for chunked bodies). " +
    "The answer comes once the body was read (or the message failed earlier), so raw " +
    "bodies need an active session (409 session-not-active before `session.started`); " +
    "text is queued until the session connects.",
  security: BEARER,
  request: {
    params: IdParam,
    query: RawQuery,
    body: {
      content: {
        "application/json": { schema: SendTextRequest },
        "*/*": { schema: z.string().openapi({ format: "binary" }) },
      },
    },
  },
  responses: {
    202: {
      description: "Accepted; follow it with GET /v1/messages/{messageId}.",
      headers: z.object({ Location: z.string() }),
      content: { "application/json": { schema: MessageAccepted } },
    },
    ...problems(400, 401, 404, 409, 411, 413, 422, 503),
  },
});

const listMessages = createRoute({
  method: "get",
  path: "/v1/sessions/{id}/messages",
  tags: ["messages"],
  summary: "List a session's messages, oldest first",
  description: "Both directions with their status; short UTF-8 text (sent or received, " +
    "at most 64 KiB) comes inline as `text`.",
  security: BEARER,
  request: { params: IdParam, query: PageQuery },
  responses: {
    200: { description: "A page.", content: { "application/json": { schema: MessagePage } } },
    ...problems(401, 404, 422),
  },
});

const getMessage = createRoute({
  method: "get",
  path: "/v1/messages/{id}",
  tags: ["messages"],
  summary: "Show a message",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    200: { description: "The message.", content: { "application/json": { schema: Message } } },
    ...problems(401, 404),
  },
});

/** The query of `GET /v1/messages/{id}/content`. */
const ContentQuery = z.object({
  raw: z.enum(["true", "false"]).optional().openapi({
    description: "`true`: serve a file received wrapped in `message/cpim` as it was " +
      "stored, the CPIM document with its headers, instead of the file inside.",
  }),
});

const getContent = createRoute({
  method: "get",
  path: "/v1/messages/{id}/content",
  tags: ["messages"],
  summary: "Stream a message's content",
  description: "Received content, or a short sent text, served with the message's " +
    "Content-Type. A `partial` message serves the bytes that arrived (missing ranges " +
    "are zeros). The file of a file transfer (RFC 5547) that came wrapped in " +
    "`message/cpim` is served unwrapped (RFC 3862: the body after the message and MIME " +
    "header blocks) with the inner Content-Type, unless `raw=true`; a document whose " +
    "CPIM headers cannot be read is served as stored.",
  security: BEARER,
  request: { params: IdParam, query: ContentQuery },
  responses: {
    200: {
      description: "The content.",
      content: { "*/*": { schema: { type: "string", format: "binary" } } },
    },
    ...problems(401, 404, 409),
  },
});

const markDisplayed = createRoute({
  method: "post",
  path: "/v1/messages/{id}/displayed",
  tags: ["messages"],
  summary: "Tell the sender a received message was displayed",
  description: "Sends the display notification (IMDN `displayed`, RFC 5438) of a received " +
    "CPIM message that asked for one (`imdnRequested` includes `display`) back on its " +
    "session. Idempotent: once sent, later calls change nothing. 409 " +
    "`imdn-not-requested` for any other message, `session-closed` when its session ended.",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    204: { description: "Sent (now or before)." },
    ...problems(401, 404, 409, 503),
  },
});

/** Sends a raw body, answering once it was read or the message settled. */
async function sendRaw(
  bridge: Bridge,
  id: string,
  request: Request,
  query: z.output<typeof RawQuery>,
  maxBytes: number,
): Promise<SentMessage> {
  const headers = query.name === undefined
    ? undefined
    : [["Content-Disposition", attachmentDisposition(query.name)] as const];
  const { body, size } = sizedBody(request, maxBytes);
  const contentType = request.headers.get("content-type") ?? "";
  if (!isMediaType(contentType)) {
    throw new ApiProblem("validation", "Content-Type: must be a media type", {
      field: "Content-Type",
    });
  }
  if ((await bridge.getSession(id))?.state === "pending") {
    throw new ApiProblem(
      "session-not-active",
      `id: session ${id} is not connected yet; send raw bodies after session.started`,
      { field: "id" },
    );
  }
  const upload = readUpload(body, size);
  const sent = await bridge.sendMessage(id, upload.pieces, {
    contentType,
    size,
    report: query.report === "true",
    ...(headers ? { headers } : {}),
  });
  try {
    await Promise.race([upload.finished, sent.outgoing.done]);
  } catch (e) {
    // The client stopped sending before its Content-Length; the message failed with it.
    throw new ApiProblem("validation", `body: ${(e as Error).message}`, {
      field: "body",
      extensions: { messageId: sent.record.id },
    });
  }
  return sent;
}

/** Registers the message routes. */
export function messageRoutes(app: ApiApp, bridge: Bridge, config: Config): void {
  const accepted = (c: Context<ApiEnv>, sent: SentMessage) => {
    const messageId = sent.record.id;
    c.header("Location", `/v1/messages/${messageId}`);
    return c.json({ messageId, status: sent.outgoing.status }, 202);
  };
  // A JSON body sent as it is (`raw=true` or `name`): taken here, before the route's
  // validator would parse it as {text}.
  app.use("/v1/sessions/:id/messages", async (c, next) => {
    const query = new URL(c.req.url).searchParams;
    const raw = query.get("raw") === "true" || query.has("name");
    if (c.req.method !== "POST" || !raw || !JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      return await next();
    }
    const parsed = RawQuery.safeParse(c.req.query());
    validationHook({ target: "query", ...parsed });
    const id = c.req.param("id") ?? "";
    return accepted(c, await sendRaw(bridge, id, c.req.raw, parsed.data!, config.maxUploadBytes));
  });

  app.openapi(sendMessage, async (c) => {
    const { id } = c.req.valid("param");
    let sent: SentMessage;
    if (JSON_TYPE.test(c.req.header("content-type") ?? "")) {
      // Only JSON bodies are validated (as SendTextRequest); the "*/*" entry documents raw ones.
      const body = c.req.valid("json") as z.output<typeof SendTextRequest>;
      sent = await bridge.sendMessage(id, body.text, {
        contentType: body.contentType ?? "text/plain",
        report: body.report ?? false,
        ...(body.imdn ? { imdn: body.imdn } : {}),
      });
    } else {
      sent = await sendRaw(bridge, id, c.req.raw, c.req.valid("query"), config.maxUploadBytes);
    }
    return accepted(c, sent);
  });

  app.openapi(listMessages, async (c) => {
    const { id } = c.req.valid("param");
    const page = await bridge.listMessages(id, c.req.valid("query"));
    const items = page.items.map(messageViewWithText);
    return c.json({ items, nextCursor: page.nextCursor ?? null }, 200);
  });

  app.openapi(getMessage, async (c) => {
    const { id } = c.req.valid("param");
    const message = await bridge.getMessage(id);
    if (!message) throw new ApiProblem("not-found", `id: no message ${id}`, { field: "id" });
    return c.json(messageViewWithText(message), 200);
  });

  app.openapi(markDisplayed, async (c) => {
    await bridge.markDisplayed(c.req.valid("param").id);
    return c.body(null, 204);
  });

  app.openapi(getContent, async (c) => {
    const { id } = c.req.valid("param");
    const message = await bridge.getMessage(id);
    const headers = {
      "content-type": message?.contentType ?? "",
      "content-security-policy": "sandbox",
      "x-content-type-options": "nosniff",
    };
    if (message?.text != null) return new Response(message.text, { headers });
    if (!message?.contentPath) {
      throw new ApiProblem("not-found", `id: no stored content for message ${id}`, {
        field: "id",
      });
    }
    if (message.status === "receiving") {
      throw new ApiProblem("content-not-ready", `id: message ${id} is still being received`, {
        field: "id",
      });
    }
    const unwrap = c.req.valid("query").raw !== "true" && message.direction === "in" &&
      mediaType(message.contentType) === CPIM_TYPE &&
      (await bridge.getSession(message.sessionId))?.kind === "file-transfer";
    let file: Deno.FsFile;
    try {
      file = await Deno.open(message.contentPath);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new ApiProblem("not-found", `id: the content of message ${id} is gone`, {
        field: "id",
      });
    }
    let size: number;
    try {
      size = (await file.stat()).size;
      const inner = unwrap ? await wrappedFile(file) : undefined;
      if (inner) headers["content-type"] = inner.contentType;
      const offset = inner?.offset ?? 0;
      await file.seek(offset, Deno.SeekMode.Start);
      size -= offset;
    } catch (e) {
      file.close();
      throw e;
    }
    return new Response(file.readable, {
      headers: { ...headers, "content-length": String(size) },
    });
  });
}
