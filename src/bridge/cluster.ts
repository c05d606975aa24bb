/**
 * Several bridges on one PostgreSQL database: each instance beats in the
 * store, says where its HTTP API is reached, and finds the owner of a
 * session (whose MSRP connections stay where they are). An instance that
 * stops beating for `INSTANCE_LEASE_MS` is taken over by a survivor: its
 * sessions end, its messages in flight fail, its calls are hung up on the
 * PBX and its leased webhook deliveries go to whoever is left.
 *
 * @module
 */

import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import type { Calls } from "./calls.ts";
import { errorText } from "./errors.ts";
import type { EventLog } from "./events.ts";

/** Where a session is served. */
export type SessionLocation =
  /** Here, or nowhere (no such session): the request is answered here. */
  | { readonly kind: "here" }
  /** By instance `instance`, alive at `url`: the request goes there. */
  | { readonly kind: "elsewhere"; readonly instance: string; readonly url: string }
  /** By instance `instance`, which stopped beating and was not taken over yet. */
  | { readonly kind: "gone"; readonly instance: string };

/** Heartbeats per lease: a lost heartbeat or two does not lose the lease. */
const BEATS_PER_LEASE = 3;
/** Claims of calls and pager messages are kept this long, then forgotten (they are decided in seconds). */
const CLAIM_TTL_MS = 24 * 60 * 60 * 1000;
/** How often old claims are forgotten. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** This instance among the others sharing the store. */
export class Cluster {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #calls: Calls;
  readonly #sessions: Sessions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #pruner: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;

  /**
   * Beats for `rt`'s instance; takes over lost ones, publishing to `events`
   * and hanging up through `calls`; ends its own `sessions` should it be
   * taken over itself.
   */
  constructor(rt: Runtime, events: EventLog, calls: Calls, sessions: Sessions) {
    this.#rt = rt;
    this.#events = events;
    this.#calls = calls;
    this.#sessions = sessions;
  }

  /** Several instances may share the store (PostgreSQL). */
  get shared(): boolean {
    return this.#rt.store.kind === "postgres";
  }

  /** The instance this process is. */
  get instanceId(): string {
    return this.#rt.store.instanceId;
  }

  /**
   * Forgets old claims now and every hour; on a shared store, also records
   * the start and beats every third of the lease.
   */
  async start(): Promise<void> {
    this.#prune();
    this.#pruner = setInterval(() => this.#prune(), PRUNE_INTERVAL_MS);
    if (!this.shared) return;
    await this.#rt.store.heartbeat(this.#rt.config.instanceUrl, true);
    const every = this.#rt.config.instanceLeaseMs / BEATS_PER_LEASE;
    this.#timer = setInterval(() => {
      this.#beating ??= this.#beat().finally(() => this.#beating = undefined);
    }, every);
  }

  /** Stops beating and pruning. */
  async stop(): Promise<void> {
    clearInterval(this.#pruner);
    this.#pruner = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
  }

  /** Where session `id` is served. */
  async locateSession(id: string): Promise<SessionLocation> {
    if (!this.shared) return { kind: "here" };
    return await this.#locate(await this.#rt.store.sessionOwner(id));
  }

  /** Where the session of message `id` is served (its content file is kept there). */
  async locateMessage(id: string): Promise<SessionLocation> {
    if (!this.shared) return { kind: "here" };
    return await this.#locate(await this.#rt.store.messageOwner(id));
  }

  async #locate(owner: string | undefined): Promise<SessionLocation> {
    if (owner === undefined || owner === this.instanceId) return { kind: "here" };
    const instance = await this.#rt.store.instance(owner);
    // Taken over: its sessions have ended, which this instance can answer for.
    if (!instance || instance.takenOverBy !== null) return { kind: "here" };
    if (instance.heartbeatAt < Date.now() - this.#rt.config.instanceLeaseMs) {
      return { kind: "gone", instance: owner };
    }
    return { kind: "elsewhere", instance: owner, url: instance.url };
  }

  #prune(): void {
    this.#rt.track(
      this.#rt.store.pruneClaims(Date.now() - CLAIM_TTL_MS).catch((e) =>
        this.#rt.log.warn("old claims not pruned", { error: errorText(e) })
      ),
    );
  }

  async #beat(): Promise<void> {
    const { store, config, log } = this.#rt;
    try {
      await store.heartbeat(config.instanceUrl, false);
      await this.#checkNotTakenOver();
      const stale = Date.now() - config.instanceLeaseMs;
      for (const lost of await store.lostInstances(stale)) await this.#takeOver(lost, stale);
    } catch (e) {
      log.error("instance heartbeat failed", { error: errorText(e) });
    }
  }

  /**
   * A beat that came too late (a stalled process, a lost database link):
   * another instance took this one over and ended its sessions in the
   * store, so the sessions still open here end too, and this instance
   * starts afresh.
   */
  async #checkNotTakenOver(): Promise<void> {
    const { store, config, log } = this.#rt;
    const me = await store.instance(this.instanceId);
    if (!me?.takenOverBy) return;
    log.error("this instance was taken over: its open sessions end", {
      instance: this.instanceId,
      by: me.takenOverBy,
      open: this.#sessions.openCount,
    });
    this.#sessions.closeAll(`instance ${this.instanceId} taken over by ${me.takenOverBy}`);
    await store.heartbeat(config.instanceUrl, true);
  }

  async #takeOver(lost: string, stale: number): Promise<void> {
    const { store, log } = this.#rt;
    // The take-over and its events commit together: a survivor that dies in between leaves neither.
    const taken = await store.transaction(async (tx) => {
      const taken = await tx.takeOver(lost, stale, `instance ${lost} lost`);
      if (taken) await this.#events.recordRecovered(taken, tx);
      return taken;
    });
    if (!taken) return;
    this.#events.notify();
    log.warn("instance taken over", {
      instance: lost,
      endedSessions: taken.endedSessions,
      failedMessages: taken.failedMessages,
      resumedWebhooks: taken.resumedWebhooks,
    });
    // Only the calls of the sessions it ended are hung up.
    const channels = taken.sessions.flatMap((s) => s.channelUuid === null ? [] : [s.channelUuid]);
    for (const channel of channels) {
      const hungUp = await this.#calls.hangUpChannel(channel).catch(() => false);
      log.info("call of a lost instance hung up", { instance: lost, channel, hungUp });
    }
  }
}
