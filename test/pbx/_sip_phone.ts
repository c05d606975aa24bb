/**
 * The SIP phone of the tests against a real FreeSWITCH: the product's own
 * user agent (`src/pbx/sip_ua.ts`, SIP over TCP) as a caller with a name —
 * INVITE with an SDP body answered by a dialog, BYE both ways — plus a
 * pager-mode MESSAGE.
 *
 * @module
 */

import { headerOf, type SipMessage, sipRandom, statusOf } from "../../src/pbx/_sip_message.ts";
import { type SipDialog, type SipInviteResult, SipUserAgent } from "../../src/pbx/sip_ua.ts";
import { deadlineOnAwait } from "../_until.ts";

export { headerOf, type SipMessage, statusOf };

/** How long a non-INVITE transaction may take (timer F, RFC 3261 §17.1.2.2). */
const NON_INVITE_TIMEOUT_MS = 32_000;

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
  /**
   * Resolves when the server sends BYE (we answer it 200); awaiting it fails
   * after the hang guard (the clock starts at the first await).
   */
  readonly remoteBye: Promise<void>;
  readonly #dialog: SipDialog;

  /** Wraps the dialog of a 2xx. */
  constructor(result: SipInviteResult & { dialog: SipDialog }) {
    this.#dialog = result.dialog;
    this.callId = result.dialog.callId;
    this.answerSdp = result.answerSdp ?? "";
    this.responses = result.responses;
    this.remoteBye = deadlineOnAwait(
      new Promise((resolve) =>
        result.dialog.addEventListener("bye", () => resolve(), { once: true })
      ),
      `a BYE from the server in call ${this.callId}`,
    );
  }

  /** Sends BYE and resolves with the status of its final response. */
  bye(): Promise<number> {
    return this.#dialog.bye();
  }
}

/** A phone registered nowhere: it calls and messages `sip:<destination>@<server>`. */
export class SipPhone {
  readonly #ua: SipUserAgent;
  readonly #server: string;

  private constructor(ua: SipUserAgent, server: string) {
    this.#ua = ua;
    this.#server = server;
  }

  /** Connects to the server. */
  static async open(options: SipPhoneOptions): Promise<SipPhone> {
    const ua = await SipUserAgent.connect({
      server: options.server,
      user: options.user ?? "alice",
      displayName: options.displayName ?? "Alice Example",
    });
    return new SipPhone(ua, `${options.server.hostname}:${options.server.port}`);
  }

  /** Our Contact URI. */
  get contact(): string {
    return this.#ua.contact;
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
    callId?: string,
  ): Promise<SipCall> {
    const result = await this.#ua.invite({
      requestUri: `sip:${destination}@${this.#server}`,
      headers: extraHeaders,
      sdp,
      callId,
    });
    const dialog = result.dialog;
    if (dialog === undefined) throw new SipFailure(result.response);
    return new SipCall({ ...result, dialog });
  }

  /**
   * Sends a pager-mode MESSAGE with a `text/plain` body to
   * `sip:<destination>@<server>`; resolves with the final status.
   */
  async message(destination: string, text: string): Promise<number> {
    const uri = `sip:${destination}@${this.#server}`;
    const headers = this.#ua.commonHeaders(
      `${sipRandom()}@phone`,
      sipRandom(),
      `<${uri}>`,
      "1 MESSAGE",
    );
    headers.push(["Content-Type", "text/plain"]);
    return statusOf(await this.#ua.request("MESSAGE", uri, headers, NON_INVITE_TIMEOUT_MS, text));
  }

  /** Closes every connection and the listener. */
  close(): Promise<void> {
    return this.#ua.close();
  }
}
