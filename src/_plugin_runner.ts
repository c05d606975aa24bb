/**
 * The implementation behind `src/plugins.ts`: plugin configuration, loading,
 * the hook runner with timeouts and error isolation, message adapters and
 * {@linkcode attachPlugins}. Import it through `src/plugins.ts`.
 *
 * @module
 */

import { ConfigError } from "./config.ts";
import { Logger } from "./log.ts";
import { assertMediaType, mediaType, reasonPhrase } from "./msrp/mod.ts";
import type {
  IncomingMessage,
  MessageEvent as SessionMessageEvent,
  MsrpSession,
  OutgoingMessage,
  SendOptions,
  SessionCloseEvent,
} from "./session/mod.ts";
import type {
  MessageActions,
  MessageForward,
  MessageOutcome,
  MessageRejection,
  MessageVerdict,
  OutgoingContent,
  Plugin,
  PluginContext,
  PluginDelivery,
  PluginDirection,
  PluginFactory,
  PluginMessage,
  PluginPager,
  PluginSession,
  PluginSessionIdentity,
} from "./plugins.ts";

const DEFAULT_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- errors and configuration ---------------------------------------------

/**
 * A plugin's configuration value is invalid; the message names the
 * environment variable. A {@linkcode ConfigError}, so the service reports it
 * like its own configuration errors.
 */
export class PluginConfigError extends ConfigError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PluginConfigError";
  }
}

/**
 * A plugin could not be loaded: an unknown name in `PLUGINS`, a module without
 * a `plugin` factory, or a factory that threw. A {@linkcode ConfigError}: the
 * service stops start-up with its one-line message.
 */
export class PluginLoadError extends ConfigError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message);
    this.name = "PluginLoadError";
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Bounds of {@linkcode PluginConfig.int}. */
export interface IntBounds {
  /** Smallest allowed value; 0 by default. */
  readonly min?: number;
  /** Largest allowed value. */
  readonly max?: number;
}

/**
 * One plugin's configuration: the environment variables `PLUGIN_<NAME>_<KEY>`
 * as a record keyed by `<KEY>`, with typed accessors that throw
 * {@linkcode PluginConfigError} naming the variable. Empty values count as
 * unset.
 *
 * @example
 * ```ts
 * import { PluginConfig } from "./plugins.ts";
 *
 * const config = new PluginConfig("auto-reply", { PLUGIN_AUTO_REPLY_COOLDOWN_MINUTES: "5" });
 * config.int("COOLDOWN_MINUTES", 60); // 5
 * config.variable("RULES"); // "PLUGIN_AUTO_REPLY_RULES"
 * ```
 */
export class PluginConfig {
  /** The plugin's name. */
  readonly plugin: string;
  /** The variables' common prefix, e.g. `PLUGIN_AUTO_REPLY_`. */
  readonly prefix: string;
  /** The plugin's non-empty variables, keyed without the prefix. */
  readonly values: Readonly<Record<string, string>>;

