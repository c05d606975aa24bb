/**
 * Forwarding by To-Path (RFC 4976 §6.4): a request through one of the
 * relay's Use-Path URIs goes from the client to a session of our own
 * endpoint, to another client of ours or to a next hop the policy admits,
 * and from anyone to the client down its WebSocket. It reads the grant
 * table and never changes it.
 *
 * Forwarding goes at the pace of the next hop: reading from the previous hop
 * pauses while the next hop's write queue is above its high-water mark,
 * while a session behind it has too much waiting for its sink, and while the
 * next hop is being dialed. A request goes on as it arrives, except toward a
 * WebSocket, where it is gathered whole first: there each frame is one
 * message (RFC 7977 §4.2).
 *
 * @module
 */

import {
  type ContinuationFlag,
  encodeEndLine,
  encodeRequestHead,
  failureReportOf,
  refusalOf,
  type RequestHead,
  type ResponseHead,
  responseToPath,
  sameMsrpUri,
  Status,
} from "../msrp/mod.ts";
import type { ChunkReceiver, MsrpEndpoint, RouterLink } from "../session/mod.ts";
import type { Grant, GrantTable } from "./grants.ts";
import type { NextHops } from "./_hops.ts";
import type { Loops } from "./_loop.ts";
import { allowedHop, HOP_NOT_ALLOWED, type Policy } from "./policy.ts";
import { ForwardedTransactions } from "./_transactions.ts";

/**
 * Most bytes of a request gathered for a WebSocket next hop (one message per
 * frame, RFC 7977 §4.2); a larger one is refused with 413. Well below the
 * write queue's smallest cap (`MAX_QUEUED_BYTES`, 8 MiB at least).
 */
export const MAX_GATHERED_BYTES = 4 * 1024 * 1024;
const TOO_LARGE = "too large to pass on as one WebSocket message";

/** What forwarding reads and where it sends. */
export interface ForwardingParts {
  /** The endpoint whose sessions we deliver to. */
  readonly endpoint: MsrpEndpoint;
  /** Where the next hops it may dial are named. */
  readonly policy: Policy;
  /** The grant table, read only. */
  readonly grants: GrantTable;
  /** Next-hop connections. */
  readonly hops: NextHops;
  /** Links to our own sessions behind grants. */
  readonly loops: Loops;
  /** Called when a response timer starts (it wants sweeping). */
  readonly armed: () => void;
}

/** The relay's forwarding of requests and their responses. */
export class Forwarding {
  readonly #endpoint: MsrpEndpoint;
  readonly #policy: Policy;
  readonly #grants: GrantTable;
  readonly #hops: NextHops;
  readonly #loops: Loops;
  readonly #transactions: ForwardedTransactions;

