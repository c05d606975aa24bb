/**
 * Several bridges on one PostgreSQL database, each the service
 * (`src/main.ts`) in its own process, for the multi-instance tests (issue
 * 18): a scratch schema of the test server shared by every instance, each
 * instance with its own data directory, `INSTANCE_ID`, HTTP and MSRP ports
 * and the same `API_TOKEN`, a webhook receiver that records each attempt
 * with its delivery id, and direct reads of the shared store.
 *
 * ```ts
 * await withCluster({ esl: { port: 8021 } }, async (cluster) => {
 *   const a = await cluster.start("a");
 *   const b = await cluster.start("b");
 * });
 * ```
 *
 * @module
 */

import { type ApiClient, apiClient } from "../_api_client.ts";
import { freePorts } from "../_service_process.ts";
import { type ScratchSchema, scratchSchema } from "../_postgres.ts";
import { withDeadline } from "../_until.ts";
import { connect, type Pool } from "../../src/store/_pg_pool.ts";
import { verifyWebhook, type WebhookEvent } from "../../src/webhooks/mod.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** The API token every instance shares (forwarded requests carry the client's). */
export const CLUSTER_TOKEN = "cluster-test-token-0123456789";
/** The webhook secret of every instance and of {@linkcode DeliveryReceiver}. */
export const CLUSTER_SECRET = "cluster-test-webhook-secret";
/** `INSTANCE_LEASE_MS` of the instances: short, so that a take-over comes soon. */
export const LEASE_MS = 3_000;

/** Largest wait for an instance to be ready or to stop: a hang guard, not a timing check. */
const PROCESS_GUARD_MS = 60_000;
/** Log lines kept per instance for a failing test's report. */
const KEPT_LOG_LINES = 4_000;

/** A bridge process of the cluster. */
export interface Instance extends ApiClient {
  /** Its `INSTANCE_ID`. */
  readonly id: string;
  /** Its HTTP port (`INSTANCE_URL` is `http://127.0.0.1:<port>`). */
  readonly httpPort: number;
  /** Its MSRP port: the port in the `a=path` of the SDP it answers with. */
  readonly msrpPort: number;
  /** Whether the process still runs. */
  readonly running: boolean;
  /** Its standard error so far (the JSON log lines), the newest {@linkcode KEPT_LOG_LINES}. */
  logs(): readonly string[];
  /** Sends `signal` and waits for the process to end. */
  kill(signal: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Sends `signal` (e.g. `SIGSTOP`, `SIGCONT`) without waiting. */
  signal(signal: Deno.Signal): void;
}

/** One webhook request the receiver got (signature verified). */
export interface WebhookAttempt {
  /** `X-Msrp-Bridge-Delivery`: the outbox id, the same for every attempt of one delivery. */
  readonly deliveryId: string;
  /** `X-Msrp-Bridge-Event`. */
  readonly type: string | null;
  /** The event posted. */
  readonly event: WebhookEvent;
}

/**
 * A webhook endpoint on 127.0.0.1 that verifies each request's signature
 * and records it as it arrives (before answering), as a receiver that acts
 * on a delivery at once would; a repeated delivery is recorded again.
 */
export class DeliveryReceiver implements AsyncDisposable {
  /** Requests with a valid signature, in arrival order. */
  readonly attempts: WebhookAttempt[] = [];
  /** Requests whose signature did not verify (answered 401). */
  rejected = 0;
  /** While set, requests are answered only once it settles (their attempts stay in flight). */
  hold: Promise<void> | undefined;
  /** Requests that waited for `hold`. */
  held = 0;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  /** Starts listening on a free port. */
  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      const ok = await verifyWebhook(
        CLUSTER_SECRET,
        req.headers.get("x-msrp-bridge-timestamp") ?? "",
        body,
        req.headers.get("x-msrp-bridge-signature") ?? "",
      );
      if (!ok) {
        this.rejected++;
        return new Response("bad signature", { status: 401 });
      }
      this.attempts.push({
        deliveryId: req.headers.get("x-msrp-bridge-delivery") ?? "",
        type: req.headers.get("x-msrp-bridge-event"),
        event: JSON.parse(body),
      });
      if (this.hold) {
        this.held++;
        await this.hold;
      }
      return new Response(null, { status: 204 });
    });
  }

  /** The URL to configure as `WEBHOOK_URL`. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  /** Stops the receiver. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

/** Options of {@linkcode withCluster}. */
export interface ClusterOptions {
  /** The event socket the instances connect to (`ESL_MODE=inbound`); `ESL_MODE=off` without. */
  readonly esl?: { readonly hostname?: string; readonly port: number };
  /** Post webhooks to a {@linkcode DeliveryReceiver}; `false` by default. */
  readonly webhooks?: boolean;
}

