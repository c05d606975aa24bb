/**
 * An MSRP endpoint: listens for connections, creates sessions, connects
 * actively, and shares connections between sessions (RFC 4975 §5, RFC 6135).
 * A relay role is not its own: it hands that to one `RequestRouter`
 * (router.ts), e.g. the WebSocket relay of src/relay.
 *
 * @module
 */

import {
  authorityKey,
  effectivePort,
  type MsrpUri,
  parseMsrpUri,
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
  type MsrpSocket,
  type MsrpWebSocket,
  peerCertificateOf,
  TransportError,
} from "../transport/mod.ts";
import { Link, type LinkOwner } from "./_link.ts";
import type { LinkedSession } from "./_session_link.ts";
import type { ConnectSessionOptions, EndpointOptions } from "./endpoint_options.ts";
import type { LinkConnection, RequestRouter, RouterLink } from "./router.ts";
import { MsrpSession, type SessionOptions } from "./session.ts";

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
  readonly #limits: ConnectionLimits;
  readonly #options: EndpointOptions;
  readonly #owner: LinkOwner;
  readonly #sessions = new Map<string, MsrpSession>();
  readonly #links = new Set<Link>();
  readonly #byAuthority = new Map<string, Promise<Link>>();
  readonly #authorityOf = new Map<Link, [string, Promise<Link>]>();
  #router: RequestRouter | undefined;
  readonly #peerPins = new WeakMap<LinkedSession, CertificateFingerprint>();
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
    this.#limits = new ConnectionLimits(options);
    this.#owner = MsrpEndpoint.#linkOwner(this, options.maxUnfinishedPerConnection ?? 128);
  }

  // What our links ask of us, kept off the endpoint's own interface.
  static #linkOwner(endpoint: MsrpEndpoint, maxUnfinishedPerConnection: number): LinkOwner {
    return {
      session: (id) => endpoint.#sessions.get(id),
      transactionTimeoutMs: endpoint.transactionTimeoutMs,
      get ownUri() {
        return endpoint.ownUri;
      },
      maxUnfinishedPerConnection,
      get router() {
        return endpoint.#router;
      },
      linkClosed: (link) => endpoint.#linkClosed(link),
      peerCertificateFits: (link, session) => endpoint.#peerCertificateFits(link, session),
    };
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

  /** The open session whose id is `sessionId`, if any. */
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
      if (options.relay.closed) throw new Error("the relay registration is closed");
      const link = this.#own(options.relay.link);
      link.sessions.add(session);
      session.bind(link, [...options.relay.usePath, ...remotePath]);
      await session.bindingSend();
      return;
    }
    // A peer our router reaches without a connection of its own (e.g. a
    // client of our WebSocket relay, RFC 7977): none to open.
    const loop = this.#router?.linkFor(remotePath[0]);
    let link: Link;
    if (loop !== undefined) {
      link = this.#own(loop);
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
   * Makes `router` the endpoint's relay role (RFC 4976 §6.4): it sees every
   * request before our sessions do, responses to nothing of ours, and
   * every connection that ends. An endpoint has one router.
   *
   * @throws {Error} when the endpoint has a router already.
   */
  useRouter(router: RequestRouter): void {
    if (this.#router !== undefined) throw new Error("the endpoint has a router already");
    this.#router = router;
  }

  /**
   * A connection to `hop`, opened or shared with others to the same scheme,
   * host and port (for a router that decided on `hop` itself: the connection
   * goes where it decided).
   */
  linkTo(hop: MsrpUri): Promise<RouterLink> {
    return this.#linkTo(hop, {}, true);
  }

  /** True when `uri` names an open session of ours (RFC 4975 §6.1 comparison). */
  isLocalSession(uri: string): boolean {
    const id = sessionIdOf(uri);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    return session !== undefined && !session.closed && sameMsrpUri(uri, session.localUri);
  }

  /**
   * A link over a byte side that is no socket, made by `connection` for it:
   * our sessions bound to it write there, and frames handed to the link
   * reach them as if read. For a router that reaches our sessions itself
   * (e.g. a relay delivering to them); not counted in `connectionCount`.
   */
  attach(connection: (link: RouterLink) => LinkConnection): RouterLink {
    const link = new Link(this.#owner);
    link.connection = connection(link);
    return link;
  }

  /**
   * Serves a connection accepted elsewhere (e.g. an MSRP WebSocket, RFC
   * 7977) like one from our own listener, and returns it.
   */
  adopt(conn: MsrpSocket): RouterLink {
    return this.#adopt(conn);
  }

  /**
   * The start of URIs naming our WebSocket server (RFC 7977) as `link`, a
   * WebSocket it accepted and we {@linkcode adopt}ed, reached it:
   * `msrps://` over TLS (or with `webSocketSecure`), then
   * `webSocketAuthority` or else the connection's local address, e.g.
   * `msrp://127.0.0.1:8080`.
   *
   * @throws {TypeError} for a link not on a socket of ours.
   */
  webSocketBase(link: RouterLink): string {
    const connection = this.#own(link).connection;
    if (!(connection instanceof MsrpConnection)) throw new TypeError("not a socket of ours");
    const secure = connection.secure || (this.#options.webSocketSecure ?? false);
    const local = connection.localAddr;
    const authority = this.#options.webSocketAuthority ??
      `${hostForUri(local.hostname)}:${local.port}`;
    return `${secure ? "msrps" : "msrp"}://${authority}`;
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

  #peerCertificateFits(link: Link, session: LinkedSession): boolean {
    // A multi-connection session's children share its id; the pin is on the session itself.
    const pin = this.#peerPins.get(this.#sessions.get(session.id) ?? session);
    return pin === undefined || this.#fits(link, pin);
  }

  #fits(link: Link, pin: CertificateFingerprint): boolean {
    const der = this.#peerCertificates.get(link);
    return der !== undefined && fingerprintMatches(pin, der);
  }

  #dialWebSocket(hop: MsrpUri, options: ConnectSessionOptions): Promise<MsrpWebSocket> {
    // RFC 7977 §5: a *.invalid host is a browser that cannot be dialed; it connects to us.
    if (hop.host.endsWith(".invalid")) {
      throw new TypeError(`cannot connect to ${hop.host}: wait for that WebSocket client`);
    }
    const scheme = hop.scheme === "msrps" ? "wss" : "ws";
    return connectWebSocket(
      `${scheme}://${hostForUri(hop.host)}:${effectivePort(hop)}${
        options.webSocketPath ?? "/msrp"
      }`,
    );
  }

  #adopt(conn: MsrpSocket): Link {
    const link = new Link(this.#owner);
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

  // A link of ours, as a router or relay registration hands it back.
  #own(link: RouterLink): Link {
    if (!(link instanceof Link)) throw new TypeError("not a connection of an MsrpEndpoint");
    return link;
  }

  #linkClosed(link: Link): void {
    this.#links.delete(link);
    this.#router?.linkClosed(link);
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
