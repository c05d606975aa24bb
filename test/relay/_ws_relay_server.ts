/**
 * An endpoint serving MSRP over WebSocket as its clients' relay (RFC 7977
 * §5) on a loopback HTTP server, and a browser client's steps through it,
 * for WebSocket relay tests.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { nextMessage } from "../_messages.ts";
import type { Frame, RequestHead, ResponseHead } from "../../src/msrp/mod.ts";
import { type EndpointOptions, MsrpEndpoint, type MsrpSession } from "../../src/session/mod.ts";
import { WebSocketRelay, type WebSocketRelayOptions } from "../../src/relay/mod.ts";
import { upgradeMsrpWebSocket } from "../../src/transport/mod.ts";
import { type AddressRule, parseAddressRules } from "../../src/transport/address_rule.ts";
import { authFrame, type BrowserPeer } from "../session/_browser.ts";
import { sendFrame } from "../session/_peer.ts";

/**
 * `allow` for a relay whose tests forward to TCP next hops on loopback: any
 * port of 127.0.0.1 (the relay dials no other next hop unless allowed).
 */
export const LOOPBACK_HOPS: readonly AddressRule[] = parseAddressRules("127.0.0.1");

/** The relay endpoint, its WebSocket URL and its relay URI; disposing stops both servers. */
export interface WsRelay extends AsyncDisposable {
  /** The endpoint whose WebSocket server is the relay. */
  readonly e: MsrpEndpoint;
  /** The relay itself, the endpoint's router. */
  readonly relay: WebSocketRelay;
  /** `ws://127.0.0.1:<port>/msrp`. */
  readonly url: string;
  /** `msrp://127.0.0.1:<port>;ws`, where browsers send AUTH. */
  readonly relayUri: string;
}

/** Endpoint E serves MSRP over WebSocket as a relay on an HTTP server on 127.0.0.1. */
export function wsRelay(
  options: WebSocketRelayOptions = {},
  endpoint: EndpointOptions = {},
): WsRelay {
  const ac = new AbortController();
  const holder: { relay?: WebSocketRelay } = {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req, info) =>
      upgradeMsrpWebSocket(req, (conn) => holder.relay!.adopt(conn), {
        remoteAddr: info.remoteAddr,
      }),
  );
  const authority = `127.0.0.1:${server.addr.port}`;
  const e = new MsrpEndpoint({ ...endpoint, port: 0, webSocketAuthority: authority }).listen();
  const relay = holder.relay = new WebSocketRelay(e, options);
  return {
    e,
    relay,
    url: `ws://${authority}/msrp`,
    relayUri: `msrp://${authority};ws`,
    async [Symbol.asyncDispose]() {
      await e.close();
      ac.abort();
      await server.finished;
    },
  };
}

/** AUTHs `b` at the relay (with `extra` header lines) and returns its Use-Path URI. */
export async function auth(b: BrowserPeer, relayUri: string, extra = ""): Promise<string> {
  const tid = `auth${crypto.randomUUID().slice(0, 8)}`;
  b.send(authFrame({ tid, to: relayUri, from: b.uri, extra }));
  const ok = (await b.response(tid)).head as ResponseHead;
  assertEquals(ok.status, 200);
  return ok.headers.get("use-path")!;
}

/** The head of `f`, which must be a response. */
export function response(f: Frame): ResponseHead {
  assert(f.head.kind === "response", "expected a response");
  return f.head;
}

/** The head of `f`, which must be a request. */
export function request(f: Frame): RequestHead {
  assert(f.head.kind === "request", "expected a request");
  return f.head;
}

/**
 * Browser `b` SENDs `body` (ASCII, one chunk) to `s` through its Use-Path
 * `use`; checks that the 200 comes back with `use` as its From-Path (the
 * relay answers hop by hop, RFC 4976 §7.3) and that `s` receives the body
 * from `[use, b.uri]`.
 */
