/**
 * Finding plugins by name: the `PLUGINS` and `PLUGINS_TIMEOUT_MS` variables,
 * and the modules `plugins/<name>.ts` or `plugins/<name>/mod.ts` that export
 * a `plugin` factory.
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { PluginConfigError } from "./config.ts";
import { describeError } from "./_describe.ts";
import type { PluginDefinition, PluginFactory } from "./types.ts";

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** The repository's `plugins/` folder, where plugins are looked up by default. */
export const PLUGINS_DIRECTORY: URL = new URL("../../plugins/", import.meta.url);

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

/** What `PLUGINS` and `PLUGINS_TIMEOUT_MS` ask for. */
export interface PluginsSetting {
  /** The plugins to load, in the order their hooks run. */
  readonly names: readonly string[];
  /** The hook timeout in milliseconds, when set. */
  readonly hookTimeoutMs: number | undefined;
}

/**
 * Reads `PLUGINS` (names separated by commas or spaces) and
 * `PLUGINS_TIMEOUT_MS` (a whole number ≥ 1) from `env`. Throws
 * {@linkcode PluginConfigError} for an invalid timeout.
 *
 * @example
 * ```ts
 * import { pluginsSetting } from "./load.ts";
 *
 * pluginsSetting({ PLUGINS: "cpim, echo", PLUGINS_TIMEOUT_MS: "500" });
 * // { names: ["cpim", "echo"], hookTimeoutMs: 500 }
 * ```
 */
export function pluginsSetting(env: Readonly<Record<string, string | undefined>>): PluginsSetting {
  const names = (env.PLUGINS ?? "").split(/[\s,]+/).filter(Boolean);
  const raw = env.PLUGINS_TIMEOUT_MS;
  if (raw === undefined || raw === "") return { names, hookTimeoutMs: undefined };
  const hookTimeoutMs = Number(raw);
  if (!Number.isSafeInteger(hookTimeoutMs) || hookTimeoutMs < 1) {
    throw new PluginConfigError(`PLUGINS_TIMEOUT_MS must be a whole number ≥ 1, got "${raw}"`);
  }
  return { names, hookTimeoutMs };
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
 * Imports the factory of each plugin in `names`: `<name>` is the module
 * `<directory>/<name>.ts` or `<directory>/<name>/mod.ts`, which must export
 * `plugin`, a {@linkcode PluginFactory}. Throws {@linkcode PluginLoadError}
 * for a name that is not one, an unknown plugin, a module that fails to load
 * or one without a factory.
 */
export async function loadDefinitions(
  names: readonly string[],
  directory: URL = PLUGINS_DIRECTORY,
): Promise<PluginDefinition[]> {
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
      throw new PluginLoadError(`PLUGINS: plugin "${name}" failed to load: ${describeError(e)}`, {
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
  return definitions;
}
