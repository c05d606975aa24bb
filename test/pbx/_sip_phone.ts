/**
 * A minimal SIP user agent over TCP for tests against a real FreeSWITCH
 * (RFC 3261, only what a call needs): INVITE with an SDP body, provisional
 * responses, the 200 OK and its ACK, the ACK of a final failure, BYE in both
 * directions. No authentication, no retransmissions (TCP), no forking.
 *
 * @module
 */

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** Compact header forms (RFC 3261 §7.3.3) that a SIP stack may send. */
const _COMPACT: Record<string, string> = {
  i: "call-id",
  l: "content-length",
  c: "content-type",
  f: "from",
  t: "to",
  v: "via",
  m: "contact",
};

/** One SIP request or response. */
export interface SipMessage {
  /** The request line or the status line. */
  readonly startLine: string;
  /** Headers in order, names lower-cased, compact forms expanded. */
  readonly headers: readonly (readonly [string, string])[];
  /** The body. */
  readonly body: string;
}

/** The status code of a response, or 0 for a request. */
export function statusOf(message: SipMessage): number {
  const match = /^SIP\/2\.0 (\d{3})/.exec(message.startLine);
  return match ? Number(match[1]) : 0;
}

/** The first value of a header (name in any case). */
export function headerOf(message: SipMessage, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return message.headers.find(([n]) => n === wanted)?.[1];
}

/** Thrown when an INVITE gets a final failure response. */
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

function _random(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

function _serialize(startLine: string, headers: [string, string][], body = ""): Uint8Array {
  const bytes = _encoder.encode(body);
  const lines = [startLine, ...headers.map(([n, v]) => `${n}: ${v}`)];
  lines.push(`Content-Length: ${bytes.length}`, "", "");
  return _encoder.encode(lines.join("\r\n") + body);
}

/** Frames SIP messages on a TCP byte stream by their Content-Length. */
class _SipConnection {
  readonly conn: Deno.TcpConn;
  readonly reading: Promise<void>;
  #buffer = "";

  constructor(conn: Deno.TcpConn, onMessage: (message: SipMessage, from: _SipConnection) => void) {
    this.conn = conn;
    this.reading = (async () => {
      try {
        for await (const chunk of conn.readable) {
          this.#buffer += _decoder.decode(chunk, { stream: true });
          for (let message = this.#next(); message; message = this.#next()) {
            onMessage(message, this);
          }
        }
      } catch {
        // closed
      }
    })();
  }

  #next(): SipMessage | undefined {
    this.#buffer = this.#buffer.replace(/^(\r\n)+/, ""); // keep-alive CRLFs
    const end = this.#buffer.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const [startLine, ...lines] = this.#buffer.slice(0, end).split("\r\n");
    const headers = lines.map((line): [string, string] => {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      return [_COMPACT[name] ?? name, line.slice(colon + 1).trim()];
    });
    const length = Number(headers.find(([n]) => n === "content-length")?.[1] ?? "0");
    // Content-Length counts bytes; the test bodies are ASCII.
    if (this.#buffer.length < end + 4 + length) return undefined;
    const body = this.#buffer.slice(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.slice(end + 4 + length);
    return { startLine, headers, body };
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
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
  readonly #server: _SipConnection;
  readonly #listener: Deno.TcpListener;
  readonly #accepted = new Set<_SipConnection>();
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
    this.#server = new _SipConnection(conn, (m, c) => this.#receive(m, c));
    this.#accepting = (async () => {
      try {
        for await (const accepted of listener) {
          this.#accepted.add(new _SipConnection(accepted, (m, c) => this.#receive(m, c)));
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
      callId: `${_random()}@${this.#host}`,
      fromTag: _random(),
      toHeader: `<${requestUri}>`,
      remoteTarget: requestUri,
      cseq: 1,
      remoteBye: Promise.withResolvers<void>(),
    };
    const branch = `z9hG4bK${_random()}`;
    const responses: SipMessage[] = [];
    const final = Promise.withResolvers<SipMessage>();
    this.#transactions.set(branch, {
      cseq: "1 INVITE",
      onResponse: (response) => {
        responses.push(response);
        if (statusOf(response) >= 200) final.resolve(response);
      },
    });
    await this.#server.write(_serialize(`INVITE ${requestUri} SIP/2.0`, [
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
      await this.#server.write(_serialize(`ACK ${requestUri} SIP/2.0`, [
        ...this.#commonHeaders(dialog, branch, "1 ACK"),
      ]));
      throw new SipFailure(response);
    }
    const contact = /<([^>]+)>/.exec(headerOf(response, "contact") ?? "")?.[1];
    dialog.remoteTarget = contact ?? requestUri;
    this.#dialogs.set(dialog.callId, dialog);
    await this.#server.write(_serialize(`ACK ${dialog.remoteTarget} SIP/2.0`, [
      ...this.#commonHeaders(dialog, `z9hG4bK${_random()}`, "1 ACK"),
    ]));
    return new SipCall(this, dialog, responses);
  }

  /** @internal Sends BYE in a dialog; resolves with the final status. */
  async bye(dialog: _Dialog): Promise<number> {
    const branch = `z9hG4bK${_random()}`;
    const cseq = `${++dialog.cseq} BYE`;
    const final = Promise.withResolvers<number>();
    this.#transactions.set(branch, {
      cseq,
      onResponse: (response) => {
        if (statusOf(response) >= 200) final.resolve(statusOf(response));
      },
    });
    await this.#server.write(_serialize(`BYE ${dialog.remoteTarget} SIP/2.0`, [
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

  #receive(message: SipMessage, connection: _SipConnection): void {
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
    connection.write(_serialize(`SIP/2.0 ${status}`, copied)).catch(() => {});
    if (method === "BYE" && dialog) {
      this.#dialogs.delete(dialog.callId);
      dialog.remoteBye.resolve();
    }
  }
}
