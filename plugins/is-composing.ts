/**
 * `is-composing`: message composition indications (RFC 3994),
 * `application/im-iscomposing+xml`. Received indications are consumed (never
 * passed to later plugins or webhooks) and announced through the plugin
 * context (`ctx.composing`) to the runner's `onComposing` listeners; a
 * malformed one is rejected with 400. {@linkcode ComposingNotifier} sends our
 * own indications: `active` while the bridge prepares or sends a message,
 * `idle` after.
 *
 * @example Listen to the peer typing
 * ```ts
 * import { PluginRunner } from "../src/plugins/mod.ts";
 *
 * const runner = await PluginRunner.load(["is-composing"]);
 * runner.onComposing(({ session, indication }) =>
 *   console.log(session.id, indication.state) // "active" or "idle"
 * );
 * await runner.close();
 * ```
 *
 * @example Tell the peer that we are typing
 * ```ts
 * import { MsrpEndpoint } from "../src/session/mod.ts";
 * import { ComposingNotifier } from "./is-composing.ts";
 *
 * const endpoint = new MsrpEndpoint({ port: 0 }).listen();
 * const session = endpoint.createSession();
 * const notifier = new ComposingNotifier((c) => session.send(c.body, { contentType: c.contentType }));
 * await notifier.during(async () => {
 *   // … prepare and send the answer; "active" went out first, "idle" follows
 * });
 * await endpoint.close();
 * ```
 *
 * @module
 */

import { mediaType, MsrpError, Status } from "../src/msrp/mod.ts";
import type {
  IsComposing,
  MessageActions,
  MessageVerdict,
  OutgoingContent,
  Plugin,
  PluginContext,
  PluginFactory,
  PluginMessage,
} from "../src/plugins/mod.ts";

export type { ComposingIndication, IsComposing } from "../src/plugins/mod.ts";

/** The media type of composition indications. */
export const IS_COMPOSING_TYPE = "application/im-iscomposing+xml";

const NAMESPACE = "urn:ietf:params:xml:ns:im-iscomposing";

const ENTITIES: Record<string, string> = {
  "&lt;": "<",
  "&gt;": ">",
  "&amp;": "&",
  "&quot;": '"',
  "&apos;": "'",
};

