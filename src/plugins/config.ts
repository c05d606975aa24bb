/**
 * One plugin's configuration: the environment variables `PLUGIN_<NAME>_<KEY>`
 * with typed accessors.
 *
 * @module
 */

import { ConfigError } from "../config.ts";

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
 * import { PluginConfig } from "./config.ts";
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
