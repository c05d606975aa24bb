/**
 * The plugin runner: creates plugins in order and calls their hooks, each
 * under a timeout and with its errors isolated.
 *
 * @module
 */

import { Logger } from "../log.ts";
import { reasonPhrase } from "../msrp/mod.ts";
import { actionsFor, type Requested, verdictProblem } from "./_actions.ts";
import { describeError } from "./_describe.ts";
import { PluginConfig, PluginConfigError } from "./config.ts";
import { loadDefinitions, PluginLoadError, pluginsSetting } from "./load.ts";
import type {
  ComposingIndication,
  ComposingListener,
  IsComposing,
  MessageForward,
  MessageOutcome,
  MessageRejection,
  MessageVerdict,
  OutgoingContent,
  Plugin,
  PluginContext,
  PluginDefinition,
  PluginDelivery,
  PluginMessage,
  PluginPager,
  PluginSession,
} from "./types.ts";

const DEFAULT_TIMEOUT_MS = 2_000;

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

const TIMED_OUT: unique symbol = Symbol("timed out");

/** Calls each of `listeners` with `event`; one that throws is logged to `logger`. */
function announce(
  listeners: ReadonlySet<ComposingListener>,
  event: ComposingIndication,
  logger: Logger,
): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch (e) {
      logger.error("is-composing listener failed", {
        sessionId: event.session.id,
        error: describeError(e),
      });
    }
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
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
 *
 * @example Hear the composition indications plugins announce
 * ```ts
 * import { PluginRunner } from "./runner.ts";
 *
 * await using runner = await PluginRunner.load(["is-composing"]);
 * const unsubscribe = runner.onComposing(({ session, indication }) =>
 *   console.log(session.id, indication.state) // "active" or "idle"
 * );
 * unsubscribe();
 * ```
 */
export class PluginRunner {
  /** The names of the loaded plugins, in the order their hooks run. */
  readonly names: readonly string[];
  /** The runner's logger. */
  readonly logger: Logger;
  readonly #entries: readonly Entry[];
  readonly #timeoutMs: number;
  readonly #composing: Set<ComposingListener>;
  #closed = false;

  private constructor(
    entries: readonly Entry[],
    logger: Logger,
    timeoutMs: number,
    composing: Set<ComposingListener>,
  ) {
    this.#entries = entries;
    this.names = entries.map((e) => e.name);
    this.logger = logger;
    this.#timeoutMs = timeoutMs;
    this.#composing = composing;
  }

  /**
   * Loads the plugins named in `env.PLUGINS` (separated by commas or spaces)
   * with the hook timeout from `env.PLUGINS_TIMEOUT_MS`; each plugin's
   * configuration comes from `env` too. Throws {@linkcode PluginLoadError} or
   * {@linkcode PluginConfigError}.
   */
  static async fromEnv(
    env: Readonly<Record<string, string | undefined>>,
    options: Omit<PluginRunnerOptions, "env" | "hookTimeoutMs"> = {},
  ): Promise<PluginRunner> {
    const { names, hookTimeoutMs } = pluginsSetting(env);
    return await PluginRunner.load(names, { ...options, env, hookTimeoutMs });
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
    return await PluginRunner.create(await loadDefinitions(names, options.directory), options);
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
    const composing = new Set<ComposingListener>();
    const entries: Entry[] = [];
    const abandon = (): Promise<void> =>
      new PluginRunner(entries, logger, timeoutMs, composing).close();
    for (const { name, factory } of definitions) {
      if (entries.some((e) => e.name === name)) {
        await abandon();
        throw new PluginLoadError(`PLUGINS: plugin "${name}" is listed twice`);
      }
      const pluginLogger = logger.with({ plugin: name });
      const ctx: PluginContext = {
        name,
        config: new PluginConfig(name, env),
        logger: pluginLogger,
        now,
        composing: (session: PluginSession, indication: IsComposing): void =>
          announce(composing, { session, indication }, pluginLogger),
      };
      try {
        entries.push({ name, plugin: await factory(ctx), logger: pluginLogger });
      } catch (e) {
        await abandon();
        if (e instanceof PluginConfigError) throw e;
        throw new PluginLoadError(
          `PLUGINS: plugin "${name}" failed to start: ${describeError(e)}`,
          { cause: e },
        );
      }
    }
    if (entries.length > 0) logger.info("plugins loaded", { plugins: entries.map((e) => e.name) });
    return new PluginRunner(entries, logger, timeoutMs, composing);
  }

  /** The plugins whose hooks run: none once closed. */
  get #live(): readonly Entry[] {
    return this.#closed ? [] : this.#entries;
  }

  /**
   * Calls `listener` with each composition indication (RFC 3994) a plugin
   * announces through `PluginContext.composing` (the `is-composing` plugin
   * does for every valid one it receives); returns a function that
   * unsubscribes. A listener that throws is logged and the others still run.
   */
  onComposing(listener: ComposingListener): () => void {
    this.#composing.add(listener);
    return () => this.#composing.delete(listener);
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
   * `outcome.message` to the application unless `outcome.consumed`
   * (`applyOutcome` does both).
   */
  async message(session: PluginSession, message: PluginMessage): Promise<MessageOutcome> {
    let current = message;
    const replies: OutgoingContent[] = [];
    const forwards: MessageForward[] = [];
    const outcome = (consumedBy?: string, reject?: MessageRejection): MessageOutcome => ({
      sessionId: session.id,
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
      entry.logger.error("plugin hook failed; skipped", {
        hook,
        sessionId,
        error: describeError(e),
      });
    } finally {
      clearTimeout(timer);
    }
    return undefined;
  }
}
