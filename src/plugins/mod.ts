/**
 * The plugin API of msrp-bridge: optional behaviours (an echo bot, auto
 * replies, an archive, …) that see sessions and messages and may answer,
 * forward, consume or refuse messages.
 *
 * ## Writing a plugin
 *
 * A plugin is a module in `plugins/`, either `plugins/<name>.ts` or
 * `plugins/<name>/mod.ts`, that exports a factory named `plugin` (the only
 * convention; there is no default export):
 *
 * ```ts
 * // plugins/shout.ts
 * import type { PluginFactory } from "../src/plugins/mod.ts";
 *
 * export const plugin: PluginFactory = (ctx) => {
 *   const suffix = ctx.config.string("SUFFIX", "!"); // PLUGIN_SHOUT_SUFFIX
 *   return {
 *     onMessage(message, actions) {
 *       if (!message.isText || !message.hasBody) return "pass";
 *       const text = message.text();
 *       if (text === "") return { reject: 400, reason: "empty message" };
 *       actions.reply(text.toUpperCase() + suffix);
 *       return "pass"; // later plugins and the webhooks still see the message
 *     },
 *     onSessionEnded(session, reason) {
 *       ctx.logger.info("session ended", { sessionId: session.id, reason });
 *     },
 *   };
 * };
 * ```
 *
 * The service loads the plugins named in `PLUGINS` (`PLUGINS=cpim,echo`), in
 * that order; each gets a {@linkcode PluginContext} with its own configuration
 * (environment variables `PLUGIN_<NAME>_<KEY>`, the name upper-cased with
 * non-alphanumerics as `_`: `PLUGIN_AUTO_REPLY_RULES`), a logger that names
 * the plugin, and a clock.
 *
 * ## How hooks run
 *
 * {@linkcode PluginRunner} calls each hook of each plugin in `PLUGINS` order and
 * awaits it, at most `PLUGINS_TIMEOUT_MS` (2 s by default). A hook that throws
 * or takes longer is logged (plugin, hook, session id; never a body) and
 * skipped, together with the actions it requested: the message goes on to the
 * next plugin unchanged and the session is not affected. A hook that blocks
 * the event loop cannot be interrupted: plugins do their I/O asynchronously.
 *
 * ## Composing indications
 *
 * A plugin that understands composition indications (RFC 3994; the
 * `is-composing` plugin) announces them with `ctx.composing(session,
 * indication)`; whoever runs the plugins hears them with
 * {@linkcode PluginRunner.onComposing} (the service publishes
 * `session.composing`). Nobody looks a plugin up by name.
 *
 * ## Verdicts
 *
 * `onMessage` returns a {@linkcode MessageVerdict}:
 * - `"pass"` (or nothing): later plugins, then the application, see the message;
 * - `{ rewrite: message }`: later plugins and the application see `message`
 *   instead (the `cpim` plugin unwraps `message/cpim` this way);
 * - `{ reject: status, reason? }`: the message is refused with an MSRP error
 *   status (400–599) and consumed.
 *
 * and may use its {@linkcode MessageActions}: `reply()` sends a message back in
 * the same session, `forward()` sends a copy into another session, `drop()`
 * consumes the message (no later plugin, webhook or application handler sees
 * it). Replies and forwards of the plugins that ran are sent even when a later
 * plugin consumes the message. {@linkcode applyOutcome} carries out a
 * {@linkcode MessageOutcome}: the one place that sends replies and forwards.
 *
 * **What "reject" can do.** An MSRP receiver answers each chunk with a
 * transaction response as it arrives, and `MsrpSession` fires its `message`
 * event only after the last chunk was answered with 200. A plugin verdict can
 * therefore not turn into a 4xx response for that message. Reject is honest
 * about it: it is "refuse and notify" — the message is consumed (never handed
 * to later plugins, webhooks or the application), it is logged with its
 * status, and the {@linkcode MessageOutcome} carries the status and reason so
 * that the caller can tell the application (`attachPlugins`' `onReject`) and
 * the service can record the message as refused. A plugin that wants the
 * sender to learn of it also calls `actions.reply()` with an explanation.
 * Should a caller ever run the plugins before its final response, it can send
 * `outcome.reject.status` as that response.
 *
 * @example Library use without the service
 * ```ts
 * import { MsrpEndpoint } from "../session/mod.ts";
 * import { attachPlugins, PluginRunner } from "./mod.ts";
 *
 * const runner = await PluginRunner.load(["echo"], { env: { PLUGIN_ECHO_PREFIX: "echo: " } });
 * const endpoint = new MsrpEndpoint({ port: 0 }).listen();
 * const session = endpoint.createSession();
 * attachPlugins(runner, session, { direction: "in" }, {
 *   onMessage: (message) => console.log("for the application:", message.id),
 * });
 * // … exchange SDP, then later:
 * await endpoint.close();
 * await runner.close();
 * ```
 *
 * @module
 */

export { attachPlugins } from "./attach.ts";
export type { AttachPluginsOptions, PluginAttachment } from "./attach.ts";
export { type IntBounds, PluginConfig, PluginConfigError } from "./config.ts";
export { PluginLoadError } from "./load.ts";
export {
  createPluginMessage,
  pluginMessageFromIncoming,
  type PluginMessageInit,
  pluginSession,
} from "./message.ts";
export { applyOutcome, type SendContent } from "./outcome.ts";
export { PluginRunner, type PluginRunnerOptions } from "./runner.ts";
export type {
  ComposingIndication,
  ComposingListener,
  IsComposing,
  MessageActions,
  MessageForward,
  MessageOutcome,
  MessageRejection,
  MessageVerdict,
  OutgoingContent,
  Plugin,
  PluginContext,
  PluginDefinition,
  PluginDelivery,
  PluginDirection,
  PluginFactory,
  PluginMessage,
  PluginPager,
  PluginSession,
  PluginSessionIdentity,
} from "./types.ts";
