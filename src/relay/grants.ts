/**
 * Who may send where through the WebSocket relay (RFC 4976 §5, §6.3): the
 * WebSockets it serves and the Use-Path grants of their clients, in one
 * table with one owner. Forwarding reads it; only AUTH, expiry and closing
 * WebSockets change it.
 *
 * @module
 */

import { sameMsrpUri, sessionIdOf } from "../msrp/mod.ts";
import { newSessionId, type RouterLink } from "../session/mod.ts";

/** A Use-Path URI granted to one client (RFC 4976 §5.1). */
export interface Grant {
  /** The session-id part of {@linkcode uri}. */
  readonly id: string;
  /** Our Use-Path URI for the client, `;ws`. */
  readonly uri: string;
  /** The client's URI (AUTH From-Path): the only one that may send through it. */
  readonly clientUri: string;
  /** The client's WebSocket. */
  readonly link: RouterLink;
  /** When it lapses (`Date.now()` milliseconds); 0 until AUTH granted it. */
  readonly expiresAt: number;
}

/** A WebSocket the relay serves. */
export interface Served {
  /** `msrp://host:port` or `msrps://…` of the WebSocket server. */
  readonly base: string;
  /** The client's IP address, the key of the AUTH throttle. */
  readonly clientIp: string;
  /** The nonce of the last digest challenge on this WebSocket. */
  nonce?: string;
}

interface Entry extends Grant {
  expiresAt: number;
}

/** The relay's grants and the WebSockets that hold them. */
export class GrantTable {
  readonly #maxGrants: number;
  readonly #dropped: (grant: Grant, reason: string) => void;
  readonly #served = new Map<RouterLink, Served & { readonly grants: Set<Entry> }>();
  readonly #grants = new Map<string, Entry>();

  /**
   * Creates a table holding at most `maxGrants` live grants per WebSocket;
   * `dropped` hears of every grant that ends.
   */
  constructor(maxGrants: number, dropped: (grant: Grant, reason: string) => void) {
    this.#maxGrants = maxGrants;
    this.#dropped = dropped;
  }

  /** Grants held now, expired ones included until {@linkcode expire} drops them. */
  get size(): number {
    return this.#grants.size;
  }

  /** Serves `link`, a WebSocket from `clientIp` whose URIs start with `base`. */
  serve(link: RouterLink, base: string, clientIp: string): void {
    this.#served.set(link, { base, clientIp, grants: new Set() });
  }

  /** The WebSocket `link` as served, or `undefined` when it is not one. */
  served(link: RouterLink): Served | undefined {
    return this.#served.get(link);
  }

  /**
   * The grant of `clientUri` on the served `link`: a refresh keeps its
   * Use-Path; a new client URI gets a new one, or none (`undefined`) while
   * the WebSocket holds the most live grants allowed.
   */
  grantFor(link: RouterLink, clientUri: string): Grant | undefined {
    const served = this.#served.get(link);
    if (!served) return undefined;
    const now = Date.now();
    let live = 0;
    for (const g of served.grants) {
      if (sameMsrpUri(g.clientUri, clientUri)) return g;
      if (g.expiresAt > now) live++;
    }
    if (live >= this.#maxGrants) return undefined;
    const id = newSessionId();
    const grant: Entry = { id, uri: `${served.base}/${id};ws`, clientUri, link, expiresAt: 0 };
    this.#grants.set(id, grant);
    served.grants.add(grant);
    return grant;
  }

  /** Makes `grant` last `seconds` from now (RFC 4976 §6.3). */
  renew(grant: Grant, seconds: number): void {
    const entry = this.#grants.get(grant.id);
    if (entry === grant) entry.expiresAt = Date.now() + seconds * 1000;
  }

  /** The grant whose URI `uri` is (RFC 4975 §6.1 comparison), expired or not. */
  named(uri: string): Grant | undefined {
    const id = sessionIdOf(uri);
    const grant = id === undefined ? undefined : this.#grants.get(id);
    return grant && sameMsrpUri(uri, grant.uri) ? grant : undefined;
  }

  /** The grant whose URI `uri` is, when it has not expired. */
  live(uri: string): Grant | undefined {
    const grant = this.named(uri);
    return grant && grant.expiresAt > Date.now() ? grant : undefined;
  }

  /** True while `grant` is held (not dropped). */
  holds(grant: Grant): boolean {
    return this.#grants.get(grant.id) === grant;
  }

  /** Ends `grant` with `reason`. */
  drop(grant: Grant, reason: string): void {
    const entry = this.#grants.get(grant.id);
    if (entry === undefined || entry !== grant) return;
    this.#grants.delete(entry.id);
    this.#served.get(entry.link)?.grants.delete(entry);
    this.#dropped(entry, reason);
  }

  /** Drops the grants that lapsed by `now` (RFC 4976 §6.3: the URI is invalidated). */
  expire(now: number): void {
    for (const grant of this.#grants.values()) {
      if (grant.expiresAt <= now) this.drop(grant, "the relay grant expired");
    }
  }

  /** `link` closed: when it was a WebSocket we served, its grants end. */
  linkClosed(link: RouterLink): void {
    for (const grant of this.#served.get(link)?.grants ?? []) {
      this.drop(grant, "the WebSocket client went away");
    }
    this.#served.delete(link);
  }
}
