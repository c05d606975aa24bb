/**
 * Sessions of our own endpoint reached through a grant (RFC 7977 §5): one
 * loop link per grant, whose bytes never touch a socket. What the sessions
 * write is parsed and routed by the relay; what the relay passes to them is
 * handed to the link as if read.
 *
 * @module
 */

import {
  type ContinuationFlag,
  encodeResponse,
  type FrameHandler,
  type FrameHead,
  MsrpError,
  MsrpHeaders,
  MsrpParser,
  type OutgoingResponse,
  reasonPhrase,
  type ResponseHead,
  Status,
} from "../msrp/mod.ts";
import type { ChunkReceiver, LinkConnection, MsrpEndpoint, RouterLink } from "../session/mod.ts";
import type { Grant } from "./grants.ts";

/** Routes a frame a session behind a loop link wrote; returns where its body goes. */
export type LoopRoute = (loop: RouterLink, head: FrameHead) => ChunkReceiver | undefined;

const EMPTY_HEADERS = new MsrpHeaders();
const RESOLVED = Promise.resolve();

/** The loop links of the relay's grants. */
export class Loops {
  readonly #endpoint: MsrpEndpoint;
  readonly #route: LoopRoute;
  readonly #byGrant = new Map<Grant, RouterLink>();
  readonly #links = new Set<RouterLink>();

  /** Loops on `endpoint` whose sessions' frames go to `route`. */
  constructor(endpoint: MsrpEndpoint, route: LoopRoute) {
    this.#endpoint = endpoint;
    this.#route = route;
  }

  /** The loop link for sessions of ours reached through `grant`, opened when none is. */
  for(grant: Grant): RouterLink {
    const open = this.#byGrant.get(grant);
    if (open && !open.closed) return open;
    const loop = this.#endpoint.attach((link) =>
      new LoopConnection(link, grant.link, new LoopInput(link, this.#route))
    );
    this.#links.add(loop);
    this.#byGrant.set(grant, loop);
    return loop;
  }

  /** True when `link` is a loop link. */
  has(link: RouterLink): boolean {
    return this.#links.has(link);
  }

  /** `grant` was dropped: the sessions reached through it end with `reason`. */
  close(grant: Grant, reason: string): void {
    const loop = this.#byGrant.get(grant);
    this.#byGrant.delete(grant);
    loop?.connection.close(new Error(reason));
  }

  /** A link of the endpoint closed. */
  linkClosed(link: RouterLink): void {
    this.#links.delete(link);
  }

  /**
   * Gives `response` to the previous hop `to`: written to its connection,
   * or, for a session of ours behind a loop, handed to it as if read.
   */
  answer(to: RouterLink, response: OutgoingResponse): void {
    if (!this.#links.has(to)) {
      to.post([encodeResponse(response)]);
      return;
    }
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
  }
}

/**
 * A loop link's byte side: what the sessions on it write is parsed and
 * routed by the relay, never put on a socket.
 */
class LoopConnection implements LinkConnection {
  // Parsed as a byte stream: frames may come several to a send.
  readonly framed = false;
  readonly #parser: MsrpParser;
  readonly #link: RouterLink;
  readonly #client: RouterLink;

  constructor(link: RouterLink, client: RouterLink, handler: FrameHandler) {
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

/** Reads what sessions behind a loop link write. */
class LoopInput implements FrameHandler {
  readonly #loop: RouterLink;
  readonly #route: LoopRoute;
  #current: ChunkReceiver | undefined;

  constructor(loop: RouterLink, route: LoopRoute) {
    this.#loop = loop;
    this.#route = route;
  }

  head(head: FrameHead): void {
    this.#current = this.#route(this.#loop, head);
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
