/**
 * What the bridge tells operators: readiness (`/readyz`) and counters and
 * gauges since start (`/metrics`).
 *
 * @module
 */

import type { WebhookBacklog } from "../store/mod.ts";
import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import type { Calls, EslState } from "./calls.ts";
import type { MessageCounters, Messaging } from "./messaging.ts";

/** What `/readyz` reports. */
export interface Readiness {
  /** The database takes a write and the content directory a file. */
  readonly storeWritable: boolean;
  /** The MSRP listener is open. */
  readonly msrpListening: boolean;
  /** The PBX connection. */
  readonly esl: EslState;
}

/** Counters and gauges for `/metrics`, counted since start. */
export interface BridgeMetrics extends MessageCounters {
  /** This instance (`INSTANCE_ID`); metrics are per instance. */
  readonly instance: string;
  /** Which database keeps the state. */
  readonly database: "sqlite" | "postgres";
  /** Sessions open now. */
  readonly sessionsOpen: number;
  /** MSRP connections open now. */
  readonly msrpConnections: number;
  /** The webhook outbox; `undefined` without `WEBHOOK_URL`. */
  readonly webhookBacklog: WebhookBacklog | undefined;
  /** The PBX connection. */
  readonly esl: EslState;
}

/** Readiness and metrics of the bridge's parts. */
export class Health {
  readonly #rt: Runtime;
  readonly #sessions: Sessions;
  readonly #messaging: Messaging;
  readonly #calls: Calls;

  /** Reports on the parts of one bridge. */
  constructor(rt: Runtime, sessions: Sessions, messaging: Messaging, calls: Calls) {
    this.#rt = rt;
    this.#sessions = sessions;
    this.#messaging = messaging;
    this.#calls = calls;
  }

  /** What `/readyz` reports: nothing is ready unless the bridge runs. */
  async readiness(): Promise<Readiness> {
    return {
      storeWritable: this.#rt.running && await this.#storeWritable(),
      msrpListening: this.#rt.running,
      esl: this.#calls.eslState,
    };
  }

  /** Counters and gauges for `/metrics`. */
  async metrics(): Promise<BridgeMetrics> {
    const rt = this.#rt;
    return {
      instance: rt.config.instanceId,
      database: rt.config.databaseUrl === undefined ? "sqlite" : "postgres",
      sessionsOpen: this.#sessions.openCount,
      msrpConnections: rt.opened ? rt.endpoint.connectionCount : 0,
      ...this.#messaging.counters(),
      webhookBacklog: rt.dispatcher && rt.running ? await rt.store.webhookBacklog() : undefined,
      esl: this.#calls.eslState,
    };
  }

  async #storeWritable(): Promise<boolean> {
    try {
      const store = this.#rt.store;
      await store.ping();
      const probe = `${store.dataDir}/content/.ready-probe`;
      await Deno.writeTextFile(probe, "");
      await Deno.remove(probe);
      return true;
    } catch {
      return false;
    }
  }
}
