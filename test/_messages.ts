/**
 * Test helper: wait for a session's next received message.
 *
 * @module
 */

import type { IncomingMessage, MessageEvent, MsrpSession } from "../src/session/mod.ts";

/** Resolves with the next message `session` announces. */
export function nextMessage(session: MsrpSession): Promise<IncomingMessage> {
  return new Promise((resolve) =>
    session.addEventListener("message", (e) => resolve((e as MessageEvent).message), {
      once: true,
    })
  );
}
