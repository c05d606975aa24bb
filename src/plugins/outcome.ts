/**
 * Carrying out what the plugins decided about a received message: the one
 * place that sends their replies and forwards.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { MessageOutcome, OutgoingContent } from "./types.ts";

/**
 * Sends `content` into session `sessionId`; returns `false` when there is no
 * such session (or it no longer takes messages), `true` once it was handed to
 * the session.
 */
export type SendContent = (sessionId: string, content: OutgoingContent) => boolean;

/**
 * Carries out `outcome`: sends its replies into `outcome.sessionId`, then its
 * forwards into their sessions, in the order the plugins asked for them, all
 * through `send`. A reply or forward whose session is gone is logged to
 * `logger` (never its body) and skipped. Returns `true` when the application
 * should get `outcome.message`, `false` when a plugin consumed it (dropped
 * or rejected; the runner logged which).
 *
 * @example
 * ```ts
 * import { applyOutcome } from "./outcome.ts";
 * import { createPluginMessage } from "./message.ts";
 * import { PluginRunner } from "./runner.ts";
 *
 * await using runner = await PluginRunner.load(["echo"]);
 * const session = { id: "s1", localUri: "msrp://127.0.0.1:2855/s1;tcp", remotePath: [] };
 * const message = createPluginMessage({
 *   id: "m1",
 *   sessionId: "s1",
 *   direction: "in",
 *   contentType: "text/plain",
 *   body: "hi",
 * });
 * const outcome = await runner.message(session, message);
 * const deliver = applyOutcome(outcome, (sessionId, content) => {
 *   console.log("send into", sessionId, content.contentType);
 *   return true;
 * });
 * console.log(deliver); // true: echo replies but does not consume
 * ```
 */
export function applyOutcome(
  outcome: MessageOutcome,
  send: SendContent,
  logger?: Logger,
): boolean {
  for (const reply of outcome.replies) {
    if (!send(outcome.sessionId, reply)) {
      logger?.warn("session gone; plugin reply not sent", {
        sessionId: outcome.sessionId,
        messageId: outcome.message.id,
      });
    }
  }
  for (const forward of outcome.forwards) {
    if (!send(forward.sessionId, forward.content)) {
      logger?.warn("forward target session not found; not forwarded", {
        sessionId: outcome.sessionId,
        messageId: outcome.message.id,
        target: forward.sessionId,
      });
    }
  }
  return !outcome.consumed;
}
