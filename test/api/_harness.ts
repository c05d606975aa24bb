/**
 * Real parts for API tests: the bridge with a store in a temporary data
 * directory, its app served by `Deno.serve` on 127.0.0.1, a webhook receiver
 * that checks signatures, an MSRP peer endpoint, and event-stream reading.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createApp } from "../../src/api/mod.ts";
import type { Bridge } from "../../src/bridge/mod.ts";
import type { Config } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { PluginRunner } from "../../src/plugins/mod.ts";
import {
  type IncomingMessageInfo,
  type IncomingMessageSink,
  MsrpEndpoint,
  type SessionOptions,
} from "../../src/session/mod.ts";
import { verifyWebhook, type WebhookEvent } from "../../src/webhooks/mod.ts";
import { type ApiClient, apiClient } from "../_api_client.ts";
import { startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import { negotiatePeer, type PeerSession } from "../bridge/_peer.ts";

/** The API token of harnesses made with a token. */
export const TOKEN = "test-token-0123456789";
/** The webhook secret of {@linkcode WebhookReceiver}. */
export const SECRET = "test-webhook-secret";

/** Largest wait for something to happen: a hang guard, not a timing check. */
const HANG_GUARD_MS = 120_000;

/** Polls `predicate` until it holds; throws after the hang guard, naming `what`. */
export function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  return until(predicate, what, { timeoutMs: HANG_GUARD_MS });
}

/** The bridge and its HTTP API on a free port. */
export interface Harness extends ApiClient, AsyncDisposable {
  /** The bridge. */
  readonly bridge: Bridge;
  /** Its configuration. */
  readonly config: Config;
}

/**
 * Starts a bridge with a fresh data directory (removed on dispose) and the
 * environment `env` (API_TOKEN is {@linkcode TOKEN} unless `env` says
 * otherwise; the plugins named in `PLUGINS` are loaded as the service does),
 * and serves its app.
 */
export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const logger = new Logger("error");
  const plugins = env.PLUGINS ? await PluginRunner.fromEnv(env, { logger }) : undefined;
  const fixture = await startBridge({ API_TOKEN: TOKEN, ...env }, { logger, plugins });
  const { bridge, config } = fixture;
  const app = createApp(bridge, config);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => app.fetch(req, { info }),
  );
  return {
    ...apiClient(`http://127.0.0.1:${server.addr.port}`, config.apiToken),
    bridge,
    config,
    async [Symbol.asyncDispose]() {
      await bridge.stop();
      await server.shutdown();
      await fixture[Symbol.asyncDispose]();
    },
  };
}

/** A delivery the receiver accepted. */
export interface Delivery {
  /** The event. */
  readonly event: WebhookEvent;
  /** The `X-Msrp-Bridge-Event` header. */
  readonly type: string | null;
}

/**
 * A webhook endpoint on 127.0.0.1 that verifies each delivery's signature
 * (401 and counted in `rejected` when wrong) and can answer with a reply.
 */
export class WebhookReceiver implements AsyncDisposable {
  /** Deliveries with a valid signature, in arrival order. */
  readonly deliveries: Delivery[] = [];
  /** Deliveries whose signature did not verify. */
  rejected = 0;
  /** When set, deliveries with a valid signature get this status and are counted in `refused` only. */
  failWith: number | undefined;
  /** Deliveries answered with `failWith`. */
  refused = 0;
  /** While set, deliveries wait for it before they are answered (their attempts stay in flight). */
  hold: Promise<void> | undefined;
  /** Deliveries that waited for `hold`. */
  held = 0;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  /** Starts the receiver; `reply` may give a response body for an event. */
  constructor(reply: (event: WebhookEvent) => unknown = () => undefined) {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      const ok = await verifyWebhook(
        SECRET,
        req.headers.get("x-msrp-bridge-timestamp") ?? "",
        body,
        req.headers.get("x-msrp-bridge-signature") ?? "",
      );
      if (!ok) {
        this.rejected++;
        return new Response("bad signature", { status: 401 });
      }
      if (this.hold) {
        this.held++;
        await this.hold;
      }
      if (this.failWith !== undefined) {
        this.refused++;
        return new Response("unavailable", { status: this.failWith });
      }
      const event = JSON.parse(body) as WebhookEvent;
      this.deliveries.push({ event, type: req.headers.get("x-msrp-bridge-event") });
      const answer = reply(event);
      return answer === undefined ? new Response(null, { status: 204 }) : Response.json(answer);
    });
  }

  /** The URL to configure as WEBHOOK_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  /** Waits for an event matching `predicate` and returns it. */
  async waitFor(what: string, predicate: (e: WebhookEvent) => boolean): Promise<WebhookEvent> {
    await waitUntil(() => this.deliveries.some((d) => predicate(d.event)), what);
    return this.deliveries.find((d) => predicate(d.event))!.event;
  }

  /** Stops the receiver. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

/** A sink that keeps only a SHA-256 and a byte count of what arrives in order. */
export class HashSink implements IncomingMessageSink {
  /** The message. */
  readonly info: IncomingMessageInfo;
  /** Bytes received. */
  bytes = 0;
  /** The hex SHA-256, once closed. */
  sha256: string | undefined;
  readonly #hash = createHash("sha256");
  readonly #gate: Promise<void> | undefined;

