/**
 * Environment → typed, validated configuration with defaults
 * (design.md "Configuration").
 *
 * One unit past 450 lines: one interface and the one place each variable is
 * read and checked, so that every setting and its start-up error sit together.
 *
 * @module
 */

import type { LogLevel } from "./log.ts";
import { type AddressRule, parseAddressRules } from "./transport/address_rule.ts";
import { parseSipUri, type SipUri } from "./pbx/sip_uri.ts";

/** The service configuration. */
export interface Config {
  /** HTTP listen address. */
  readonly httpHost: string;
  /** HTTP port. */
  readonly httpPort: number;
  /** Bearer token for /v1 (unset: loopback only). */
  readonly apiToken: string | undefined;
  /** MSRP listen address. */
  readonly msrpHost: string;
  /** MSRP port. */
  readonly msrpPort: number;
  /** Host put in a=path. */
  readonly msrpAdvertise: string | undefined;
  /** Media types accepted by default. */
  readonly acceptTypes: string[];
  /** Largest message accepted, bytes. */
  readonly maxMessageBytes: number;
  /** Most open sessions. */
  readonly maxSessions: number;
  /** Most MSRP connections. */
  readonly maxConnections: number;
  /** Most MSRP connections per IP. */
  readonly maxConnectionsPerIp: number;
  /** Body bytes per chunk sent. */
  readonly chunkSize: number;
  /** Where content (and the SQLite database) live. */
  readonly dataDir: string;
  /** `postgres://…`: the shared PostgreSQL database; SQLite under `dataDir` when unset. */
  readonly databaseUrl: string | undefined;
  /**
   * This instance's name in a shared database: its sessions, claims and
   * webhook leases are recorded under it. Stable across restarts.
   */
  readonly instanceId: string;
  /** Where the other instances reach this one's HTTP API (requests for its sessions go there). */
  readonly instanceUrl: string;
  /** An instance without a heartbeat for this long is taken over by a survivor, ms. */
  readonly instanceLeaseMs: number;
  /** Log level. */
  readonly logLevel: LogLevel;
  /** HTTP path serving MSRP over WebSocket. */
  readonly wsPath: string;
  /**
   * PBX control: `inbound` (we connect to FreeSWITCH's event socket),
   * `outbound` (FreeSWITCH's dialplan `socket` application connects to us) or `off`.
   */
  readonly eslMode: "inbound" | "outbound" | "off";
  /** Event socket address and password. */
  readonly eslHost: string;
  /** Event socket port. */
  readonly eslPort: number;
  /** Event socket password; never logged. */
  readonly eslPassword: string;
  /** Outbound-socket mode: address the server for the `socket` application listens on. */
  readonly eslOutboundHost: string;
  /** Outbound-socket mode: its port. */
  readonly eslOutboundPort: number;
  /** Sofia profile used to send pager-mode SIP MESSAGEs. */
  readonly sipProfile: string;
  /** Where outbound calls are sent: the PBX's SIP profile (`sip:host:port;transport=tcp`). */
  readonly sipUri: string;
  /** Largest MSRP header block (start line and headers), bytes (400 beyond). */
  readonly maxHeaderBytes: number;
  /** Most header lines in one MSRP frame (400 beyond). */
  readonly maxHeaderCount: number;
  /** Largest body of one received chunk, bytes (413 beyond). */
  readonly maxChunkBytes: number;
  /** Write-queue cap per MSRP connection, bytes (a peer that never reads is disconnected). */
  readonly maxQueuedBytes: number;
  /** Close an MSRP connection idle this long, ms; 0 never. */
  readonly idleTimeoutMs: number;
  /** A frame head must arrive within this long, ms; 0 never (slow-loris guard). */
  readonly headTimeoutMs: number;
  /** MSRP transaction timeout, ms (RFC 4975: 30 s). */
  readonly transactionTimeoutMs: number;
  /** Where webhooks are posted; unset: no webhooks. */
  readonly webhookUrl: string | undefined;
  /** HMAC-SHA256 key of webhook signatures; set whenever `webhookUrl` is. */
  readonly webhookSecret: string | undefined;
  /** Largest message body accepted by `POST /v1/sessions/{id}/messages`, bytes. */
  readonly maxUploadBytes: number;
  /** Shortest Use-Path grant our WebSocket relay gives (RFC 4976 AUTH `Expires`), seconds. */
  readonly wsRelayMinExpires: number;
  /** Longest such grant, seconds. */
  readonly wsRelayMaxExpires: number;
  /** Grant when an AUTH asks for no `Expires`, seconds; within the two bounds. */
  readonly wsRelayDefaultExpires: number;
  /** Next hops the WebSocket relay may dial besides our own sessions and clients (empty: none). */
  readonly relayAllow: readonly AddressRule[];
  /** Most relay grants (Use-Path URIs) one WebSocket may hold. */
  readonly wsRelayMaxGrants: number;
  /** Digest password of the WebSocket relay's AUTH; never the API token. */
  readonly wsRelayPassword: string | undefined;
  /** Browser origins allowed besides our own (`scheme://host[:port]`, lowercase). */
  readonly allowedOrigins: readonly string[];
  /** `Host` values accepted besides loopback names when there is no API token (lowercase). */
  readonly publicHosts: readonly string[];
  /** Failed logins (bearer token, relay AUTH) per client IP and window before it is refused. */
  readonly authFailureLimit: number;
  /** That window, ms. */
  readonly authFailureWindowMs: number;
  /** Most incoming messages begun and not finished on one session. */
  readonly maxUnfinishedPerSession: number;
  /** Most incoming messages begun and not finished on one MSRP connection. */
  readonly maxUnfinishedPerConnection: number;
  /**
   * An unfinished incoming message with no chunk for this long, ms, is failed
   * to make room when a cap above is reached; younger ones are not.
   */
  readonly unfinishedIdleMs: number;
  /** Most bytes of received content kept under `dataDir`. */
  readonly dataQuotaBytes: number;
  /**
   * How long, ms, the content of a file received in part is kept for a
   * resume (RFC 5547 `a=file-range`); older partial content may be deleted.
   */
  readonly partialRetentionMs: number;
  /**
   * How long, ms, an SDP offer of ours made through the API (a session's or
   * a file's) waits for its answer; then its session ends.
   */
  readonly offerTimeoutMs: number;
  /** Largest SIP message our SIP user agent buffers while it is incomplete, bytes. */
  readonly sipMaxMessageBytes: number;
  /** Who may connect to the outbound-socket listener (`ESL_MODE=outbound`). */
  readonly eslOutboundAllow: readonly AddressRule[];
  /** PEM certificate file of the HTTP server (HTTPS); set together with `httpTlsKey`. */
  readonly httpTlsCert: string | undefined;
  /** PEM key file of the HTTP server. */
  readonly httpTlsKey: string | undefined;
  /** PEM certificate file of the MSRP listener (`msrps`); set together with `msrpTlsKey`. */
  readonly msrpTlsCert: string | undefined;
  /** PEM key file of the MSRP listener. */
  readonly msrpTlsKey: string | undefined;
  /** PEM CA file: MSRP clients must present a certificate it issued (mutual TLS). */
  readonly msrpTlsClientCa: string | undefined;
}

