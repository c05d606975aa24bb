/**
 * File routes (RFC 5547): push a file — through the PBX, or with an SDP
 * offer of ours whose answer the client brings — from a raw body or a
 * `multipart/form-data` form, and show where it stands; publish files for
 * peers to pull (§6), list and delete them.
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Config } from "../../config.ts";
import {
  type Bridge,
  type FileUpload,
  offerableName,
  offerableType,
  type OfferedFile,
} from "../../bridge/mod.ts";
import type { PublishedFileRecord } from "../../store/mod.ts";
import type { FileTransferData } from "../../webhooks/mod.ts";
import type { ApiApp, ApiEnv } from "../types.ts";
import { type Form, formBoundary, MultipartError, readForm } from "../_multipart.ts";
import { ApiProblem } from "../problem.ts";
import { BEARER, problems } from "../responses.ts";
import {
  FileSendQuery,
  FileTransfer,
  IdParam,
  OfferedFileTransfer,
  PublishedFile,
  PublishedFileList,
  PublishQuery,
} from "../schemas.ts";
import { readUpload, sizedBody } from "../upload.ts";
import { validationHook } from "../validation.ts";

/** What a form's body may hold besides its file: the fields, part headers and boundaries. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
/** Largest value of one form field. */
const MAX_FORM_FIELD_BYTES = 8 * 1024;
/** The form fields of `POST /v1/files` (each may be a query parameter instead). */
const FORM_FIELDS = ["to", "name", "type", "disposition"] as const;

/**
 * The request body of a route taking a file: a raw body, or a
 * `multipart/form-data` form of `fields` and one file part.
 */
function fileBody(fields: readonly string[]) {
  return {
    content: {
      "multipart/form-data": {
        schema: {
          type: "object" as const,
          properties: {
            ...Object.fromEntries(fields.map((f) => [f, { type: "string" as const }])),
            file: { type: "string" as const, format: "binary" },
          },
          required: ["file"],
        },
      },
      "*/*": { schema: { type: "string" as const, format: "binary" } },
    },
  };
}

const sendFile = createRoute({
  method: "post",
  path: "/v1/files",
  tags: ["files"],
  summary: "Send a file",
  description: "The file is the raw body (with a Content-Length: 411 for chunked bodies), or " +
    "the one file part of a `multipart/form-data` form (fields `to`, `name`, `type`, " +
    "`disposition` as parts before the file, or in the query; `name` defaults to the " +
    "part's filename, its unsafe characters replaced by `_`, and `type` to the part's " +
    "Content-Type). It is up to MAX_UPLOAD_BYTES and within DATA_QUOTA_BYTES while it " +
    "waits; it is stored and hashed (SHA-1) first, read as it arrives. Then an RFC 5547 " +
    "offer is made (`a=sendonly`, `a=file-selector` with name, type, size and hash, " +
    "`a=file-transfer-id`, `a=file-date`): with `to`, the bridge calls `to` through the " +
    "PBX and answers 202 once the call is answered; without `to`, it answers 201 with " +
    "`offer`, our SDP offer, and the file is sent once the peer's answer is applied with " +
    "PUT /v1/sessions/{id}/answer (an offer not answered within OFFER_TIMEOUT_MS ends, " +
    "and its file with it). The file is sent with a success REPORT requested; the " +
    "session ends with the transfer, and `file.delivered` or `file.failed` follows. " +
    "Fields in the query are checked before the body is read. A malformed form is 400 " +
    "malformed-multipart; a second file part, or a field after the file, 422. " +
    "With `resume=<id>` (and no body) a transfer that failed part-way is sent again " +
    "from its stored copy, from the bytes the receiver confirmed on (RFC 5547 §8, " +
    "`a=file-range`), as it was sent (a call, or a new offer of ours): 404 for an unknown " +
    "id, 409 not-resumable when it is not failed or its copy is gone.",
  security: BEARER,
  request: {
    query: FileSendQuery,
    body: fileBody(FORM_FIELDS),
  },
  responses: {
    201: {
      description: "Offered (no `to`): give `offer` to the peer and apply its answer with " +
        "PUT /v1/sessions/{id}/answer; follow the transfer with GET /v1/files/{id}.",
      headers: z.object({ Location: z.string() }),
      content: { "application/json": { schema: OfferedFileTransfer } },
    },
    202: {
      description: "Sending (with `to`); follow it with GET /v1/files/{id}.",
      headers: z.object({ Location: z.string() }),
      content: { "application/json": { schema: FileTransfer } },
    },
    ...problems(400, 401, 404, 409, 411, 413, 422, 502, 503),
  },
});

