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
 * Forwarding goes at the pace of the next hop: reading from the previous hop
 * pauses while the next hop's write queue is above its high-water mark,
 * while a session behind it has too much waiting for its sink, and while the
 * next hop is being dialed. A forwarded request the next hop does not answer
 * within the transaction timeout is answered 408; grants are dropped once
 * they expire.
 *
 * @module
 */

import {
  buildReport,
  type ContinuationFlag,
  effectivePort,
  encodeEndLine,
  encodeRequest,
  encodeRequestHead,
  encodeResponse,
  formatChallenge,
  type FrameHandler,
  type FrameHead,
  MsrpError,
  MsrpHeaders,
  MsrpParser,
  type MsrpUri,
  newChallenge,
  type OutgoingResponse,
  parseAuthorization,
  parseMsrpUri,
  reasonPhrase,
  type RequestHead,
  type ResponseHead,
  sameMsrpUri,
  sessionIdOf,
  Status,
  transactionIdFor,
  verifyAuthorization,
} from "../msrp/mod.ts";
import {
  failureReportOf,
  Link,
  type LinkConnection,
  type LinkOwner,
  refusalOf,
  responseToPath,
} from "./_link.ts";
import type { ChunkReceiver } from "./session.ts";
import { addressAllowed, type AddressRule } from "../transport/address_rule.ts";

/**
 * How the WebSocket server answers AUTH (RFC 4976 §5.1, RFC 7977 §5) and
 * where it forwards.
 */
export interface WebSocketRelayOptions {
  /**
   * When set, AUTH must carry digest credentials (any user name) for this
   * password, the relay's own; when unset (and `refuseAuth` too), every AUTH
   * is granted and the HTTP layer is trusted to admit clients (RFC 7977 §5).
   */
  readonly password?: string;
  /**
   * Without `password`: when set, every AUTH is refused 403 with this
   * comment, e.g. because the HTTP API needs a token but the relay has no
   * password of its own.
   */
  readonly refuseAuth?: string;
  /**
   * Next hops a client may send to besides sessions of this endpoint and
   * other clients of this server (none by default). Every other next hop is
   * refused 403 without being dialed.
   */
  readonly allow?: readonly AddressRule[];
  /**
   * Most grants (Use-Path URIs) one WebSocket holds at once, 8 by default:
   * an AUTH from a further From-Path URI is refused 403; refreshes are not.
   */
  readonly maxGrants?: number;
  /**
   * Counts failed digest AUTHs per client IP address; while it blocks an
   * address, its AUTHs are refused 403 without their credentials being
   * checked. Share one throttle between the WebSockets of a server.
   */
  readonly throttle?: RelayAuthThrottle;
  /** Digest realm; `msrp-bridge` by default. */
  readonly realm?: string;
  /** Shortest grant accepted, in seconds (60 by default); below it: 423 with Min-Expires. */
  readonly minExpires?: number;
  /** Longest grant accepted, in seconds (3600 by default); above it: 423 with Max-Expires. */
  readonly maxExpires?: number;
  /** Grant when AUTH has no Expires; 600 s by default, kept within the bounds. */
  readonly defaultExpires?: number;
}

/**
 * Failed-login counting per client, as the relay uses it for digest AUTH
 * (the service's `AuthThrottle` is one).
 */
export interface RelayAuthThrottle {
  /** Milliseconds until `key` may try again; 0 when it may try now. */
  blocked(key: string): number;
  /** Records a failed AUTH of `key`. */
  failed(key: string): void;
  /** Forgets the failures of `key` after a successful AUTH. */
  succeeded(key: string): void;
}