/** A configuration value that is invalid; the message names the variable. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function int(env: Record<string, string | undefined>, name: string, fallback: number, min = 0) {
  const v = env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new ConfigError(`${name} must be a whole number ≥ ${min}, got "${v}"`);
  }
  return n;
}

function port(env: Record<string, string | undefined>, name: string, fallback: number) {
  const n = int(env, name, fallback);
  if (n > 65535) throw new ConfigError(`${name} must be a port (0-65535), got "${env[name]}"`);
  return n;
}

function wsPath(v: string | undefined): string {
  if (v === undefined || v === "") return "/msrp";
  if (!v.startsWith("/")) throw new ConfigError(`WS_PATH must start with "/", got "${v}"`);
  return v;
}

// The value is not echoed: a URL may carry credentials.
function webhookUrl(v: string | undefined): string | undefined {
  if (v === undefined || v === "") return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError("WEBHOOK_URL must be an http or https URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError("WEBHOOK_URL must be an http or https URL");
  }
  return url.href;
}

function webhookSecret(url: string | undefined, v: string | undefined): string | undefined {
  if (url !== undefined && !v) {
    throw new ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URL is");
  }
  return v || undefined;
}

// RFC 4976 §6.3: the grants of the WebSocket relay (RFC 7977 §5), 0 < min ≤ default ≤ max.
function wsRelayExpires(env: Record<string, string | undefined>) {
  const min = int(env, "WS_RELAY_MIN_EXPIRES", 60, 1);
  const max = int(env, "WS_RELAY_MAX_EXPIRES", 3600, 1);
  if (max < min) {
    throw new ConfigError(
      `WS_RELAY_MAX_EXPIRES must be ≥ WS_RELAY_MIN_EXPIRES (${min}), got "${max}"`,
    );
  }
  const fallback = Math.max(min, Math.min(max, 600));
  const preset = int(env, "WS_RELAY_DEFAULT_EXPIRES", fallback, 1);
  if (preset < min || preset > max) {
    throw new ConfigError(
      `WS_RELAY_DEFAULT_EXPIRES must be between ${min} and ${max} (the WS_RELAY_MIN_EXPIRES ` +
        `and WS_RELAY_MAX_EXPIRES bounds), got "${preset}"`,
    );
  }
  return { wsRelayMinExpires: min, wsRelayMaxExpires: max, wsRelayDefaultExpires: preset };
}

function eslMode(v: string | undefined): "inbound" | "outbound" | "off" {
  if (v === undefined || v === "") return "inbound";
  if (v === "inbound" || v === "outbound" || v === "off") return v;
  throw new ConfigError(`ESL_MODE must be inbound, outbound or off, got "${v}"`);
}

function sipUri(v: string | undefined): string {
  if (v === undefined || v === "") return "sip:127.0.0.1:5080;transport=tcp";
  const fail = (why: string) =>
    new ConfigError(`SIP_URI must be a sip: URI of the PBX (host:port): ${why}`);
  let uri: SipUri;
  try {
    uri = parseSipUri(v);
  } catch (e) {
    throw fail((e as Error).message);
  }
  if (uri.scheme !== "sip" || uri.user !== undefined || uri.headers.length > 0) {
    throw fail("no sips:, user part or headers");
  }
  return uri.text;
}

/** Shortest secret accepted for `API_TOKEN` and `WS_RELAY_PASSWORD`. */
export const MIN_SECRET_LENGTH = 16;

