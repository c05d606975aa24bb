/**
 * The service (`deno task start`): the bridge (store, MSRP endpoint,
 * webhooks) and the HTTP server with the API and MSRP over WebSocket,
 * configured from the environment.
 *
 * @module
 */

import { createApp } from "./api/mod.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { Logger } from "./log.ts";
import { PluginRunner } from "./plugins.ts";
import { Bridge } from "./service.ts";
import { upgradeMsrpWebSocket } from "./transport/mod.ts";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function configOrExit(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = new Logger(config.logLevel, { service: "msrp-bridge" });
  if (!config.apiToken && !LOOPBACK.has(config.httpHost)) {
    console.error(
      `configuration error: HTTP_HOST=${config.httpHost} is not loopback; set API_TOKEN`,
    );
    Deno.exit(1);
  }
  if (!config.apiToken) log.warn("API_TOKEN is not set: the HTTP API listens on loopback only");

  let plugins;
  try {
    plugins = await PluginRunner.fromEnv(Deno.env.toObject(), { logger: log });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
  if (plugins.names.length > 0) log.info("plugins loaded", { plugins: plugins.names });
  const bridge = new Bridge(config, log, plugins);
  try {
    await bridge.start();
  } catch (e) {
    log.error("start failed", { error: e instanceof Error ? e.message : String(e) });
    Deno.exit(1);
  }

  const app = createApp(bridge, config);
  // RFC 7977: MSRP over WebSocket on the HTTP port, subprotocol "msrp". The
  // server is its clients' MSRP relay (§5): AUTH needs digest credentials for
  // API_TOKEN when it is set; without it the HTTP server is loopback-only and
  // AUTH is granted as is. Grants last WS_RELAY_*_EXPIRES.
  const relay = {
    password: config.apiToken,
    minExpires: config.wsRelayMinExpires,
    maxExpires: config.wsRelayMaxExpires,
    defaultExpires: config.wsRelayDefaultExpires,
  };
  app.get(
    config.wsPath,
    (c) =>
      upgradeMsrpWebSocket(c.req.raw, (conn) => bridge.endpoint.adoptWebSocket(conn, relay), {
        remoteAddr: c.env.info.remoteAddr as Deno.NetAddr,
      }),
  );
  const server = Deno.serve({
    hostname: config.httpHost,
    port: config.httpPort,
    onListen: ({ hostname, port }) => log.info("http listening", { hostname, port }),
  }, (req, info) => app.fetch(req, { info }));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    const http = server.shutdown();
    await bridge.stop();
    await http;
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
}

if (import.meta.main) await main();
