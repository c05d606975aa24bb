/**
 * An MSRP endpoint: listens for connections, creates sessions, connects
 * actively, and shares connections between sessions (RFC 4975 §5, RFC 6135).
 *
 * @module
 */

import {
  authorityKey,
  effectivePort,
  type MsrpUri,
  parseMsrpUri,
  type ParserLimits,
  type RequestHead,
  type ResponseHead,
  sameMsrpUri,
  sessionIdOf,
} from "../msrp/mod.ts";
import {
  type CertificateFingerprint,
  connect,
  ConnectionLimits,
  connectWebSocket,
  fingerprintFrom,
  fingerprintMatches,
  type FingerprintSpec,
  listen,
  MsrpConnection,
  type MsrpListener,
  peerCertificateOf,
  TransportError,
} from "../transport/mod.ts";
import { Link } from "./_link.ts";
import { type ChunkReceiver, MsrpSession, type SessionOptions } from "./session.ts";
import { authenticate, type RelayOptions, RelayRegistration } from "./relay.ts";
import { type RelayAuthThrottle, WebSocketRelay, type WebSocketRelayOptions } from "./_ws_relay.ts";

export type { RelayAuthThrottle, WebSocketRelayOptions };

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
   * optional (see {@linkcode MsrpEndpoint.expectPeerCertificate}).
   */
  readonly clientCa?: string;
}

/** Options of an {@linkcode MsrpEndpoint}. */
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
   * admitted with {@linkcode MsrpEndpoint.admitWebSocket}.
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
  /**
   * How long a connection our WebSocket relay dialed to a next hop stays
   * open once unused: no request or response in flight on it, no session of
   * ours on it, and every client grant that sent through it gone; 30 s by
   * default.
   */
  readonly relayHopIdleMs?: number;
}

/** Options of an active connection for one session. */
export interface ConnectSessionOptions {
  /**
   * Send through this relay registration (RFC 4976): the To-Path starts with
   * our Use-Path and the first hop is the relay connection.
   */
  readonly relay?: RelayRegistration;
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

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A random session id: 20 characters of [a-z0-9], about 103 bits. */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  let id = "";
  for (const b of bytes) id += ALPHABET[b % 36];
  return id;
}