/** What the relay needs from its endpoint. */
export interface RelayHost extends LinkOwner {
  /** A fresh random id for a Use-Path URI. */
  newId(): string;
  /**
   * A connection to `hop`, opened or reused: one that was dialed to the
   * same scheme, host and port.
   */
  linkTo(hop: MsrpUri): Promise<Link>;
  /** True when `uri` names an open session of this endpoint. */
  isLocalSession(uri: string): boolean;
  /**
   * How long a connection the relay dialed to a next hop stays open once
   * idle (nothing in flight, no session of ours, no live grant that used it).
   */
  readonly relayHopIdleMs: number;
}

/** {@linkcode WebSocketRelayOptions} checked, with their defaults filled in. */
interface Policy {
  readonly password: string | undefined;
  readonly refuseAuth: string | undefined;
  readonly realm: string;
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
  readonly allow: readonly AddressRule[];
  readonly maxGrants: number;
  readonly throttle: RelayAuthThrottle | undefined;
}

/** A WebSocket we serve as a relay. */
interface Served {
  /** `msrp://host:port` or `msrps://…` of the WebSocket server. */
  readonly base: string;
  readonly policy: Policy;
  /** The client's IP address, the key of the AUTH throttle. */
  readonly clientIp: string;
  /** The grants of its client, expired ones included until they are dropped. */
  readonly grants: Set<Grant>;
  nonce?: string;
}

/** A connection the relay dialed to a next hop (RFC 4976 §6.4.1). */
interface Hop {
  /** Requests being passed on to it or from it whose end-line did not come yet. */
  streams: number;
  /** Last time a request or response went through it. */
  lastUsed: number;
  /** Grants whose clients sent through it: it stays open while one lives. */
  readonly grants: Set<Grant>;
}

interface Grant {
  readonly id: string;
  /** Our Use-Path URI for the client, `;ws`. */
  readonly uri: string;
  /** The client's URI (AUTH From-Path). */
  readonly clientUri: string;
  /** The client's WebSocket. */
  readonly link: Link;
  /** The policy of the WebSocket server that granted it. */
  readonly policy: Policy;
  expiresAt: number;
  /** Sessions of our own endpoint reached through this grant. */
  loop?: Link;
}

/** A forwarded request awaiting the next hop's response. */
interface Forwarded {
  /** Where the request came from, and where its response goes. */
  readonly source: Link;
  /**
   * The request as received: its first From-Path URI is the previous hop,
   * its first To-Path URI is our URI as the request named it.
   */
  readonly received: RequestHead;
  /**
   * When the response is overdue; none until the end-line was passed on
   * (RFC 4976 §6.4.1: the timer starts once the request was sent on).
   */
  deadline: number;
}

const DEFAULT_MIN_EXPIRES = 60;
const DEFAULT_MAX_EXPIRES = 3600;
const DEFAULT_EXPIRES = 600;
const DEFAULT_MAX_GRANTS = 8;
/** The one answer to a next hop we may not dial, whatever listens there. */
const HOP_NOT_ALLOWED = "next hop not allowed";
const DIGITS = /^\d{1,10}$/;
const EMPTY_HEADERS = new MsrpHeaders();
const RESOLVED = Promise.resolve();

/**
 * Checks `options` and fills in their defaults.
 *
 * @throws {RangeError} when the Expires bounds are not 0 < min <= max, or
 * `maxGrants` is not a whole number ≥ 1.
 */
function policyOf(options: WebSocketRelayOptions): Policy {
  const minExpires = options.minExpires ?? DEFAULT_MIN_EXPIRES;
  const maxExpires = options.maxExpires ?? DEFAULT_MAX_EXPIRES;
  if (!(minExpires > 0) || !(maxExpires >= minExpires)) {
    throw new RangeError(
      `expected 0 < minExpires <= maxExpires, got ${minExpires} and ${maxExpires}`,
    );
  }
  const maxGrants = options.maxGrants ?? DEFAULT_MAX_GRANTS;
  if (!Number.isInteger(maxGrants) || maxGrants < 1) {
    throw new RangeError(`expected maxGrants to be a whole number ≥ 1, got ${maxGrants}`);
  }
  const defaultExpires = options.defaultExpires ?? DEFAULT_EXPIRES;
  return {
    password: options.password,
    refuseAuth: options.refuseAuth,
    realm: options.realm ?? "msrp-bridge",
    minExpires,
    maxExpires,
    defaultExpires: Math.max(minExpires, Math.min(maxExpires, defaultExpires)),
    allow: options.allow ?? [],
    maxGrants,
    throttle: options.throttle,
  };
}