  /** Forwarding over `parts`. */
  constructor(parts: ForwardingParts) {
    this.#endpoint = parts.endpoint;
    this.#policy = parts.policy;
    this.#grants = parts.grants;
    this.#hops = parts.hops;
    this.#loops = parts.loops;
    this.#transactions = new ForwardedTransactions(
      parts.endpoint.transactionTimeoutMs,
      parts.loops,
      parts.armed,
    );
  }

  /** Next hops with forwarded transactions pending. */
  get pendingHops(): number {
    return this.#transactions.size;
  }

  /**
   * Forwards `head`, received on `source` through the live `grant` its
   * first To-Path URI names; returns where its body goes (`undefined` when
   * it was refused at once).
   */
  request(source: RouterLink, head: RequestHead, grant: Grant): ChunkReceiver | undefined {
    this.#hops.used(source);
    const first = head.toPath[0];
    let rest = head.toPath.slice(1);
    // RFC 4976 §6.4.1: we leave To-Path and go in front of From-Path.
    let fromPath = [first, ...head.fromPath];
    // RFC 4976 §7: nothing after us in To-Path means no session to deliver to.
    if (rest.length === 0) return this.refuse(source, head, Status.SessionDoesNotExist);
    let dest: RouterLink | Promise<RouterLink>;
    let toward = grant;
    if (source === grant.link) {
      // From our client: only the URI that authenticated may send through its grant.
      if (head.fromPath.length !== 1 || !sameMsrpUri(head.fromPath[0], grant.clientUri)) {
        return this.refuse(source, head, Status.Forbidden);
      }
      const next = this.#grants.live(rest[0]);
      if (this.#endpoint.isLocalSession(rest[0])) dest = this.#loops.for(grant);
      else if (next) {
        // To another client of ours: we are its next hop too, down its WebSocket.
        toward = next;
        fromPath = [rest[0], ...fromPath];
        rest = rest.slice(1);
        dest = next.link;
      } else {
        const hop = allowedHop(this.#policy, rest[0]);
        // Decided on the URI alone: no connection tried, no name resolved,
        // the same answer whatever listens there.
        if (!hop) return this.refuse(source, head, Status.Forbidden, HOP_NOT_ALLOWED);
        dest = this.#hops.dial(grant, hop);
      }
    } else dest = grant.link;
    // Toward our client: it is the only hop we deliver to behind its URI.
    if (dest === toward.link && (rest.length !== 1 || !sameMsrpUri(rest[0], toward.clientUri))) {
      return this.refuse(source, head, Status.SessionDoesNotExist);
    }
    return this.#forward(source, head, { ...head, toPath: rest, fromPath }, dest);
  }

  /**
   * Passes a response that arrived on `dest` back to where its request came
   * from, as our own hop-by-hop response (RFC 4976 §6.4.3). Responses to
   * nothing we forwarded (or to requests already answered 408) are dropped.
   */
  response(dest: RouterLink, head: ResponseHead): void {
    const entry = this.#transactions.take(dest, head.transactionId);
    if (!entry) return;
    this.#hops.used(dest);
    const r = entry.received;
    this.#loops.answer(entry.source, {
      transactionId: head.transactionId,
      status: head.status,
      comment: head.comment,
      toPath: responseToPath(r.method, r.fromPath),
      fromPath: [r.toPath[0]],
    });
  }

  /** True while a forwarded transaction is pending to or from `link`. */
  involves(link: RouterLink): boolean {
    return this.#transactions.involves(link);
  }

  /** Answers the forwarded transactions overdue at `now` with 408. */
  sweep(now: number): void {
    this.#transactions.sweep(now);
  }

  /** `link` closed: the requests forwarded to it are answered 408 at once. */
  linkClosed(link: RouterLink): void {
    this.#transactions.linkClosed(link);
  }

  /** Refuses `head` from `source` with `status`, when a response is due at all. */
  refuse(source: RouterLink, head: RequestHead, status: number, comment?: string): undefined {
    const refusal = refusalOf(head, status, this.#endpoint.ownUri, comment);
    if (refusal) this.#loops.answer(source, refusal);
    return undefined;
  }

  #forward(
    source: RouterLink,
    received: RequestHead,
    out: RequestHead,
    dest: RouterLink | Promise<RouterLink>,
  ): ChunkReceiver {
    const expectsResponse = failureReportOf(received) !== "no";
    const start = (link: RouterLink): ChunkReceiver => {
      const entry = expectsResponse ? this.#transactions.expect(link, source, received) : undefined;
      const streamed = this.#hops.stream(source, link);
      return this.#writer(source, link, out, (passedOn) => {
        streamed();
        if (!entry) return;
        if (passedOn) this.#transactions.arm(link, entry);
        else {
          // Never passed on: answered here, nothing will come from the next hop.
          this.#transactions.take(link, received.transactionId);
          this.refuse(source, received, Status.RequestEntityTooLarge, TOO_LARGE);
        }
      });
    };
    if (!(dest instanceof Promise)) return start(dest);
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
      this.refuse(source, received, Status.SessionDoesNotExist, "next hop unreachable");
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
          this.refuse(source, received, e.status, e.message);
        }
      },
    };
  }

  // Writes the request to the next hop as it arrives; the transaction id is
  // kept, its end-line does not occur in the body (RFC 4975 §7.1). `done` is
  // called once the end-line was passed on, or with false when the request
  // was dropped (too large to gather).
  #writer(
    source: RouterLink,
    dest: RouterLink,
    out: RequestHead,
    done: (passedOn: boolean) => void,
  ): ChunkReceiver {
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
          done(true);
        },
        fail: () => {
          dest.end("#");
          done(true);
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
    const head = encodeRequestHead({ ...out, headers }, hasBody);
    // Reading from the source pauses while the next hop's queue is above its high-water mark.
    const paced = (): void => {
      if (dest.behind) source.hold(dest.connection.send([]));
    };
    if (dest.connection.framed) {
      return gathered(head, out.transactionId, hasBody, dest, paced, done);
    }
    dest.post([head]);
    return {
      body: (b) => {
        dest.post([b]);
        paced();
      },
      end: (f) => {
        dest.post([encodeEndLine(out.transactionId, f, hasBody)]);
        done(true);
      },
      fail: () => {
        dest.post([encodeEndLine(out.transactionId, "#", hasBody)]);
        done(true);
      },
    };
  }
}

/**
 * RFC 7977 §4.2: toward a WebSocket a request goes out as one message, so
 * it is gathered whole and posted at its end-line (a failed one with `#`,
 * as when streamed). One growing past {@linkcode MAX_GATHERED_BYTES} is
 * dropped and `done(false)` called.
 */
function gathered(
  head: Uint8Array,
  transactionId: string,
  hasBody: boolean,
  dest: RouterLink,
  paced: () => void,
  done: (passedOn: boolean) => void,
): ChunkReceiver {
  const parts = [head];
  let size = head.length;
  let dropped = false;
  const finish = (flag: ContinuationFlag): void => {
    if (dropped) return;
    parts.push(encodeEndLine(transactionId, flag, hasBody));
    dest.post(parts);
    paced();
    done(true);
  };
  return {
    body: (b) => {
      if (dropped) return;
      size += b.length;
      if (size <= MAX_GATHERED_BYTES) {
        parts.push(b);
        return;
      }
      dropped = true;
      parts.length = 0;
      done(false);
    },
    end: finish,
    fail: () => finish("#"),
  };
}
