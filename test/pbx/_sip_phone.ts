/**
 * A minimal SIP user agent over TCP for tests against a real FreeSWITCH
 * (RFC 3261, only what a call needs): INVITE with an SDP body, provisional
 * responses, the 200 OK and its ACK, the ACK of a final failure, BYE in both
 * directions. No authentication, no retransmissions (TCP), no forking.
 *
 * @module
 */

import {
  headerOf,
  serializeSip,
  SipConnection,
  type SipMessage,
  sipRandom,
  statusOf,
} from "../../src/pbx/_sip_message.ts";

export { headerOf, type SipMessage, statusOf };

/** A final failure response to an INVITE. */
export class SipFailure extends Error {
  /** The SIP status code, for example 488. */
  readonly status: number;
  /** Creates the error from the final response. */
  constructor(response: SipMessage) {
    super(`INVITE failed: ${response.startLine}`);
    this.name = "SipFailure";
    this.status = statusOf(response);
  }
}

/** Options of {@linkcode SipPhone.open}. */
export interface SipPhoneOptions {
  /** The SIP server (FreeSWITCH profile), TCP. */
  readonly server: { readonly hostname: string; readonly port: number };
  /** Our user part; `alice` by default. */
  readonly user?: string;
  /** Our display name; `Alice Example` by default. */
  readonly displayName?: string;
}

/** An established call (after the 200 OK and our ACK). */
export class SipCall {
  /** The Call-ID. */
  readonly callId: string;
  /** The SDP of the 200 OK. */
  readonly answerSdp: string;
  /** Every response to the INVITE, in order (provisional ones included). */
  readonly responses: readonly SipMessage[];
  /** Resolves when the server sends BYE (we answer it 200). */
  readonly remoteBye: Promise<void>;
  readonly #phone: SipPhone;
  readonly #dialog: _Dialog;

  /** @internal */
  constructor(phone: SipPhone, dialog: _Dialog, responses: SipMessage[]) {
    this.#phone = phone;
    this.#dialog = dialog;
    this.callId = dialog.callId;
    this.answerSdp = responses.at(-1)?.body ?? "";
    this.responses = responses;
    this.remoteBye = dialog.remoteBye.promise;
  }

  /** Sends BYE and resolves with the status of its final response. */
  bye(): Promise<number> {
    return this.#phone.bye(this.#dialog);
  }
}

interface _Dialog {
  readonly callId: string;
  readonly fromTag: string;
  toHeader: string;
  remoteTarget: string;
  cseq: number;
  readonly remoteBye: PromiseWithResolvers<void>;
}

interface _Transaction {
  readonly cseq: string;
  readonly onResponse: (response: SipMessage) => void;
}

/**
 * The user agent: one TCP connection to the server for what we send, and a
 * TCP listener (our Contact) for requests the server sends on a connection of
 * its own. `close()` it at the end of every test.
 */
export class SipPhone {
  readonly #server: SipConnection;
  readonly #listener: Deno.TcpListener;
  readonly #accepted = new Set<SipConnection>();
  readonly #accepting: Promise<void>;
  readonly #user: string;
  readonly #displayName: string;
  readonly #host: string;
  readonly #serverUri: string;
  readonly #transactions = new Map<string, _Transaction>();
  readonly #dialogs = new Map<string, _Dialog>();

  private constructor(conn: Deno.TcpConn, options: SipPhoneOptions) {
    this.#user = options.user ?? "alice";
    this.#displayName = options.displayName ?? "Alice Example";
    this.#host = options.server.hostname;
    this.#serverUri = `${options.server.hostname}:${options.server.port}`;
    const listener = Deno.listen({ hostname: this.#host, port: 0 });
    this.#listener = listener;
    this.#server = new SipConnection(conn, (m, c) => this.#receive(m, c));
    this.#accepting = (async () => {
      try {
        for await (const accepted of listener) {
          this.#accepted.add(new SipConnection(accepted, (m, c) => this.#receive(m, c)));
        }
      } catch {
        // the listener was closed
      }
    })();
  }

  /** Connects to the server. */
  static async open(options: SipPhoneOptions): Promise<SipPhone> {
    const conn = await Deno.connect({ ...options.server, transport: "tcp" });
    return new SipPhone(conn, options);
  }

  /** Our Contact URI. */
  get contact(): string {
    return `sip:${this.#user}@${this.#host}:${this.#listener.addr.port};transport=tcp`;
  }

