/**
 * A fake SIP user agent server for tests: answers INVITEs as scripted.
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
import { buildAnswer } from "../../src/sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession } from "../../src/session/mod.ts";

/** What the fake UAS answers to an INVITE. */
export interface Answer {
  readonly status: number;
  readonly reason: string;
  readonly sdp?: string;
  readonly headers?: [string, string][];
}

/**
 * A SIP UAS on 127.0.0.1 over TCP: answers every INVITE with `answer(invite)`
 * (after a 180, once it settles: a UAS that bridges the call somewhere may
 * wait for its answer) — or, when that is `undefined`, only rings until a CANCEL,
 * which it answers 200 and ends the INVITE with 487 (RFC 3261 §9.2) —
 * records the requests it gets, answers BYE and MESSAGE 200 and can send BYE
 * itself in the dialog of the last INVITE.
 */
export class FakeUas {
  readonly requests: SipMessage[] = [];
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #connections = new Set<SipConnection>();
  readonly #accepting: Promise<void>;
  readonly #answer: (invite: SipMessage) => Answer | Promise<Answer> | undefined;
  readonly #ringing = new Map<string, (status: string) => void>();
  readonly #waiters = new Set<() => void>();
  #dialog: { connection: SipConnection; invite: SipMessage; tag: string } | undefined;

  constructor(answer: (invite: SipMessage) => Answer | Promise<Answer> | undefined) {
    this.#answer = answer;
    this.#accepting = (async () => {
      try {
        for await (const conn of this.#listener) {
          this.#connections.add(new SipConnection(conn, (m, c) => this.#receive(m, c)));
        }
      } catch {
        // closed
      }
    })();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  /** Resolves with the first request of `method` received (now or later). */
  async request(method: string): Promise<SipMessage> {
    const find = () => this.requests.find((r) => r.startLine.startsWith(`${method} `));
    while (!find()) await new Promise<void>((r) => this.#waiters.add(r));
    return find()!;
  }

  /** Sends BYE in the dialog of the last INVITE. */
  async bye(): Promise<void> {
    const { connection, invite, tag } = this.#dialog!;
    const contact = /<([^>]+)>/.exec(headerOf(invite, "contact")!)![1];
    await connection.write(serializeSip(`BYE ${contact} SIP/2.0`, [
      ["Via", `SIP/2.0/TCP 127.0.0.1:${this.port};branch=z9hG4bK${sipRandom()}`],
      ["From", `${headerOf(invite, "to")};tag=${tag}`],
      ["To", headerOf(invite, "from")!],
      ["Call-ID", headerOf(invite, "call-id")!],
      ["CSeq", "1 BYE"],
      ["Max-Forwards", "70"],
    ]));
  }

  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const connection of this.#connections) connection.close();
    await Promise.all([...this.#connections].map((c) => c.reading));
  }

  #receive(message: SipMessage, connection: SipConnection): void {
    if (statusOf(message) > 0) return;
    this.requests.push(message);
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
    const method = message.startLine.split(" ")[0];
    const copied = message.headers
      .filter(([n]) => ["via", "from", "to", "call-id", "cseq"].includes(n))
      .map(([n, v]): [string, string] => [n, v]);
    if (method === "BYE" || method === "MESSAGE") {
      connection.write(serializeSip("SIP/2.0 200 OK", copied)).catch(() => {});
    } else if (method === "CANCEL") {
      connection.write(serializeSip("SIP/2.0 200 OK", copied)).catch(() => {});
      this.#ringing.get(headerOf(message, "call-id") ?? "")?.("487 Request Terminated");
    } else if (method === "INVITE") {
      const tag = sipRandom();
      const tagged = copied.map((
        [n, v],
      ): [string, string] => [n, n === "to" ? `${v};tag=${tag}` : v]);
      const answering = this.#answer(message);
      const contact: [string, string] = [
        "Contact",
        `<sip:uas@127.0.0.1:${this.port};transport=tcp>`,
      ];
      if (answering === undefined) {
        const callId = headerOf(message, "call-id") ?? "";
        const final = (status: string) => {
          this.#ringing.delete(callId);
          connection.write(serializeSip(`SIP/2.0 ${status}`, [...tagged, contact])).catch(() => {});
        };
        this.#ringing.set(callId, final);
        connection.write(serializeSip("SIP/2.0 180 Ringing", [...tagged, contact])).catch(() => {});
        return;
      }
      (async () => {
        await connection.write(serializeSip("SIP/2.0 180 Ringing", [...tagged, contact]));
        const answer = await answering;
        if (answer.status < 300) this.#dialog = { connection, invite: message, tag };
        const sdp: [string, string][] = answer.sdp ? [["Content-Type", "application/sdp"]] : [];
        await connection.write(serializeSip(
          `SIP/2.0 ${answer.status} ${answer.reason}`,
          [...tagged, contact, ...(answer.headers ?? []), ...sdp],
          answer.sdp,
        ));
      })().catch(() => {});
    }
  }
}

/** A UAS that answers every INVITE 200 with `callee`'s SDP answer, `peer` holding the session. */
export function answeringUas(peer: MsrpEndpoint, callee: MsrpSession): FakeUas {
  return new FakeUas((invite) => ({
    status: 200,
    reason: "OK",
    sdp: buildAnswer(invite.body, {
      path: callee.localPath,
      address: "127.0.0.1",
      port: peer.port,
      acceptTypes: ["*"],
    }).sdp,
  }));
}