  /** Picks the variables of plugin `plugin` out of `env`. */
  constructor(plugin: string, env: Readonly<Record<string, string | undefined>>) {
    this.plugin = plugin;
    this.prefix = `PLUGIN_${plugin.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_`;
    const values: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      if (name.startsWith(this.prefix) && value !== undefined && value !== "") {
        values[name.slice(this.prefix.length)] = value;
      }
    }
    this.values = values;
  }

  /** The environment variable of `key`, e.g. `PLUGIN_ECHO_PREFIX` for `PREFIX`. */
  variable(key: string): string {
    return this.prefix + key;
  }

  /** The value of `key`, or `fallback` when unset. */
  string(key: string): string | undefined;
  /** The value of `key`, or `fallback` when unset. */
  string(key: string, fallback: string): string;
  /** The value of `key`, or `fallback` when unset. */
  string(key: string, fallback?: string): string | undefined {
    return this.values[key] ?? fallback;
  }

  /** A whole number within `bounds` (at least 0 by default), or `fallback` when unset. */
  int(key: string, fallback: number, bounds: IntBounds = {}): number {
    const raw = this.values[key];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    const min = bounds.min ?? 0;
    const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = bounds.max === undefined ? `≥ ${min}` : `in ${min}..${max}`;
      throw new PluginConfigError(
        `${this.variable(key)} must be a whole number ${range}, got "${raw}"`,
      );
    }
    return n;
  }

  /** `true`/`yes`/`on`/`1` or `false`/`no`/`off`/`0`, or `fallback` when unset. */
  bool(key: string, fallback: boolean): boolean {
    const raw = this.values[key];
    if (raw === undefined) return fallback;
    const v = raw.trim().toLowerCase();
    if (["true", "yes", "on", "1"].includes(v)) return true;
    if (["false", "no", "off", "0"].includes(v)) return false;
    throw new PluginConfigError(`${this.variable(key)} must be true or false, got "${raw}"`);
  }

  /** Items separated by commas or spaces, or `fallback` when unset. */
  list(key: string, fallback: readonly string[]): string[] {
    const raw = this.values[key];
    if (raw === undefined) return [...fallback];
    return raw.split(/[\s,]+/).filter(Boolean);
  }

  /** The value parsed as JSON, or `undefined` when unset. */
  json(key: string): unknown {
    const raw = this.values[key];
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw);
    } catch (e) {
      throw new PluginConfigError(`${this.variable(key)} must be JSON: ${(e as Error).message}`);
    }
  }
}

// --- messages and sessions --------------------------------------------------

/** True for `text/*`, `message/cpim`, JSON and XML media types (also `+json`, `+xml`). */
function isTextType(contentType: string): boolean {
  const t = mediaType(contentType);
  return t.startsWith("text/") || t === "message/cpim" || t === "application/json" ||
    t === "application/xml" || t.endsWith("+json") || t.endsWith("+xml");
}

/** What {@linkcode createPluginMessage} builds a message from. */
export interface PluginMessageInit {
  /** The MSRP Message-ID. */
  readonly id: string;
  /** The session it belongs to. */
  readonly sessionId: string;
  /** `in` received, `out` sent. */
  readonly direction: PluginDirection;
  /** Content-Type of the body. */
  readonly contentType: string;
  /** The body, when it is in memory; a string is UTF-8. */
  readonly body?: string | Uint8Array;
  /** Size in bytes; the body's length by default, 0 without a body. */
  readonly size?: number;
  /** Headers, names lower-cased; none by default. */
  readonly headers?: ReadonlyMap<string, string>;
  /** Whether the content is whole; true by default. */
  readonly complete?: boolean;
  /** Bodies larger than this are not offered to plugins; 1 MiB by default. */
  readonly maxBodyBytes?: number;
}

/**
 * A {@linkcode PluginMessage} from its parts: for messages the caller sends,
 * and for plugins that rewrite a message (e.g. unwrapping CPIM).
 */
