/**
 * The relay role of our WebSocket server (RFC 7977 §5, RFC 4976): browser
 * clients AUTH over their WebSocket and get a Use-Path naming this server;
 * requests are then forwarded hop by hop by To-Path (RFC 4976 §6.4): from the
 * client to a session of our own endpoint, to another client of ours, or to a
 * next hop the allow-list admits, and from anyone to the client down its
 * WebSocket.
 *
 * The relay is an open door into the network it runs in, so it dials nothing
 * but the next hops its allow-list names: any other next hop is refused 403
 * before a connection is tried or a name resolved, with the same answer
 * whatever listens there, and only the first next hop is ever dialed (the
 * rest of To-Path is that hop's business). Each WebSocket holds a bounded
 * number of grants, and failed digest AUTHs are throttled per client address.
 *
 * This file wires the parts: the grant table (grants.ts, changed by AUTH in
 * auth.ts, by expiry and by closing WebSockets), forwarding (forwarding.ts,
 * which reads it), next-hop connections and loop links to our own sessions;
 * one timer sweeps expired grants, overdue forwarded requests and idle hops.
 *
 * @module
 */

import { encodeResponse, type FrameHead, type RequestHead, Status } from "../msrp/mod.ts";
import type { ChunkReceiver, MsrpEndpoint, RequestRouter, RouterLink } from "../session/mod.ts";
import type { MsrpWebSocket } from "../transport/mod.ts";
import { answerAuth } from "./auth.ts";
import { Forwarding } from "./forwarding.ts";
import { GrantTable } from "./grants.ts";
import { NextHops } from "./_hops.ts";
import { Loops } from "./_loop.ts";
import { type Policy, policyOf, type WebSocketRelayOptions } from "./policy.ts";

/**
 * The MSRP relay of an endpoint's WebSocket server (RFC 7977 §5, RFC 4976),
 * one per endpoint.
 *
 * @example Serve MSRP over WebSocket as the clients' relay
 * ```ts
 * import { MsrpEndpoint, upgradeMsrpWebSocket, WebSocketRelay } from "../../mod.ts";
 *
 * const endpoint = new MsrpEndpoint({ port: 0, webSocketAuthority: "127.0.0.1:8080" }).listen();
 * const relay = new WebSocketRelay(endpoint, { maxGrants: 4 });
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (req, info) =>
 *     upgradeMsrpWebSocket(req, (socket) => relay.adopt(socket), { remoteAddr: info.remoteAddr }),
 * );
 * await server.shutdown();
 * await endpoint.close();
 * ```
 */
