/**
 * A library peer's side of disposition notifications (IMDN, RFC 5438) in
 * tests: what it received as CPIM, the notifications among that, and
 * sending one about a message it received.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import {
  type CpimMessage,
  type ImdnNotification,
  isImdnNotification,
  parseCpim,
  parseImdn,
  wrapImdnNotification,
} from "../src/cpim/mod.ts";
import type { IncomingMessage, MsrpSession } from "../src/session/mod.ts";

/** What the peer received as CPIM, in order. */
export function cpimOf(received: IncomingMessage[]): CpimMessage[] {
  return received.filter((m) => m.contentType === "message/cpim").map((m) => parseCpim(m.body()));
}

/** The notifications among what the peer received, parsed. */
export function notificationsOf(received: IncomingMessage[]): ImdnNotification[] {
  return cpimOf(received).filter(isImdnNotification).map((c) => parseImdn(c.body));
}

/** Sends a notification from the peer (`im:bob@example.com`) to `to` about `messageId`. */
export async function notify(
  session: MsrpSession,
  messageId: string,
  what: Pick<ImdnNotification, "kind" | "status">,
  to: string,
): Promise<void> {
  const { body, contentType } = wrapImdnNotification({
    from: { uri: "im:bob@example.com" },
    to: { uri: to },
    messageId: crypto.randomUUID().replaceAll("-", ""),
    dateTime: new Date(),
    notification: { messageId, dateTime: new Date().toISOString(), ...what } as ImdnNotification,
  });
  assertEquals((await session.send(body, { contentType }).done).status, "sent");
}
