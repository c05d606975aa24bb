/**
 * Messages and sessions as plugins see them, built from their parts or from
 * an {@linkcode MsrpSession} and its {@linkcode IncomingMessage}s.
 *
 * @module
 */

import { mediaType } from "../msrp/mod.ts";
import type { IncomingMessage, MsrpSession } from "../session/mod.ts";
import type {
  PluginDirection,
  PluginMessage,
  PluginSession,
  PluginSessionIdentity,
} from "./types.ts";

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** True for `text/*`, `message/cpim`, JSON and XML media types (also `+json`, `+xml`). */
function isTextType(contentType: string): boolean {
  const t = mediaType(contentType);
  return t.startsWith("text/") || t === "message/cpim" || t === "application/json" ||
    t === "application/xml" || t.endsWith("+json") || t.endsWith("+xml");
}

/** What {@linkcode createPluginMessage} builds a message from. */
export interface PluginMessageInit {
  /** The MSRP Message-ID. */
  readonly id: string;
  /** The session it belongs to. */
  readonly sessionId: string;
  /** `in` received, `out` sent. */
  readonly direction: PluginDirection;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** The body, when it is in memory; a string is UTF-8. */
  readonly body?: string | Uint8Array;
  /** Size in bytes; the body's length by default, 0 without a body. */
  readonly size?: number;
  /** Headers, names lower-cased; none by default. */
  readonly headers?: ReadonlyMap<string, string>;
  /** Whether the content is whole; true by default. */
  readonly complete?: boolean;
  /** Bodies larger than this are not offered to plugins; 1 MiB by default. */
  readonly maxBodyBytes?: number;
}

/**
 * A {@linkcode PluginMessage} from its parts: for messages the caller sends,
 * and for plugins that rewrite a message (e.g. unwrapping CPIM).
 */
export function createPluginMessage(init: PluginMessageInit): PluginMessage {
  const { body } = init;
  const bodySize = body === undefined
    ? 0
    : typeof body === "string"
    ? encoder.encode(body).length
    : body.length;
  const complete = init.complete ?? true;
  const hasBody = body !== undefined && complete &&
    bodySize <= (init.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const isText = isTextType(init.contentType);
  const unavailable = (): TypeError =>
    new TypeError(`the body of message ${init.id} is not available to plugins`);
  return {
    id: init.id,
    sessionId: init.sessionId,
    direction: init.direction,
    contentType: init.contentType,
    size: init.size ?? bodySize,
    headers: init.headers ?? new Map(),
    complete,
    isText,
    hasBody,
    bytes(): Uint8Array {
      if (!hasBody) throw unavailable();
      return typeof body === "string" ? encoder.encode(body) : body!;
    },
    text(): string {
      if (!hasBody) throw unavailable();
      if (!isText) throw new TypeError(`message ${init.id} is not text (${init.contentType})`);
      return typeof body === "string" ? body : decoder.decode(body);
    },
  };
}

/**
 * A {@linkcode PluginMessage} for a finished {@linkcode IncomingMessage} of
 * session `sessionId`. Its body is offered to plugins when the message is
 * complete, kept in memory (no sink) and at most `maxBodyBytes` (1 MiB by
 * default).
 */
export function pluginMessageFromIncoming(
  sessionId: string,
  message: IncomingMessage,
  options: { readonly maxBodyBytes?: number } = {},
): PluginMessage {
  const complete = message.outcome?.complete ?? false;
  return createPluginMessage({
    id: message.messageId,
    sessionId,
    direction: "in",
    contentType: message.contentType,
    body: complete && message.sink === undefined ? message.body() : undefined,
    size: message.outcome?.bytesReceived ?? 0,
    headers: message.info.headers,
    complete,
    maxBodyBytes: options.maxBodyBytes,
  });
}

/**
 * A {@linkcode PluginSession} for `session`, with the call's identity when
 * known. Its `remotePath` follows the session's (empty until known).
 */
export function pluginSession(
  session: MsrpSession,
  identity: PluginSessionIdentity = {},
): PluginSession {
  return {
    ...identity,
    id: session.id,
    localUri: session.localUri,
    get remotePath(): readonly string[] {
      return session.remotePath ?? [];
    },
  };
}