export class WebSocketRelay {
  readonly #endpoint: MsrpEndpoint;
  readonly #policy: Policy;
  readonly #grants: GrantTable;
  readonly #loops: Loops;
  readonly #hops: NextHops;
  readonly #forwarding: Forwarding;
  /** Sweeps expired grants, overdue forwarded requests and idle hops while there are any. */
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Makes this relay `endpoint`'s router (`MsrpEndpoint.useRouter`): AUTH
   * on the WebSockets it {@linkcode adopt}s is answered with a Use-Path
   * naming the WebSocket server (`;ws`, `msrps:` over TLS) and an Expires
   * within `options`' bounds (423 outside them), at most `options.maxGrants`
   * per WebSocket, with digest credentials when `options.password` is set
   * (failures throttled per client address). Requests through that Use-Path
   * are forwarded by To-Path — to our own sessions, to other clients of
   * this server, to next hops `options.allow` admits (403 for any other,
   * never dialed), and from anyone to the client down its WebSocket — at the
   * pace of the next hop (reading pauses while it is behind or being
   * dialed); the previous hop gets 408 when the next hop does not answer
   * within the endpoint's transaction timeout, and grants not refreshed are
   * dropped when they expire.
   *
   * @throws {RangeError} when the Expires bounds are not 0 < min <= max, or
   * `options.maxGrants` is not a whole number ≥ 1.
   * @throws {Error} when `endpoint` has a router already.
   */
  constructor(endpoint: MsrpEndpoint, options: WebSocketRelayOptions = {}) {
    this.#endpoint = endpoint;
    this.#policy = policyOf(options);
    const wake = (): void => this.#startTimer();
    this.#loops = new Loops(endpoint, (loop, head) => this.#fromLoop(loop, head));
    this.#grants = new GrantTable(
      this.#policy.maxGrants,
      (grant, reason) => this.#loops.close(grant, reason),
    );
    this.#hops = new NextHops(endpoint, this.#policy.hopIdleMs, wake);
    this.#forwarding = new Forwarding({
      endpoint,
      policy: this.#policy,
      grants: this.#grants,
      hops: this.#hops,
      loops: this.#loops,
      armed: wake,
    });
    const router: RequestRouter = {
      route: (link, head) => this.#route(link, head),
      response: (link, head) => this.#forwarding.response(link, head),
      linkClosed: (link) => this.#linkClosed(link),
      linkFor: (uri) => {
        const grant = this.#grants.live(uri);
        return grant && this.#loops.for(grant);
      },
    };
    endpoint.useRouter(router);
  }

  /**
   * Serves `socket`, a WebSocket our HTTP server accepted (RFC 7977), as a
   * connection of the endpoint whose client has this relay as its first hop.
   */
  adopt(socket: MsrpWebSocket): void {
    const link = this.#endpoint.adopt(socket);
    this.#grants.serve(link, this.#endpoint.webSocketBase(link), socket.remoteAddr.hostname);
  }

  /**
   * Use-Path grants held for clients (RFC 7977 §5); a grant ends when its
   * client's WebSocket closes or, unrefreshed, when it expires.
   */
  get grantCount(): number {
    return this.#grants.size;
  }

  /**
   * Relay business: AUTH on a WebSocket we serve, or a To-Path starting
   * with one of our Use-Path URIs; `false` for anything else.
   */
  #route(source: RouterLink, head: RequestHead): ChunkReceiver | undefined | false {
    if (head.method === "AUTH") {
      const served = this.#grants.served(source);
      if (!served) return false;
      const response = answerAuth(
        source,
        served,
        head,
        this.#policy,
        this.#grants,
        this.#endpoint.ownUri,
      );
      if (response) source.post([encodeResponse(response)]);
      if (response?.status === Status.OK) this.#startTimer();
      return undefined;
    }
    const grant = this.#grants.named(head.toPath[0]);
    if (!grant) return false;
    if (grant.expiresAt <= Date.now()) {
      this.#grants.drop(grant, "the relay grant expired");
      return this.#forwarding.refuse(source, head, Status.SessionDoesNotExist);
    }
    return this.#forwarding.request(source, head, grant);
  }

  // A frame written by a session of ours behind a loop link.
  #fromLoop(loop: RouterLink, head: FrameHead): ChunkReceiver | undefined {
    if (head.kind === "response") {
      this.#forwarding.response(loop, head);
      return undefined;
    }
    const routed = this.#route(loop, head);
    // Our sessions only write to the paths they were bound with: through a grant.
    return routed === false ? undefined : routed;
  }

  /**
   * A link of the endpoint closed: the grants of a client on it end (and
   * the sessions reached through them close), and requests forwarded to it
   * are answered 408 at once.
   */
  #linkClosed(link: RouterLink): void {
    this.#hops.linkClosed(link);
    this.#loops.linkClosed(link);
    this.#grants.linkClosed(link);
    this.#forwarding.linkClosed(link);
    this.#stopTimerWhenIdle();
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    const every = Math.max(1, Math.min(1000, this.#endpoint.transactionTimeoutMs));
    this.#timer = setInterval(() => this.#sweep(), every);
  }

  #stopTimerWhenIdle(): void {
    if (this.#grants.size > 0 || this.#forwarding.pendingHops > 0 || this.#hops.size > 0) return;
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = Date.now();
    this.#grants.expire(now);
    this.#forwarding.sweep(now);
    this.#hops.closeIdle(
      now,
      (grant) => this.#grants.holds(grant),
      (link) => this.#forwarding.involves(link),
    );
    this.#stopTimerWhenIdle();
  }
}
