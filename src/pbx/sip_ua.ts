/**
 * A minimal SIP user agent client over TCP (RFC 3261, only what an outbound
 * call needs): INVITE with an SDP body, provisional responses, the 2xx and
 * its ACK, the ACK of a final failure (§17.1.1.3), CANCEL (§9.1) on timeout
 * or when the caller gives up, BYE in both directions. No authentication, no retransmissions (TCP), no forking.
 * The bridge uses it to place MSRP calls through FreeSWITCH ("two-leg
 * bypass", §4.4 of the ESL reference).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import {
  headerOf,
  serializeSip,
  SipConnection,
  type SipMessage,
  sipRandom,
  statusOf,
} from "./_sip_message.ts";
import { assertDialSafe, parseSipUri } from "./sip_uri.ts";

export { headerOf, type SipMessage, statusOf };

/** How long a non-INVITE transaction (BYE) may take, as timer F of RFC 3261. */
const NON_INVITE_TIMEOUT_MS = 32_000;

/** Options of {@linkcode SipUserAgent.connect}. */
export interface SipUserAgentOptions {
  /** The SIP server (the FreeSWITCH profile), reached over TCP. */
  readonly server: { readonly hostname: string; readonly port: number };
  /** Our user part in From and Contact; `bridge` by default. */
  readonly user?: string;
  /** Our display name in From; none by default. */
  readonly displayName?: string;
  /**
   * Most bytes buffered from a connection without a complete SIP message
   * (64 KiB by default): a peer that sends more is disconnected, and logged.
   */
  readonly maxMessageBytes?: number;
  /** Where that disconnection is logged. */
  readonly logger?: Logger;
}

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** What {@linkcode SipUserAgent.invite} sends. */
export interface SipInviteOptions {
  /** The Request-URI, for example `sip:out@127.0.0.1:5080`. */
  readonly requestUri: string;
  /**
   * Extra headers, for example `["X-Msrp-Target", "sip:bob@host"]`. A PBX's
   * dialplan may put them in a dial string, so their values may hold none of
   * `, | [ ] { } $ ' " \ < >`, whitespace or control characters.
   */
  readonly headers?: readonly (readonly [string, string])[];
  /** The SDP offer. */
  readonly sdp: string;
  /** The Call-ID; a random one when omitted. */
  readonly callId?: string;
  /** After this long without a final response, the INVITE is cancelled. */
  readonly timeoutMs?: number;
  /**
   * Aborted before the final response, the INVITE is cancelled: CANCEL goes
   * out once a provisional response has arrived (RFC 3261 §9.1), and the
   * INVITE then normally ends with 487.
   */
  readonly signal?: AbortSignal;
}

/** The outcome of an INVITE. */
export interface SipInviteResult {
  /** The final status code. */
  readonly status: number;
  /** The reason phrase of the final response. */
  readonly reason: string;
  /** The final response. */
  readonly response: SipMessage;
  /** Every response to the INVITE in order, provisional ones included. */
  readonly responses: readonly SipMessage[];
  /** The SDP of a 2xx. */
  readonly answerSdp?: string;
  /** The dialog a 2xx established. */
  readonly dialog?: SipDialog;
}

interface _Transaction {
  readonly cseq: string;
  readonly onResponse: (response: SipMessage) => void;
  readonly onError: (error: Error) => void;
}

/**
 * An established call. Dispatches `bye` when the remote side sends BYE (it
 * is answered 200) or the connection to the server is lost.
 */
export class SipDialog extends EventTarget {
  /** The Call-ID. */
  readonly callId: string;
  readonly #ua: SipUserAgent;
  readonly #fromTag: string;
  readonly #toHeader: string;
  readonly #remoteTarget: string;
  #cseq = 1;
  #ended = false;

  /** @internal */
  constructor(
    ua: SipUserAgent,
    ids: { callId: string; fromTag: string; toHeader: string; remoteTarget: string },
  ) {
    super();
    this.#ua = ua;
    this.callId = ids.callId;
    this.#fromTag = ids.fromTag;
    this.#toHeader = ids.toHeader;
    this.#remoteTarget = ids.remoteTarget;
  }

  /** Whether BYE was sent or received. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Sends BYE and resolves with the final status; 0 when the dialog had already ended. */
  async bye(): Promise<number> {
    if (this.#ended) return 0;
    this.#ended = true;
    const response = await this.#ua.request(
      "BYE",
      this.#remoteTarget,
      this.#headers(`${++this.#cseq} BYE`),
      NON_INVITE_TIMEOUT_MS,
    );
    return statusOf(response);
  }

  /** @internal The remote side ended the dialog. */
  remoteEnded(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.dispatchEvent(new Event("bye"));
  }

  #headers(cseq: string): [string, string][] {
    return this.#ua.commonHeaders(this.callId, this.#fromTag, this.#toHeader, cseq);
  }
}

/**
 * The user agent: one TCP connection to the server for what we send, and a
 * TCP listener (our Contact) for requests the server sends on a connection
 * of its own. {@linkcode close} it when its calls are over.
 */
