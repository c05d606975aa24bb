/**
 * Environment → typed, validated configuration with defaults
 * (design.md "Configuration").
 *
 * @module
 */

import type { LogLevel } from "./log.ts";

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
  /** Where content and the database live. */
  readonly dataDir: string;
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
  if (!/^sip:[^\s@]+$/.test(v)) {
    throw new ConfigError(`SIP_URI must be a sip: URI of the PBX (host:port), got "${v}"`);
  }
  return v;
}

/** Reads the configuration from environment variables; throws {@linkcode ConfigError}. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const logLevel = (env.LOG_LEVEL ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);
  }
  const hook = webhookUrl(env.WEBHOOK_URL);
  return {
    httpHost: env.HTTP_HOST || "127.0.0.1",
    httpPort: port(env, "HTTP_PORT", 8080),
    apiToken: env.API_TOKEN || undefined,
    msrpHost: env.MSRP_HOST || "127.0.0.1",
    msrpPort: port(env, "MSRP_PORT", 2855),
    msrpAdvertise: env.MSRP_ADVERTISE || undefined,
    acceptTypes: (env.ACCEPT_TYPES ?? "*").split(/[ ,]+/).filter(Boolean),
    maxMessageBytes: int(env, "MAX_MESSAGE_BYTES", 1024 * 1024 * 1024, 1),
    maxSessions: int(env, "MAX_SESSIONS", 10_000, 1),
    maxConnections: int(env, "MAX_CONNECTIONS", 10_000, 1),
    maxConnectionsPerIp: int(env, "MAX_CONNECTIONS_PER_IP", 1_000, 1),
    chunkSize: int(env, "CHUNK_SIZE", 64 * 1024, 1),
    dataDir: env.DATA_DIR || "./data",
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
    maxChunkBytes: int(env, "MAX_CHUNK_BYTES", 4 * 1024 * 1024 * 1024, 1),
    maxQueuedBytes: int(env, "MAX_QUEUED_BYTES", 16 * 1024 * 1024, 8 * 1024 * 1024),
    idleTimeoutMs: int(env, "IDLE_TIMEOUT_MS", 0),
    headTimeoutMs: int(env, "HEAD_TIMEOUT_MS", 30_000),
    transactionTimeoutMs: int(env, "TRANSACTION_TIMEOUT_MS", 30_000, 1),
    ...wsRelayExpires(env),
  };
}