/** A required field of a new transfer (absent: 422). */
function required(value: string | undefined, field: string): string {
  if (value === undefined) throw new ApiProblem("validation", `${field}: required`, { field });
  return value;
}

/** The problem of a form that cannot be read. */
function formProblem(e: MultipartError): ApiProblem {
  const kind = e.kind === "malformed"
    ? "malformed-multipart"
    : e.kind === "too-large"
    ? "payload-too-large"
    : "validation";
  const detail = e.field === undefined ? e.message : `${e.field}: ${e.message}`;
  return new ApiProblem(kind, detail, { field: e.field });
}

/** The fields of a new transfer: from the query and, for a form, its fields. */
type FileFields = Partial<Record<(typeof FORM_FIELDS)[number], string>>;

/**
 * The fields of the query and those of `form` together, the form's
 * checked as the query's.
 *
 * @throws {ApiProblem} `validation` for an invalid field, or one given in both.
 */
function mergedFields(query: FileFields, form: Form): FileFields {
  const parsed = FileSendQuery.safeParse(Object.fromEntries(form.fields));
  validationHook({ target: "form", ...parsed });
  const merged: FileFields = { ...query };
  for (const field of FORM_FIELDS) {
    const value = parsed.data![field];
    if (value === undefined) continue;
    if (merged[field] !== undefined) {
      throw new ApiProblem("validation", `${field}: given both in the query and in the form`, {
        field,
      });
    }
    merged[field] = value;
  }
  return merged;
}

/** The last segment of a path a browser may have sent as the filename. */
function baseName(filename: string): string {
  return filename.slice(Math.max(filename.lastIndexOf("/"), filename.lastIndexOf("\\")) + 1);
}

/** A file to send, its `to` apart, and the problem its body failed with, if any. */
interface Upload {
  readonly to: string | undefined;
  readonly upload: FileUpload;
  /** The form's problem once its body failed (the bridge reports it as a `body` error). */
  readonly failure: () => ApiProblem | undefined;
}

/** The file of a raw body: its fields are the query's. */
function rawUpload(request: Request, fields: FileFields, maxBytes: number): Upload {
  const name = required(fields.name, "name");
  const type = required(fields.type, "type");
  const { body, size } = sizedBody(request, maxBytes);
  const { disposition } = fields;
  return {
    to: fields.to,
    upload: {
      name,
      type,
      ...(disposition === undefined ? {} : { disposition }),
      size,
      body: readUpload(body, size).pieces,
    },
    failure: () => undefined,
  };
}

/**
 * The file of a `multipart/form-data` body: reads the form up to its file
 * part; the file's bytes are read as the bridge spools them.
 */
async function formUpload(
  request: Request,
  boundary: string,
  query: FileFields,
  maxBytes: number,
): Promise<Upload> {
  const { body, size } = sizedBody(request, maxBytes + FORM_OVERHEAD_BYTES);
  let form: Form;
  try {
    form = await readForm(readUpload(body, size).pieces, boundary, {
      fields: FORM_FIELDS,
      maxFieldBytes: MAX_FORM_FIELD_BYTES,
      maxFileBytes: maxBytes,
    });
  } catch (e) {
    throw e instanceof MultipartError ? formProblem(e) : e;
  }
  const fields = mergedFields(query, form);
  const file = form.file;
  if (!file) {
    throw new ApiProblem("validation", "file: the form has no file part", { field: "file" });
  }
  const name = fields.name ?? offerableName(baseName(file.filename));
  let failure: ApiProblem | undefined;
  async function* watched(): AsyncGenerator<Uint8Array> {
    try {
      yield* file!.body;
    } catch (e) {
      if (e instanceof MultipartError) failure = formProblem(e);
      throw e;
    }
  }
  const { disposition } = fields;
  return {
    to: fields.to,
    upload: {
      name: required(name, "name"),
      type: fields.type ?? offerableType(file.contentType),
      ...(disposition === undefined ? {} : { disposition }),
      body: watched(),
    },
    failure: () => failure,
  };
}

const publishFile = createRoute({
  method: "post",
  path: "/v1/files/published",
  tags: ["files"],
  summary: "Publish a file for peers to pull",
  description: "The file is read as for POST /v1/files — the raw body (with a " +
    "Content-Length) or the one file part of a `multipart/form-data` form, with `name`, " +
    "`type` and `disposition` (no `to`) — up to MAX_UPLOAD_BYTES, stored under " +
    "DATA_DIR/published/ with its SHA-1, and counted against DATA_QUOTA_BYTES until it is " +
    "deleted. An SDP offer with `a=recvonly` and an `a=file-selector` (RFC 5547 §6, a " +
    "pull) through FreeSWITCH or POST /v1/sessions is then answered `a=sendonly` and sent " +
    "the file, when its selector names it (by `name` or `hash`) and no other: every " +
    "selector attribute (name, type, size, sha-1 hash) must equal the file's. Kept by the " +
    "instance that stored it.",
  security: BEARER,
  request: {
    query: PublishQuery,
    body: fileBody(["name", "type", "disposition"]),
  },
  responses: {
    201: {
      description: "Published.",
      headers: z.object({ Location: z.string() }),
      content: { "application/json": { schema: PublishedFile } },
    },
    ...problems(400, 401, 411, 413, 422, 503),
  },
});

