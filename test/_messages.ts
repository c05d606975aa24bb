/**
 * Test helper: wait for a session's next received message.
 *
 * @module
 */

import type { IncomingMessage, MessageEvent, MsrpSession } from "../src/session/mod.ts";
import { deadlineOnAwait, HANG_GUARD_MS } from "./_until.ts";

/**
 * The next message `session` announces, listened for from this call on.
 * Awaiting it fails naming the session once `ms` have passed without one
 * (the clock starts at the first await).
 */
export function nextMessage(
  session: MsrpSession,
  ms: number = HANG_GUARD_MS,
): Promise<IncomingMessage> {
  const message = new Promise<IncomingMessage>((resolve) =>
    session.addEventListener("message", (e) => resolve((e as MessageEvent).message), {
      once: true,
    })
  );
  return deadlineOnAwait(message, `a message on session ${session.localUri}`, ms);
}
