/**
 * What every use case of the bridge shares (internal): the store, the MSRP
 * endpoint, webhook delivery and the plugins once started, whether the
 * bridge takes work, and the background work {@linkcode Runtime.drain}
 * waits for before the store closes.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { type MsrpTls, readMsrpTls } from "./_msrp_tls.ts";
import type { PluginRunner } from "../plugins/mod.ts";
import { MsrpEndpoint } from "../session/mod.ts";
import {
  Checkpointer,
  ContentQuota,
  openStore,
  type RecoveryResult,
  SqliteStore,
  type Store,
} from "../store/mod.ts";
import { WebhookDispatcher, type WebhookReplyHandler } from "../webhooks/mod.ts";
import { BridgeError, errorText } from "./errors.ts";

/** How often the SQLite store's WAL is checkpointed from a worker (off the event loop). */
const CHECKPOINT_INTERVAL_MS = 1000;
/** WAL pages after which a commit checkpoints by itself, should the worker fall behind. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 16384;

/** The resources of the bridge once started, and its lifecycle state. */
export class Runtime {
  /** The service configuration. */
  readonly config: Config;
  /** The service logger. */
  readonly log: Logger;
  /** The plugins, when `PLUGINS` names any. */
  readonly plugins: PluginRunner | undefined;
  #opened: Opened | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  readonly #work = new Set<Promise<unknown>>();

  /** A runtime with nothing open yet; see {@linkcode open}. */
  constructor(config: Config, log: Logger, plugins: PluginRunner | undefined) {
    this.config = config;
    this.log = log;
    this.plugins = plugins;
  }

  /** Sessions, messages, the event log and the webhook outbox; throws before {@linkcode open}. */
  get store(): Store {
    return this.#resources.store;
  }

  /** The MSRP listener and its connections; throws before {@linkcode open}. */
  get endpoint(): MsrpEndpoint {
    return this.#resources.endpoint;
  }

  /** What received content may still take of `DATA_QUOTA_BYTES`; throws before {@linkcode open}. */
  get quota(): ContentQuota {
    return this.#resources.quota;
  }

  /** Our `msrps` certificate, when `MSRP_TLS_CERT` is set. */
  get msrpTls(): MsrpTls | undefined {
    return this.#opened?.msrpTls;
  }

  /** Webhook delivery; `undefined` without `WEBHOOK_URL` (and before {@linkcode open}). */
  get dispatcher(): WebhookDispatcher | undefined {
    return this.#opened?.dispatcher;
  }

  /** {@linkcode open} succeeded. */
  get opened(): boolean {
    return this.#opened !== undefined;
  }

  /** The bridge takes new work. */
  get running(): boolean {
    return this.#state === "running";
  }

  /**
   * Opens the store (ending what a previous run left open), creates webhook
   * delivery (when `WEBHOOK_URL` is set; replies go to `onReply`) and listens
   * for MSRP, and returns what the previous run left unfinished. Rejects,
   * with everything closed again, when any of them fails (e.g. the MSRP port
   * is taken, or the `msrps` certificate is unusable), or when it was opened
   * before.
   */
  async open(onReply: WebhookReplyHandler): Promise<RecoveryResult> {
    if (this.#state !== "new" || this.#opened) throw new Error("the bridge was already started");
    const { config, log } = this;
    let store: Store | undefined;
    let checkpointer: Checkpointer | undefined;
    try {
      store = await openStore(config.dataDir, {
        databaseUrl: config.databaseUrl,
        instanceId: config.instanceId,
        walAutocheckpointPages: FALLBACK_AUTOCHECKPOINT_PAGES,
      });
      if (store instanceof SqliteStore) {
        checkpointer = new Checkpointer(
          store.path,
          CHECKPOINT_INTERVAL_MS,
          (error) => log.warn("wal checkpoint failed", { error }),
        );
      }
      const recovered = await store.recoverAfterRestart();
      const quota = new ContentQuota(config.dataQuotaBytes, await store.storedContentBytes());
      log.info("store opened", {
        database: store.kind,
        instance: store.instanceId,
        dataDir: config.dataDir,
        endedSessions: recovered.endedSessions,
        failedMessages: recovered.failedMessages,
        resumedWebhooks: recovered.resumedWebhooks,
      });
      const dispatcher = config.webhookUrl !== undefined && config.webhookSecret !== undefined
        ? new WebhookDispatcher({
          url: config.webhookUrl,
          secret: config.webhookSecret,
          store,
          logger: log,
          onReply,
        })
        : undefined;
      const msrpTls = readMsrpTls(config);
      const endpoint = listen(config, msrpTls);
      this.#opened = { store, checkpointer, quota, endpoint, msrpTls, dispatcher };
      return recovered;
    } catch (e) {
      await checkpointer?.stop();
      await store?.close();
      throw e;
    }
  }

  /** Starts taking work. */
  run(): void {
    this.#state = "running";
  }

  /** Refuses new work from now on; {@linkcode close} follows. */
  beginStopping(): void {
    this.#state = "stopping";
  }

  /** @throws {BridgeError} `shutting-down` unless the bridge takes work. */
  checkRunning(): void {
    if (!this.running) throw new BridgeError("shutting-down", "the service is shutting down");
  }

  /** Keeps `work` until it settles (see {@linkcode drain}); a failure is logged. */
  track<T>(work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => this.#work.delete(tracked));
    this.#work.add(tracked);
    tracked.catch((e) => this.log.error("background work failed", { error: errorText(e) }));
    return work;
  }

  /** Resolves once all background work, including work it started, has settled. */
  async drain(): Promise<void> {
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  /** Stops webhook delivery and the checkpointer and closes the store. */
  async close(): Promise<void> {
    const { store, checkpointer, dispatcher } = this.#resources;
    await dispatcher?.stop();
    await checkpointer?.stop();
    await store.close();
    this.#state = "stopped";
  }

  get #resources(): Opened {
    if (!this.#opened) throw new Error("the bridge is not started");
    return this.#opened;
  }
}

/** What {@linkcode Runtime.open} opened. */
interface Opened {
  readonly store: Store;
  readonly checkpointer: Checkpointer | undefined;
  readonly quota: ContentQuota;
  readonly endpoint: MsrpEndpoint;
  readonly msrpTls: MsrpTls | undefined;
  readonly dispatcher: WebhookDispatcher | undefined;
}

/** Listens for MSRP: `msrps` with `MSRP_TLS_CERT`. */
function listen(config: Config, tls: MsrpTls | undefined): MsrpEndpoint {
  return new MsrpEndpoint({
    hostname: config.msrpHost,
    port: config.msrpPort,
    advertiseHost: config.msrpAdvertise,
    tls: tls?.endpoint,
    webSocketAuthority: `${config.msrpAdvertise ?? config.httpHost}:${config.httpPort}`,
    maxSessions: config.maxSessions,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxUnfinishedPerConnection: config.maxUnfinishedPerConnection,
    parserLimits: {
      maxHeaderBytes: config.maxHeaderBytes,
      maxHeaderCount: config.maxHeaderCount,
      maxChunkBodyBytes: config.maxChunkBytes,
    },
    maxQueuedBytes: config.maxQueuedBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    headTimeoutMs: config.headTimeoutMs,
    transactionTimeoutMs: config.transactionTimeoutMs,
    session: {
      acceptTypes: config.acceptTypes,
      maxMessageBytes: config.maxMessageBytes,
      chunkSize: config.chunkSize,
      maxUnfinishedMessages: config.maxUnfinishedPerSession,
      unfinishedIdleMs: config.unfinishedIdleMs,
    },
  }).listen();
}