/** RFC 3261 Timer B: 64·T1 (T1 = 500 ms). */
const TIMER_B_MS = 32_000;

export class SipUserAgent {
  readonly #server: SipConnection;
  readonly #listener: Deno.TcpListener;
  readonly #accepted = new Set<SipConnection>();
  readonly #accepting: Promise<void>;
  readonly #user: string;
  readonly #from: string;
  readonly #host: string;
  readonly #transactions = new Map<string, _Transaction>();
  readonly #dialogs = new Map<string, SipDialog>();

  private constructor(conn: Deno.TcpConn, options: SipUserAgentOptions) {
    this.#user = options.user ?? "bridge";
    this.#host = (conn.localAddr as Deno.NetAddr).hostname;
    const listener = Deno.listen({ hostname: this.#host, port: 0 });
    this.#listener = listener;
    const name = options.displayName?.replace(/["\\\r\n]/g, "");
    this.#from = `${name ? `"${name}" ` : ""}<sip:${this.#user}@${this.#local}>`;
    const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const log = options.logger?.with({ component: "sip-ua" });
    const open = (tcp: Deno.TcpConn): SipConnection => {
      const remote = `${tcp.remoteAddr.hostname}:${tcp.remoteAddr.port}`;
      return new SipConnection(tcp, (m, c) => this.#receive(m, c), maxBytes, (buffered) => {
        log?.warn("sip connection closed: message too large", { remote, buffered, maxBytes });
      });
    };
    this.#server = open(conn);
    this.#server.reading.then(() => this.#lost());
    this.#accepting = (async () => {
      try {
        for await (const accepted of listener) {
          const connection = open(accepted);
          this.#accepted.add(connection);
          connection.reading.then(() => this.#accepted.delete(connection));
        }
      } catch {
        // the listener was closed
      }
    })();
  }

  /** Connects to the server; rejects when it cannot be reached. */
  static async connect(options: SipUserAgentOptions): Promise<SipUserAgent> {
    const conn = await Deno.connect({ ...options.server, transport: "tcp" });
    return new SipUserAgent(conn, options);
  }

  /** Our Contact URI. */
  get contact(): string {
    return `sip:${this.#user}@${this.#local};transport=tcp`;
  }

  get #local(): string {
    return `${this.#host}:${this.#listener.addr.port}`;
  }

  /**
   * Sends an INVITE with `sdp`, waits for the final response and ACKs it.
   * Resolves with the final status (a failure is not an error); rejects when
   * the connection is lost first.
   *
   * @throws {SipUriError} before sending anything, when the Request-URI is
   * not a SIP URI or an extra header value holds a character a dial string
   * must not (see {@linkcode SipInviteOptions.headers}).
   */
  async invite(options: SipInviteOptions): Promise<SipInviteResult> {
    const requestUri = parseSipUri(options.requestUri).text;
    for (const [name, value] of options.headers ?? []) assertDialSafe(value, `header ${name}`);
    const callId = options.callId ?? `${sipRandom()}@${this.#host}`;
    const fromTag = sipRandom();
    const branch = `z9hG4bK${sipRandom()}`;
    const base = this.commonHeaders(callId, fromTag, `<${requestUri}>`, "1 INVITE");
    const final = Promise.withResolvers<SipMessage>();
    const provisional = Promise.withResolvers<void>();
    const responses: SipMessage[] = [];
    this.#transactions.set(branch, {
      cseq: "1 INVITE",
      onResponse: (response) => {
        responses.push(response);
        if (statusOf(response) >= 200) final.resolve(response);
        else provisional.resolve();
      },
      onError: final.reject,
    });
    // RFC 3261 §9.1: CANCEL copies the INVITE's Via, From, To, Call-ID and CSeq number, and
    // is not sent before a provisional response.
    const cancelBytes = requestBytes(
      "CANCEL",
      requestUri,
      withCseq(withBranch(base, branch), "1 CANCEL"),
    );
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      provisional.promise.then(() => this.#server.write(cancelBytes)).catch(() => {});
      // RFC 3261 §17.1.1.2 (Timer B, 64·T1): a call that never rang, or whose CANCEL
      // never brings the final answer, ends here instead of waiting forever.
      clearTimeout(timer);
      timer = setTimeout(
        () => final.reject(new Error(`no final response to the INVITE within ${TIMER_B_MS} ms`)),
        TIMER_B_MS,
      );
    };
    options.signal?.addEventListener("abort", cancel, { once: true });
    if (options.signal?.aborted) cancel();
    try {
      await this.#server.write(requestBytes("INVITE", requestUri, [
        ...withBranch(base, branch),
        ["Contact", `<${this.contact}>`],
        ["Content-Type", "application/sdp"],
        ...(options.headers ?? []),
      ], options.sdp));
      if (options.timeoutMs !== undefined && !cancelled) {
        timer = setTimeout(cancel, options.timeoutMs);
      }
      const response = await final.promise;
      const status = statusOf(response);
      const reason = response.startLine.split(" ").slice(2).join(" ");
      const toHeader = headerOf(response, "to") ?? `<${requestUri}>`;
      if (status >= 300) {
        // RFC 3261 §17.1.1.3: the ACK of a failure belongs to the INVITE transaction.
        const ack = withCseq(withTo(withBranch(base, branch), toHeader), "1 ACK");
        await this.#server.write(requestBytes("ACK", requestUri, ack));
        return { status, reason, response, responses };
      }
      const contact = /<([^>]+)>/.exec(headerOf(response, "contact") ?? "")?.[1];
      const dialog = new SipDialog(this, {
        callId,
        fromTag,
        toHeader,
        remoteTarget: contact ?? requestUri,
      });
      this.#dialogs.set(callId, dialog);
      dialog.addEventListener("bye", () => this.#dialogs.delete(callId), { once: true });
      const ack = this.commonHeaders(callId, fromTag, toHeader, "1 ACK");
      await this.#server.write(
        requestBytes("ACK", contact ?? requestUri, withBranch(ack, `z9hG4bK${sipRandom()}`)),
      );
      return { status, reason, response, responses, answerSdp: response.body, dialog };
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", cancel);
      this.#transactions.delete(branch);
    }
  }

  /**
   * @internal Sends a non-INVITE request (with `body`, when given) and
   * resolves with its final response; rejects after `timeoutMs` or when the
   * connection is lost.
   */
  async request(
    method: string,
    uri: string,
    headers: [string, string][],
    timeoutMs: number,
    body?: string,
  ): Promise<SipMessage> {
    const branch = `z9hG4bK${sipRandom()}`;
    const cseq = headers.find(([n]) => n === "CSeq")?.[1] ?? "";
    const final = Promise.withResolvers<SipMessage>();
    this.#transactions.set(branch, {
      cseq,
      onResponse: (response) => {
        if (statusOf(response) >= 200) final.resolve(response);
      },
      onError: final.reject,
    });
    const timer = setTimeout(
      () => final.reject(new Error(`${method} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await this.#server.write(requestBytes(method, uri, withBranch(headers, branch), body));
      return await final.promise;
    } finally {
      clearTimeout(timer);
      this.#transactions.delete(branch);
    }
  }

  /** @internal Via (without branch), Max-Forwards, From, To, Call-ID and CSeq. */
  commonHeaders(
    callId: string,
    fromTag: string,
    toHeader: string,
    cseq: string,
  ): [string, string][] {
    return [
      ["Via", `SIP/2.0/TCP ${this.#local};rport`],
      ["Max-Forwards", "70"],
      ["From", `${this.#from};tag=${fromTag}`],
      ["To", toHeader],
      ["Call-ID", callId],
      ["CSeq", cseq],
    ];
  }

  /** Closes every connection and the listener; open dialogs are not ended. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    const connections = [this.#server, ...this.#accepted];
    for (const connection of connections) connection.close();
    await Promise.all(connections.map((c) => c.reading));
  }

  #lost(): void {
    const error = new Error("the connection to the SIP server was lost");
    for (const transaction of this.#transactions.values()) transaction.onError(error);
    for (const dialog of [...this.#dialogs.values()]) dialog.remoteEnded();
  }

  #receive(message: SipMessage, connection: SipConnection): void {
    if (statusOf(message) > 0) {
      const branch = /branch=([^;,\s]+)/.exec(headerOf(message, "via") ?? "")?.[1] ?? "";
      const transaction = this.#transactions.get(branch);
      if (transaction && headerOf(message, "cseq") === transaction.cseq) {
        transaction.onResponse(message);
      }
      return;
    }
    const method = message.startLine.split(" ")[0];
    if (method === "ACK") return;
    const dialog = this.#dialogs.get(headerOf(message, "call-id") ?? "");
    const status = method === "BYE" && dialog ? "200 OK" : "481 Call/Transaction Does Not Exist";
    const copied = message.headers
      .filter(([n]) => ["via", "from", "to", "call-id", "cseq"].includes(n))
      .map(([n, v]): [string, string] => [n, v]);
    connection.write(serializeSip(`SIP/2.0 ${status}`, copied)).catch(() => {});
    if (method === "BYE" && dialog) dialog.remoteEnded();
  }
}

function withBranch(headers: [string, string][], branch: string): [string, string][] {
  return headers.map(([n, v]) => [n, n === "Via" ? `${v};branch=${branch}` : v]);
}

function withCseq(headers: [string, string][], cseq: string): [string, string][] {
  return headers.map(([n, v]) => [n, n === "CSeq" ? cseq : v]);
}

function withTo(headers: [string, string][], to: string): [string, string][] {
  return headers.map(([n, v]) => [n, n === "To" ? to : v]);
}

function requestBytes(
  method: string,
  uri: string,
  headers: readonly (readonly [string, string])[],
  body?: string,
): Uint8Array {
  return serializeSip(`${method} ${uri} SIP/2.0`, headers, body);
}