export function createPluginMessage(init: PluginMessageInit): PluginMessage {
  const { body } = init;
  const bodySize = body === undefined
    ? 0
    : typeof body === "string"
    ? encoder.encode(body).length
    : body.length;
  const complete = init.complete ?? true;
  const hasBody = body !== undefined && complete &&
    bodySize <= (init.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const isText = isTextType(init.contentType);
  const unavailable = (): TypeError =>
    new TypeError(`the body of message ${init.id} is not available to plugins`);
  return {
    id: init.id,
    sessionId: init.sessionId,
    direction: init.direction,
    contentType: init.contentType,
    size: init.size ?? bodySize,
    headers: init.headers ?? new Map(),
    complete,
    isText,
    hasBody,
    bytes(): Uint8Array {
      if (!hasBody) throw unavailable();
      return typeof body === "string" ? encoder.encode(body) : body!;
    },
    text(): string {
      if (!hasBody) throw unavailable();
      if (!isText) throw new TypeError(`message ${init.id} is not text (${init.contentType})`);
      return typeof body === "string" ? body : decoder.decode(body);
    },
  };
}

/**
 * A {@linkcode PluginMessage} for a finished {@linkcode IncomingMessage} of
 * session `sessionId`. Its body is offered to plugins when the message is
 * complete, kept in memory (no sink) and at most `maxBodyBytes` (1 MiB by
 * default).
 */
export function pluginMessageFromIncoming(
  sessionId: string,
  message: IncomingMessage,
  options: { readonly maxBodyBytes?: number } = {},
): PluginMessage {
  const complete = message.outcome?.complete ?? false;
  return createPluginMessage({
    id: message.messageId,
    sessionId,
    direction: "in",
    contentType: message.contentType,
    body: complete && message.sink === undefined ? message.body() : undefined,
    size: message.outcome?.bytesReceived ?? 0,
    headers: message.info.headers,
    complete,
    maxBodyBytes: options.maxBodyBytes,
  });
}

/**
 * A {@linkcode PluginSession} for `session`, with the call's identity when
 * known. Its `remotePath` follows the session's (empty until known).
 */
export function pluginSession(
  session: MsrpSession,
  identity: PluginSessionIdentity = {},
): PluginSession {
  return {
    ...identity,
    id: session.id,
    localUri: session.localUri,
    get remotePath(): readonly string[] {
      return session.remotePath ?? [];
    },
  };
}

// --- the runner -------------------------------------------------------------

/** A plugin given directly, without a module in `plugins/`. */
export interface PluginDefinition {
  /** Its name (logs, configuration prefix). */
  readonly name: string;
  /** Its factory. */
  readonly factory: PluginFactory;
}

/** Options of a {@linkcode PluginRunner}. */
export interface PluginRunnerOptions {
  /** Environment the plugins' configuration is read from; none by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where records go; plugins get it with `plugin: <name>` added. */
  readonly logger?: Logger;
  /** Longest a hook may take before it is skipped; 2000 ms by default. */
  readonly hookTimeoutMs?: number;
  /** The clock given to plugins; `Date.now` by default. */
  readonly now?: () => number;
  /** Where plugin modules are looked up by name; the repository's `plugins/` by default. */
  readonly directory?: URL;
}

type HookName = keyof Plugin;

interface Entry {
  readonly name: string;
  readonly plugin: Plugin;
  readonly logger: Logger;
}

interface Requested {
  readonly replies: OutgoingContent[];
  readonly forwards: MessageForward[];
  dropped: boolean;
}

const TIMED_OUT: unique symbol = Symbol("timed out");

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `thrown ${typeof error}`;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
}

/** Why a verdict is invalid, or `undefined` when it is valid. */
function verdictProblem(verdict: unknown): string | undefined {
  if (verdict === "pass") return undefined;
  if (typeof verdict === "object" && verdict !== null) {
    if ("reject" in verdict) {
      const status = verdict.reject;
      const ok = Number.isInteger(status) && (status as number) >= 400 && (status as number) < 600;
      return ok ? undefined : `reject status must be 400-599, got ${String(status)}`;
    }
    if ("rewrite" in verdict) {
      const m = verdict.rewrite as Partial<PluginMessage> | null;
      return typeof m?.bytes === "function" ? undefined : "rewrite must be a PluginMessage";
    }
  }
  return "unknown verdict";
}

function actionsFor(
  session: PluginSession,
  message: PluginMessage,
  requested: Requested,
): MessageActions {
  return {
    session,
    reply(content: string | OutgoingContent): void {
      const c = typeof content === "string"
        ? { contentType: "text/plain", body: content }
        : content;
      if (!c.contentType) throw new TypeError("reply needs a contentType");
      assertMediaType(c.contentType, "reply contentType");
      requested.replies.push(c);
    },
    forward(sessionId: string): void {
      if (!message.hasBody) {
        throw new TypeError(`the body of message ${message.id} is not available to forward`);
      }
      assertMediaType(message.contentType, `the contentType of message ${message.id}`);
      requested.forwards.push({
        sessionId,
        content: { contentType: message.contentType, body: message.bytes() },
      });
    },
    drop(): void {
      requested.dropped = true;
    },
  };
}

