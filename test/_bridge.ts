/**
 * The bridge for tests: one fixture that configures a {@linkcode Bridge}
 * with a fresh data directory and free ports, records the events it
 * publishes, and stops it and removes the directory on dispose
 * (`await using`).
 *
 * @module
 */

import { Bridge } from "../src/bridge/mod.ts";
import { type Config, loadConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import type { PluginRunner } from "../src/plugins/mod.ts";
import type { EventRecord } from "../src/store/mod.ts";

/** Longest wait for an event in {@linkcode BridgeFixture.next}: a hang guard. */
const EVENT_GUARD_MS = 60_000;

/** Options of {@linkcode createBridge} and {@linkcode startBridge}. */
export interface BridgeFixtureOptions {
  /** The bridge's logger; one at `error` level by default. */
  readonly logger?: Logger;
  /** The plugins the bridge runs. */
  readonly plugins?: PluginRunner;
}

/** A bridge under test and what it published. */
export interface BridgeFixture extends AsyncDisposable {
  /** The bridge. */
  readonly bridge: Bridge;
  /** Its configuration. */
  readonly config: Config;
  /** Its `DATA_DIR`. */
  readonly dataDir: string;
  /** Every event published since {@linkcode BridgeFixture.start}, in order. */
  readonly events: EventRecord[];
  /** Starts the bridge and records its events from then on. */
  start(): Promise<void>;
  /** The first event of `type` since start, waiting for it when none came yet. */
  next(type: string): Promise<EventRecord>;
}

/**
 * A stopped bridge configured from `env` over test defaults: `DATA_DIR` a
 * new temporary directory (removed on dispose; one `env` names is kept),
 * `MSRP_PORT` and `HTTP_PORT` 0, `ESL_MODE=off`, `LOG_LEVEL=error`.
 */
export async function createBridge(
  env: Record<string, string> = {},
  options: BridgeFixtureOptions = {},
): Promise<BridgeFixture> {
  const ownDir = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? await Deno.makeTempDir({ prefix: "msrp-bridge-test-" });
  let config: Config;
  try {
    config = loadConfig({
      MSRP_PORT: "0",
      HTTP_PORT: "0",
      ESL_MODE: "off",
      LOG_LEVEL: "error",
      ...env,
      DATA_DIR: dataDir,
    });
  } catch (e) {
    if (ownDir) await Deno.remove(dataDir, { recursive: true });
    throw e;
  }
  const bridge = new Bridge(config, options.logger ?? new Logger("error"), options.plugins);
  const events: EventRecord[] = [];
  const waiters = new Set<() => void>();
  return {
    bridge,
    config,
    dataDir,
    events,
    async start() {
      await bridge.start();
      bridge.subscribe({
        event(record) {
          events.push(record);
          for (const wake of waiters) wake();
          waiters.clear();
        },
        close() {},
      });
    },
    async next(type) {
      const deadline = Date.now() + EVENT_GUARD_MS;
      while (!events.some((e) => e.type === type)) {
        if (Date.now() > deadline) throw new Error(`gave up waiting for the event ${type}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return events.find((e) => e.type === type)!;
    },
    async [Symbol.asyncDispose]() {
      await bridge.stop();
      if (ownDir) await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/**
 * A started bridge (see {@linkcode createBridge}); when start-up fails, its
 * data directory is removed and the error rethrown.
 *
 * @example
 * ```ts
 * import { startBridge } from "./_bridge.ts";
 *
 * await using b = await startBridge({ MAX_SESSIONS: "10" });
 * const { id } = b.bridge.createOffer();
 * console.log(b.bridge.getSession(id)?.state); // "pending"
 * ```
 */
export async function startBridge(
  env: Record<string, string> = {},
  options: BridgeFixtureOptions = {},
): Promise<BridgeFixture> {
  const fixture = await createBridge(env, options);
  try {
    await fixture.start();
  } catch (e) {
    await fixture[Symbol.asyncDispose]();
    throw e;
  }
  return fixture;
}
