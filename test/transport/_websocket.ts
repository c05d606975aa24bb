/**
 * Shared pieces of the WebSocket transport tests: an HTTP server that
 * upgrades every request to MSRP, and a browser-style peer that keeps every
 * message as it came.
 *
 * @module
 */

import {
  MSRP_SUBPROTOCOL,
  type MsrpWebSocket,
  upgradeMsrpWebSocket,
  type UpgradeMsrpWebSocketOptions,
} from "../../src/transport/mod.ts";

const enc = new TextEncoder();

/** An HTTP server on 127.0.0.1 that upgrades every request with `upgradeMsrpWebSocket`. */
export function serveMsrp(
  onConnection: (socket: MsrpWebSocket) => void,
  options: UpgradeMsrpWebSocketOptions = {},
): { url: string; port: number; server: Deno.HttpServer<Deno.NetAddr> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) =>
      upgradeMsrpWebSocket(request, onConnection, { remoteAddr: info.remoteAddr, ...options }),
  );
  return { url: `ws://127.0.0.1:${server.addr.port}/msrp`, port: server.addr.port, server };
}

/**
 * A browser-style peer: the platform `WebSocket` API and nothing else,
 * keeping every message as it came (string or ArrayBuffer).
 */
export class RawPeer {
  /** Messages received, in order. */
  readonly messages: (string | ArrayBuffer)[] = [];
  /** The WebSocket. */
  readonly ws: WebSocket;
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  /** Opens a WebSocket to `url` offering `protocols`. */
  constructor(url: string, protocols: string | string[] = MSRP_SUBPROTOCOL) {
    this.ws = new WebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (e) => {
      this.messages.push(e.data);
      this.#check();
    };
    this.closed = new Promise((resolve) => {
      this.ws.onclose = (e) => {
        resolve(e);
        this.#check();
      };
    });
  }

  /** Resolves once open; rejects when the WebSocket closes first. */
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) resolve();
      this.ws.addEventListener("open", () => resolve());
      this.closed.then((e) => reject(new Error(`closed before open (${e.code})`)));
    });
  }

  /** Resolves once `n` messages have come. */
  async until(n: number): Promise<void> {
    while (this.messages.length < n) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error("closed");
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Closes and waits for the close to complete. */
  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }

  #check(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** The bytes of a received message (a text one as UTF-8). */
export function bytesOf(message: string | ArrayBuffer): Uint8Array {
  return typeof message === "string" ? enc.encode(message) : new Uint8Array(message);
}
