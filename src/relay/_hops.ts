/**
 * Connections the relay dialed to next hops (RFC 4976 §6.4.1), kept while
 * used and closed once idle, instead of one to every next hop ever dialed
 * staying open for the life of the process.
 *
 * @module
 */

import type { MsrpUri } from "../msrp/mod.ts";
import type { MsrpEndpoint, RouterLink } from "../session/mod.ts";
import type { Grant } from "./grants.ts";

/** A connection the relay dialed to a next hop. */
interface Hop {
  /** Requests being passed on to it or from it whose end-line did not come yet. */
  streams: number;
  /** Last time a request or response went through it. */
  lastUsed: number;
  /** Grants whose clients sent through it: it stays open while one lives. */
  readonly grants: Set<Grant>;
}

/** The next-hop connections of the relay. */
export class NextHops {
  readonly #endpoint: MsrpEndpoint;
  readonly #idleMs: number;
  readonly #opened: () => void;
  readonly #hops = new Map<RouterLink, Hop>();

  /**
   * Next hops dialed through `endpoint`, closed once unused for `idleMs`;
   * `opened` hears of each new one (it wants sweeping).
   */
  constructor(endpoint: MsrpEndpoint, idleMs: number, opened: () => void) {
    this.#endpoint = endpoint;
    this.#idleMs = idleMs;
    this.#opened = opened;
  }

  /** Next-hop connections open now. */
  get size(): number {
    return this.#hops.size;
  }

  /** A connection to `uri` for `grant`'s client, opened or shared, kept while used. */
  dial(grant: Grant, uri: MsrpUri): Promise<RouterLink> {
    return this.#endpoint.linkTo(uri).then((link) => {
      let hop = this.#hops.get(link);
      if (!hop && !link.closed) {
        this.#hops.set(link, hop = { streams: 0, lastUsed: Date.now(), grants: new Set() });
        this.#opened();
      }
      hop?.grants.add(grant);
      return link;
    });
  }

  /** A request or response went through `link`. */
  used(link: RouterLink): void {
    const hop = this.#hops.get(link);
    if (hop) hop.lastUsed = Date.now();
  }

  /**
   * A request streams from `source` to `dest`: those that are next hops
   * stay open until the returned function says its end-line was passed on.
   */
  stream(source: RouterLink, dest: RouterLink): () => void {
    const hops = [this.#hops.get(source), this.#hops.get(dest)];
    for (const hop of hops) if (hop) hop.streams++;
    return () => {
      const now = Date.now();
      for (const hop of hops) {
        if (!hop) continue;
        hop.streams--;
        hop.lastUsed = now;
      }
    };
  }

  /**
   * Closes the next hops idle at `now`: nothing streaming, no grant that
   * used it still `held`, no session of ours on it, unused for the idle
   * time, and no forwarded transaction `pending` to or from it.
   */
  closeIdle(
    now: number,
    held: (grant: Grant) => boolean,
    pending: (link: RouterLink) => boolean,
  ): void {
    for (const [link, hop] of this.#hops) {
      for (const g of hop.grants) if (!held(g)) hop.grants.delete(g);
      if (
        hop.streams > 0 || hop.grants.size > 0 || link.inUse ||
        now - hop.lastUsed < this.#idleMs || pending(link)
      ) continue;
      this.#hops.delete(link);
      link.connection.close();
      // Closed at once, so that no request is routed to it meanwhile.
      link.connectionClosed();
    }
  }

  /** A link of the endpoint closed. */
  linkClosed(link: RouterLink): void {
    this.#hops.delete(link);
  }
}