function secret(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (v.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_LENGTH} characters long`);
  }
  return v;
}

function addressRules(
  env: Record<string, string | undefined>,
  name: string,
  fallback: string,
): AddressRule[] {
  try {
    return parseAddressRules(env[name] ?? fallback);
  } catch (e) {
    throw new ConfigError(`${name}: ${(e as Error).message}`);
  }
}

function list(env: Record<string, string | undefined>, name: string): string[] {
  return (env[name] ?? "").split(/[\s,]+/).filter(Boolean);
}

// An origin is scheme://host[:port] (RFC 6454 §6.2), compared lowercase.
function origins(env: Record<string, string | undefined>): string[] {
  return list(env, "ALLOWED_ORIGINS").map((o) => {
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      url = undefined;
    }
    const authority = o.replace(/^[a-z]+:\/\//i, "");
    if (!url || !/^https?:$/.test(url.protocol) || /[/?#@]/.test(authority)) {
      throw new ConfigError(
        `ALLOWED_ORIGINS entries must be origins like https://app.example.com, got "${o}"`,
      );
    }
    return url.origin;
  });
}

const HOST_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

function publicHosts(env: Record<string, string | undefined>): string[] {
  return list(env, "PUBLIC_HOSTS").map((h) => {
    const host = h.toLowerCase();
    if (!HOST_NAME.test(host)) {
      throw new ConfigError(`PUBLIC_HOSTS entries must be host or host:port, got "${h}"`);
    }
    return host;
  });
}

