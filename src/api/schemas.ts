/**
 * The request and response schemas of the HTTP API. They validate requests
 * and generate the OpenAPI document, so the two cannot drift apart.
 *
 * @module
 */

import { z } from "@hono/zod-openapi";
import { IMDN_DISPOSITIONS } from "../cpim/mod.ts";
import { MEDIA_TYPE_PATTERN } from "../msrp/media_type.ts";

const DIALABLE = "A `sip:`/`sips:` URI (RFC 3261) without headers, password or IPv6 literal, " +
  "with none of `, $ ' [ ]`, no `; ? /` in the user part and no `fs_…` parameters; " +
  "otherwise 422 invalid-sip-uri.";

/** An RFC 9457 problem. */
export const Problem = z.object({
  type: z.url().openapi({ example: "https://msrp-bridge.dev/problems/validation" }),
  title: z.string().openapi({ example: "Invalid request" }),
  status: z.number().int().openapi({ example: 422 }),
  detail: z.string().openapi({ example: "text: Invalid input: expected string, received number" }),
  instance: z.string().optional(),
  field: z.string().optional().openapi({ description: "The field at fault.", example: "text" }),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional().openapi({
    description: "Every invalid field (validation problems).",
  }),
}).openapi("Problem");

/** The file of a file-transfer session, as its offer's RFC 5547 attributes describe it. */
export const SessionFile = z.object({
  name: z.string().nullable().openapi({ example: "report.pdf" }),
  type: z.string().nullable().openapi({ example: "application/pdf" }),
  size: z.number().int().nullable().openapi({ description: "Bytes, as offered.", example: 32349 }),
  hash: z.object({
    algorithm: z.string().openapi({ example: "sha-1" }),
    value: z.string().openapi({
      example: "72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
    }),
  }).nullable().openapi({
    description: "The offered hash, checked once the file is received (sha-1, sha-256, " +
      "sha-384 and sha-512 are checked).",
  }),
  transferId: z.string().nullable().openapi({ description: "`a=file-transfer-id`." }),
  disposition: z.string().nullable().openapi({ description: "`a=file-disposition`." }),
  date: z.object({
    creation: z.string().optional(),
    modification: z.string().optional(),
    read: z.string().optional(),
  }).nullable().openapi({ description: "`a=file-date`, dates as given (RFC 5322)." }),
  resumes: z.string().optional().openapi({
    description: "The id of the message, received in part, whose content this transfer " +
      "continues (RFC 5547 `a=file-range`); absent when it starts afresh.",
  }),
}).openapi("SessionFile");

/** A session as the API shows it. */
export const Session = z.object({
  id: z.string().openapi({ description: "The session id; also the session part of our MSRP URI." }),
  kind: z.enum(["chat", "file-transfer"]).openapi({
    description: "`file-transfer`: the peer pushes one file (RFC 5547); the session ends " +
      "once it is received. `chat` otherwise.",
  }),
  file: SessionFile.nullable().openapi({ description: "The file of a `file-transfer` session." }),
  state: z.enum(["pending", "active", "ended"]),
  direction: z.enum(["in", "out"]).openapi({
    description: "`in`: the peer offered; `out`: we offered.",
  }),
  localUri: z.string().openapi({ example: "msrp://127.0.0.1:2855/k3j4h5g6f7d8s9a0q1w2;tcp" }),
  remotePath: z.array(z.string()),
  from: z.string().nullable(),
  to: z.string().nullable(),
  fromDisplay: z.string().nullable(),
  callId: z.string().nullable(),
  sipStatus: z.number().int().nullable(),
  hangupCause: z.string().nullable(),
  createdAt: z.iso.datetime(),
  endedAt: z.iso.datetime().nullable(),
  endReason: z.string().nullable(),
  messagesIn: z.number().int().openapi({ description: "Messages received in full." }),
  bytesIn: z.number().int().openapi({
    description: "Body bytes of the messages received in full.",
  }),
  messagesOut: z.number().int().openapi({
    description: "Messages sent (status `sent` or `delivered`).",
  }),
  bytesOut: z.number().int().openapi({ description: "Body bytes of the messages sent." }),
  messagesFailed: z.number().int().openapi({
    description: "Messages, either way, that failed or arrived incomplete (`failed`, " +
      "`partial`); they count in no other field. Messages still under way count nowhere " +
      "yet, is-composing indications (RFC 3994) never.",
  }),
}).openapi("Session");

