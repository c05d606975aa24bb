/**
 * Shared pieces of the transport tests: a frame-collecting handler, a hang
 * deadline, socket pairs and a write-counting connection.
 *
 * @module
 */

import type { Frame, FrameHead, OutgoingRequest } from "../../src/msrp/message.ts";
import { concatBytes, type FrameFailure, type FrameHandler } from "../../src/msrp/parser.ts";

/** Collects frames (keeping the body views it is given) and failures. */
export class FrameCollector implements FrameHandler {
  /** Complete frames in arrival order. */
  readonly frames: Frame[] = [];
  /** Parser failures in arrival order. */
  readonly failures: FrameFailure[] = [];
  #head: FrameHead | undefined;
  #parts: Uint8Array[] = [];
  #waiters: { ready: () => boolean; resolve: () => void }[] = [];

  /** Starts a frame. */
  head(head: FrameHead): void {
    this.#head = head;
    this.#parts = [];
  }

  /** Keeps the view as it is, without copying. */
  body(bytes: Uint8Array): void {
    this.#parts.push(bytes);
  }

  /** Completes a frame. */
  end(flag: "+" | "$" | "#"): void {
    this.frames.push({ head: this.#head!, body: concatBytes(this.#parts), flag });
    this.#check();
  }

  /** Records a failure. */
  error(failure: FrameFailure): void {
    this.failures.push(failure);
    this.#check();
  }

  /** Resolves once `ready()` holds after an event (or already does). */
  until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ ready, resolve });
    return promise;
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.ready()) return true;
      w.resolve();
      return false;
    });
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A connected pair of TCP sockets on `hostname`: `[client, server]`. */
export async function tcpPair(hostname: string): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname, port: 0 });
  try {
    return await Promise.all([
      Deno.connect({ hostname, port: listener.addr.port }),
      listener.accept(),
    ]);
  } finally {
    listener.close();
  }
}

/** Reads until end of stream or a reset; resolves with the bytes read. */
export async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buf = new Uint8Array(64 * 1024);
  let total = 0;
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) total += n;
  } catch (e) {
    if (!(e instanceof Deno.errors.ConnectionReset)) throw e;
  }
  return total;
}

/** A `Deno.Conn` proxy that counts writes and can cap the bytes each write takes. */
export class CountingConn implements Deno.Conn {
  /** Calls of `write`. */
  writes = 0;
  readonly #inner: Deno.Conn;
  readonly #maxWrite: number;

  /** Wraps `inner`; each write takes at most `maxWrite` bytes (a partial write beyond). */
  constructor(inner: Deno.Conn, maxWrite = Infinity) {
    this.#inner = inner;
    this.#maxWrite = maxWrite;
  }

  /** The wrapped connection's local address. */
  get localAddr(): Deno.Addr {
    return this.#inner.localAddr;
  }

  /** The wrapped connection's remote address. */
  get remoteAddr(): Deno.Addr {
    return this.#inner.remoteAddr;
  }

  /** The wrapped connection's stream. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#inner.readable;
  }

  /** The wrapped connection's stream. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#inner.writable;
  }

  /** Delegates. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#inner.read(p);
  }

  /** Counts, then writes at most `maxWrite` bytes of `p`. */
  write(p: Uint8Array): Promise<number> {
    this.writes++;
    return this.#inner.write(p.length > this.#maxWrite ? p.subarray(0, this.#maxWrite) : p);
  }

  /** Delegates. */
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  /** Delegates. */
  close(): void {
    this.#inner.close();
  }

  /** Delegates. */
  ref(): void {
    this.#inner.ref();
  }

  /** Delegates. */
  unref(): void {
    this.#inner.unref();
  }

  /** Delegates. */
  [Symbol.dispose](): void {
    this.#inner[Symbol.dispose]();
  }
}

const TO = ["msrp://127.0.0.1:7777/bob;tcp"];
const FROM = ["msrp://127.0.0.1:8888/alice;tcp"];

/** A SEND request with a Message-ID of `seq` and the given body. */
export function sendRequest(seq: number, body: Uint8Array): OutgoingRequest {
  return {
    transactionId: `tx${String(seq).padStart(6, "0")}`,
    method: "SEND",
    toPath: TO,
    fromPath: FROM,
    headers: [["Message-ID", `m${seq}`], ["Byte-Range", `1-${body.length}/${body.length}`]],
    contentType: "application/octet-stream",
    body,
  };
}

/** Deterministic bytes: `length` of them, varying with `seed`. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 255;
  return out;
}