export async function assertSentToSession(
  b: BrowserPeer,
  use: string,
  s: MsrpSession,
  send: { tid: string; messageId: string; body: string; extra?: string },
): Promise<void> {
  const got = nextMessage(s);
  const size = send.body.length;
  b.send(
    sendFrame({ ...send, to: `${use} ${s.localUri}`, from: b.uri, range: `1-${size}/${size}` }),
  );
  const ok = response(await b.response(send.tid));
  assertEquals([ok.status, ok.toPath, ok.fromPath], [200, [b.uri], [use]]);
  assertEquals((await got).text(), send.body);
  assertEquals(s.remotePath, [use, b.uri]);
}

/** The next SEND request `b` receives (that `match` accepts, when given). */
export async function nextSend(
  b: BrowserPeer,
  match: (head: RequestHead) => boolean = () => true,
): Promise<RequestHead> {
  return request(
    await b.waitFor((f) => f.head.kind === "request" && f.head.method === "SEND" && match(f.head)),
  );
}

/** `b` answers transaction `tid`, which reached it through its Use-Path `use`, with 200 OK. */
export function answerOk(b: BrowserPeer, use: string, tid: string): void {
  b.send(`MSRP ${tid} 200 OK\r\nTo-Path: ${use}\r\nFrom-Path: ${b.uri}\r\n-------${tid}$\r\n`);
}

/**
 * Connects `s`, a session of the relay's endpoint, actively to browser `b`
 * through its Use-Path `use`: `b` answers the binding SEND 200 (RFC 4975
 * §5.4); returns that SEND.
 */
export async function bindToBrowser(
  r: WsRelay,
  s: MsrpSession,
  b: BrowserPeer,
  use: string,
): Promise<RequestHead> {
  const connected = r.e.connectSession(s, [use, b.uri]);
  const bind = await nextSend(b, (head) => head.fromPath[1] === s.localUri);
  answerOk(b, use, bind.transactionId);
  await connected;
  return bind;
}

/**
 * `s` sends `text` (8 bytes) with Success-Report to browser `b` behind its
 * Use-Path `use`; `b` answers 200 and REPORTs it (transaction `reportTid`),
 * and the send is delivered.
 */
export async function assertReplyDelivered(
  b: BrowserPeer,
  use: string,
  s: MsrpSession,
  text: string,
  reportTid: string,
): Promise<void> {
  const reply = s.send(text, { successReport: true });
  const send = await nextSend(b);
  assertEquals([send.toPath, send.fromPath], [[b.uri], [use, s.localUri]]);
  answerOk(b, use, send.transactionId);
  b.send(
    `MSRP ${reportTid} REPORT\r\nTo-Path: ${use} ${s.localUri}\r\nFrom-Path: ${b.uri}\r\n` +
      `Message-ID: ${send.messageId}\r\nByte-Range: 1-8/8\r\nStatus: 000 200 OK\r\n` +
      `-------${reportTid}$\r\n`,
  );
  assertEquals((await reply.done).status, "delivered");
}

/**
 * Browser `a` sends to browser `b`, both clients of the relay at `relayUri`,
 * down `b`'s WebSocket; `b` gets it with both Use-Paths in its From-Path
 * and answers 200, which reaches `a`.
 */
export async function assertClientsReachEachOther(
  a: BrowserPeer,
  b: BrowserPeer,
  relayUri: string,
): Promise<void> {
  const useA = await auth(a, relayUri);
  const useB = await auth(b, relayUri);
  a.send(sendFrame({
    tid: "ab1xyz",
    to: `${useA} ${useB} ${b.uri}`,
    from: a.uri,
    messageId: "mab",
    range: "1-2/2",
    body: "yo",
  }));
  const send = await nextSend(b);
  assertEquals([send.toPath, send.fromPath], [[b.uri], [useB, useA, a.uri]]);
  answerOk(b, useB, "ab1xyz");
  const ok = response(await a.response("ab1xyz"));
  assertEquals([ok.status, ok.toPath, ok.fromPath], [200, [a.uri], [useA]]);
}
