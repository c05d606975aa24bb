/**
 * Relay client (RFC 4976): registers an endpoint with a relay by AUTH with
 * digest challenge/response, Use-Path and Expires, refreshed before expiry.
 *
 * @module
 */

import {
  answerChallenge,
  effectivePort,
  encodeRequest,
  formatAuthorization,
  MsrpError,
  newTransactionId,
  parseChallenge,
  parseMsrpUri,
  parsePath,
  type ResponseHead,
  Status,
} from "../msrp/mod.ts";
import {
  type MsrpEndpoint,
  newSessionId,
  type RelayRoute,
  type RouterLink,
} from "../session/mod.ts";
import { connect } from "../transport/mod.ts";

/** Where and how to authenticate with a relay. */
export interface RelayOptions {
  /** The relay's URI, e.g. `msrp://relay.example.net:2856;tcp` (`msrps:` for TLS). */
  readonly uri: string;
  /** Digest user name. */
  readonly username: string;
  /** Digest password; never logged. */
  readonly password: string;
  /** Expires to ask for, in seconds (RFC 4976 §5.2); the relay's choice when omitted. */
  readonly expires?: number;
  /** CA certificates (PEM) trusted for an `msrps` relay. */
  readonly caCerts?: string[];
  /** SHA-256 fingerprint the relay's certificate must have. */
  readonly fingerprint?: string;
  /** Accept any relay certificate (explicit opt-in only). */
  readonly insecure?: boolean;
}

/** A successful AUTH: our Use-Path at the relay and how long it holds. */
export interface RelayGrant {
  /** URIs to put in front of our own in `a=path` (RFC 4976 §5.3). */
  readonly usePath: readonly string[];
  /** Seconds the grant is valid. */
  readonly expires: number;
}

const MAX_ROUNDS = 4;
const DEFAULT_EXPIRES = 3600;

/**
 * Runs the AUTH exchange on a relay connection (RFC 4976 §5.1): answers
 * digest challenges (also repeated ones), adjusts Expires on 423 within the
 * relay's Min-Expires/Max-Expires and returns the grant. Throws
 * {@linkcode MsrpError} with the relay's status otherwise (403 for wrong
 * credentials, 423 when the relay names no bound to move to; any other
 * code, e.g. a non-MSRP 420, fails at once).
 */
export async function authenticate(
  link: RouterLink,
  clientUri: string,
  options: RelayOptions,
): Promise<RelayGrant> {
  let authorization: string | undefined;
  let expires = options.expires;
  let nc = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const transactionId = newTransactionId();
    const headers: [string, string][] = [];
    if (authorization) headers.push(["Authorization", authorization]);
    if (expires !== undefined) headers.push(["Expires", String(expires)]);
    const response: ResponseHead = await link.request(
      transactionId,
      encodeRequest({
        transactionId,
        method: "AUTH",
        toPath: [options.uri],
        fromPath: [clientUri],
        headers,
      }),
    );
    const h = response.headers;
    switch (response.status) {
      case Status.OK: {
        const usePath = parsePath(h.get("use-path") ?? "");
        if (usePath.length === 0) {
          throw new MsrpError(Status.BadRequest, "relay accepted AUTH without a Use-Path");
        }
        const granted = Number(h.get("expires") ?? DEFAULT_EXPIRES);
        return { usePath, expires: Number.isFinite(granted) ? granted : DEFAULT_EXPIRES };
      }
      case Status.Unauthorized: {
        const challenge = parseChallenge(h.get("www-authenticate") ?? "");
        const credentials = answerChallenge(challenge, {
          username: options.username,
          password: options.password,
          uri: options.uri,
          nc: ++nc,
        });
        authorization = formatAuthorization(credentials);
        continue;
      }
      case Status.IntervalOutOfBounds: {
        // RFC 4976 §5.2: retry within the relay's bounds; a 423 that names
        // no bound our request is outside of cannot be satisfied.
        const min = Number(h.get("min-expires"));
        const max = Number(h.get("max-expires"));
        let next = expires;
        if (Number.isFinite(min) && min > 0) next = Math.max(next ?? min, min);
        if (Number.isFinite(max) && max > 0) next = Math.min(next ?? max, max);
        if (next === expires) {
          throw new MsrpError(
            Status.IntervalOutOfBounds,
            `relay refused Expires ${expires ?? "(none)"} without a usable Min-Expires/Max-Expires`,
          );
        }
        expires = next;
        continue;
      }
      case Status.Forbidden:
        throw new MsrpError(Status.Forbidden, "the relay refused the credentials");
      default:
        // Any other code is final, 420 included: MSRP has no 420 (the IANA
        // MSRP status registry of RFC 4975 §15 / RFC 4976 §10 holds 200, 400,
        // 401, 403, 408, 413, 415, 423, 481, 501, 506 and RFC 7701's codes).
        // RFC 4976 signals an unacceptable Expires with 423 only; "420 Bad
        // Extension" is SIP's and has no MSRP meaning, so nothing can be
        // changed and retried: the AUTH fails with the relay's status.
        throw new MsrpError(
          response.status,
          `relay answered AUTH with ${response.status} ${response.comment}`.trim(),
        );
    }
  }
  throw new MsrpError(Status.Forbidden, "relay kept challenging AUTH");
}