async function moduleUrl(directory: URL, name: string): Promise<URL | undefined> {
  for (const candidate of [`${name}.ts`, `${name}/mod.ts`]) {
    const url = new URL(candidate, directory);
    if (url.protocol !== "file:") return url;
    try {
      if ((await Deno.stat(url)).isFile) return url;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return undefined;
}

/**
 * Loads plugins and runs their hooks in order, each under a timeout and with
 * its errors isolated: a plugin that throws, times out or returns an invalid
 * verdict is logged (plugin, hook, session id, never a body) and skipped with
 * the actions it requested; the others run as if it were absent.
 *
 * Hooks of one session should be called in order (started, messages,
 * deliveries, ended); the runner awaits every hook before it returns. Once
 * {@linkcode PluginRunner.close} was called no hook runs: messages pass
 * unchanged.
 */
export class PluginRunner {
  /** The names of the loaded plugins, in the order their hooks run. */
  readonly names: readonly string[];
  /** The runner's logger. */
  readonly logger: Logger;
  readonly #entries: readonly Entry[];
  readonly #timeoutMs: number;
  #closed = false;

  private constructor(entries: readonly Entry[], logger: Logger, timeoutMs: number) {
    this.#entries = entries;
    this.names = entries.map((e) => e.name);
    this.logger = logger;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Loads the plugins named in `env.PLUGINS` (separated by commas or spaces)
   * with the hook timeout from `env.PLUGINS_TIMEOUT_MS`; each plugin's
   * configuration comes from `env` too. Throws {@linkcode PluginLoadError} or
   * {@linkcode PluginConfigError}.
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>>,
    options: Omit<PluginRunnerOptions, "env" | "hookTimeoutMs"> = {},
  ): Promise<PluginRunner> {
    const names = (env.PLUGINS ?? "").split(/[\s,]+/).filter(Boolean);
    const raw = env.PLUGINS_TIMEOUT_MS;
    let hookTimeoutMs = DEFAULT_TIMEOUT_MS;
    if (raw !== undefined && raw !== "") {
      hookTimeoutMs = Number(raw);
      if (!Number.isSafeInteger(hookTimeoutMs) || hookTimeoutMs < 1) {
        return Promise.reject(
          new PluginConfigError(`PLUGINS_TIMEOUT_MS must be a whole number ≥ 1, got "${raw}"`),
        );
      }
    }
    return PluginRunner.load(names, { ...options, env, hookTimeoutMs });
  }

  /**
   * Loads plugins by name: `<name>` is the module `plugins/<name>.ts` or
   * `plugins/<name>/mod.ts`, which must export `plugin`, a
   * {@linkcode PluginFactory}. Throws {@linkcode PluginLoadError} for an
   * unknown or duplicate name or a module without a factory.
   */
  static async load(
    names: readonly string[],
    options: PluginRunnerOptions = {},
  ): Promise<PluginRunner> {
    const directory = options.directory ?? new URL("../plugins/", import.meta.url);
    const definitions: PluginDefinition[] = [];
    for (const name of names) {
      if (!NAME.test(name)) {
        throw new PluginLoadError(`PLUGINS: "${name}" is not a plugin name (a-z, 0-9, -, _)`);
      }
      const url = await moduleUrl(directory, name);
      if (url === undefined) {
        throw new PluginLoadError(
          `PLUGINS: unknown plugin "${name}" (no plugins/${name}.ts or plugins/${name}/mod.ts)`,
        );
      }
      let module: { plugin?: unknown };
      try {
        module = await import(url.href);
      } catch (e) {
        throw new PluginLoadError(`PLUGINS: plugin "${name}" failed to load: ${describe(e)}`, {
          cause: e,
        });
      }
      if (typeof module.plugin !== "function") {
        throw new PluginLoadError(
          `PLUGINS: plugin "${name}" does not export "plugin" (export const plugin: PluginFactory)`,
        );
      }
      definitions.push({ name, factory: module.plugin as PluginFactory });
    }
    return PluginRunner.create(definitions, options);
  }

  /**
   * Creates the plugins of `definitions` in order. Throws
   * {@linkcode PluginLoadError} for a duplicate name or a factory that throws
   * (after closing the plugins created so far); a
   * {@linkcode PluginConfigError} from a factory is rethrown as is.
   */
  static async create(
    definitions: readonly PluginDefinition[],
    options: PluginRunnerOptions = {},
  ): Promise<PluginRunner> {
    const logger = options.logger ?? new Logger();
    const timeoutMs = options.hookTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(`hookTimeoutMs must be ≥ 1, got ${timeoutMs}`);
    }
    const env = options.env ?? {};
    const now = options.now ?? Date.now;
    const entries: Entry[] = [];
    for (const { name, factory } of definitions) {
      if (entries.some((e) => e.name === name)) {
        await new PluginRunner(entries, logger, timeoutMs).close();
        throw new PluginLoadError(`PLUGINS: plugin "${name}" is listed twice`);
      }
      const pluginLogger = logger.with({ plugin: name });
      const ctx: PluginContext = {
        name,
        config: new PluginConfig(name, env),
        logger: pluginLogger,
        now,
      };
      try {
        entries.push({ name, plugin: await factory(ctx), logger: pluginLogger });
      } catch (e) {
        await new PluginRunner(entries, logger, timeoutMs).close();
        if (e instanceof PluginConfigError) throw e;
        throw new PluginLoadError(`PLUGINS: plugin "${name}" failed to start: ${describe(e)}`, {
          cause: e,
        });
      }
    }
    if (entries.length > 0) logger.info("plugins loaded", { plugins: entries.map((e) => e.name) });
    return new PluginRunner(entries, logger, timeoutMs);
  }

  /** The plugins whose hooks run: none once closed. */
  get #live(): readonly Entry[] {
    return this.#closed ? [] : this.#entries;
  }

  /** The plugin named `name`, e.g. to subscribe to its events. */
  plugin(name: string): Plugin | undefined {
    return this.#entries.find((e) => e.name === name)?.plugin;
  }

  /** Runs `onSessionStarted`. */
  async sessionStarted(session: PluginSession): Promise<void> {
    for (const entry of this.#live) {
      if (!entry.plugin.onSessionStarted) continue;
      await this.#invoke(
        entry,
        "onSessionStarted",
        session.id,
        () => entry.plugin.onSessionStarted!(session),
      );
    }
  }

  /**
   * Runs `onMessage` over a received message until a plugin consumes it, and
   * returns what the caller must do: send the replies and forwards, and hand
   * `outcome.message` to the application unless `outcome.consumed`.
   */
  async message(session: PluginSession, message: PluginMessage): Promise<MessageOutcome> {
    let current = message;
    const replies: OutgoingContent[] = [];
    const forwards: MessageForward[] = [];
    const outcome = (consumedBy?: string, reject?: MessageRejection): MessageOutcome => ({
      message: current,
      consumed: consumedBy !== undefined,
      consumedBy,
      reject,
      replies,
      forwards,
    });
    for (const entry of this.#live) {
      const onMessage = entry.plugin.onMessage;
      if (!onMessage) continue;
      const requested: Requested = { replies: [], forwards: [], dropped: false };
      const seen = current;
      const result = await this.#invoke(
        entry,
        "onMessage",
        session.id,
        () => onMessage.call(entry.plugin, seen, actionsFor(session, seen, requested)),
      );
      if (result === undefined) continue;
      const verdict: MessageVerdict = result.value ?? "pass";
      const problem = verdictProblem(verdict);
      if (problem !== undefined) {
        entry.logger.error("plugin returned an invalid verdict; skipped", {
          hook: "onMessage",
          sessionId: session.id,
          messageId: seen.id,
          error: problem,
        });
        continue;
      }
      replies.push(...requested.replies);
      forwards.push(...requested.forwards);
      if (typeof verdict === "object" && "reject" in verdict) {
        const rejection = {
          plugin: entry.name,
          status: verdict.reject,
          reason: verdict.reason || reasonPhrase(verdict.reject),
        };
        entry.logger.info("message rejected by plugin", {
          sessionId: session.id,
          messageId: seen.id,
          status: rejection.status,
          reason: rejection.reason,
        });
        return outcome(entry.name, rejection);
      }
      if (typeof verdict === "object") current = verdict.rewrite;
      if (requested.dropped) {
        entry.logger.log("debug", "message dropped by plugin", {
          sessionId: session.id,
          messageId: seen.id,
        });
        return outcome(entry.name);
      }
    }
    return outcome();
  }

  /** Runs `onMessageDelivered`, or `onMessageFailed` when `info.status` is `failed`. */
  async delivery(info: PluginDelivery): Promise<void> {
    const hook = info.status === "failed" ? "onMessageFailed" : "onMessageDelivered";
    for (const entry of this.#live) {
      const fn = entry.plugin[hook];
      if (!fn) continue;
      await this.#invoke(entry, hook, info.session.id, () => fn.call(entry.plugin, info));
    }
  }

  /** Runs `onSessionEnded`. */
  async sessionEnded(session: PluginSession, reason: string): Promise<void> {
    for (const entry of this.#live) {
      if (!entry.plugin.onSessionEnded) continue;
      await this.#invoke(
        entry,
        "onSessionEnded",
        session.id,
        () => entry.plugin.onSessionEnded!(session, reason),
      );
    }
  }

  /** Runs `onPager`. */
  async pager(pager: PluginPager): Promise<void> {
    for (const entry of this.#live) {
      if (!entry.plugin.onPager) continue;
      await this.#invoke(entry, "onPager", undefined, () => entry.plugin.onPager!(pager));
    }
  }

  /** Closes the plugins, last first; later calls do nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of [...this.#entries].reverse()) {
      if (!entry.plugin.close) continue;
      await this.#invoke(entry, "close", undefined, () => entry.plugin.close!());
    }
  }

  /** Closes the plugins. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Calls a hook; `undefined` when it threw or timed out (both logged). */
  async #invoke<T>(
    entry: Entry,
    hook: HookName,
    sessionId: string | undefined,
    call: () => T | PromiseLike<T>,
  ): Promise<{ value: T } | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = call();
      if (!isThenable(result)) return { value: result };
      const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), this.#timeoutMs);
      });
      const value = await Promise.race([result, deadline]);
      if (value !== TIMED_OUT) return { value };
      entry.logger.warn("plugin hook timed out; skipped", {
        hook,
        sessionId,
        timeoutMs: this.#timeoutMs,
      });
    } catch (e) {
      entry.logger.error("plugin hook failed; skipped", { hook, sessionId, error: describe(e) });
    } finally {
      clearTimeout(timer);
    }
    return undefined;
  }
}

// --- sessions without the service -------------------------------------------

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
      log.error("plugin dispatch or application callback failed", { error: describe(e) })
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
    }).catch((e) => log.error("plugin delivery dispatch failed", { error: describe(e) }));
    inFlight.add(settled);
    settled.finally(() => inFlight.delete(settled));
    return out;
  };

  const onMessage = (event: Event): void => {
    const incoming = (event as SessionMessageEvent).message;
    const message = pluginMessageFromIncoming(session.id, incoming, options);
    enqueue(async () => {
      const outcome = await runner.message(info, message);
      for (const r of outcome.replies) send(session, info, r.body, { contentType: r.contentType });
      for (const f of outcome.forwards) {
        const target = options.resolveSession?.(f.sessionId);
        if (target === undefined) {
          log.warn("forward target session not found; not forwarded", {
            messageId: message.id,
            target: f.sessionId,
          });
          continue;
        }
        send(target, pluginSession(target), f.content.body, {
          contentType: f.content.contentType,
        });
      }
      if (outcome.reject) options.onReject?.(outcome.reject, outcome.message);
      else if (!outcome.consumed) options.onMessage?.(outcome.message, incoming);
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