function hostForUri(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Listens, holds sessions and connections, and routes frames between them. */
export class MsrpEndpoint {
  /** Transaction timeout in milliseconds. */
  readonly transactionTimeoutMs: number;
  /** @internal See {@linkcode EndpointOptions.relayHopIdleMs}. */
  readonly relayHopIdleMs: number;
  /** @internal See {@linkcode EndpointOptions.maxUnfinishedPerConnection}. */
  readonly maxUnfinishedPerConnection: number;
  readonly #limits: ConnectionLimits;
  readonly #options: EndpointOptions;
  readonly #sessions = new Map<string, MsrpSession>();
  readonly #links = new Set<Link>();
  readonly #byAuthority = new Map<string, Promise<Link>>();
  readonly #authorityOf = new Map<Link, [string, Promise<Link>]>();
  readonly #relay: WebSocketRelay = new WebSocketRelay(this);
  readonly #peerPins = new WeakMap<MsrpSession, CertificateFingerprint>();
  readonly #peerCertificates = new WeakMap<Link, Uint8Array>();
  #listener: MsrpListener | undefined;
  #port = 0;

  /**
   * Creates an endpoint; call {@linkcode listen} to accept connections.
   *
   * @throws {RangeError} for a connection limit that is not a positive integer.
   */
  constructor(options: EndpointOptions = {}) {
    this.#options = options;
    this.transactionTimeoutMs = options.transactionTimeoutMs ?? 30_000;
    this.relayHopIdleMs = options.relayHopIdleMs ?? 30_000;
    this.maxUnfinishedPerConnection = options.maxUnfinishedPerConnection ?? 128;
    this.#limits = new ConnectionLimits(options);
  }

  /** Starts listening. */
  listen(): MsrpEndpoint {
    const o = this.#options;
    this.#listener = listen({
      hostname: o.hostname ?? "127.0.0.1",
      port: o.port ?? 2855,
      tls: o.tls,
      clientCa: o.tls?.clientCa,
      limits: this.#limits,
    }, (conn) => this.#adopt(conn));
    this.#port = this.#listener.addr.port;
    return this;
  }

  /** The port we listen on. */
  get port(): number {
    return this.#port;
  }

  /** `msrp` or `msrps`. */
  get scheme(): "msrp" | "msrps" {
    return this.#options.tls ? "msrps" : "msrp";
  }

  /** The authority part of our URIs. */
  get authority(): string {
    const host = this.#options.advertiseHost ?? this.#options.hostname ?? "127.0.0.1";
    return `${hostForUri(host)}:${this.#port}`;
  }

  /** URI of the endpoint without a session, used for stray responses. */
  get ownUri(): string {
    return `${this.scheme}://${this.authority};tcp`;
  }

  /** Open sessions. */
  get sessions(): ReadonlyMap<string, MsrpSession> {
    return this.#sessions;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#links.size;
  }

  /**
   * TLS handshakes our listener failed or refused (e.g. for a client
   * certificate the client CA did not issue); none of those connections
   * reached MSRP.
   */
  get failedHandshakeCount(): number {
    return this.#listener?.failedHandshakeCount ?? 0;
  }

  /** Bytes waiting to be written, summed over our open connections. */
  get queuedBytes(): number {
    let bytes = 0;
    for (const link of this.#links) bytes += link.connection.queuedBytes;
    return bytes;
  }

  /**
   * Use-Path grants our WebSocket relay holds for its clients (RFC 7977 §5);
   * a grant ends when its client's WebSocket closes or, unrefreshed, when it
   * expires.
   */
  get relayGrantCount(): number {
    return this.#relay.grantCount;
  }

  /** @internal */
  session(sessionId: string): MsrpSession | undefined {
    return this.#sessions.get(sessionId);
  }

  /**
   * Creates a session with a fresh, unguessable id (or `id`, for a tool whose
   * URI a peer's SDP already names) and our URI; with `transport: "ws"` the
   * URI names our WebSocket server (RFC 7977).
   *
   * @throws {RangeError} at the session limit, or for an `id` in use or not
   * an RFC 4975 §9 session-id.
   */
  createSession(
    options: SessionOptions & { transport?: "tcp" | "ws"; id?: string } = {},
  ): MsrpSession {
    const max = this.#options.maxSessions;
    if (max !== undefined && this.#sessions.size >= max) {
      throw new RangeError(`session limit reached (${max})`);
    }
    const id = options.id ?? newSessionId();
    if (!/^[A-Za-z0-9\-._~+=]+$/.test(id) || this.#sessions.has(id)) {
      throw new RangeError(`session id ${JSON.stringify(id)} is invalid or in use`);
    }
    let uri = `${this.scheme}://${this.authority}/${id};tcp`;
    if (options.transport === "ws") {
      const authority = this.#options.webSocketAuthority;
      if (!authority) throw new TypeError("no WebSocket server is configured for ;ws sessions");
      uri = `${this.#options.webSocketSecure ? "msrps" : "msrp"}://${authority}/${id};ws`;
    }
    const session = new MsrpSession(
      id,
      uri,
      { ...this.#options.session, ...options },
      (s) => this.#sessions.delete(s.id),
    );
    this.#sessions.set(id, session);
    return session;
  }

  /**
   * Connects a session actively to the peer's path (RFC 6135 `a=setup:active`):
   * opens or reuses a connection to the first hop and sends a bodiless SEND
   * that binds it (RFC 4975 §7.1). Resolves when the peer accepted it.
   *
   * @throws {TransportError} `fingerprint-mismatch` when a direct `msrps`
   * peer's certificate lacks `options.fingerprint`, and the other errors of
   * `connect`.
   */
  async connectSession(
    session: MsrpSession,
    remotePath: readonly string[],
    options: ConnectSessionOptions = {},
  ): Promise<void> {
    if (remotePath.length === 0) throw new TypeError("empty remote path");
    if (options.relay) {
      const link = options.relay.link;
      if (options.relay.closed) throw new Error("the relay registration is closed");
      link.sessions.add(session);
      session.bind(link, [...options.relay.usePath, ...remotePath]);
      await session.bindingSend();
      return;
    }
    // A peer behind our own WebSocket relay (RFC 7977): no connection to open.
    const loop = this.#relay.loopFor(remotePath[0]);
    let link: Link;
    if (loop !== undefined) {
      link = loop;
    } else {
      const hop = parseMsrpUri(remotePath[0]);
      // RFC 4975 §14.1, RFC 8122: a=fingerprint names the certificate of the peer itself.
      const direct = remotePath.length === 1 && hop.scheme === "msrps" && hop.transport !== "ws";
      const pin = direct && options.fingerprint !== undefined
        ? fingerprintFrom(options.fingerprint)
        : undefined;
      link = await this.#linkTo(hop, { ...options, fingerprint: pin }, options.reuse ?? false);
      if (pin !== undefined && !this.#fits(link, pin)) {
        throw new TransportError(
          "fingerprint-mismatch",
          `the open connection to ${
            remotePath[0]
          } has no certificate with ${pin.hash} fingerprint ${pin.value}`,
        );
      }
    }
    link.sessions.add(session);
    session.bind(link, remotePath);
    await session.bindingSend();
  }

  async #linkTo(hop: MsrpUri, options: ConnectSessionOptions, reuse: boolean): Promise<Link> {
    const key = authorityKey(hop);
    // RFC 6135 a=connection:existing: share one connection per authority, also
    // between connects that start at the same time.
    let pending = reuse ? this.#byAuthority.get(key) : undefined;
    let link = pending && await pending.catch(() => undefined);
    if (!link || link.closed) {
      pending = this.#dial(hop, options);
      this.#byAuthority.set(key, pending);
      pending.catch(() => this.#byAuthority.delete(key));
      link = await pending;
      this.#authorityOf.set(link, [key, pending]);
    }
    return link;
  }

  /**
   * @internal For the relay: a connection to `hop`, shared by authority. The
   * relay decided on `hop` itself, so the connection goes where it decided.
   */
  linkTo(hop: MsrpUri): Promise<Link> {
    return this.#linkTo(hop, {}, true);
  }

  /** @internal For the relay: true when `uri` names an open session of ours (RFC 4975 §6.1). */
  isLocalSession(uri: string): boolean {
    const id = sessionIdOf(uri);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    return session !== undefined && !session.closed && sameMsrpUri(uri, session.localUri);
  }

  /** @internal For the relay: a fresh Use-Path id. */
  newId(): string {
    return newSessionId();
  }

  /** @internal Relay business on a link (see `LinkOwner.relayRoute`). */
  relayRoute(link: Link, head: RequestHead): ChunkReceiver | undefined | false {
    return this.#relay.route(link, head);
  }

  /** @internal A response to a request the relay forwarded. */
  relayResponse(link: Link, head: ResponseHead): void {
    this.#relay.response(link, head);
  }

  /**
   * Serves a connection accepted elsewhere (e.g. a WebSocket adapted to a
   * byte stream, RFC 7977) like one from our own listener.
   */
  adopt(conn: Deno.Conn): void {
    this.#adopt(conn);
  }

  /**
   * Serves a WebSocket accepted by our HTTP server (RFC 7977) and acts as
   * its client's MSRP relay (RFC 7977 §5, RFC 4976): AUTH is answered with a
   * Use-Path naming this server (`;ws`, `msrps:` over TLS) and an Expires
   * within `options`' bounds (423 outside them), at most `options.maxGrants`
   * per WebSocket, with digest credentials when `options.password` is set
   * (failures throttled per the connection's remote address). Requests
   * through that Use-Path are forwarded by To-Path — to our own sessions, to
   * other clients of this server, to next hops `options.allow` admits (403
   * for any other, never dialed), and from anyone to the client down this
   * WebSocket — at the pace of the next hop (reading pauses while it is
   * behind or being dialed); the previous hop gets 408 when the next hop
   * does not answer within the transaction timeout, and grants not
   * refreshed are dropped when they expire.
   *
   * @throws {RangeError} when the Expires bounds are not 0 < min <= max, or
   * `options.maxGrants` is not a whole number ≥ 1.
   */
  adoptWebSocket(conn: Deno.Conn, options: WebSocketRelayOptions = {}): void {
    const link = this.#adopt(conn);
    const connection = link.connection as MsrpConnection;
    const secure = connection.secure || (this.#options.webSocketSecure ?? false);
    const local = connection.localAddr;
    const authority = this.#options.webSocketAuthority ??
      `${hostForUri(local.hostname)}:${local.port}`;
    try {
      const base = `${secure ? "msrps" : "msrp"}://${authority}`;
      this.#relay.serve(link, base, options, connection.remoteAddr.hostname);
    } catch (e) {
      connection.close();
      throw e;
    }
  }

  /**
   * Counts a WebSocket from `remoteAddr` in `maxConnections` and
   * `maxConnectionsPerIp` together with our listener's connections, before
   * its upgrade is accepted: returns the function that gives its place back
   * once it has closed (`upgradeMsrpWebSocket`'s `admit` calls it), or
   * `undefined` when a limit is reached.
   */
  admitWebSocket(remoteAddr: Deno.NetAddr): (() => void) | undefined {
    return this.#limits.admit(remoteAddr.hostname);
  }

  async #dial(hop: MsrpUri, options: ConnectSessionOptions): Promise<Link> {
    const conn = hop.transport === "ws" ? await this.#dialWebSocket(hop, options) : await connect({
      hostname: hop.host,
      port: effectivePort(hop),
      tls: hop.scheme === "msrps",
      caCerts: options.caCerts,
      fingerprint: hop.scheme === "msrps" ? options.fingerprint : undefined,
      insecure: options.insecure,
    });
    return this.#adopt(conn);
  }

  /**
   * Pins the certificate of the peer that is to connect to `session` (our
   * passive role, RFC 6135) to the fingerprint its SDP `a=fingerprint` gave
   * (RFC 8122, RFC 4975 §14.1): only a connection whose TLS client
   * certificate has it binds the session; a first request on any other gets
   * 481 and the session stays unbound. Our TLS listener asks every client
   * for its certificate. Pin only a direct peer (a one-URI path): behind a
   * relay the connection comes from the relay.
   *
   * @throws {TypeError} for a malformed fingerprint or an unsupported hash
   * function (MD5, MD2).
   */
  expectPeerCertificate(session: MsrpSession, fingerprint: FingerprintSpec): void {
    this.#peerPins.set(session, fingerprintFrom(fingerprint));
  }

  /** @internal See `LinkOwner.peerCertificateFits`. */
  peerCertificateFits(link: Link, session: MsrpSession): boolean {
    // A multi-connection session's children share its id; the pin is on the session itself.
    const pin = this.#peerPins.get(this.#sessions.get(session.id) ?? session);
    return pin === undefined || this.#fits(link, pin);
  }

  #fits(link: Link, pin: CertificateFingerprint): boolean {
    const der = this.#peerCertificates.get(link);
    return der !== undefined && fingerprintMatches(pin, der);
  }

  #dialWebSocket(hop: MsrpUri, options: ConnectSessionOptions): Promise<Deno.Conn> {
    // RFC 7977 §5: a *.invalid host is a browser that cannot be dialed; it connects to us.
    if (hop.host.endsWith(".invalid")) {
      throw new TypeError(`cannot connect to ${hop.host}: wait for that WebSocket client`);
    }
    const scheme = hop.scheme === "msrps" ? "wss" : "ws";
    const host = hop.host.includes(":") ? `[${hop.host}]` : hop.host;
    return connectWebSocket(
      `${scheme}://${host}:${effectivePort(hop)}${options.webSocketPath ?? "/msrp"}`,
    );
  }

  /**
   * Connects to a relay and authenticates (RFC 4976 §5). Sessions created
   * with `usePath: registration.usePath` are reachable through it, and
   * {@linkcode connectSession} with `relay` sends through it.
   */
  async registerWithRelay(options: RelayOptions): Promise<RelayRegistration> {
    const relay = parseMsrpUri(options.uri);
    const conn = await connect({
      hostname: relay.host,
      port: effectivePort(relay),
      tls: relay.scheme === "msrps",
      caCerts: options.caCerts,
      fingerprint: options.fingerprint,
      insecure: options.insecure,
    });
    const link = this.#adopt(conn);
    link.pinned = true;
    const clientUri = `${this.scheme}://${this.authority}/${newSessionId()};tcp`;
    try {
      const grant = await authenticate(link, clientUri, options);
      return new RelayRegistration(link, clientUri, options, grant);
    } catch (e) {
      link.connection.close();
      throw e;
    }
  }

  #adopt(conn: Deno.Conn): Link {
    const link = new Link(this);
    const o = this.#options;
    const connection = new MsrpConnection(conn, link, {
      parserLimits: o.parserLimits,
      maxQueuedBytes: o.maxQueuedBytes,
      idleTimeoutMs: o.idleTimeoutMs,
      headTimeoutMs: o.headTimeoutMs ?? 30_000,
      backpressure: () => link.backpressure(),
    });
    link.connection = connection;
    this.#links.add(link);
    const der = peerCertificateOf(conn);
    if (der !== undefined) this.#peerCertificates.set(link, der);
    connection.closed.then((info) => link.connectionClosed(info.error));
    return link;
  }

  /** @internal */
  linkClosed(link: Link): void {
    this.#links.delete(link);
    this.#relay.linkClosed(link);
    const entry = this.#authorityOf.get(link);
    this.#authorityOf.delete(link);
    if (entry && this.#byAuthority.get(entry[0]) === entry[1]) this.#byAuthority.delete(entry[0]);
  }

  /** Closes every session, connection and the listener. */
  async close(): Promise<void> {
    for (const s of [...this.#sessions.values()]) s.close("endpoint closed");
    this.#listener?.close();
    const waits: Promise<unknown>[] = [];
    for (const link of [...this.#links]) {
      link.connection.close();
      if (link.connection instanceof MsrpConnection) waits.push(link.connection.closed);
    }
    if (this.#listener) waits.push(this.#listener.closed);
    await Promise.allSettled(waits);
  }
}