function unescapeXml(text: string): string {
  return text.replace(/&(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (e) => {
    if (e[1] !== "#") return ENTITIES[e];
    const code = e[2] === "x" ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10);
    return String.fromCodePoint(code);
  });
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function bad(reason: string): MsrpError {
  return new MsrpError(Status.BadRequest, `malformed is-composing document: ${reason}`);
}

/** The text of child element `name` (any namespace prefix), or `undefined`. */
function element(xml: string, name: string): string | undefined {
  const m = new RegExp(
    `<(?:[\\w.-]+:)?${name}(?:\\s[^>]*)?(?:/>|>([^<]*)</(?:[\\w.-]+:)?${name}\\s*>)`,
  ).exec(xml);
  return m === null ? undefined : unescapeXml(m[1] ?? "").trim();
}

/**
 * Parses an `application/im-iscomposing+xml` document. Throws
 * {@linkcode MsrpError} 400 when it has no `isComposing` root, no `state` of
 * `active` or `idle`, an invalid `lastactive` date or a `refresh` that is not
 * a positive whole number.
 */
export function parseIsComposing(xml: string): IsComposing {
  const text = xml.replace(/<!--[\s\S]*?-->/g, "");
  const root = /<(?:[\w.-]+:)?isComposing(?:\s[^>]*)?>([\s\S]*)<\/(?:[\w.-]+:)?isComposing\s*>/
    .exec(text);
  if (root === null) throw bad("no isComposing element");
  const body = root[1];
  const state = element(body, "state");
  if (state !== "active" && state !== "idle") throw bad("state must be active or idle");
  const result: { -readonly [K in keyof IsComposing]: IsComposing[K] } = { state };
  const lastActive = element(body, "lastactive");
  if (lastActive !== undefined) {
    const time = Date.parse(lastActive);
    if (Number.isNaN(time)) throw bad("lastactive is not a date-time");
    result.lastActive = new Date(time);
  }
  const contentType = element(body, "contenttype");
  if (contentType) result.contentType = contentType;
  const refresh = element(body, "refresh");
  if (refresh !== undefined) {
    if (!/^\d+$/.test(refresh) || Number(refresh) < 1) {
      throw bad("refresh must be a positive whole number");
    }
    result.refresh = Number(refresh);
  }
  return result;
}

/** Builds an `application/im-iscomposing+xml` document. */
export function buildIsComposing(indication: IsComposing): string {
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<isComposing xmlns="${NAMESPACE}">`,
    `  <state>${indication.state}</state>`,
  ];
  if (indication.lastActive) {
    lines.push(`  <lastactive>${indication.lastActive.toISOString()}</lastactive>`);
  }
  if (indication.contentType) {
    lines.push(`  <contenttype>${escapeXml(indication.contentType)}</contenttype>`);
  }
  if (indication.refresh !== undefined) {
    if (!Number.isSafeInteger(indication.refresh) || indication.refresh < 1) {
      throw new RangeError(`refresh must be a positive whole number, got ${indication.refresh}`);
    }
    lines.push(`  <refresh>${indication.refresh}</refresh>`);
  }
  lines.push("</isComposing>");
  return lines.join("\n");
}

/** The is-composing plugin: consumes received indications and announces them. */
export class IsComposingPlugin implements Plugin {
  readonly #announce: PluginContext["composing"];

  /** Creates the plugin; it announces indications with `announce` (the context's `composing`). */
  constructor(announce: PluginContext["composing"]) {
    this.#announce = announce;
  }

  /** Consumes `application/im-iscomposing+xml` messages; others pass. */
  onMessage(message: PluginMessage, actions: MessageActions): MessageVerdict {
    if (message.direction !== "in" || mediaType(message.contentType) !== IS_COMPOSING_TYPE) {
      return "pass";
    }
    if (!message.hasBody) {
      actions.drop(); // incomplete or oversized: nothing to announce
      return "pass";
    }
    let indication: IsComposing;
    try {
      indication = parseIsComposing(message.text());
    } catch (e) {
      return { reject: (e as MsrpError).status, reason: (e as MsrpError).message };
    }
    actions.drop();
    this.#announce(actions.session, indication);
    return "pass";
  }
}

/** Creates the is-composing plugin. */
export const plugin: PluginFactory = (ctx) => new IsComposingPlugin(ctx.composing);

/** Options of a {@linkcode ComposingNotifier}. */
export interface ComposingNotifierOptions {
  /** The type of the message being composed; `text/plain` by default. */
  readonly contentType?: string;
  /** The `refresh` of our `active` indications, seconds; 90 by default. */
  readonly refreshSeconds?: number;
  /** The clock; `Date.now` by default. */
  readonly now?: () => number;
}

/**
 * Sends our composition indications for one session: `active` (refreshed
 * when called again after half the refresh interval) and `idle`, only on
 * state changes otherwise.
 */
export class ComposingNotifier {
  readonly #send: (content: OutgoingContent) => unknown;
  readonly #contentType: string;
  readonly #refresh: number;
  readonly #now: () => number;
  #active = false;
  #lastSent = 0;

  /** Creates a notifier that sends each indication with `send`. */
  constructor(send: (content: OutgoingContent) => unknown, options: ComposingNotifierOptions = {}) {
    this.#send = send;
    this.#contentType = options.contentType ?? "text/plain";
    this.#refresh = options.refreshSeconds ?? 90;
    this.#now = options.now ?? Date.now;
  }

  /** `active` after {@linkcode ComposingNotifier.active}, `idle` otherwise. */
  get state(): "active" | "idle" {
    return this.#active ? "active" : "idle";
  }

  /** Sends `active` unless it was sent less than half the refresh interval ago; true if sent. */
  active(): boolean {
    const now = this.#now();
    if (this.#active && now - this.#lastSent < this.#refresh * 500) return false;
    this.#active = true;
    this.#lastSent = now;
    this.#emit({ state: "active", contentType: this.#contentType, refresh: this.#refresh });
    return true;
  }

  /** Sends `idle` (with `lastactive`) when the state is `active`; true if sent. */
  idle(): boolean {
    if (!this.#active) return false;
    this.#active = false;
    this.#emit({
      state: "idle",
      lastActive: new Date(this.#now()),
      contentType: this.#contentType,
    });
    return true;
  }

  /** Sends `active`, runs `work`, then sends `idle`, also when `work` throws. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.active();
    try {
      return await work();
    } finally {
      this.idle();
    }
  }

  #emit(indication: IsComposing): void {
    this.#send({ contentType: IS_COMPOSING_TYPE, body: buildIsComposing(indication) });
  }
}
