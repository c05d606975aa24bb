/**
 * The relay role of our WebSocket server (RFC 7977 §5, RFC 4976): browser
 * clients AUTH over their WebSocket and get a Use-Path naming this server;
 * requests are then forwarded hop by hop by To-Path (RFC 4976 §7): from the
 * client to a session of our own endpoint or to any other MSRP URI, and from
 * anyone to the client down its WebSocket.
 *
 * @module
 */

import {
  type ContinuationFlag,
  encodeEndLine,
  encodeRequestHead,
  encodeResponse,
  formatChallenge,
  type FrameHandler,
  type FrameHead,
  MsrpError,
  MsrpHeaders,
  MsrpParser,
  msrpUriEquals,
  newChallenge,
  parseAuthorization,
  reasonPhrase,
  type RequestHead,
  type ResponseHead,
  sessionIdOf,
  Status,
  verifyAuthorization,
} from "../msrp/mod.ts";
import { Link, type LinkConnection, type LinkOwner } from "./_link.ts";
import type { ChunkReceiver } from "./session.ts";

/** How the WebSocket server answers AUTH (RFC 4976 §5.1, RFC 7977 §5). */
export interface WebSocketRelayOptions {
  /**
   * When set, AUTH must carry digest credentials (any user name) for this
   * password, e.g. the HTTP API's bearer token; when unset, every AUTH is
   * granted and the HTTP layer is trusted to admit clients (RFC 7977 §5).
   */
  readonly password?: string;
  /** Digest realm; `msrp-bridge` by default. */
  readonly realm?: string;
  /** Shortest grant accepted, in seconds (60 by default); below it: 423 with Min-Expires. */
  readonly minExpires?: number;
  /** Longest grant accepted, in seconds (3600 by default); above it: 423 with Max-Expires. */
  readonly maxExpires?: number;
  /** Grant when AUTH has no Expires; 600 s by default, kept within the bounds. */
  readonly defaultExpires?: number;
}

/** What the relay needs from its endpoint. */
export interface RelayHost extends LinkOwner {
  /** A fresh random id for a Use-Path URI. */
  newId(): string;
  /** A connection to the first hop of `uri`, opened or reused. */
  linkTo(uri: string): Promise<Link>;
  /** True when `uri` names an open session of this endpoint. */
  isLocalSession(uri: string): boolean;
}

interface Policy {
  /** `msrp://host:port` or `msrps://…` of the WebSocket server. */
  readonly base: string;
  readonly options: WebSocketRelayOptions;
  nonce?: string;
}

interface Grant {
  readonly id: string;
  /** Our Use-Path URI for the client, `;ws`. */
  readonly uri: string;
  /** The client's URI (AUTH From-Path). */
  readonly clientUri: string;
  /** The client's WebSocket. */
  readonly link: Link;
  expiresAt: number;
  /** Sessions of our own endpoint reached through this grant. */
  loop?: Link;
}

/** Where to send the response to a forwarded request. */
interface Forwarded {
  readonly source: Link;
  /** The previous hop: first From-Path URI of the request as received. */
  readonly previousHop: string;
  /** Our URI as the request named it (its first To-Path URI). */
  readonly ownUri: string;
  readonly at: number;
}

const DEFAULT_MIN_EXPIRES = 60;
const DEFAULT_MAX_EXPIRES = 3600;
const DEFAULT_EXPIRES = 600;
const DIGITS = /^\d{1,10}$/;
const EMPTY_HEADERS = new MsrpHeaders();
const RESOLVED = Promise.resolve();

function sameUri(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return msrpUriEquals(a, b);
  } catch {
    return false;
  }
}

function noFailureReport(head: RequestHead): boolean {
  return head.headers.get("failure-report")?.trim().toLowerCase() === "no";
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
}

/** The relay role of the WebSocket server; one per endpoint. */
export class WebSocketRelay {
  readonly #host: RelayHost;
  readonly #policies = new Map<Link, Policy>();
  readonly #grants = new Map<string, Grant>();
  readonly #loops = new Set<Link>();
  readonly #forwarded = new Map<Link, Map<string, Forwarded>>();

  /** Creates the relay of `host`. */
  constructor(host: RelayHost) {
    this.#host = host;
  }

  /** Serves `link` (a WebSocket accepted by our server) as a relay whose URIs start with `base`. */
  serve(link: Link, base: string, options: WebSocketRelayOptions): void {
    const min = options.minExpires ?? DEFAULT_MIN_EXPIRES;
    const max = options.maxExpires ?? DEFAULT_MAX_EXPIRES;
    if (!(min > 0) || !(max >= min)) {
      throw new RangeError(`expected 0 < minExpires <= maxExpires, got ${min} and ${max}`);
    }
    this.#policies.set(link, { base, options });
  }

