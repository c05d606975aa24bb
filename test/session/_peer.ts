/**
 * A raw MSRP peer for session tests: writes hand-made frames on a real TCP
 * socket and collects the frames it gets back.
 *
 * @module
 */

import { type Frame, MsrpParser } from "../../src/msrp/mod.ts";
import { HANG_GUARD_MS } from "../_until.ts";

const enc = new TextEncoder();

/** A raw TCP peer speaking hand-written MSRP. */
export class RawPeer {
  /** Frames received so far. */
  readonly frames: Frame[] = [];
  readonly #conn: Deno.TcpConn;
  readonly #reading: Promise<void>;
  #waiters: (() => void)[] = [];

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    let head: Frame["head"] | undefined;
    let body: number[] = [];
    const parser = new MsrpParser({
      head: (h) => {
        head = h;
        body = [];
      },
      body: (b) => body.push(...b),
      end: (flag) => {
        this.frames.push({ head: head!, body: Uint8Array.from(body), flag });
        for (const w of this.#waiters) w();
      },
      error: () => {},
    });
    this.#reading = (async () => {
      try {
        for await (const chunk of conn.readable) parser.push(chunk);
      } catch {
        // closed
      }
      for (const w of this.#waiters) w();
    })();
  }

  /** Accepts one connection on `listener` (a fake server such as a relay). */
  static async accept(listener: Deno.TcpListener): Promise<RawPeer> {
    return new RawPeer(await listener.accept());
  }

  /** Connects to a port on 127.0.0.1. */
  static async connect(port: number): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes raw text (CRLFs included by the caller). */
  async write(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? enc.encode(text) : text;
    let done = 0;
    while (done < bytes.length) done += await this.#conn.write(bytes.subarray(done));
  }

  /**
   * Waits until `predicate` holds for the frames received; throws when the
   * socket closes first or after the hang guard (not a timing check).
   */
  async waitFor(predicate: (frames: Frame[]) => boolean): Promise<Frame[]> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (!predicate(this.frames)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wait = new Promise<string>((r) => {
        this.#waiters.push(() => r("frame"));
        timer = setTimeout(() => r("deadline"), Math.max(0, deadline - Date.now()));
      });
      const closed = this.#reading.then(() => "closed");
      const why = await Promise.race([wait, closed]);
      clearTimeout(timer);
      this.#waiters = [];
      if (why !== "frame" && !predicate(this.frames)) {
        throw new Error(`${why} before the expected frames arrived: ${this.frames.length} frames`);
      }
    }
    return this.frames;
  }

  /** Closes the socket and waits for the reader to stop. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    await this.#reading;
  }
}

/** A SEND frame as text. */
export function sendFrame(p: {
  tid: string;
  to: string;
  from: string;
  messageId?: string;
  range?: string;
  contentType?: string;
  body?: string;
  flag?: "$" | "+" | "#";
  extra?: string;
  method?: string;
}): string {
  const head =
    `MSRP ${p.tid} ${p.method ?? "SEND"}\r\nTo-Path: ${p.to}\r\nFrom-Path: ${p.from}\r\n` +
    (p.messageId ? `Message-ID: ${p.messageId}\r\n` : "") +
    (p.range ? `Byte-Range: ${p.range}\r\n` : "") + (p.extra ?? "");
  if (p.body === undefined) return `${head}-------${p.tid}${p.flag ?? "$"}\r\n`;
  return `${head}Content-Type: ${p.contentType ?? "text/plain"}\r\n\r\n${p.body}\r\n` +
    `-------${p.tid}${p.flag ?? "$"}\r\n`;
}

/**
 * Sends `file` from its 0-based `offset` to the end as one message, in
 * 64 KiB chunks whose Byte-Range positions are those of the whole file
 * (RFC 5547 §8, resuming), from a raw peer `from` to the session at `to`;
 * waits for each chunk's response and returns the peer, still connected.
 */
export async function sendFileRest(
  to: string,
  from: string,
  file: Uint8Array,
  offset: number,
  contentType: string,
): Promise<RawPeer> {
  const port = Number(new URL(to.replace("msrp://", "http://")).port);
  const peer = await RawPeer.connect(port);
  const encoder = new TextEncoder();
  const messageId = crypto.randomUUID();
  const chunk = 64 * 1024;
  for (let start = offset, n = 0; start < file.length; start += chunk, n++) {
    const end = Math.min(start + chunk, file.length);
    const tid = `t${n}x${crypto.randomUUID().slice(0, 8)}`;
    const head = `MSRP ${tid} SEND\r\nTo-Path: ${to}\r\nFrom-Path: ${from}\r\n` +
      `Message-ID: ${messageId}\r\nByte-Range: ${start + 1}-${end}/${file.length}\r\n` +
      `Content-Type: ${contentType}\r\n\r\n`;
    const tail = `\r\n-------${tid}${end === file.length ? "$" : "+"}\r\n`;
    await peer.write(
      new Uint8Array([
        ...encoder.encode(head),
        ...file.subarray(start, end),
        ...encoder.encode(tail),
      ]),
    );
    await peer.waitFor((frames) =>
      frames.some((f) => f.head.kind === "response" && f.head.transactionId === tid)
    );
  }
  return peer;
}
