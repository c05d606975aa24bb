/**
 * The plugin contract: the hooks a plugin implements, what they receive and
 * what they return. Types only; see `mod.ts` for how hooks run.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { PluginConfig } from "./config.ts";

/** `in`: the remote side sent the message or started the session; `out`: we did. */
export type PluginDirection = "in" | "out";

/** SIP-side facts about the call that carries a session, when there is one. */
export interface PluginSessionIdentity {
  /** Who started the session. */
  readonly direction?: PluginDirection;
  /** SIP From URI (the caller). */
  readonly from?: string;
  /** SIP To URI (the callee). */
  readonly to?: string;
  /** Display name of the caller. */
  readonly fromDisplay?: string;
  /** SIP Call-ID. */
  readonly callId?: string;
}

/** A session as plugins see it. */
export interface PluginSession extends PluginSessionIdentity {
  /** The session id (the session part of our MSRP URI). */
  readonly id: string;
  /** Our MSRP URI. */
  readonly localUri: string;
  /** The peer's MSRP path, first hop first; empty until it is known. */
  readonly remotePath: readonly string[];
}

/** A message as plugins see it: metadata always, the body when small and in memory. */
export interface PluginMessage {
  /** The MSRP Message-ID. */
  readonly id: string;
  /** The session it belongs to. */
  readonly sessionId: string;
  /** `in` received, `out` sent. */
  readonly direction: PluginDirection;
  /** Content-Type of the body, parameters included. */
  readonly contentType: string;
  /** Body size in bytes (received bytes for an incomplete message). */
  readonly size: number;
  /** Headers of the message (first chunk), names lower-cased. */
  readonly headers: ReadonlyMap<string, string>;
  /** Every byte arrived (incoming) or the content is whole (outgoing). */
  readonly complete: boolean;
  /**
   * The media type is textual: `text/*`, `message/cpim`, JSON or XML
   * (including `+json` and `+xml` types).
   */
  readonly isText: boolean;
  /**
   * The body is in memory and small enough for plugins (1 MiB by default):
   * only then do {@linkcode PluginMessage.bytes} and
   * {@linkcode PluginMessage.text} return it.
   */
  readonly hasBody: boolean;
  /** The body; throws `TypeError` unless {@linkcode PluginMessage.hasBody}. */
  bytes(): Uint8Array;
  /**
   * The body decoded as UTF-8; throws `TypeError` unless
   * {@linkcode PluginMessage.hasBody} and {@linkcode PluginMessage.isText}.
   */
  text(): string;
}

/** A body to send: a string is sent as UTF-8. */
export interface OutgoingContent {
  /** Content-Type of the body. */
  readonly contentType: string;
  /** The body. */
  readonly body: string | Uint8Array;
}

/** What `onMessage` can do besides returning a verdict. */
export interface MessageActions {
  /** The session the message belongs to. */
  readonly session: PluginSession;
  /**
   * Sends `content` back in the same session; a string is sent as `text/plain`.
   * Throws `TypeError` when `contentType` is not a media type (RFC 4975 §9:
   * `type/subtype;name=value`, no line breaks).
   */
  reply(content: string | OutgoingContent): void;
  /**
   * Sends a copy of the message (as later plugins would see it now) into
   * another session. Throws `TypeError` when the body is not available, or
   * its content type is not a media type.
   * Combine with {@linkcode MessageActions.drop} to redirect.
   */
  forward(sessionId: string): void;
  /** Consumes the message: no later plugin, webhook or application sees it. */
  drop(): void;
}

/**
 * The result of `onMessage`: `"pass"` to go on, `{ rewrite }` to go on with a
 * different message, `{ reject }` to refuse the message with an MSRP error
 * status (400–599), which also consumes it. See the module documentation for
 * what refusing a message that already arrived means.
 */
export type MessageVerdict =
  | "pass"
  | { readonly rewrite: PluginMessage }
  | { readonly reject: number; readonly reason?: string };

/** The outcome of a message we sent, for `onMessageDelivered` and `onMessageFailed`. */
export interface PluginDelivery {
  /** The session it was sent in. */
  readonly session: PluginSession;
  /** The message (direction `out`). */
  readonly message: PluginMessage;
  /** `sent` (every chunk accepted), `delivered` (success REPORT) or `failed`. */
  readonly status: "sent" | "delivered" | "failed";
  /** MSRP status code: 200, or the failure's code (e.g. 408, 413, 481). */
  readonly code: number;
  /** Why it failed; empty otherwise. */
  readonly reason: string;
  /** Body bytes written to the connection. */
  readonly bytesSent: number;
}

/** A pager-mode SIP MESSAGE, outside any session. */
export interface PluginPager {
  /** SIP From URI. */
  readonly from: string;
  /** SIP To URI. */
  readonly to: string;
  /** Display name of the sender. */
  readonly fromDisplay?: string;
  /** SIP Call-ID. */
  readonly callId?: string;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** The body. */
  readonly text: string;
}

