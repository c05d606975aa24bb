/**
 * A browser-style MSRP client for WebSocket relay tests: the platform
 * `WebSocket` with the `msrp` subprotocol, hand-written frames out, parsed
 * frames in (RFC 7977), each message checked to hold exactly one (§4.2).
 *
 * @module
 */

import { type Frame, MsrpParser } from "../../src/msrp/mod.ts";
import { HANG_GUARD_MS } from "../_until.ts";

/** A WebSocket MSRP client that writes raw frames and collects the frames it gets. */
export class BrowserPeer {
  /** Frames received so far. */
  readonly frames: Frame[] = [];
  /** The client's own URI: a random `*.invalid` host and the `ws` transport. */
  readonly uri: string;
  readonly #ws: WebSocket;
  readonly #closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #misframed = 0; // received messages that were not exactly one frame

  private constructor(ws: WebSocket, uri: string) {
    this.#ws = ws;
    this.uri = uri;
    let head: Frame["head"] | undefined;
    let body: Uint8Array[] = [];
    let ended = 0;
    const parser = new MsrpParser({
      head: (h) => {
        head = h;
        body = [];
      },
      body: (b) => body.push(b.slice()),
      end: (flag) => {
        const size = body.reduce((n, b) => n + b.length, 0);
        const all = new Uint8Array(size);
        let at = 0;
        for (const b of body) all.set(b, (at += b.length) - b.length);
        this.frames.push({ head: head!, body: all, flag });
        ended++;
        this.#wake();
      },
      error: () => {},
    });
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => {
      ended = 0;
      parser.push(
        typeof e.data === "string" ? new TextEncoder().encode(e.data) : new Uint8Array(e.data),
      );
      if (ended !== 1 || !parser.idle) this.#misframed++;
    };
    this.#closed = new Promise((resolve) => {
      ws.onclose = () => {
        resolve();
        this.#wake();
      };
    });
  }

  /** Opens a WebSocket to `url` offering `msrp`; resolves once it is open. */
  static async open(url: string): Promise<BrowserPeer> {
    const ws = new WebSocket(url, "msrp");
    const id = crypto.randomUUID().slice(0, 8);
    const peer = new BrowserPeer(ws, `msrp://${id}.invalid:2855/${id}b;ws`);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("the WebSocket did not open"));
    });
    return peer;
  }

  /** Sends one WebSocket message (text or binary). */
  send(data: string | Uint8Array): void {
    this.#ws.send(typeof data === "string" ? data : data.slice().buffer);
  }

  /**
   * Waits for a received frame matching `predicate` and returns it; throws
   * when the socket closes first or after the hang guard.
   */
  async waitFor(predicate: (frame: Frame) => boolean): Promise<Frame> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (true) {
      const found = this.frames.find(predicate);
      if (found) return found;
      await this.#nextFrame(deadline, "no such frame");
    }
  }

  /**
   * The frame received at `index` (0-based), once it arrived; throws when the
   * socket closes first or after the hang guard.
   */
  async frameAt(index: number): Promise<Frame> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (index >= this.frames.length) await this.#nextFrame(deadline, `no frame ${index}`);
    return this.frames[index];
  }

  // Waits for the next frame or the deadline; throws once closed or past the deadline.
  async #nextFrame(deadline: number, what: string): Promise<void> {
    this.#checkFraming();
    if (this.#ws.readyState === WebSocket.CLOSED) throw new Error("closed before the frame");
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${what} among ${this.frames.length}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      timer = setTimeout(resolve, left);
    });
    clearTimeout(timer);
  }

  /** A response with transaction id `tid`. */
  response(tid: string): Promise<Frame> {
    return this.waitFor((f) => f.head.kind === "response" && f.head.transactionId === tid);
  }

  /**
   * Closes the WebSocket and waits for the close; throws when a message
   * received was not exactly one frame.
   */
  async close(): Promise<void> {
    this.#ws.close();
    await this.#closed;
    this.#checkFraming();
  }

  #checkFraming(): void {
    if (this.#misframed > 0) {
      throw new Error(`${this.#misframed} messages were not exactly one frame (RFC 7977 §4.2)`);
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** An AUTH request as text (RFC 4976 §5.1). */
export function authFrame(p: { tid: string; to: string; from: string; extra?: string }): string {
  return `MSRP ${p.tid} AUTH\r\nTo-Path: ${p.to}\r\nFrom-Path: ${p.from}\r\n${p.extra ?? ""}` +
    `-------${p.tid}$\r\n`;
}

/** A SEND chunk with a binary body, as one WebSocket message's bytes (RFC 4975 §7.1). */
export function chunkFrame(p: {
  tid: string;
  to: string;
  from: string;
  messageId: string;
  /** 1-based position of the body's first byte in the message. */
  start: number;
  total: number;
  body: Uint8Array;
  flag: "+" | "$";
  extra?: string;
}): Uint8Array {
  const end = p.start + p.body.length - 1;
  const enc = new TextEncoder();
  const head = enc.encode(
    `MSRP ${p.tid} SEND\r\nTo-Path: ${p.to}\r\nFrom-Path: ${p.from}\r\n` +
      `Message-ID: ${p.messageId}\r\nByte-Range: ${p.start}-${end}/${p.total}\r\n${p.extra ?? ""}` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = enc.encode(`\r\n-------${p.tid}${p.flag}\r\n`);
  const frame = new Uint8Array(head.length + p.body.length + tail.length);
  frame.set(head);
  frame.set(p.body, head.length);
  frame.set(tail, head.length + p.body.length);
  return frame;
}
