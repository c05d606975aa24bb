/**
 * What one `onMessage` call may ask for: the {@linkcode MessageActions} it
 * gets, and the check of the verdict it returns.
 *
 * @module
 */

import { assertMediaType } from "../msrp/mod.ts";
import type {
  MessageActions,
  MessageForward,
  OutgoingContent,
  PluginMessage,
  PluginSession,
} from "./types.ts";

/** The actions one `onMessage` call requested; kept only when its verdict is valid. */
export interface Requested {
  /** Messages to send back in the same session. */
  readonly replies: OutgoingContent[];
  /** Copies to send into other sessions. */
  readonly forwards: MessageForward[];
  /** The plugin consumed the message. */
  dropped: boolean;
}

/** Why a verdict is invalid, or `undefined` when it is valid. */
export function verdictProblem(verdict: unknown): string | undefined {
  if (verdict === "pass") return undefined;
  if (typeof verdict === "object" && verdict !== null) {
    if ("reject" in verdict) {
      const status = verdict.reject;
      const ok = Number.isInteger(status) && (status as number) >= 400 && (status as number) < 600;
      return ok ? undefined : `reject status must be 400-599, got ${String(status)}`;
    }
    if ("rewrite" in verdict) {
      const m = verdict.rewrite as Partial<PluginMessage> | null;
      return typeof m?.bytes === "function" ? undefined : "rewrite must be a PluginMessage";
    }
  }
  return "unknown verdict";
}

/** The actions of one `onMessage` call on `message`, recorded into `requested`. */
export function actionsFor(
  session: PluginSession,
  message: PluginMessage,
  requested: Requested,
): MessageActions {
  return {
    session,
    reply(content: string | OutgoingContent): void {
      const c = typeof content === "string"
        ? { contentType: "text/plain", body: content }
        : content;
      if (!c.contentType) throw new TypeError("reply needs a contentType");
      // RFC 4975 §9: Content-Type is type "/" subtype *( ";" parameter ).
      assertMediaType(c.contentType, "reply contentType");
      requested.replies.push(c);
    },
    forward(sessionId: string): void {
      if (!message.hasBody) {
        throw new TypeError(`the body of message ${message.id} is not available to forward`);
      }
      assertMediaType(message.contentType, `the contentType of message ${message.id}`);
      requested.forwards.push({
        sessionId,
        content: { contentType: message.contentType, body: message.bytes() },
      });
    },
    drop(): void {
      requested.dropped = true;
    },
  };
}
