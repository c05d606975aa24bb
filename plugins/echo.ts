/**
 * `echo`: sends every received text message back into its session, with an
 * optional prefix. Non-text messages (files, `application/im-iscomposing+xml`,
 * …) and incomplete ones are ignored; every message passes on unchanged.
 *
 * Configuration:
 * - `PLUGIN_ECHO_PREFIX`: put in front of the echoed text; none by default.
 *
 * @example
 * ```sh
 * PLUGINS=echo PLUGIN_ECHO_PREFIX="echo: " deno task start
 * ```
 *
 * @module
 */

import { mediaType } from "../src/msrp/mod.ts";
import type { PluginFactory } from "../src/plugins/mod.ts";

/** Creates the echo plugin. */
export const plugin: PluginFactory = (ctx) => {
  const prefix = ctx.config.string("PREFIX", "");
  return {
    onMessage(message, actions): "pass" {
      if (
        message.direction === "in" && message.hasBody &&
        mediaType(message.contentType).startsWith("text/")
      ) {
        actions.reply({ contentType: message.contentType, body: prefix + message.text() });
      }
      return "pass";
    },
  };
};