/**
 * `uri` parsed when `policy` lets the relay dial it as a next hop, else
 * `undefined`. A host with percent-encoding is refused: connections are
 * shared by the decoded host (`authorityKey`), and the name checked must be
 * the name dialed.
 */
function allowedHop(policy: Policy, uri: string): MsrpUri | undefined {
  if (policy.allow.length === 0) return undefined;
  let hop: MsrpUri;
  try {
    hop = parseMsrpUri(uri);
  } catch {
    return undefined;
  }
  if (hop.host.includes("%")) return undefined;
  return addressAllowed(policy.allow, hop.host, effectivePort(hop)) ? hop : undefined;
}

/**
 * A link's byte side for sessions of our endpoint reached through a grant:
 * what they write is parsed and forwarded by the relay, never put on a socket.
 */
class LoopConnection implements LinkConnection {
  readonly #parser: MsrpParser;
  readonly #link: Link;
  readonly #client: Link;

  constructor(link: Link, client: Link, handler: FrameHandler) {
    this.#link = link;
    this.#client = client;
    this.#parser = new MsrpParser(handler);
  }

  send(parts: readonly Uint8Array[]): Promise<void> {
    for (const p of parts) this.#parser.push(p);
    // Pace senders by the client's WebSocket queue, where their frames go.
    return this.#client.closed ? RESOLVED : this.#client.connection.send([]);
  }

  close(error?: Error): void {
    this.#link.connectionClosed(error);
  }

  get queuedBytes(): number {
    return this.#client.closed ? 0 : this.#client.connection.queuedBytes;
  }

  get highWaterMark(): number {
    return this.#client.connection.highWaterMark;
  }
}

/** The relay role of the WebSocket server; one per endpoint. */
export class WebSocketRelay {
  readonly #host: RelayHost;
  /** Each options object is checked once, when first served. */
  readonly #policies = new WeakMap<WebSocketRelayOptions, Policy>();
  readonly #served = new Map<Link, Served>();
  readonly #hops = new Map<Link, Hop>();
  readonly #grants = new Map<string, Grant>();
  readonly #loops = new Set<Link>();
  /** Requests forwarded to each next hop, by transaction id. */
  readonly #forwarded = new Map<Link, Map<string, Forwarded>>();
  /** Sweeps expired grants, overdue forwarded requests and idle hops while there are any. */
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Creates the relay of `host`. */
  constructor(host: RelayHost) {
    this.#host = host;
  }

  /**
   * Serves `link` (a WebSocket accepted by our server from `clientIp`) as a
   * relay whose URIs start with `base`. `options` are checked the first time
   * they are served.
   *
   * @throws {RangeError} when the Expires bounds are not 0 < min <= max, or
   * `maxGrants` is not a whole number ≥ 1.
   */
  serve(link: Link, base: string, options: WebSocketRelayOptions, clientIp: string): void {
    let policy = this.#policies.get(options);
    if (!policy) this.#policies.set(options, policy = policyOf(options));
    this.#served.set(link, { base, policy, clientIp, grants: new Set() });
  }

  /** Grants held now (expired ones are dropped within a sweep). */
  get grantCount(): number {
    return this.#grants.size;
  }

