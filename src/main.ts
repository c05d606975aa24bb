/**
 * The service (`deno task start`, or the `msrp-bridge` binary of `deno task
 * compile`): the bridge (store, MSRP endpoint, webhooks) and the HTTP server
 * with the API and MSRP over WebSocket, configured from the environment.
 * `--version` prints the version and exits.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { createApp } from "./api/mod.ts";
import { ApiProblem, problemResponse } from "./api/problem.ts";
import { AuthThrottle } from "./auth_throttle.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { Logger } from "./log.ts";
import { PluginRunner } from "./plugins/mod.ts";
import { Bridge } from "./bridge/mod.ts";
import { WebSocketRelay } from "./relay/mod.ts";
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

/** What the PEM file each variable names must hold. */
const PEM_CONTENTS: Record<string, { what: string; label: RegExp }> = {
  HTTP_TLS_CERT: { what: "certificate", label: /-----BEGIN CERTIFICATE-----/ },
  HTTP_TLS_KEY: { what: "private key", label: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/ },
};

/** The PEM text of the file `variable` names; one line and exit when it cannot be used. */
async function pemOrExit(variable: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    console.error(
      `configuration error: ${variable}: cannot read ${path}: ${
        e instanceof Error ? e.message : e
      }`,
    );
    Deno.exit(1);
  }
  const { what, label } = PEM_CONTENTS[variable];
  if (!label.test(text)) {
    console.error(`configuration error: ${variable}: ${path} holds no PEM ${what}`);
    Deno.exit(1);
  }
  return text;
}

/** The certificate and key of HTTPS, when HTTP_TLS_CERT and HTTP_TLS_KEY are set. */
async function httpTlsOrExit(config: Config): Promise<{ cert: string; key: string } | undefined> {
  if (config.httpTlsCert === undefined || config.httpTlsKey === undefined) return undefined;
  return {
    cert: await pemOrExit("HTTP_TLS_CERT", config.httpTlsCert),
    key: await pemOrExit("HTTP_TLS_KEY", config.httpTlsKey),
  };
}

async function main(): Promise<void> {
  if (Deno.args.includes("--version")) {
    console.log(`msrp-bridge ${denoJson.version}`);
    return;
  }
  const config = configOrExit();
  const log = new Logger(config.logLevel, { service: "msrp-bridge" });
  if (!config.apiToken && !LOOPBACK.has(config.httpHost)) {
    console.error(
      `configuration error: HTTP_HOST=${config.httpHost} is not loopback; set API_TOKEN`,
    );
    Deno.exit(1);
  }
  if (!config.apiToken) log.warn("API_TOKEN is not set: the HTTP API listens on loopback only");
  const tls = await httpTlsOrExit(config);

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

  // Wrong bearer tokens and wrong relay digests count together per client.
  const throttle = new AuthThrottle(config.authFailureLimit, config.authFailureWindowMs);
  const app = createApp(bridge, config, throttle);
  // RFC 7977: MSRP over WebSocket on the HTTP port, subprotocol "msrp". The
  // server is its clients' MSRP relay (§5): AUTH needs digest credentials for
  // WS_RELAY_PASSWORD when it is set (failures throttled per client IP);
  // without it AUTH is granted as is while the service is loopback-only (no
  // API_TOKEN) and refused otherwise — never checked against the API token.
  // Grants last WS_RELAY_*_EXPIRES, WS_RELAY_MAX_GRANTS per WebSocket; next
  // hops other than our sessions and clients must be in RELAY_ALLOW.
  const relay = new WebSocketRelay(bridge.endpoint, {
    password: config.wsRelayPassword,
    refuseAuth: config.apiToken === undefined ? undefined : "relay AUTH needs WS_RELAY_PASSWORD",
    allow: config.relayAllow,
    maxGrants: config.wsRelayMaxGrants,
    throttle,
    minExpires: config.wsRelayMinExpires,
    maxExpires: config.wsRelayMaxExpires,
    defaultExpires: config.wsRelayDefaultExpires,
  });
  // The browser guard of createApp runs before this route: a foreign Origin
  // (and, without API_TOKEN, a foreign Host) is refused before any upgrade.
  app.get(
    config.wsPath,
    (c) =>
      upgradeMsrpWebSocket(c.req.raw, (conn) => relay.adopt(conn), {
        remoteAddr: c.env.info.remoteAddr as Deno.NetAddr,
        // WebSockets count in MAX_CONNECTIONS and MAX_CONNECTIONS_PER_IP with MSRP's TCP/TLS ones.
        admit: () =>
          bridge.endpoint.admitWebSocket(c.env.info.remoteAddr as Deno.NetAddr) ?? problemResponse(
            new ApiProblem(
              "connection-limit",
              "too many MSRP connections (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP)",
            ),
            c.req.path,
          ),
      }),
  );
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: config.httpHost,
      port: config.httpPort,
      ...tls,
      onListen: ({ hostname, port }) =>
        log.info("http listening", { hostname, port, https: tls !== undefined }),
    }, (req, info) => app.fetch(req, { info }));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (tls && e instanceof Deno.errors.InvalidData) {
      console.error(`configuration error: HTTP_TLS_CERT / HTTP_TLS_KEY: ${message}`);
    } else {
      log.error("http listen failed", { error: message });
    }
    await bridge.stop();
    Deno.exit(1);
  }

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
