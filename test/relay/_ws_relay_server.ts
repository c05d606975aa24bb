/**
 * An endpoint serving MSRP over WebSocket as its clients' relay (RFC 7977
 * §5) on a loopback HTTP server, for WebSocket relay tests.
 *
 * @module
 */

import { assertEquals } from "../_assert.ts";
import type { ResponseHead } from "../../src/msrp/mod.ts";
import { type EndpointOptions, MsrpEndpoint } from "../../src/session/mod.ts";
import { WebSocketRelay, type WebSocketRelayOptions } from "../../src/relay/mod.ts";
import { upgradeMsrpWebSocket } from "../../src/transport/mod.ts";
import { type AddressRule, parseAddressRules } from "../../src/transport/address_rule.ts";
import { authFrame, type BrowserPeer } from "../session/_browser.ts";

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