/** A row of the shared `sessions` table, as the tests read it. */
export interface SessionRow {
  /** The session id. */
  readonly id: string;
  /** The instance that owns it. */
  readonly instanceId: string | null;
  /** Its PBX channel, for a call. */
  readonly channelUuid: string | null;
  /** The SIP Call-ID, for a call. */
  readonly callId: string | null;
  /** `active`, `ended` … */
  readonly state: string;
  /** Why it ended. */
  readonly endReason: string | null;
}

/** A row of the shared event log. */
export interface EventRow {
  /** Its position in the log (the `id:` of server-sent events). */
  readonly seq: number;
  /** The event type. */
  readonly type: string;
  /** The event as posted to webhooks. */
  readonly event: WebhookEvent;
}

/** Bridges on one scratch schema, with a webhook receiver and direct reads of the store. */
export class Cluster {
  /** The webhook receiver, when the options asked for one. */
  readonly receiver: DeliveryReceiver | undefined;
  /** The schema the instances share (`DATABASE_URL`). */
  readonly #schema: ScratchSchema;
  readonly #options: ClusterOptions;
  readonly #sql: Pool;
  readonly #instances = new Map<string, Instance>();
  readonly #stop = new Map<string, () => Promise<void>>();

  /** A cluster on `schema`; use {@linkcode withCluster}. */
  constructor(schema: ScratchSchema, options: ClusterOptions) {
    this.#schema = schema;
    this.#options = options;
    this.receiver = options.webhooks ? new DeliveryReceiver() : undefined;
    this.#sql = connect(schema.url, 2);
  }

