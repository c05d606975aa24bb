/**
 * The service (`deno task start`): the MSRP endpoint and the HTTP server,
 * configured from the environment.
 *
 * @module
 */

import { Hono } from "hono";
import { ConfigError, loadConfig } from "./config.ts";
import { Logger } from "./log.ts";
import { MsrpEndpoint } from "./session/mod.ts";
import { upgradeMsrpWebSocket } from "./transport/mod.ts";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function main(): void {
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
  const log = new Logger(config.logLevel, { service: "msrp-bridge" });
  if (!config.apiToken && !LOOPBACK.has(config.httpHost)) {
    console.error(
      `configuration error: HTTP_HOST=${config.httpHost} is not loopback; set API_TOKEN`,
    );
    Deno.exit(1);
  }
  if (!config.apiToken) log.warn("API_TOKEN is not set: the HTTP API listens on loopback only");

  const endpoint = new MsrpEndpoint({
    hostname: config.msrpHost,
    port: config.msrpPort,
    advertiseHost: config.msrpAdvertise,
    webSocketAuthority: `${config.msrpAdvertise ?? config.httpHost}:${config.httpPort}`,
    maxSessions: config.maxSessions,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    session: {
      acceptTypes: config.acceptTypes,
      maxMessageBytes: config.maxMessageBytes,
      chunkSize: config.chunkSize,
    },
  }).listen();
  log.info("msrp listening", { uri: endpoint.ownUri });

  const app = new Hono<{ Bindings: { info: Deno.ServeHandlerInfo } }>();
  // RFC 7977: MSRP over WebSocket on the HTTP port, subprotocol "msrp".
  app.get(config.wsPath, (c) =>
    upgradeMsrpWebSocket(c.req.raw, (conn) => endpoint.adopt(conn), {
      remoteAddr: c.env.info.remoteAddr as Deno.NetAddr,
    }));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) =>
    c.json({
      status: "ready",
      msrp: { listening: true, sessions: endpoint.sessions.size },
    }));
  const server = Deno.serve({
    hostname: config.httpHost,
    port: config.httpPort,
    onListen: ({ hostname, port }) => log.info("http listening", { hostname, port }),
  }, (req, info) => app.fetch(req, { info }));

  const stop = async (signal: string) => {
    log.info("shutting down", { signal });
    await endpoint.close();
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
}

if (import.meta.main) main();
