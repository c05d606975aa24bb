/**
 * Store records as the API shows them: ISO times, caller and callee named
 * as in events, no file system paths.
 *
 * @module
 */

import { IMDN_DISPOSITIONS } from "../cpim/mod.ts";
import type { z } from "@hono/zod-openapi";
import { contentUrl } from "../bridge/mod.ts";
import type { MessageRecord, SessionRecord } from "../store/mod.ts";
import type { Message, Session } from "./schemas.ts";

/** A session as the API shows it. */
export type SessionView = z.infer<typeof Session>;

/** A message as the API shows it. */
export type MessageView = z.infer<typeof Message>;

/** Content shown inline as `text`: `text/*` (RFC 2046). */
const TEXT_TYPE = /^text\//i;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The API view of a session row. */
export function sessionView(s: SessionRecord): SessionView {
  return {
    id: s.id,
    kind: s.kind,
    file: s.file ?? null,
    state: s.state,
    direction: s.direction,
    localUri: s.localUri,
    remotePath: [...s.remotePath],
    from: s.fromUri,
    to: s.toUri,
    fromDisplay: s.fromDisplay,
    callId: s.callId,
    sipStatus: s.sipStatus,
    hangupCause: s.hangupCause,
    createdAt: iso(s.createdAt),
    endedAt: s.endedAt === null ? null : iso(s.endedAt),
    endReason: s.endReason,
    messagesIn: s.messagesIn,
    bytesIn: s.bytesIn,
    messagesOut: s.messagesOut,
    bytesOut: s.bytesOut,
    messagesFailed: s.messagesFailed,
  };
}

/** The API view of a message row. */
export function messageView(m: MessageRecord): MessageView {
  return {
    id: m.id,
    sessionId: m.sessionId,
    direction: m.direction,
    msrpMessageId: m.messageId,
    status: m.status,
    contentType: m.contentType,
    size: m.size,
    bytes: m.bytes,
    sha256: m.sha256,
    ...(m.hashVerified === undefined ? {} : { hashVerified: m.hashVerified }),
    ...(m.imdn === undefined ? {} : {
      imdn: {
        messageId: m.imdn.messageId,
        requested: IMDN_DISPOSITIONS.filter((d) => m.imdn?.requested.includes(d)),
        delivery: m.imdn.delivery,
        display: m.imdn.display,
      },
    }),
    error: m.errorCode === null && m.errorReason === null
      ? null
      : { code: m.errorCode, reason: m.errorReason ?? "" },
    contentUrl: m.contentPath !== null || m.text !== null ? contentUrl(m.id) : null,
    createdAt: iso(m.createdAt),
    updatedAt: iso(m.updatedAt),
  };
}

/**
 * The API view of a message row with `text` when it is a short `text/*` body
 * kept in the row; another kept in the row (the CPIM document of a text sent
 * asking for notifications) is served at `contentUrl` only.
 */
export function messageViewWithText(m: MessageRecord): MessageView {
  const view = messageView(m);
  return m.text === null || !TEXT_TYPE.test(m.contentType) ? view : { ...view, text: m.text };
}