  /**
   * Starts a bridge process as instance `id` and waits until `/readyz`
   * answers 200: the store takes writes, MSRP listens and, with an event
   * socket, it is connected.
   */
  async start(id: string): Promise<Instance> {
    const [httpPort, msrpPort] = freePorts(2);
    const dataDir = await Deno.makeTempDir({ prefix: `msrp-bridge-cluster-${id}-` });
    const esl = this.#options.esl;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        DATABASE_URL: this.#schema.url,
        INSTANCE_ID: id,
        INSTANCE_URL: `http://127.0.0.1:${httpPort}`,
        INSTANCE_LEASE_MS: String(LEASE_MS),
        API_TOKEN: CLUSTER_TOKEN,
        DATA_DIR: dataDir,
        HTTP_HOST: "127.0.0.1",
        HTTP_PORT: String(httpPort),
        MSRP_HOST: "127.0.0.1",
        MSRP_PORT: String(msrpPort),
        LOG_LEVEL: "info",
        ...(esl
          ? {
            ESL_MODE: "inbound",
            ESL_HOST: esl.hostname ?? "127.0.0.1",
            ESL_PORT: String(esl.port),
            ESL_PASSWORD: "ClueCon",
          }
          : { ESL_MODE: "off" }),
        // Empty: none, whatever the caller's environment says.
        ...(this.receiver
          ? { WEBHOOK_URL: this.receiver.url, WEBHOOK_SECRET: CLUSTER_SECRET }
          : { WEBHOOK_URL: "" }),
      },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const piece of child.stderr) {
        rest += decoder.decode(piece, { stream: true });
        const parts = rest.split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
        if (lines.length > KEPT_LOG_LINES) lines.splice(0, lines.length - KEPT_LOG_LINES);
      }
      if (rest) lines.push(rest);
    })();
    let exited: Deno.CommandStatus | undefined;
    const status = Promise.all([child.status, reading]).then(([s]) => exited = s);
    const kill = async (signal: Deno.Signal) => {
      if (!exited) child.kill(signal);
      return await status;
    };
    const instance: Instance = {
      ...apiClient(`http://127.0.0.1:${httpPort}`, CLUSTER_TOKEN),
      id,
      httpPort,
      msrpPort,
      get running() {
        return exited === undefined;
      },
      logs: () => [...lines],
      kill,
      signal: (signal) => {
        if (!exited) child.kill(signal);
      },
    };
    this.#instances.set(id, instance);
    this.#stop.set(id, async () => {
      if (!exited) {
        child.kill("SIGTERM");
        await withDeadline(status, `instance ${id} to stop`, PROCESS_GUARD_MS).catch(() =>
          kill("SIGKILL")
        );
      }
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    });
    const deadline = Date.now() + PROCESS_GUARD_MS;
    while (!await ready(instance)) {
      if (exited) throw new Error(`instance ${id} exited with code ${exited.code} while starting`);
      if (Date.now() > deadline) throw new Error(`instance ${id} did not become ready`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return instance;
  }

  /** The rows of the shared `sessions` table, oldest first. */
  async sessions(): Promise<SessionRow[]> {
    const rows = await this.#sql`SELECT id, instance_id, channel_uuid, call_id, state, end_reason
      FROM sessions ORDER BY seq`;
    return rows.map((r) => ({
      id: String(r.id),
      instanceId: r.instance_id,
      channelUuid: r.channel_uuid,
      callId: r.call_id,
      state: String(r.state),
      endReason: r.end_reason,
    }));
  }

  /** The shared event log, in its order. */
  async events(): Promise<EventRow[]> {
    const rows = await this.#sql`SELECT seq, type, payload FROM events ORDER BY seq`;
    return rows.map((r) => ({
      seq: Number(r.seq),
      type: String(r.type),
      event: JSON.parse(r.payload),
    }));
  }

  /** The keys of the `claims` table with the instance that holds each. */
  async claims(): Promise<Map<string, string>> {
    const rows = await this.#sql`SELECT key, instance_id FROM claims`;
    return new Map(rows.map((r) => [String(r.key), String(r.instance_id)]));
  }

  /** The newest log lines of every instance, for the report of a failing test. */
  logTails(lines = 60): string {
    return [...this.#instances.values()].map((i) =>
      `--- instance ${i.id} (${i.running ? "running" : "exited"}), last ${lines} log lines:\n` +
      i.logs().slice(-lines).join("\n")
    ).join("\n");
  }

  /** Stops every instance (SIGTERM, waiting for it), the receiver and the pool; drops the schema. */
  async close(): Promise<void> {
    await Promise.all([...this.#stop.values()].map((stop) => stop()));
    await this.receiver?.[Symbol.asyncDispose]();
    await this.#sql.end();
    await this.#schema[Symbol.asyncDispose]();
  }
}

/** Whether `instance` answers `/readyz` with 200. */
async function ready(instance: Instance): Promise<boolean> {
  try {
    const res = await fetch(`${instance.url}/readyz`);
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` with a fresh cluster on a scratch schema of `PG_TEST_URL`
 * (the caller skips when PostgreSQL is absent), then stops it all; when `fn`
 * fails, the newest log lines of every instance are printed first.
 */
export async function withCluster(
  options: ClusterOptions,
  fn: (cluster: Cluster) => Promise<void>,
): Promise<void> {
  const schema = await scratchSchema();
  if (!schema) throw new Error("PG_TEST_URL is not set");
  const cluster = new Cluster(schema, options);
  try {
    await fn(cluster);
  } catch (e) {
    console.error(cluster.logTails());
    throw e;
  } finally {
    await cluster.close();
  }
}