  /**
   * Sends an INVITE to `sip:<destination>@<server>` with `sdp`, waits for the
   * final response, ACKs it, and resolves with the call on a 2xx.
   *
   * @throws {SipFailure} on a final response of 300 or more.
   */
  async invite(
    destination: string,
    sdp: string,
    extraHeaders: [string, string][] = [],
  ): Promise<SipCall> {
    const requestUri = `sip:${destination}@${this.#serverUri}`;
    const dialog: _Dialog = {
      callId: `${sipRandom()}@${this.#host}`,
      fromTag: sipRandom(),
      toHeader: `<${requestUri}>`,
      remoteTarget: requestUri,
      cseq: 1,
      remoteBye: Promise.withResolvers<void>(),
    };
    const branch = `z9hG4bK${sipRandom()}`;
    const responses: SipMessage[] = [];
    const final = Promise.withResolvers<SipMessage>();
    this.#transactions.set(branch, {
      cseq: "1 INVITE",
      onResponse: (response) => {
        responses.push(response);
        if (statusOf(response) >= 200) final.resolve(response);
      },
    });
    await this.#server.write(serializeSip(`INVITE ${requestUri} SIP/2.0`, [
      ...this.#commonHeaders(dialog, branch, "1 INVITE"),
      ["Contact", `<${this.contact}>`],
      ["Content-Type", "application/sdp"],
      ...extraHeaders,
    ], sdp));
    const response = await final.promise;
    this.#transactions.delete(branch);
    dialog.toHeader = headerOf(response, "to") ?? dialog.toHeader;
    const status = statusOf(response);
    if (status >= 300) {
      // RFC 3261 §17.1.1.3: the ACK of a failure belongs to the INVITE transaction.
      await this.#server.write(serializeSip(`ACK ${requestUri} SIP/2.0`, [
        ...this.#commonHeaders(dialog, branch, "1 ACK"),
      ]));
      throw new SipFailure(response);
    }
    const contact = /<([^>]+)>/.exec(headerOf(response, "contact") ?? "")?.[1];
    dialog.remoteTarget = contact ?? requestUri;
    this.#dialogs.set(dialog.callId, dialog);
    await this.#server.write(serializeSip(`ACK ${dialog.remoteTarget} SIP/2.0`, [
      ...this.#commonHeaders(dialog, `z9hG4bK${sipRandom()}`, "1 ACK"),
    ]));
    return new SipCall(this, dialog, responses);
  }

  /**
   * Sends a pager-mode MESSAGE with a `text/plain` body to
   * `sip:<destination>@<server>`; resolves with the final status.
   */
  async message(destination: string, text: string): Promise<number> {
    const requestUri = `sip:${destination}@${this.#serverUri}`;
    const dialog: _Dialog = {
      callId: `${sipRandom()}@${this.#host}`,
      fromTag: sipRandom(),
      toHeader: `<${requestUri}>`,
      remoteTarget: requestUri,
      cseq: 1,
      remoteBye: Promise.withResolvers<void>(),
    };
    const branch = `z9hG4bK${sipRandom()}`;
    const final = Promise.withResolvers<number>();
    this.#transactions.set(branch, {
      cseq: "1 MESSAGE",
      onResponse: (response) => {
        if (statusOf(response) >= 200) final.resolve(statusOf(response));
      },
    });
    await this.#server.write(serializeSip(`MESSAGE ${requestUri} SIP/2.0`, [
      ...this.#commonHeaders(dialog, branch, "1 MESSAGE"),
      ["Content-Type", "text/plain"],
    ], text));
    const status = await final.promise;
    this.#transactions.delete(branch);
    return status;
  }

  /** @internal Sends BYE in a dialog; resolves with the final status. */
  async bye(dialog: _Dialog): Promise<number> {
    const branch = `z9hG4bK${sipRandom()}`;
    const cseq = `${++dialog.cseq} BYE`;
    const final = Promise.withResolvers<number>();
    this.#transactions.set(branch, {
      cseq,
      onResponse: (response) => {
        if (statusOf(response) >= 200) final.resolve(statusOf(response));
      },
    });
    await this.#server.write(serializeSip(`BYE ${dialog.remoteTarget} SIP/2.0`, [
      ...this.#commonHeaders(dialog, branch, cseq),
    ]));
    const status = await final.promise;
    this.#transactions.delete(branch);
    this.#dialogs.delete(dialog.callId);
    return status;
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const connection of [this.#server, ...this.#accepted]) connection.close();
    await Promise.all([this.#server, ...this.#accepted].map((c) => c.reading));
  }

  #commonHeaders(dialog: _Dialog, branch: string, cseq: string): [string, string][] {
    const local = `${this.#host}:${this.#listener.addr.port}`;
    return [
      ["Via", `SIP/2.0/TCP ${local};branch=${branch};rport`],
      ["Max-Forwards", "70"],
      ["From", `"${this.#displayName}" <sip:${this.#user}@${local}>;tag=${dialog.fromTag}`],
      ["To", dialog.toHeader],
      ["Call-ID", dialog.callId],
      ["CSeq", cseq],
    ];
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
    if (method === "BYE" && dialog) {
      this.#dialogs.delete(dialog.callId);
      dialog.remoteBye.resolve();
    }
  }
}
