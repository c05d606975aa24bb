/**
 * A `node:stream` Duplex over a `Deno.Conn`, so that `node:tls` can run TLS
 * on a TCP connection that Deno made or accepted and that this module can
 * always close.
 *
 * @module
 */

import { Duplex } from "node:stream";

const READ_BYTES = 64 * 1024;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset));
  }
}

/**
 * Holds reads back while the decrypted data waits for its reader. Deno's
 * `node:tls` keeps reading from a JS stream even while the TLS socket is
 * paused, so without this a reader that stops would let the whole stream
 * pile up in memory instead of slowing the peer through TCP flow control.
 */
export class ReadGate {
  #waiter: PromiseWithResolvers<void> | undefined;

  /** Holds the next read back until {@linkcode ReadGate.open}. */
  close(): void {
    this.#waiter ??= Promise.withResolvers<void>();
  }

  /** Lets reads go on. */
  open(): void {
    this.#waiter?.resolve();
    this.#waiter = undefined;
  }

  /** `undefined` when open, else a promise that resolves when it opens. */
  whenOpen(): Promise<void> | undefined {
    return this.#waiter?.promise;
  }
}

/**
 * The Duplex: reads (while `gate` is open) and writes go to `conn`; ending it
 * shuts the write side down; destroying it closes `conn` at once.
 */
export function duplexOf(conn: Deno.Conn, gate: ReadGate): Duplex {
  let closed = false;
  return new Duplex({
    read(): void {
      const read = (): void => {
        const buf = new Uint8Array(READ_BYTES);
        conn.read(buf).then(
          (n) => this.push(n === null ? null : buf.subarray(0, n)),
          (error) => this.destroy(error),
        );
      };
      const opened = gate.whenOpen();
      if (opened === undefined) read();
      else opened.then(() => closed || read());
    },
    write(chunk: Uint8Array, _encoding, callback): void {
      writeAll(conn, chunk).then(() => callback(), callback);
    },
    final(callback): void {
      conn.closeWrite().then(() => callback(), callback);
    },
    destroy(error, callback): void {
      if (!closed) {
        closed = true;
        conn.close();
      }
      callback(error);
    },
  });
}
