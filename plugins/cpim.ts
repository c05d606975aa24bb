/**
 * `cpim`: Common Presence and Instant Messaging message format (RFC 3862),
 * `message/cpim`. Received CPIM messages are unwrapped: later plugins, the
 * webhooks and the application see the inner message (its Content-Type and
 * body), and {@linkcode cpimOf} gives its CPIM envelope (From, To, DateTime,
 * Subject, NS, …). A malformed envelope is rejected with 400, an inner type
 * outside `PLUGIN_CPIM_ACCEPT_TYPES` with 415. {@linkcode wrapCpim} builds
 * CPIM for sending. Parsing and building are the core's (`src/cpim`, which
 * also serves IMDN, RFC 5438); disposition notifications are handled by the
 * bridge before plugins see messages, so they never reach this plugin.
 *
 * Configuration (`PLUGIN_CPIM_*`):
 * - `ACCEPT_TYPES`: inner media types accepted (`*`, `type/*` or exact types,
 *   separated by commas or spaces); `*` by default.
 *
 * @example Wrap and parse
 * ```ts
 * import { parseCpim, wrapCpim } from "./cpim.ts";
 *
 * const content = wrapCpim({
 *   from: { name: "Alice", uri: "im:alice@example.com" },
 *   to: [{ uri: "im:bob@example.com" }],
 *   dateTime: new Date("2025-05-04T10:00:00Z"),
 *   contentType: "text/plain",
 *   body: "Hello Bob",
 * });
 * // content.contentType === "message/cpim"
 * const cpim = parseCpim(content.body);
 * console.log(cpim.from?.name, new TextDecoder().decode(cpim.body)); // Alice Hello Bob
 * ```
 *
 * @module
 */

import {
  CPIM_TYPE,
  CpimError,
  type CpimInit,
  type CpimMessage,
  parseCpim as parseCore,
  wrapCpim as wrapCore,
} from "../src/cpim/mod.ts";
import { isAcceptedType, mediaType, MsrpError, Status } from "../src/msrp/mod.ts";
import {
  createPluginMessage,
  type MessageVerdict,
  type PluginFactory,
  type PluginMessage,
} from "../src/plugins/mod.ts";

export {
  CPIM_TYPE,
  type CpimAddress,
  type CpimInit,
  type CpimMessage,
  type CpimNamespace,
  type CpimSubject,
} from "../src/cpim/mod.ts";

const envelopes = new WeakMap<PluginMessage, CpimMessage>();

/**
 * Parses a `message/cpim` body with the core parser (`src/cpim`). Throws
 * {@linkcode MsrpError} 400 naming what is wrong (never quoting the
 * content), 413 when its headers are past the core's bounds.
 */
export function parseCpim(bytes: Uint8Array): CpimMessage {
  try {
    return parseCore(bytes);
  } catch (e) {
    if (!(e instanceof CpimError)) throw e;
    const status = e.code === "too-large" ? Status.RequestEntityTooLarge : Status.BadRequest;
    throw new MsrpError(status, e.message);
  }
}

/**
 * Builds a `message/cpim` body (CRLF line ends) around an inner message;
 * throws `TypeError` for a value that would make a bad header line.
 */
export function wrapCpim(init: CpimInit): { contentType: string; body: Uint8Array } {
  try {
    return wrapCore(init);
  } catch (e) {
    if (e instanceof CpimError) throw new TypeError(e.message);
    throw e;
  }
}

/**
 * The CPIM envelope of a message the `cpim` plugin unwrapped, for plugins
 * after it and for the application; `undefined` for any other message.
 */
export function cpimOf(message: PluginMessage): CpimMessage | undefined {
  return envelopes.get(message);
}

/** Creates the cpim plugin. */
export const plugin: PluginFactory = (ctx) => {
  const acceptTypes = ctx.config.list("ACCEPT_TYPES", ["*"]);
  return {
    onMessage(message): MessageVerdict {
      if (mediaType(message.contentType) !== CPIM_TYPE || !message.hasBody) return "pass";
      let cpim: CpimMessage;
      try {
        cpim = parseCpim(message.bytes());
      } catch (e) {
        return { reject: (e as MsrpError).status, reason: (e as MsrpError).message };
      }
      if (!isAcceptedType(cpim.contentType, acceptTypes)) {
        return {
          reject: Status.UnsupportedMediaType,
          reason: `CPIM content type ${mediaType(cpim.contentType)} is not accepted`,
        };
      }
      const inner = createPluginMessage({
        id: message.id,
        sessionId: message.sessionId,
        direction: message.direction,
        contentType: cpim.contentType,
        body: cpim.body,
        headers: message.headers,
      });
      envelopes.set(inner, cpim);
      return { rewrite: inner };
    },
  };
};