function pair(
  env: Record<string, string | undefined>,
  a: string,
  b: string,
): [string | undefined, string | undefined] {
  const x = env[a] || undefined;
  const y = env[b] || undefined;
  if ((x === undefined) !== (y === undefined)) {
    throw new ConfigError(
      `${x === undefined ? a : b} must be set together with ${x === undefined ? b : a}`,
    );
  }
  return [x, y];
}

function tls(env: Record<string, string | undefined>) {
  const [httpTlsCert, httpTlsKey] = pair(env, "HTTP_TLS_CERT", "HTTP_TLS_KEY");
  const [msrpTlsCert, msrpTlsKey] = pair(env, "MSRP_TLS_CERT", "MSRP_TLS_KEY");
  const msrpTlsClientCa = env.MSRP_TLS_CLIENT_CA || undefined;
  if (msrpTlsClientCa !== undefined && msrpTlsCert === undefined) {
    throw new ConfigError(
      "MSRP_TLS_CLIENT_CA needs MSRP_TLS_CERT and MSRP_TLS_KEY (a TLS listener)",
    );
  }
  return { httpTlsCert, httpTlsKey, msrpTlsCert, msrpTlsKey, msrpTlsClientCa };
}

function databaseUrl(v: string | undefined): string | undefined {
  if (v === undefined || v === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || !/^postgres(?:ql)?:$/.test(url.protocol)) {
    // The value may hold a password: it is not repeated.
    throw new ConfigError("DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  return v;
}

const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

function instanceId(v: string | undefined, httpPort: number): string {
  const id = v || `${Deno.hostname()}:${httpPort}`;
  if (!INSTANCE_ID.test(id)) {
    throw new ConfigError(
      `INSTANCE_ID must be 1 to 64 characters of letters, digits, . _ : -, got "${id}"`,
    );
  }
  return id;
}

function instanceUrl(
  v: string | undefined,
  httpHost: string,
  httpPort: number,
  tls: boolean,
): string {
  if (v === undefined || v === "") {
    const host = httpHost === "0.0.0.0" || httpHost === "::" ? "127.0.0.1" : httpHost;
    return `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${httpPort}`;
  }
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search || url.hash) {
    throw new ConfigError(`INSTANCE_URL must be an http(s) origin like http://10.0.0.5:8080`);
  }
  return url.origin;
}

// A received chunk larger than the largest message makes no sense: the
// default is the message limit, and a larger setting is refused.
function maxChunkBytes(env: Record<string, string | undefined>, maxMessageBytes: number): number {
  const n = int(env, "MAX_CHUNK_BYTES", maxMessageBytes, 1);
  if (n > maxMessageBytes) {
    throw new ConfigError(
      `MAX_CHUNK_BYTES must be ≤ MAX_MESSAGE_BYTES (${maxMessageBytes}), got "${n}"`,
    );
  }
  return n;
}

/** Reads the configuration from environment variables; throws {@linkcode ConfigError}. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const logLevel = (env.LOG_LEVEL ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);
  }
  const hook = webhookUrl(env.WEBHOOK_URL);
  const maxMessageBytes = int(env, "MAX_MESSAGE_BYTES", 1024 * 1024 * 1024, 1);
  const httpPort = port(env, "HTTP_PORT", 8080);
  const httpHost = env.HTTP_HOST || "127.0.0.1";
  const tlsFiles = tls(env);
  return {
    httpHost,
    httpPort,
    apiToken: secret(env, "API_TOKEN"),
    msrpHost: env.MSRP_HOST || "127.0.0.1",
    msrpPort: port(env, "MSRP_PORT", 2855),
    msrpAdvertise: env.MSRP_ADVERTISE || undefined,
    acceptTypes: (env.ACCEPT_TYPES ?? "*").split(/[ ,]+/).filter(Boolean),
    maxMessageBytes,
    maxSessions: int(env, "MAX_SESSIONS", 10_000, 1),
    maxConnections: int(env, "MAX_CONNECTIONS", 10_000, 1),
    maxConnectionsPerIp: int(env, "MAX_CONNECTIONS_PER_IP", 1_000, 1),
    chunkSize: int(env, "CHUNK_SIZE", 64 * 1024, 1),
    dataDir: env.DATA_DIR || "./data",
    databaseUrl: databaseUrl(env.DATABASE_URL),
    instanceId: instanceId(env.INSTANCE_ID, httpPort),
    instanceUrl: instanceUrl(env.INSTANCE_URL, httpHost, httpPort, !!tlsFiles.httpTlsCert),
    instanceLeaseMs: int(env, "INSTANCE_LEASE_MS", 15_000, 1000),
    logLevel,
    wsPath: wsPath(env.WS_PATH),
    webhookUrl: hook,
    webhookSecret: webhookSecret(hook, env.WEBHOOK_SECRET),
    maxUploadBytes: int(env, "MAX_UPLOAD_BYTES", 4 * 1024 * 1024 * 1024, 1),
    eslMode: eslMode(env.ESL_MODE),
    eslHost: env.ESL_HOST || "127.0.0.1",
    eslPort: port(env, "ESL_PORT", 8021),
    eslPassword: env.ESL_PASSWORD || "ClueCon",
    eslOutboundHost: env.ESL_OUTBOUND_HOST || "127.0.0.1",
    eslOutboundPort: port(env, "ESL_OUTBOUND_PORT", 8084),
    sipProfile: env.SIP_PROFILE || "internal",
    sipUri: sipUri(env.SIP_URI),
    maxHeaderBytes: int(env, "MAX_HEADER_BYTES", 16 * 1024, 256),
    maxHeaderCount: int(env, "MAX_HEADER_COUNT", 64, 4),
    maxChunkBytes: maxChunkBytes(env, maxMessageBytes),
    maxQueuedBytes: int(env, "MAX_QUEUED_BYTES", 16 * 1024 * 1024, 8 * 1024 * 1024),
    idleTimeoutMs: int(env, "IDLE_TIMEOUT_MS", 0),
    headTimeoutMs: int(env, "HEAD_TIMEOUT_MS", 30_000),
    transactionTimeoutMs: int(env, "TRANSACTION_TIMEOUT_MS", 30_000, 1),
    ...wsRelayExpires(env),
    relayAllow: addressRules(env, "RELAY_ALLOW", ""),
    wsRelayMaxGrants: int(env, "WS_RELAY_MAX_GRANTS", 8, 1),
    wsRelayPassword: secret(env, "WS_RELAY_PASSWORD"),
    allowedOrigins: origins(env),
    publicHosts: publicHosts(env),
    authFailureLimit: int(env, "AUTH_FAILURE_LIMIT", 10, 1),
    authFailureWindowMs: int(env, "AUTH_FAILURE_WINDOW_MS", 60_000, 1),
    maxUnfinishedPerSession: int(env, "MAX_UNFINISHED_PER_SESSION", 32, 1),
    maxUnfinishedPerConnection: int(env, "MAX_UNFINISHED_PER_CONNECTION", 128, 1),
    unfinishedIdleMs: int(env, "UNFINISHED_IDLE_MS", 30_000, 1),
    dataQuotaBytes: int(env, "DATA_QUOTA_BYTES", 16 * 1024 * 1024 * 1024, 1),
    partialRetentionMs: int(env, "PARTIAL_RETENTION_MS", 24 * 60 * 60 * 1000, 1),
    offerTimeoutMs: int(env, "OFFER_TIMEOUT_MS", 5 * 60 * 1000, 1),
    sipMaxMessageBytes: int(env, "SIP_MAX_MESSAGE_BYTES", 64 * 1024, 1024),
    eslOutboundAllow: addressRules(env, "ESL_OUTBOUND_ALLOW", "127.0.0.0/8,::1"),
    ...tlsFiles,
  };
}
