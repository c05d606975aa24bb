/**
 * The relay role of our WebSocket server (RFC 7977 §5, RFC 4976): browser
 * clients AUTH over their WebSocket and get a Use-Path naming this server;
 * requests are then forwarded hop by hop by To-Path (RFC 4976 §6.4): from the
 * client to a session of our own endpoint or to any other MSRP URI, and from
 * anyone to the client down its WebSocket.
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
  msrpUriEquals,
  newChallenge,
  parseAuthorization,
  reasonPhrase,
  reportPolicy,
  type ReportRequest,
  type RequestHead,
  type ResponseHead,
  sessionIdOf,
  Status,
  transactionIdFor,
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

// The Failure-Report of a request; a malformed one is the default, "yes".
function failureReportOf(head: RequestHead): ReportRequest {
  try {
    return reportPolicy(head).failureReport;
  } catch {
    return "yes";
  }
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
  /** Requests forwarded to each next hop, by transaction id. */
  readonly #forwarded = new Map<Link, Map<string, Forwarded>>();
  /** Sweeps expired grants and overdue forwarded requests while there are any. */
  #timer: ReturnType<typeof setInterval> | undefined;

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
    this.#policies.delete(link);
    this.#loops.delete(link);
    for (const grant of this.#grants.values()) {
      if (grant.link === link) this.#dropGrant(grant, "the WebSocket client went away");
    }
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
      const policy = this.#policies.get(source);
      return policy ? this.#auth(source, head, policy) : false;
    }
    const first = head.toPath[0];
    const id = sessionIdOf(first);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    if (!grant || !sameUri(first, grant.uri)) return false;
    if (grant.expiresAt <= Date.now()) {
      this.#dropGrant(grant, "the relay grant expired");
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
    // RFC 4976 §6.4.1: we leave To-Path and go in front of From-Path.
    const out: RequestHead = { ...head, toPath: rest, fromPath: [first, ...head.fromPath] };
    return this.#forward(source, head, out, dest);
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
    this.#answer(entry.source, head.transactionId, head.status, head.comment, {
      toPath: [entry.received.fromPath[0]],
      fromPath: [entry.received.toPath[0]],
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
    // RFC 4976 §6.3: the URI is invalidated after the expiry time.
    this.#startTimer();
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

  #dropGrant(grant: Grant, reason: string): void {
    if (this.#grants.get(grant.id) !== grant) return;
    this.#grants.delete(grant.id);
    grant.loop?.connection.close(new Error(reason));
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
    grant.loop = loop;
    return loop;
  }

  // --- forwarding (RFC 4976 §6.4) ------------------------------------------

  #forward(
    source: Link,
    received: RequestHead,
    out: RequestHead,
    dest: Link | Promise<Link>,
  ): ChunkReceiver {
    const expectsResponse = received.method !== "REPORT" && !noFailureReport(received);
    const start = (link: Link): ChunkReceiver => {
      const entry = expectsResponse ? this.#expect(link, source, received) : undefined;
      return this.#writer(source, link, out, () => entry && this.#arm(link, entry));
    };
    if (dest instanceof Link) return start(dest);
    // The next hop is being dialed: reading from the source pauses until it
    // is connected or failed, so only what one read brought waits here.
    source.hold(dest);
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
   * relay, the sender a 408 REPORT.
   */
  #timedOut(entry: Forwarded, reason: string): void {
    const r = entry.received;
    if (entry.source.closed || failureReportOf(r) !== "yes") return;
    this.#answer(entry.source, r.transactionId, Status.RequestTimeout, reason, {
      toPath: [r.fromPath[0]],
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
    if (this.#grants.size > 0 || this.#forwarded.size > 0 || this.#timer === undefined) return;
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
      // Reading from the source pauses while the next hop's queue is above its high-water mark.
      body: (b) => source.hold(dest.send([b])),
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
