/**
 * Options of an MSRP endpoint and of the connections it opens.
 *
 * @module
 */

import type { ParserLimits } from "../msrp/mod.ts";
import type { FingerprintSpec } from "../transport/mod.ts";
import type { SessionOptions } from "./session.ts";
import type { RouterLink } from "./router.ts";

/**
 * A relay we authenticated with (RFC 4976 §5), e.g. a `RelayRegistration`:
 * a session connected through it sends on its connection, To-Path starting
 * with its Use-Path.
 */
export interface RelayRoute {
  /** The connection to the relay. */
  readonly link: RouterLink;
  /** Our Use-Path at the relay (RFC 4976 §5.3). */
  readonly usePath: readonly string[];
  /** True once the registration ended or its connection was lost. */
  readonly closed: boolean;
}

/** TLS material for `msrps`. */
export interface EndpointTlsOptions {
  /** Certificate chain, PEM. */
  readonly cert: string;
  /** Private key, PEM. */
  readonly key: string;
  /**
   * Mutual TLS: CA certificates (PEM), one of which must have issued each
   * client's certificate; a client without one is refused in the handshake.
   * Without it clients are still asked for a certificate, which then is
   * optional (see `MsrpEndpoint.expectPeerCertificate`).
   */
  readonly clientCa?: string;
}

/** Options of an `MsrpEndpoint`. */
export interface EndpointOptions {
  /** Address to listen on; 127.0.0.1 by default. */
  readonly hostname?: string;
  /** Port to listen on; 2855 by default, 0 for any free port. */
  readonly port?: number;
  /** Host put in our URIs (`a=path`) when it differs from `hostname`. */
  readonly advertiseHost?: string;
  /** Listen with TLS and use `msrps:` URIs (RFC 4975 §6). */
  readonly tls?: EndpointTlsOptions;
  /** Default session options. */
  readonly session?: SessionOptions;
  /** Transaction timeout; 30 s by default (RFC 4975 §7.1.1). */
  readonly transactionTimeoutMs?: number;
  /** Parser limits per connection. */
  readonly parserLimits?: Partial<ParserLimits>;
  /**
   * Most simultaneous connections: accepted by our listener and WebSockets
   * admitted with `MsrpEndpoint.admitWebSocket`.
   */
  readonly maxConnections?: number;
  /** Most simultaneous connections from one IP address, counted the same way. */
  readonly maxConnectionsPerIp?: number;
  /**
   * Most incoming messages begun and not finished on one connection, over
   * all its sessions (128 by default); beyond it as beyond a session's
   * `maxUnfinishedMessages` (see {@linkcode SessionOptions}).
   */
  readonly maxUnfinishedPerConnection?: number;
  /** Most open sessions. */
  readonly maxSessions?: number;
  /** Write-queue cap per connection, in bytes. */
  readonly maxQueuedBytes?: number;
  /** Close a connection idle for this long; 0 = never. */
  readonly idleTimeoutMs?: number;
  /**
   * Close a connection whose frame head (start line and headers) takes
   * longer than this to arrive; 30 s by default, 0 = never (slow-loris guard).
   */
  readonly headTimeoutMs?: number;
  /**
   * `host:port` of the HTTP server that serves MSRP over WebSocket (RFC 7977),
   * used in the URIs of sessions created with `transport: "ws"`.
   */
  readonly webSocketAuthority?: string;
  /** Whether that server uses TLS (`wss:`, `msrps:` URIs). */
  readonly webSocketSecure?: boolean;
}

/** Options of an active connection for one session. */
export interface ConnectSessionOptions {
  /**
   * Send through this relay (RFC 4976), e.g. a `RelayRegistration`: the
   * To-Path starts with our Use-Path and the first hop is the relay
   * connection.
   */
  readonly relay?: RelayRoute;
  /** Reuse an open connection to the same first hop (`a=connection:existing`). */
  readonly reuse?: boolean;
  /** CA certificates (PEM) trusted for an `msrps` peer. */
  readonly caCerts?: string[];
  /**
   * The fingerprint of the peer's certificate from its SDP `a=fingerprint`
   * (RFC 8122; SHA-256 as `"AB:CD:…"`, or `{ hash, value }` for SHA-1,
   * SHA-256, SHA-384 or SHA-512), checked on a direct `msrps` TCP
   * connection to the peer (a one-URI path), also one reused. Through
   * relays the first hop is a relay, whose certificate is checked by chain;
   * it is not checked on plain `msrp` or WebSocket connections.
   */
  readonly fingerprint?: FingerprintSpec;
  /** Accept any certificate (explicit opt-in only). */
  readonly insecure?: boolean;
  /** HTTP path of a peer's WebSocket endpoint for `;ws` URIs; `/msrp` by default. */
  readonly webSocketPath?: string;
}