/**
 * A loaded plugin: every hook is optional, may be async, and runs under the
 * runner's timeout and error isolation.
 */
export interface Plugin {
  /** A session started (it may not be connected yet). */
  onSessionStarted?(session: PluginSession): void | Promise<void>;
  /**
   * A message arrived completely, or ended incomplete (`complete` false).
   * Returning nothing means `"pass"`.
   */
  onMessage?(
    message: PluginMessage,
    actions: MessageActions,
  ): MessageVerdict | void | Promise<MessageVerdict | void>;
  /** A message we sent was accepted (`sent`) or confirmed (`delivered`). */
  onMessageDelivered?(info: PluginDelivery): void | Promise<void>;
  /** A message we sent failed. */
  onMessageFailed?(info: PluginDelivery): void | Promise<void>;
  /** A session ended. */
  onSessionEnded?(session: PluginSession, reason: string): void | Promise<void>;
  /** A pager-mode message arrived (notification only). */
  onPager?(pager: PluginPager): void | Promise<void>;
  /** The runner is closing: stop timers, flush files. */
  close?(): void | Promise<void>;
}

/** What a plugin's factory receives. */
export interface PluginContext {
  /** The plugin's name, as listed in `PLUGINS`. */
  readonly name: string;
  /** The plugin's configuration (`PLUGIN_<NAME>_*`). */
  readonly config: PluginConfig;
  /** A logger that adds `plugin: <name>` to every record. Never log bodies. */
  readonly logger: Logger;
  /** The current time in milliseconds since the Unix epoch (a test clock in tests). */
  now(): number;
  /**
   * Announces a composition indication (RFC 3994) the peer sent in `session`
   * to the listeners of `PluginRunner.onComposing`; the bridge publishes it
   * as `session.composing`. A listener that throws is logged and skipped.
   */
  composing(session: PluginSession, indication: IsComposing): void;
}

/** A composition indication (RFC 3994 §4). */
export interface IsComposing {
  /** `active`: the sender is composing; `idle`: it stopped. */
  readonly state: "active" | "idle";
  /** When the sender was last active (usually given with `idle`). */
  readonly lastActive?: Date;
  /** The type of the message being composed, e.g. `text/plain`. */
  readonly contentType?: string;
  /** Seconds until an `active` state expires unless refreshed. */
  readonly refresh?: number;
}

/** A composition indication a plugin announced, as `PluginRunner.onComposing` listeners get it. */
export interface ComposingIndication {
  /** The session it arrived in. */
  readonly session: PluginSession;
  /** The indication. */
  readonly indication: IsComposing;
}

/** Hears the composition indications plugins announce. */
export type ComposingListener = (event: ComposingIndication) => void;

/**
 * Makes a plugin; the module of plugin `<name>` exports one as
 * `export const plugin: PluginFactory`. It may be async (e.g. to open files)
 * and should throw {@linkcode PluginConfigError} for invalid configuration,
 * which stops the service's start-up with that message.
 */
export type PluginFactory = (ctx: PluginContext) => Plugin | Promise<Plugin>;

/** A plugin given directly, without a module in `plugins/`. */
export interface PluginDefinition {
  /** Its name (logs, configuration prefix). */
  readonly name: string;
  /** Its factory. */
  readonly factory: PluginFactory;
}

/**
 * The result of running the `onMessage` hooks over one message. The caller
 * sends `replies` into session `sessionId` and `forwards` into theirs, and
 * hands `message` to the application unless `consumed`: `applyOutcome` does
 * all of it.
 */
export interface MessageOutcome {
  /** The session the message arrived in, where `replies` go. */
  readonly sessionId: string;
  /** The message as the last plugin left it (rewritten, e.g. unwrapped CPIM). */
  readonly message: PluginMessage;
  /** A plugin dropped or rejected the message. */
  readonly consumed: boolean;
  /** The plugin that consumed it. */
  readonly consumedBy: string | undefined;
  /** Set when a plugin rejected the message. */
  readonly reject: MessageRejection | undefined;
  /** Messages to send back in the same session, in order. */
  readonly replies: readonly OutgoingContent[];
  /** Copies to send into other sessions, in order. */
  readonly forwards: readonly MessageForward[];
}

/** A plugin's refusal of a message. */
export interface MessageRejection {
  /** The plugin that refused it. */
  readonly plugin: string;
  /** MSRP error status (400–599). */
  readonly status: number;
  /** Why; the status's reason phrase when the plugin gave none. */
  readonly reason: string;
}

/** A copy of a message to send into another session. */
export interface MessageForward {
  /** The session to send it into. */
  readonly sessionId: string;
  /** What to send. */
  readonly content: OutgoingContent;
}
