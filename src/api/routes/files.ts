/**
 * File routes (RFC 5547): push a file through the PBX, and show where it stands.
 *
 * @module
 */

import { createRoute } from "@hono/zod-openapi";
import type { Config } from "../../config.ts";
import type { Bridge } from "../../bridge/mod.ts";
import type { ApiApp } from "../types.ts";
import { ApiProblem } from "../problem.ts";
import { BEARER, problems } from "../responses.ts";
import { FileSendQuery, FileTransfer, IdParam } from "../schemas.ts";
import { readUpload, sizedBody } from "../upload.ts";

const sendFile = createRoute({
  method: "post",
  path: "/v1/files",
  tags: ["files"],
  summary: "Send a file through the PBX",
  description: "The raw body is the file, with a Content-Length (411 for chunked bodies), " +
    "up to MAX_UPLOAD_BYTES and within DATA_QUOTA_BYTES while it waits. It is stored " +
    "and hashed (SHA-1) first, then `to` is called with an RFC 5547 offer (`a=sendonly`, " +
    "`a=file-selector` with name, type, size and hash, `a=file-transfer-id`, " +
    "`a=file-date`) and the file is sent with a success REPORT requested. The answer " +
    "comes once the call is answered; the session ends with the transfer, and " +
    "`file.delivered` or `file.failed` follows. `to`, `name`, `type` and `disposition` " +
    "are checked before the body is read. multipart/form-data is not accepted. " +
    "With `resume=<id>` (and no body) a transfer that failed part-way is sent again " +
    "from its stored copy, from the bytes the receiver confirmed on (RFC 5547 §8, " +
    "`a=file-range`): 404 for an unknown id, 409 not-resumable when it is not failed " +
    "or its copy is gone.",
  security: BEARER,
  request: { query: FileSendQuery },
  responses: {
    202: {
      description: "Sending; follow it with GET /v1/files/{id}.",
      headers: { Location: { schema: { type: "string" } } },
      content: { "application/json": { schema: FileTransfer } },
    },
    ...problems(401, 404, 409, 411, 413, 422, 502, 503),
  },
});

/** A required query parameter of a new transfer (absent: 422). */
function required(value: string | undefined, field: string): string {
  if (value === undefined) throw new ApiProblem("validation", `${field}: required`, { field });
  return value;
}

const getFile = createRoute({
  method: "get",
  path: "/v1/files/{id}",
  tags: ["files"],
  summary: "Show a file we send",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    200: {
      description: "The transfer.",
      content: { "application/json": { schema: FileTransfer } },
    },
    ...problems(401, 404),
  },
});

/** Registers `POST /v1/files` and `GET /v1/files/{id}`. */
export function fileRoutes(app: ApiApp, bridge: Bridge, config: Config): void {
  app.openapi(sendFile, async (c) => {
    const { resume, to, name, type, disposition } = c.req.valid("query");
    let transfer;
    if (resume !== undefined) {
      // The stored copy is sent: no body, nor fields of a new file.
      for (const [field, value] of Object.entries({ name, type, disposition })) {
        if (value !== undefined) {
          throw new ApiProblem("validation", `${field}: not with resume`, { field });
        }
      }
      transfer = await bridge.resumeFile(resume, to);
    } else {
      const fields = { to: required(to, "to"), name: required(name, "name") };
      const request = c.req.raw;
      const { body, size } = sizedBody(request, config.maxUploadBytes);
      transfer = await bridge.sendFile({
        ...fields,
        type: required(type, "type"),
        ...(disposition === undefined ? {} : { disposition }),
        size,
        body: readUpload(body, size).pieces,
      });
    }
    c.header("Location", `/v1/files/${transfer.id}`);
    return c.json(transfer, 202);
  });

  app.openapi(getFile, async (c) => {
    const { id } = c.req.valid("param");
    const transfer = await bridge.getFileTransfer(id);
    if (!transfer) throw new ApiProblem("not-found", `id: no file transfer ${id}`, { field: "id" });
    return c.json(transfer, 200);
  });
}