const listPublished = createRoute({
  method: "get",
  path: "/v1/files/published",
  tags: ["files"],
  summary: "List the published files",
  description: "Every file this instance published, oldest first, unpaged.",
  security: BEARER,
  responses: {
    200: {
      description: "The published files.",
      content: { "application/json": { schema: PublishedFileList } },
    },
    ...problems(401),
  },
});

const deletePublished = createRoute({
  method: "delete",
  path: "/v1/files/published/{id}",
  tags: ["files"],
  summary: "Delete a published file",
  description: "Later pulls of it are refused; a pull sending it goes on to its end.",
  security: BEARER,
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted." },
    ...problems(401, 404),
  },
});

/** A published file as the API shows it. */
function publishedView(record: PublishedFileRecord): z.infer<typeof PublishedFile> {
  const { id, name, type, size, hash, disposition, createdAt } = record;
  return { id, file: { name, type, size, hash, disposition }, createdAt };
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

/**
 * The file and fields of a request's body (raw, or a form), as
 * `POST /v1/files` reads them.
 */
async function upload(request: Request, query: FileFields, maxBytes: number): Promise<Upload> {
  let boundary: string | undefined;
  try {
    boundary = formBoundary(request.headers.get("content-type") ?? "");
  } catch (e) {
    throw e instanceof MultipartError ? formProblem(e) : e;
  }
  return boundary === undefined
    ? rawUpload(request, query, maxBytes)
    : await formUpload(request, boundary, query, maxBytes);
}

/**
 * Registers `POST /v1/files`, `GET /v1/files/{id}` and the published files:
 * `POST` and `GET /v1/files/published`, `DELETE /v1/files/published/{id}`.
 */
export function fileRoutes(app: ApiApp, bridge: Bridge, config: Config): void {
  /** 201 with the offer for a transfer we offered, 202 for one through the PBX. */
  const answered = (c: Context<ApiEnv>, transfer: FileTransferData | OfferedFile) => {
    c.header("Location", `/v1/files/${transfer.id}`);
    return "offer" in transfer ? c.json(transfer, 201) : c.json(transfer, 202);
  };

  app.openapi(sendFile, async (c) => {
    const { resume, ...query } = c.req.valid("query");
    if (resume !== undefined) {
      // The stored copy is sent: no body, nor fields of a new file.
      for (const field of ["name", "type", "disposition"] as const) {
        if (query[field] !== undefined) {
          throw new ApiProblem("validation", `${field}: not with resume`, { field });
        }
      }
      const transfer = await bridge.resumeFile(resume, query.to);
      return answered(c, transfer);
    }
    const { to, upload: file, failure } = await upload(c.req.raw, query, config.maxUploadBytes);
    try {
      const transfer = to === undefined
        ? await bridge.offerFile(file)
        : await bridge.sendFile({ ...file, to });
      return answered(c, transfer);
    } catch (e) {
      throw failure() ?? e;
    }
  });

  app.openapi(publishFile, async (c) => {
    const query = c.req.valid("query");
    const { to, upload: file, failure } = await upload(c.req.raw, query, config.maxUploadBytes);
    if (to !== undefined) {
      throw new ApiProblem("validation", "to: not with a published file", { field: "to" });
    }
    let record: PublishedFileRecord;
    try {
      record = await bridge.publishFile(file);
    } catch (e) {
      throw failure() ?? e;
    }
    c.header("Location", `/v1/files/published/${record.id}`);
    return c.json(publishedView(record), 201);
  });

  app.openapi(listPublished, async (c) => {
    const items = await bridge.listPublishedFiles();
    return c.json({ items: items.map(publishedView) }, 200);
  });

  app.openapi(deletePublished, async (c) => {
    await bridge.deletePublishedFile(c.req.valid("param").id);
    return c.body(null, 204);
  });

  app.openapi(getFile, async (c) => {
    const { id } = c.req.valid("param");
    const transfer = await bridge.getFileTransfer(id);
    if (!transfer) throw new ApiProblem("not-found", `id: no file transfer ${id}`, { field: "id" });
    return c.json(transfer, 200);
  });
}