/** Seconds before expiry at which a grant is renewed. */
export function refreshDelaySeconds(expires: number): number {
  // Renew at 80 % of the grant, and at least 10 s before it lapses.
  return Math.max(1, Math.min(expires * 0.8, expires - 10));
}

/**
 * An authenticated relay connection shared by sessions (RFC 4976 §5): keeps
 * the grant fresh until closed. Fires `close` when it ends. Sessions created
 * with `usePath: registration.usePath` are reachable through it, and
 * `MsrpEndpoint.connectSession` with `relay: registration` sends through it.
 */
export class RelayRegistration extends EventTarget implements RelayRoute {
  /** The relay's URI. */
  readonly uri: string;
  /** The URI we authenticated as (AUTH From-Path). */
  readonly clientUri: string;
  /** The relay connection. */
  readonly link: RouterLink;
  #grant: RelayGrant;
  readonly #options: RelayOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Wraps a fresh grant; {@linkcode registerWithRelay} calls this. */
  constructor(link: RouterLink, clientUri: string, options: RelayOptions, grant: RelayGrant) {
    super();
    this.uri = options.uri;
    this.clientUri = clientUri;
    this.link = link;
    this.#options = options;
    this.#grant = grant;
    link.onClosed = () => this.close("relay connection lost");
    this.#schedule();
  }

  /** Our Use-Path at the relay. */
  get usePath(): readonly string[] {
    return this.#grant.usePath;
  }

  /** Seconds the current grant is valid. */
  get expires(): number {
    return this.#grant.expires;
  }

  /** True once closed or lost. */
  get closed(): boolean {
    return this.#closed || this.link.closed;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => this.#refresh(), refreshDelaySeconds(this.expires) * 1000);
    Deno.unrefTimer(this.#timer);
  }

  async #refresh(): Promise<void> {
    try {
      this.#grant = await authenticate(this.link, this.clientUri, this.#options);
      if (!this.#closed) this.#schedule();
    } catch (e) {
      this.close(`relay refresh failed: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Ends the registration and closes the relay connection (its sessions end too). */
  close(reason = "relay registration closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.link.pinned = false;
    this.link.connection.close(new Error(reason));
    this.dispatchEvent(new Event("close"));
  }
}

/**
 * Connects `endpoint` to a relay and authenticates (RFC 4976 §5): the
 * relay connection is one of the endpoint's, kept open with no session on
 * it until the registration closes.
 *
 * @example Register, then connect a session through the relay
 * ```ts ignore
 * import { MsrpEndpoint, registerWithRelay } from "../../mod.ts";
 *
 * const endpoint = new MsrpEndpoint({ port: 0 }).listen();
 * const relay = await registerWithRelay(endpoint, {
 *   uri: "msrp://relay.example.net:2856;tcp",
 *   username: "alice",
 *   password: "secret",
 * });
 * const session = endpoint.createSession({ usePath: relay.usePath });
 * await endpoint.connectSession(session, ["msrp://peer.example.net:2855/abc;tcp"], { relay });
 * ```
 *
 * @throws {MsrpError} when the relay refuses AUTH (see {@linkcode authenticate}),
 * and the errors of `connect`.
 */
export async function registerWithRelay(
  endpoint: MsrpEndpoint,
  options: RelayOptions,
): Promise<RelayRegistration> {
  const relay = parseMsrpUri(options.uri);
  const conn = await connect({
    hostname: relay.host,
    port: effectivePort(relay),
    tls: relay.scheme === "msrps",
    caCerts: options.caCerts,
    fingerprint: options.fingerprint,
    insecure: options.insecure,
  });
  const link = endpoint.adopt(conn);
  link.pinned = true;
  const clientUri = `${endpoint.scheme}://${endpoint.authority}/${newSessionId()};tcp`;
  try {
    const grant = await authenticate(link, clientUri, options);
    return new RelayRegistration(link, clientUri, options, grant);
  } catch (e) {
    link.connection.close();
    throw e;
  }
}