/** A message as the API shows it. */
export const Message = z.object({
  id: z.string().openapi({ description: "The message id." }),
  sessionId: z.string(),
  direction: z.enum(["in", "out"]).openapi({ description: "`in` received, `out` sent." }),
  msrpMessageId: z.string().openapi({ description: "The MSRP Message-ID." }),
  status: z.enum([
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "receiving",
    "received",
    "partial",
  ]),
  contentType: z.string(),
  size: z.number().int().nullable().openapi({ description: "Declared size, when known." }),
  bytes: z.number().int().openapi({ description: "Body bytes sent or received." }),
  sha256: z.string().nullable(),
  hashVerified: z.boolean().nullable().optional().openapi({
    description: "The file of a file-transfer session: whether it matched the offered hash " +
      '(`false`: the message failed with "hash mismatch"); `null` when no hash we ' +
      "check was offered.",
  }),
  error: z.object({ code: z.number().int().nullable(), reason: z.string() }).nullable().openapi({
    description: "Why it failed or is incomplete; `code` is the MSRP status code.",
  }),
  contentUrl: z.string().nullable().openapi({
    description: "Where the content can be fetched: received content, and sent text " +
      "(kept when it could be inlined as `text`).",
    example: "/v1/messages/0b9a3c52-6f1e-4c1a-9d43-2f0c5e8b7a61/content",
  }),
  text: z.string().optional().openapi({
    description: "The body, sent or received, for UTF-8 `text/*` content of at most 64 KiB " +
      "kept on disk (as `text` in message events).",
  }),
  imdn: z.object({
    messageId: z.string().openapi({ description: "The CPIM `imdn.Message-ID`." }),
    requested: z.array(z.enum(IMDN_DISPOSITIONS)).openapi({
      description: "The notifications the sender asked for.",
    }),
    delivery: z.string().nullable().openapi({
      description: "The delivery notification (`delivered`, `failed`, `forbidden`, `error`): " +
        "sent by us for a received message, received for a sent one; `null` before.",
    }),
    display: z.string().nullable().openapi({
      description: "The display notification (`displayed`, …), likewise.",
    }),
  }).optional().openapi({
    description: "A CPIM message with an `imdn.Message-ID` (RFC 5438): what it asked for and " +
      "the notifications sent or received.",
  }),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).openapi("Message");

const SESSION_CHOICES = ["to", "offer", "createOffer"] as const;

/** The body of `POST /v1/sessions`: exactly one of `to`, `offer`, `createOffer`. */
export const CreateSessionRequest = z.strictObject({
  to: z.string().min(1).optional().openapi({
    description: "Originate through the PBX (needs the PBX integration). " + DIALABLE,
    example: "sip:1000@pbx",
  }),
  offer: z.string().min(1).optional().openapi({
    description: "An SDP offer with an MSRP `m=message` line; the bridge answers it.",
  }),
  createOffer: z.literal(true).optional().openapi({
    description: "Make an SDP offer; apply the answer with `PUT /v1/sessions/{id}/answer`.",
  }),
}).superRefine((body, ctx) => {
  const given = SESSION_CHOICES.filter((k) => body[k] !== undefined);
  if (given.length === 1) return;
  ctx.addIssue({
    code: "custom",
    path: [given.length === 0 ? SESSION_CHOICES.join("|") : given.join(",")],
    message: "give exactly one of to, offer or createOffer",
  });
}).openapi("CreateSessionRequest");

/** The answer of `POST /v1/sessions`. */
export const CreatedSession = z.object({
  id: z.string(),
  answer: z.string().optional().openapi({ description: "Our SDP answer (for `offer`)." }),
  offer: z.string().optional().openapi({ description: "Our SDP offer (for `createOffer`)." }),
}).openapi("CreatedSession");

/** The body of `PUT /v1/sessions/{id}/answer`. */
export const AnswerRequest = z.strictObject({
  answer: z.string().min(1).openapi({ description: "The SDP answer to our offer." }),
}).openapi("AnswerRequest");

/** The JSON body of `POST /v1/sessions/{id}/messages`. */
export const SendTextRequest = z.strictObject({
  text: z.string().min(1).openapi({ example: "Hello" }),
  contentType: z.string().regex(MEDIA_TYPE_PATTERN, "must be a media type").optional().openapi({
    description: "Content-Type of the MSRP message; `text/plain` when omitted. A media type " +
      "(RFC 4975 §9): `type/subtype` with optional `;name=value` parameters, tokens or " +
      "quoted strings, no line breaks.",
  }),
  report: z.boolean().optional().openapi({
    description: "Ask for a success REPORT, so the status becomes `delivered`.",
  }),
  imdn: z.array(z.enum(IMDN_DISPOSITIONS)).min(1).max(3).optional().openapi({
    description: "Send the text wrapped in CPIM (`message/cpim`, RFC 3862) asking for these " +
      "disposition notifications (RFC 5438); they come as `message.delivered` / " +
      "`message.failed` with `imdn` and `message.displayed`. The peer's SDP must accept " +
      "`message/cpim` (and the text's type, plain or wrapped); otherwise 422.",
    example: ["positive-delivery", "display"],
  }),
}).openapi("SendTextRequest");

/** The answer of `POST /v1/sessions/{id}/messages`. */
export const MessageAccepted = z.object({
  messageId: z.string(),
  status: Message.shape.status,
}).openapi("MessageAccepted");

/** The body of `POST /v1/pager`. */
export const PagerRequest = z.strictObject({
  to: z.string().min(1).openapi({ description: DIALABLE, example: "sip:1000@pbx" }),
  from: z.string().min(1).openapi({ description: DIALABLE, example: "sip:bot@pbx" }),
  text: z.string().min(1).openapi({ description: "No `|` and no line breaks." }),
}).openapi("PagerRequest");

/**
 * The query of `POST /v1/files`: whom to send the file to and how to
 * describe it (a form may give `to`, `name`, `type` and `disposition` as
 * fields instead).
 */
export const FileSendQuery = z.object({
  to: z.string().min(1).optional().openapi({
    description: `${DIALABLE} With it, the bridge calls \`to\` through the PBX; without ` +
      "it, the answer carries our SDP offer, whose answer the client brings with " +
      "`PUT /v1/sessions/{id}/answer`. With `resume`, if given, the transfer's own.",
    example: "sip:1000@pbx",
  }),
  name: z.string().min(1).max(255).optional().openapi({
    description: "The file name offered (`a=file-selector` name): no quotes, control " +
      "characters or `$ { }`. Required for a raw body; a form's defaults to its file " +
      "part's filename (without a path, those characters replaced by `_`). Not with " +
      "`resume`.",
    example: "report.pdf",
  }),
  type: z.string().regex(MEDIA_TYPE_PATTERN, "must be a media type").optional().openapi({
    description: "The file's media type, also the MSRP Content-Type; no white space. " +
      "Required for a raw body; a form's defaults to its file part's Content-Type " +
      "(`application/octet-stream` without one). Not with `resume`.",
    example: "application/pdf",
  }),
  resume: z.string().min(1).optional().openapi({
    description: "Resume this earlier transfer, failed part-way, from its stored copy " +
      "(RFC 5547 §8, `a=file-range`); no body, and no `name`, `type` or `disposition`.",
  }),
  disposition: z.string().min(1).optional().openapi({
    description: "`a=file-disposition` (RFC 5547), e.g. `render` or `attachment`.",
    example: "attachment",
  }),
});

/** A file we push, as `GET /v1/files/{id}` and the `file.*` events show it. */
export const FileTransfer = z.object({
  id: z.string().openapi({ description: "The transfer id: the id of its session." }),
  sessionId: z.string(),
  to: z.string().nullable().openapi({
    description: "The SIP URI called; `null` for a file offered with our SDP offer.",
  }),
  file: SessionFile,
  status: z.enum(["sending", "delivered", "failed"]).openapi({
    description: "`sending` from the offer on; `delivered` once the receiver's success " +
      "REPORT came; `failed` when the message failed or the session ended without it " +
      "(an offer not answered, too).",
  }),
  bytesSent: z.number().int(),
  error: z.object({ code: z.number().int().nullable(), reason: z.string() }).nullable(),
}).openapi("FileTransfer");

/** A file offered with our SDP offer: the transfer, and the offer. */
export const OfferedFileTransfer = FileTransfer.extend({
  offer: z.string().openapi({
    description: "Our SDP offer (RFC 5547 `a=sendonly`, `a=file-selector`, …); apply the " +
      "peer's answer with `PUT /v1/sessions/{id}/answer`, the transfer id being the " +
      "session id.",
  }),
}).openapi("OfferedFileTransfer");

/** The fields of a file to publish (`POST /v1/files/published`), as query parameters. */
export const PublishQuery = FileSendQuery.pick({ name: true, type: true, disposition: true });

/** A file published for peers to pull (RFC 5547 §6). */
export const PublishedFile = z.object({
  id: z.string().openapi({ description: "The published file's id." }),
  file: z.object({
    name: z.string().openapi({ example: "report.pdf" }),
    type: z.string().openapi({ example: "application/pdf" }),
    size: z.number().int().openapi({ description: "Bytes.", example: 32349 }),
    hash: z.object({
      algorithm: z.string().openapi({ example: "sha-1" }),
      value: z.string().openapi({
        example: "72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
      }),
    }),
    disposition: z.string().nullable().openapi({
      description: "`a=file-disposition` sent with it.",
    }),
  }).openapi({
    description: "What a pull's `a=file-selector` is matched against (name, type, size, " +
      "SHA-1) and what our answer describes.",
  }),
  createdAt: z.number().int().openapi({ description: "When it was published (ms since epoch)." }),
}).openapi("PublishedFile");

/** Every published file. */
export const PublishedFileList = z.object({
  items: z.array(PublishedFile).openapi({ description: "Oldest first; all of them, unpaged." }),
}).openapi("PublishedFileList");

/** A page of sessions. */
export const SessionPage = z.object({
  items: z.array(Session),
  nextCursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page." }),
}).openapi("SessionPage");

/** A page of messages. */
export const MessagePage = z.object({
  items: z.array(Message),
  nextCursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page." }),
}).openapi("MessagePage");

/** Paging query parameters. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({
    description: "Items per page; 100 when omitted.",
  }),
  cursor: z.string().regex(/^[0-9]{1,15}$/, "must be a nextCursor value").optional(),
});

/** `{id}` in a path. */
export const IdParam = z.object({
  id: z.string().min(1).openapi({ param: { name: "id", in: "path" } }),
});

/** The answer of `/healthz`. */
export const Health = z.object({ status: z.literal("ok") }).openapi("Health");

/** The answer of `/readyz` when ready. */
export const Ready = z.object({
  status: z.literal("ready"),
  checks: z.object({
    store: z.boolean().openapi({ description: "The store is writable." }),
    msrp: z.boolean().openapi({ description: "The MSRP listener is open." }),
    esl: z.enum(["off", "connecting", "connected", "disconnected"]),
  }),
}).openapi("Ready");