  /** The link closed: its grants end and the sessions reached through them close. */
  linkClosed(link: Link): void {
    this.#policies.delete(link);
    this.#forwarded.delete(link);
    for (const [id, grant] of this.#grants) {
      if (grant.link !== link) continue;
      this.#grants.delete(id);
      grant.loop?.connection.close(new Error("the WebSocket client went away"));
    }
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
      const policy = this.#policies.get(source);
      return policy ? this.#auth(source, head, policy) : false;
    }
    const first = head.toPath[0];
    const id = sessionIdOf(first);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    if (!grant || !sameUri(first, grant.uri)) return false;
    if (grant.expiresAt <= Date.now()) {
      this.#grants.delete(grant.id);
      return this.#refuse(source, head, Status.SessionDoesNotExist);
    }
    const rest = head.toPath.slice(1);
    // RFC 4976 §7: nothing after us in To-Path means no session to deliver to.
    if (rest.length === 0) return this.#refuse(source, head, Status.SessionDoesNotExist);
    let dest: Link | Promise<Link>;
    if (source === grant.link) {
      // From our client: only the URI that authenticated may send through its grant.
      if (head.fromPath.length !== 1 || !sameUri(head.fromPath[0], grant.clientUri)) {
        return this.#refuse(source, head, Status.Forbidden);
      }
      dest = this.#host.isLocalSession(rest[0]) ? this.#loop(grant) : this.#host.linkTo(rest[0]);
    } else {
      // Toward our client: it is the only hop we deliver to behind this URI.
      if (rest.length !== 1 || !sameUri(rest[0], grant.clientUri)) {
        return this.#refuse(source, head, Status.SessionDoesNotExist);
      }
      dest = grant.link;
    }
    // RFC 4976 §7.1: we leave To-Path and go in front of From-Path.
    const out: RequestHead = { ...head, toPath: rest, fromPath: [first, ...head.fromPath] };
    return this.#forward(source, head, out, dest);
  }

  /**
   * Passes a response that arrived on `dest` back to where its request came
   * from, as our own hop-by-hop response (RFC 4976 §7.2). Responses to
   * nothing we forwarded are dropped.
   */
  response(dest: Link, head: ResponseHead): void {
    const entry = this.#forwarded.get(dest)?.get(head.transactionId);
    if (!entry) return;
    this.#forwarded.get(dest)!.delete(head.transactionId);
    this.#answer(entry.source, head.transactionId, head.status, head.comment, {
      toPath: [entry.previousHop],
      fromPath: [entry.ownUri],
    });
  }

  // --- AUTH (RFC 4976 §5.1) -------------------------------------------------

  #auth(source: Link, head: RequestHead, policy: Policy): ChunkReceiver | undefined {
    if (head.toPath.length !== 1 || sessionIdOf(head.toPath[0]) !== undefined) {
      return this.#refuse(source, head, Status.Forbidden, "AUTH is answered by the first hop only");
    }
    if (head.fromPath.length !== 1) {
      return this.#refuse(source, head, Status.BadRequest, "AUTH needs one From-Path URI");
    }
    const o = policy.options;
    const min = o.minExpires ?? DEFAULT_MIN_EXPIRES;
    const max = o.maxExpires ?? DEFAULT_MAX_EXPIRES;
    const headers: [string, string][] = [];
    const reply = (status: number, comment?: string): undefined => {
      this.#answer(source, head.transactionId, status, comment ?? reasonPhrase(status), {
        toPath: head.fromPath,
        fromPath: head.toPath,
        headers,
      });
      return undefined;
    };
    if (o.password !== undefined) {
      const realm = o.realm ?? "msrp-bridge";
      const authorization = head.headers.get("authorization");
      if (authorization === undefined || policy.nonce === undefined) {
        policy.nonce = newChallenge(realm).nonce;
        headers.push([
          "WWW-Authenticate",
          formatChallenge({ realm, nonce: policy.nonce, qop: "auth" }),
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
            expectedNonce: policy.nonce,
            realm,
          });
      } catch (e) {
        return reply(e instanceof MsrpError ? e.status : Status.BadRequest, "bad Authorization");
      }
      if (!valid) return reply(Status.Forbidden, "wrong credentials");
    }
    const asked = head.headers.get("expires")?.trim();
    let expires = Math.max(min, Math.min(max, o.defaultExpires ?? DEFAULT_EXPIRES));
    if (asked !== undefined) {
      if (!DIGITS.test(asked)) return reply(Status.BadRequest, "bad Expires");
      expires = Number(asked);
      // RFC 4976 §5.2: outside our bounds is 423 naming the bound that was crossed.
      if (expires < min) {
        headers.push(["Min-Expires", String(min)]);
        return reply(Status.IntervalOutOfBounds);
      }
      if (expires > max) {
        headers.push(["Max-Expires", String(max)]);
        return reply(Status.IntervalOutOfBounds);
      }
    }
    const grant = this.#grantFor(source, policy, head.fromPath[0]);
    grant.expiresAt = Date.now() + expires * 1000;
    headers.push(["Use-Path", grant.uri], ["Expires", String(expires)]);
    return reply(Status.OK);
  }

  // A refresh from the same client keeps its Use-Path.
  #grantFor(link: Link, policy: Policy, clientUri: string): Grant {
    for (const g of this.#grants.values()) {
      if (g.link === link && sameUri(g.clientUri, clientUri)) return g;
    }
    const id = this.#host.newId();
    const grant: Grant = { id, uri: `${policy.base}/${id};ws`, clientUri, link, expiresAt: 0 };
    this.#grants.set(id, grant);
    return grant;
  }

  #grant(uri: string): Grant | undefined {
    const id = sessionIdOf(uri);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    if (!grant || !sameUri(uri, grant.uri) || grant.expiresAt <= Date.now()) return undefined;
    return grant;
  }

  #loop(grant: Grant): Link {
    if (grant.loop && !grant.loop.closed) return grant.loop;
    const loop = new Link(this.#host);
    const input: FrameHandler = new LoopInput(this, loop);
    loop.connection = new LoopConnection(loop, grant.link, input);
    this.#loops.add(loop);
    loop.onClosed = () => {
      this.#loops.delete(loop);
      this.#forwarded.delete(loop);
    };
    grant.loop = loop;
    return loop;
  }

  // --- forwarding (RFC 4976 §7) --------------------------------------------

  #forward(
    source: Link,
    received: RequestHead,
    out: RequestHead,
    dest: Link | Promise<Link>,
  ): ChunkReceiver {
    const expectsResponse = received.method !== "REPORT" && !noFailureReport(received);
    const start = (link: Link): ChunkReceiver => {
      if (expectsResponse) this.#expect(link, source, received);
      return this.#writer(source, link, out);
    };
    if (dest instanceof Link) return start(dest);
    // The next hop is being dialed: hold this chunk until it is connected.
    const held: Uint8Array[] = [];
    let flag: ContinuationFlag | undefined;
    let target: ChunkReceiver | undefined;
    let dropped = false;
    dest.then((link) => {
      if (dropped) return;
      target = start(link);
      for (const b of held) target.body(b);
      held.length = 0;
      if (flag !== undefined) target.end(flag);
    }, (e) => {
      dropped = true;
      held.length = 0;
      const why = e instanceof Error ? e.message : String(e);
      this.#refuse(source, received, Status.SessionDoesNotExist, `next hop unreachable: ${why}`);
    });
    return {
      body: (b) => {
        if (target) target.body(b);
        else if (!dropped) held.push(b);
      },
      end: (f) => {
        if (target) target.end(f);
        else flag = f;
      },
      fail: () => {
        if (target) target.end("#");
        else dropped = true;
      },
    };
  }

  #expect(dest: Link, source: Link, received: RequestHead): void {
    let map = this.#forwarded.get(dest);
    if (!map) this.#forwarded.set(dest, map = new Map());
    // Forget transactions older than the timeout (Failure-Report: partial gets no 200).
    const now = Date.now();
    for (const [tid, f] of map) {
      if (now - f.at < this.#host.transactionTimeoutMs) break;
      map.delete(tid);
    }
    map.set(received.transactionId, {
      source,
      previousHop: received.fromPath[0],
      ownUri: received.toPath[0],
      at: now,
    });
  }

  // Writes the request to the next hop as it arrives; the transaction id is
  // kept, its end-line does not occur in the body (RFC 4975 §7.1).
  #writer(source: Link, dest: Link, out: RequestHead): ChunkReceiver {
    if (this.#loops.has(dest)) {
      dest.head(out);
      return { body: (b) => dest.body(b), end: (f) => dest.end(f), fail: () => dest.end("#") };
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
      // Reading from the source pauses while the next hop's queue is full.
      body: (b) => source.track(dest.send([b]).catch(() => {}), b.length),
      end: (f) => dest.post([encodeEndLine(out.transactionId, f, hasBody)]),
      fail: () => dest.post([encodeEndLine(out.transactionId, "#", hasBody)]),
    };
  }

  #refuse(source: Link, head: RequestHead, status: number, comment?: string): undefined {
    // REPORTs are never answered; Failure-Report: no asks for no response (RFC 4975 §7.2).
    if (head.method === "REPORT" || noFailureReport(head)) return undefined;
    this.#answer(source, head.transactionId, status, comment ?? reasonPhrase(status), {
      toPath: head.method === "SEND" ? [head.fromPath[0]] : head.fromPath,
      fromPath: [head.toPath[0]],
    });
    return undefined;
  }

  #answer(
    to: Link,
    transactionId: string,
    status: number,
    comment: string,
    paths: {
      toPath: readonly string[];
      fromPath: readonly string[];
      headers?: [string, string][];
    },
  ): void {
    if (this.#loops.has(to)) {
      // A session of ours behind the loop: hand it the response as if read.
      const head: ResponseHead = {
        kind: "response",
        transactionId,
        status,
        comment,
        headers: paths.headers ? new MsrpHeaders(paths.headers) : EMPTY_HEADERS,
        toPath: paths.toPath,
        fromPath: paths.fromPath,
      };
      to.head(head);
      return;
    }
    to.post([encodeResponse({ transactionId, status, comment, ...paths })]);
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