  /**
   * A link of the endpoint closed: the grants of a client on it end (and
   * the sessions reached through them close), and requests forwarded to it
   * are answered 408 at once.
   */
  linkClosed(link: Link): void {
    const served = this.#served.get(link);
    this.#hops.delete(link);
    this.#loops.delete(link);
    for (const grant of served?.grants ?? []) {
      this.#dropGrant(grant, "the WebSocket client went away");
    }
    this.#served.delete(link);
    const pending = this.#forwarded.get(link);
    this.#forwarded.delete(link);
    for (const entry of pending?.values() ?? []) {
      this.#timedOut(entry, "the connection to the next hop was lost");
    }
    this.#stopTimerWhenIdle();
  }

  /**
   * The link for sessions of ours whose peer path starts with one of our
   * Use-Path URIs, or `undefined` when `uri` is none (or has expired).
   */
  loopFor(uri: string): Link | undefined {
    const grant = this.#grant(uri);
    return grant && this.#loop(grant);
  }

  /**
   * Takes a request received on `source` when it is relay business: AUTH on
   * a WebSocket we serve, or a To-Path starting with one of our Use-Path
   * URIs. Returns `false` otherwise; else where its body goes (`undefined`
   * when it was answered at once).
   */
  route(source: Link, head: RequestHead): ChunkReceiver | undefined | false {
    if (head.method === "AUTH") {
      const served = this.#served.get(source);
      return served ? this.#auth(source, head, served) : false;
    }
    const first = head.toPath[0];
    const id = sessionIdOf(first);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    if (!grant || !sameMsrpUri(first, grant.uri)) return false;
    if (grant.expiresAt <= Date.now()) {
      this.#dropGrant(grant, "the relay grant expired");
      return this.#refuse(source, head, Status.SessionDoesNotExist);
    }
    this.#used(source);
    let rest = head.toPath.slice(1);
    // RFC 4976 §6.4.1: we leave To-Path and go in front of From-Path.
    let fromPath = [first, ...head.fromPath];
    // RFC 4976 §7: nothing after us in To-Path means no session to deliver to.
    if (rest.length === 0) return this.#refuse(source, head, Status.SessionDoesNotExist);
    let dest: Link | Promise<Link>;
    let toward = grant;
    if (source === grant.link) {
      // From our client: only the URI that authenticated may send through its grant.
      if (head.fromPath.length !== 1 || !sameMsrpUri(head.fromPath[0], grant.clientUri)) {
        return this.#refuse(source, head, Status.Forbidden);
      }
      const next = this.#grant(rest[0]);
      if (this.#host.isLocalSession(rest[0])) dest = this.#loop(grant);
      else if (next) {
        // To another client of ours: we are its next hop too, down its WebSocket.
        toward = next;
        fromPath = [rest[0], ...fromPath];
        rest = rest.slice(1);
        dest = next.link;
      } else {
        const hop = allowedHop(grant.policy, rest[0]);
        // Decided on the URI alone: no connection tried, no name resolved,
        // the same answer whatever listens there.
        if (!hop) return this.#refuse(source, head, Status.Forbidden, HOP_NOT_ALLOWED);
        dest = this.#hop(grant, hop);
      }
    } else dest = grant.link;
    // Toward our client: it is the only hop we deliver to behind its URI.
    if (dest === toward.link && (rest.length !== 1 || !sameMsrpUri(rest[0], toward.clientUri))) {
      return this.#refuse(source, head, Status.SessionDoesNotExist);
    }
    return this.#forward(source, head, { ...head, toPath: rest, fromPath }, dest);
  }

  /**
   * Passes a response that arrived on `dest` back to where its request came
   * from, as our own hop-by-hop response (RFC 4976 §6.4.3). Responses to
   * nothing we forwarded (or to requests already answered 408) are dropped.
   */
  response(dest: Link, head: ResponseHead): void {
    const pending = this.#forwarded.get(dest);
    const entry = pending?.get(head.transactionId);
    if (!pending || !entry) return;
    pending.delete(head.transactionId);
    if (pending.size === 0) this.#forwarded.delete(dest);
    this.#used(dest);
    const r = entry.received;
    this.#answer(entry.source, {
      transactionId: head.transactionId,
      status: head.status,
      comment: head.comment,
      toPath: responseToPath(r.method, r.fromPath),
      fromPath: [r.toPath[0]],
    });
  }

  // --- AUTH (RFC 4976 §5.1) -------------------------------------------------

  #auth(source: Link, head: RequestHead, served: Served): ChunkReceiver | undefined {
    if (head.toPath.length !== 1 || sessionIdOf(head.toPath[0]) !== undefined) {
      return this.#refuse(source, head, Status.Forbidden, "AUTH is answered by the first hop only");
    }
    if (head.fromPath.length !== 1) {
      return this.#refuse(source, head, Status.BadRequest, "AUTH needs one From-Path URI");
    }
    const o = served.policy;
    const headers: [string, string][] = [];
    const reply = (status: number, comment?: string): undefined => {
      this.#answer(source, {
        transactionId: head.transactionId,
        status,
        comment: comment ?? reasonPhrase(status),
        toPath: head.fromPath,
        fromPath: head.toPath,
        headers,
      });
      return undefined;
    };
    if (o.password === undefined && o.refuseAuth !== undefined) {
      return reply(Status.Forbidden, o.refuseAuth);
    }
    if (o.password !== undefined) {
      const throttle = o.throttle;
      // Blocked: refused without looking at the credentials at all.
      if (throttle && throttle.blocked(served.clientIp) > 0) {
        return reply(Status.Forbidden, "too many failed attempts");
      }
      const realm = o.realm;
      const authorization = head.headers.get("authorization");
      if (authorization === undefined || served.nonce === undefined) {
        served.nonce = newChallenge(realm).nonce;
        headers.push([
          "WWW-Authenticate",
          formatChallenge({ realm, nonce: served.nonce, qop: "auth" }),
        ]);
        return reply(Status.Unauthorized);
      }
      let valid = false;
      try {
        const credentials = parseAuthorization(authorization);
        valid = credentials.uri === head.toPath[0] &&
          verifyAuthorization(credentials, {
            password: o.password,
            method: "AUTH",
            expectedNonce: served.nonce,
            realm,
          });
      } catch (e) {
        throttle?.failed(served.clientIp);
        return reply(e instanceof MsrpError ? e.status : Status.BadRequest, "bad Authorization");
      }
      if (!valid) {
        throttle?.failed(served.clientIp);
        return reply(Status.Forbidden, "wrong credentials");
      }
      throttle?.succeeded(served.clientIp);
    }
    const asked = head.headers.get("expires")?.trim();
    let expires = o.defaultExpires;
    if (asked !== undefined) {
      if (!DIGITS.test(asked)) return reply(Status.BadRequest, "bad Expires");
      expires = Number(asked);
      // RFC 4976 §5.2: outside our bounds is 423 naming the bound that was crossed.
      if (expires < o.minExpires) {
        headers.push(["Min-Expires", String(o.minExpires)]);
        return reply(Status.IntervalOutOfBounds);
      }
      if (expires > o.maxExpires) {
        headers.push(["Max-Expires", String(o.maxExpires)]);
        return reply(Status.IntervalOutOfBounds);
      }
    }
    const grant = this.#grantFor(source, served, head.fromPath[0]);
    if (!grant) {
      return reply(
        Status.Forbidden,
        `this WebSocket holds the most relay grants allowed (${o.maxGrants})`,
      );
    }
    grant.expiresAt = Date.now() + expires * 1000;
    // RFC 4976 §6.3: the URI is invalidated after the expiry time.
    this.#startTimer();
    headers.push(["Use-Path", grant.uri], ["Expires", String(expires)]);
    return reply(Status.OK);
  }

  // A refresh from the same client keeps its Use-Path; a new client URI
  // gets none (`undefined`) while the WebSocket holds `maxGrants` live ones.
  #grantFor(link: Link, served: Served, clientUri: string): Grant | undefined {
    const now = Date.now();
    let live = 0;
    for (const g of served.grants) {
      if (sameMsrpUri(g.clientUri, clientUri)) return g;
      if (g.expiresAt > now) live++;
    }
    if (live >= served.policy.maxGrants) return undefined;
    const id = this.#host.newId();
    const grant: Grant = {
      id,
      uri: `${served.base}/${id};ws`,
      clientUri,
      link,
      policy: served.policy,
      expiresAt: 0,
    };
    this.#grants.set(id, grant);
    served.grants.add(grant);
    return grant;
  }

  #dropGrant(grant: Grant, reason: string): void {
    if (this.#grants.get(grant.id) !== grant) return;
    this.#grants.delete(grant.id);
    this.#served.get(grant.link)?.grants.delete(grant);
    grant.loop?.connection.close(new Error(reason));
  }

  #grant(uri: string): Grant | undefined {
    const id = sessionIdOf(uri);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    if (!grant || !sameMsrpUri(uri, grant.uri) || grant.expiresAt <= Date.now()) return undefined;
    return grant;
  }

  #loop(grant: Grant): Link {
    if (grant.loop && !grant.loop.closed) return grant.loop;
    const loop = new Link(this.#host);
    const input: FrameHandler = new LoopInput(this, loop);
    loop.connection = new LoopConnection(loop, grant.link, input);
    this.#loops.add(loop);
    grant.loop = loop;
    return loop;
  }

  // --- next hops we dial (RFC 4976 §6.4.1) ----------------------------------

  // A connection to `uri` for `grant`'s client, kept while used.
  #hop(grant: Grant, uri: MsrpUri): Promise<Link> {
    return this.#host.linkTo(uri).then((link) => {
      let hop = this.#hops.get(link);
      if (!hop && !link.closed) {
        this.#hops.set(link, hop = { streams: 0, lastUsed: Date.now(), grants: new Set() });
        this.#startTimer();
      }
      hop?.grants.add(grant);
      return link;
    });
  }

  #used(link: Link): void {
    const hop = this.#hops.get(link);
    if (hop) hop.lastUsed = Date.now();
  }

  // Closes `link` once nothing uses it, instead of keeping a connection to
  // every next hop ever dialed open for the life of the process.
  #closeWhenIdle(link: Link, hop: Hop, now: number): void {
    for (const g of hop.grants) if (this.#grants.get(g.id) !== g) hop.grants.delete(g);
    if (
      hop.streams > 0 || hop.grants.size > 0 || link.sessions.size > 0 || link.pinned ||
      now - hop.lastUsed < this.#host.relayHopIdleMs || this.#forwarded.has(link)
    ) return;
    for (const pending of this.#forwarded.values()) {
      for (const entry of pending.values()) if (entry.source === link) return;
    }
    this.#hops.delete(link);
    link.connection.close();
    // Closed at once, so that no request is routed to it meanwhile.
    link.connectionClosed();
  }

  // --- forwarding (RFC 4976 §6.4) ------------------------------------------

  #forward(
    source: Link,
    received: RequestHead,
    out: RequestHead,
    dest: Link | Promise<Link>,
  ): ChunkReceiver {
    const expectsResponse = failureReportOf(received) !== "no";
    const start = (link: Link): ChunkReceiver => {
      const entry = expectsResponse ? this.#expect(link, source, received) : undefined;
      const hops = [this.#hops.get(source), this.#hops.get(link)];
      for (const hop of hops) if (hop) hop.streams++;
      return this.#writer(source, link, out, () => {
        const now = Date.now();
        for (const hop of hops) {
          if (!hop) continue;
          hop.streams--;
          hop.lastUsed = now;
        }
        if (entry) this.#arm(link, entry);
      });
    };
    if (dest instanceof Link) return start(dest);
    // The next hop is being dialed: reading from the source pauses until it
    // is connected or failed, so only what one read brought waits here.
    source.hold(dest);
    const held: Uint8Array[] = [];
    let flag: ContinuationFlag | undefined;
    let target: ChunkReceiver | undefined;
    let dropped = false;
    const unreachable = (): void => {
      dropped = true;
      held.length = 0;
      // The dial error stays here: it would tell the client about our network.
      this.#refuse(source, received, Status.SessionDoesNotExist, "next hop unreachable");
    };
    dest.then((link) => {
      if (dropped) return;
      // Closed while it was dialed: nothing would ever answer on it.
      if (link.closed) return unreachable();
      target = start(link);
      for (const b of held) target.body(b);
      held.length = 0;
      if (flag !== undefined) target.end(flag);
    }, unreachable);
    return {
      body: (b) => {
        if (target) target.body(b);
        else if (!dropped) held.push(b);
      },
      end: (f) => {
        if (target) target.end(f);
        else flag = f;
      },
      fail: (e) => {
        if (target) target.fail(e);
        else if (!dropped) {
          // Answered here: the next hop never saw the request.
          dropped = true;
          held.length = 0;
          this.#refuse(source, received, e.status, e.message);
        }
      },
    };
  }

  #expect(dest: Link, source: Link, received: RequestHead): Forwarded {
    let pending = this.#forwarded.get(dest);
    if (!pending) this.#forwarded.set(dest, pending = new Map());
    const entry: Forwarded = { source, received, deadline: Infinity };
    pending.set(received.transactionId, entry);
    return entry;
  }

  // The request was passed on whole: its response is due within the timeout.
  #arm(dest: Link, entry: Forwarded): void {
    if (this.#forwarded.get(dest)?.get(entry.received.transactionId) !== entry) return;
    entry.deadline = Date.now() + this.#host.transactionTimeoutMs;
    this.#startTimer();
  }

  /**
   * No response came in time, or the next hop's connection was lost. With
   * `Failure-Report: partial` silence means success and the request is just
   * forgotten; otherwise the previous hop's transaction gets 408 (RFC 4975
   * §7.1.1 treats no response as 408) and, as RFC 4976 §6.4.1 asks of a
   * relay that could not deliver a SEND, the sender a 408 REPORT as well: the
   * 408 response only ends the previous hop's transaction.
   */
  #timedOut(entry: Forwarded, reason: string): void {
    const r = entry.received;
    if (entry.source.closed || failureReportOf(r) !== "yes") return;
    this.#answer(entry.source, {
      transactionId: r.transactionId,
      status: Status.RequestTimeout,
      comment: reason,
      toPath: responseToPath(r.method, r.fromPath),
      fromPath: [r.toPath[0]],
    });
    // A session of ours as the sender runs its own timer and fails the message itself.
    if (r.method !== "SEND" || r.messageId === undefined || this.#loops.has(entry.source)) return;
    entry.source.post(encodeRequest(buildReport({
      transactionId: transactionIdFor([]),
      toPath: r.fromPath,
      fromPath: [r.toPath[0]],
      messageId: r.messageId,
      byteRange: r.byteRange ?? { start: 1, end: 0, total: 0 },
      status: Status.RequestTimeout,
      comment: reason,
    })));
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    const every = Math.max(1, Math.min(1000, this.#host.transactionTimeoutMs));
    this.#timer = setInterval(() => this.#sweep(), every);
  }

  #stopTimerWhenIdle(): void {
    if (this.#grants.size > 0 || this.#forwarded.size > 0 || this.#hops.size > 0) return;
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = Date.now();
    for (const grant of this.#grants.values()) {
      if (grant.expiresAt <= now) this.#dropGrant(grant, "the relay grant expired");
    }
    for (const [dest, pending] of this.#forwarded) {
      for (const [tid, entry] of pending) {
        if (entry.deadline > now) continue;
        pending.delete(tid);
        this.#timedOut(entry, "no response from the next hop within the transaction timeout");
      }
      if (pending.size === 0) this.#forwarded.delete(dest);
    }
    for (const [link, hop] of this.#hops) this.#closeWhenIdle(link, hop, now);
    this.#stopTimerWhenIdle();
  }

  // Writes the request to the next hop as it arrives; the transaction id is
  // kept, its end-line does not occur in the body (RFC 4975 §7.1). `sent` is
  // called once the end-line was passed on.
  #writer(source: Link, dest: Link, out: RequestHead, sent: () => void): ChunkReceiver {
    if (this.#loops.has(dest)) {
      dest.head(out);
      return {
        body: (b) => {
          dest.body(b);
          // A session's sink or the client's own output is behind: read no further.
          const wait = dest.backpressure();
          if (wait !== undefined) source.hold(wait);
        },
        end: (f) => {
          dest.end(f);
          sent();
        },
        fail: () => {
          dest.end("#");
          sent();
        },
      };
    }
    const hasBody = out.contentType !== undefined;
    const headers: [string, string][] = [];
    for (const [name, value] of out.headers) {
      const key = name.toLowerCase();
      if (key !== "to-path" && key !== "from-path" && key !== "content-type") {
        headers.push([name, value]);
      }
    }
    dest.post([encodeRequestHead({ ...out, headers }, hasBody)]);
    return {
      body: (b) => {
        dest.post([b]);
        // Reading from the source pauses while the next hop's queue is above its high-water mark.
        if (dest.behind) source.hold(dest.connection.send([]));
      },
      end: (f) => {
        dest.post([encodeEndLine(out.transactionId, f, hasBody)]);
        sent();
      },
      fail: () => {
        dest.post([encodeEndLine(out.transactionId, "#", hasBody)]);
        sent();
      },
    };
  }

  #refuse(source: Link, head: RequestHead, status: number, comment?: string): undefined {
    const refusal = refusalOf(head, status, this.#host.ownUri, comment);
    if (refusal) this.#answer(source, refusal);
    return undefined;
  }

  #answer(to: Link, response: OutgoingResponse): void {
    if (this.#loops.has(to)) {
      // A session of ours behind the loop: hand it the response as if read.
      const head: ResponseHead = {
        kind: "response",
        transactionId: response.transactionId,
        status: response.status,
        comment: response.comment ?? reasonPhrase(response.status),
        headers: response.headers ? new MsrpHeaders(response.headers) : EMPTY_HEADERS,
        toPath: response.toPath,
        fromPath: response.fromPath,
      };
      to.head(head);
      return;
    }
    to.post([encodeResponse(response)]);
  }

  /** @internal A frame written by a session behind a loop link. */
  fromLoop(loop: Link, head: FrameHead): ChunkReceiver | undefined {
    if (head.kind === "response") {
      this.response(loop, head);
      return undefined;
    }
    const routed = this.route(loop, head);
    // Our sessions only write to the paths they were bound with: through a grant.
    return routed === false ? undefined : routed;
  }
}

/** Reads what sessions behind a loop link write. */
class LoopInput implements FrameHandler {
  readonly #relay: WebSocketRelay;
  readonly #loop: Link;
  #current: ChunkReceiver | undefined;

  constructor(relay: WebSocketRelay, loop: Link) {
    this.#relay = relay;
    this.#loop = loop;
  }

  head(head: FrameHead): void {
    this.#current = this.#relay.fromLoop(this.#loop, head);
  }

  body(bytes: Uint8Array): void {
    this.#current?.body(bytes);
  }

  end(flag: ContinuationFlag): void {
    const c = this.#current;
    this.#current = undefined;
    c?.end(flag);
  }

  error(): void {
    this.#current?.fail(new MsrpError(Status.BadRequest, "malformed frame from a session"));
    this.#current = undefined;
  }
}
