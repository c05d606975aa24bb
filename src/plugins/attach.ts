/**
 * Plugins on an {@linkcode MsrpSession} without the service, for library
 * users: {@linkcode attachPlugins}.
 *
 * @module
 */

import type {
  IncomingMessage,
  MessageEvent as SessionMessageEvent,
  MsrpSession,
  OutgoingMessage,
  SendOptions,
  SessionCloseEvent,
} from "../session/mod.ts";
import { describeError } from "./_describe.ts";
import { createPluginMessage, pluginMessageFromIncoming, pluginSession } from "./message.ts";
import { applyOutcome } from "./outcome.ts";
import type { PluginRunner } from "./runner.ts";
import type {
  MessageRejection,
  PluginMessage,
  PluginSession,
  PluginSessionIdentity,
} from "./types.ts";

/** Options of {@linkcode attachPlugins}. */
export interface AttachPluginsOptions {
  /** Receives each message no plugin consumed, as the plugins left it. */
  readonly onMessage?: (message: PluginMessage, incoming: IncomingMessage) => void;
  /** Told when a plugin refused a message (which had already been answered with 200). */
  readonly onReject?: (rejection: MessageRejection, message: PluginMessage) => void;
  /** Finds the target session of `forward()`; forwards are dropped (and logged) without it. */
  readonly resolveSession?: (sessionId: string) => MsrpSession | undefined;
  /** Bodies larger than this are not offered to plugins; 1 MiB by default. */
  readonly maxBodyBytes?: number;
}

/** A session with plugins attached, returned by {@linkcode attachPlugins}. */
export interface PluginAttachment {
  /** The session as the plugins see it. */
  readonly session: PluginSession;
  /**
   * Sends a message in the session like `MsrpSession.send`, and reports its
   * outcome to the plugins' `onMessageDelivered`/`onMessageFailed`.
   */
  send(
    body: string | Uint8Array | ReadableStream<Uint8Array>,
    options?: SendOptions,
  ): OutgoingMessage;
  /**
   * Resolves once every hook call queued so far has run, including the
   * delivery hooks of messages sent so far (which wait for their outcome).
   */
  drained(): Promise<void>;
}

/**
 * Runs `runner`'s plugins on an {@linkcode MsrpSession} without the service:
 * `onSessionStarted` now, `onMessage` for every received message (then sends
 * the replies and forwards, and gives unconsumed messages to
 * `options.onMessage`), delivery hooks for messages sent through the returned
 * attachment, and `onSessionEnded` when the session closes. Hooks of the
 * session run one after another, in event order.
 *
 * A rejected message was already answered with 200 by the session (the
 * `message` event fires after that), so reject means "refuse and notify": the
 * message is withheld from `options.onMessage` and passed to
 * `options.onReject` instead; replies the plugins requested are sent.
 */
export function attachPlugins(
  runner: PluginRunner,
  session: MsrpSession,
  identity: PluginSessionIdentity = {},
  options: AttachPluginsOptions = {},
): PluginAttachment {
  const info = pluginSession(session, identity);
  const log = runner.logger.with({ sessionId: session.id });
  const inFlight = new Set<Promise<void>>();
  let tail: Promise<void> = Promise.resolve();

  const enqueue = (work: () => void | Promise<void>): void => {
    tail = tail.then(work).catch((e) =>
      log.error("plugin dispatch or application callback failed", { error: describeError(e) })
    );
  };

  const send = (
    target: MsrpSession,
    targetInfo: PluginSession,
    body: string | Uint8Array | ReadableStream<Uint8Array>,
    sendOptions: SendOptions = {},
  ): OutgoingMessage => {
    const out = target.send(body, sendOptions);
    const settled = out.done.then((result): void => {
      const message = createPluginMessage({
        id: out.messageId,
        sessionId: target.id,
        direction: "out",
        contentType: out.contentType,
        body: body instanceof ReadableStream ? undefined : body,
        size: result.bytesSent,
        headers: new Map(out.headers.map(([k, v]) => [k.toLowerCase(), v])),
        maxBodyBytes: options.maxBodyBytes,
      });
      enqueue(() =>
        runner.delivery({
          session: targetInfo,
          message,
          status: result.status,
          code: result.code,
          reason: result.reason,
          bytesSent: result.bytesSent,
        })
      );
    }).catch((e) => log.error("plugin delivery dispatch failed", { error: describeError(e) }));
    inFlight.add(settled);
    settled.finally(() => inFlight.delete(settled));
    return out;
  };

  const onMessage = (event: Event): void => {
    const incoming = (event as SessionMessageEvent).message;
    const message = pluginMessageFromIncoming(session.id, incoming, options);
    enqueue(async () => {
      const outcome = await runner.message(info, message);
      const deliver = applyOutcome(outcome, (sessionId, content) => {
        const target = sessionId === session.id ? session : options.resolveSession?.(sessionId);
        if (target === undefined) return false;
        const targetInfo = target === session ? info : pluginSession(target);
        send(target, targetInfo, content.body, { contentType: content.contentType });
        return true;
      }, log);
      if (outcome.reject) options.onReject?.(outcome.reject, outcome.message);
      else if (deliver) options.onMessage?.(outcome.message, incoming);
    });
  };

  const onClose = (event: Event): void => {
    session.removeEventListener("message", onMessage);
    session.removeEventListener("close", onClose);
    const reason = (event as SessionCloseEvent).reason;
    enqueue(() => runner.sessionEnded(info, reason));
  };

  enqueue(() => runner.sessionStarted(info));
  if (session.closed) {
    enqueue(() => runner.sessionEnded(info, session.closeReason));
  } else {
    session.addEventListener("message", onMessage);
    session.addEventListener("close", onClose);
  }

  return {
    session: info,
    send: (body, sendOptions) => send(session, info, body, sendOptions),
    async drained(): Promise<void> {
      while (true) {
        const last = tail;
        await Promise.all([last, ...inFlight]);
        if (last === tail && inFlight.size === 0) return;
      }
    },
  };
}