  /** Creates a sink; writes wait for `gate` when given (a stalled receiver). */
  constructor(info: IncomingMessageInfo, gate?: Promise<void>) {
    this.info = info;
    this.#gate = gate;
  }

  /** Hashes the bytes (they arrive in order from the bridge). */
  write(_offset: number, bytes: Uint8Array): void | Promise<void> {
    this.#hash.update(bytes);
    this.bytes += bytes.length;
    return this.#gate;
  }

  /** Finishes the hash. */
  close(): void {
    this.sha256 = this.#hash.digest("hex");
  }
}

/** An MSRP endpoint playing the peer, listening on a free port; dispose closes it. */
export function peerEndpoint(): MsrpEndpoint & AsyncDisposable {
  const endpoint = new MsrpEndpoint({ port: 0 }).listen();
  return Object.assign(endpoint, { [Symbol.asyncDispose]: () => endpoint.close() });
}

/**
 * Offers a session from `peer` with `POST /v1/sessions {offer}` (the peer
 * is active) and connects it to the bridge's answer; `options` are the peer
 * session's (e.g. its sink).
 */
export function openPeerSession(
  h: Pick<Harness, "json">,
  peer: MsrpEndpoint,
  options: SessionOptions = {},
): Promise<PeerSession> {
  return negotiatePeer(peer, { session: options }, async (offer) => {
    const created = await h.json("POST", "/v1/sessions", { offer });
    if (created.status !== 201) throw new Error(`POST /v1/sessions: ${created.status}`);
    return await created.json();
  });
}

/** Pseudo-random bytes streamed in 64 KiB pieces, with their SHA-256 once read. */
export function randomStream(size: number): {
  stream: ReadableStream<Uint8Array>;
  sha256: () => string;
} {
  const hash = createHash("sha256");
  let left = size;
  let digest: string | undefined;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) {
        digest = hash.digest("hex");
        controller.close();
        return;
      }
      const piece = crypto.getRandomValues(new Uint8Array(Math.min(65536, left)));
      hash.update(piece);
      left -= piece.length;
      controller.enqueue(piece);
    },
  });
  return {
    stream,
    sha256: () => {
      if (digest === undefined) throw new Error("the stream was not read to its end");
      return digest;
    },
  };
}

/** Hex SHA-256 of bytes or of a stream read to its end. */
export async function sha256Of(data: Uint8Array | ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  if (data instanceof Uint8Array) hash.update(data);
  else for await (const piece of data) hash.update(piece);
  return hash.digest("hex");
}

/** One server-sent event. */
export interface ServerSentEvent {
  /** The `id:` field. */
  readonly id: string | undefined;
  /** The `event:` field. */
  readonly event: string | undefined;
  /** The `data:` lines joined. */
  readonly data: string;
}

/** Reads server-sent events from a response body; `close()` cancels it. */
export class EventStreamReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  /** Reads `body`. */
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event with data (comments and `retry:` blocks are skipped). */
  async next(): Promise<ServerSentEvent> {
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const fields = new Map<string, string[]>();
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const name = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, "");
          fields.set(name, [...(fields.get(name) ?? []), value]);
        }
        if (!fields.has("data")) continue;
        return {
          id: fields.get("id")?.[0],
          event: fields.get("event")?.[0],
          data: fields.get("data")!.join("\n"),
        };
      }
      const { done, value } = await this.#reader.read();
      if (done) throw new Error("the event stream ended");
      this.#buffer += value;
    }
  }

  /** Cancels the stream. */
  async close(): Promise<void> {
    await this.#reader.cancel();
  }
}
