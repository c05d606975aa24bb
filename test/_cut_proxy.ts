/**
 * A TCP forwarder for tests that cuts a transfer part-way, as a network that
 * drops a connection does: it listens on one address and forwards every
 * connection to another, both ways. The first connection's client-to-server
 * bytes stop after `cutAfter` (what the client sends past that is held back
 * by TCP and never reaches the server) until {@linkcode CutProxy.cut} ends
 * that connection with a FIN each way, so the server reads every byte
 * forwarded before it sees the end. Later connections are forwarded whole.
 *
 * Put it in front of a bridge started with `MSRP_ADVERTISE` naming the
 * proxy's host (its URIs then name the proxy, which listens on the bridge's
 * port), so that peers reach the bridge only through it.
 *
 * @module
 */

/** A host and port. */
export interface Address {
  readonly hostname: string;
  readonly port: number;
}

/** Reads from `conn` into a fresh buffer; `null` at the end or when the connection failed. */
async function readFrom(conn: Deno.Conn, buffer: Uint8Array): Promise<number | null> {
  try {
    return await conn.read(buffer);
  } catch {
    return null;
  }
}

/** Writes all of `bytes` to `conn`; false when the connection failed. */
async function writeTo(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
    return true;
  } catch {
    return false;
  }
}

/** Sends FIN on `conn`, once; a failed connection needs none. */
async function finish(conn: Deno.TcpConn): Promise<void> {
  await conn.closeWrite().catch(() => {});
}

/** See the module documentation. */
export class CutProxy implements AsyncDisposable {
  /** Client-to-server bytes of the first connection forwarded so far. */
  forwarded = 0;
  readonly #listener: Deno.TcpListener;
  readonly #target: Address;
  readonly #cutAfter: number;
  readonly #cutting = Promise.withResolvers<void>();
  readonly #connections = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #first: Promise<void> | undefined;

  /** Listens on `listen` and forwards to `target`, holding the first connection at `cutAfter`. */
  constructor(listen: Address, target: Address, cutAfter: number) {
    this.#listener = Deno.listen({ transport: "tcp", ...listen });
    this.#target = target;
    this.#cutAfter = cutAfter;
    this.#accepting = this.#accept();
  }

  /** Whether the first connection reached `cutAfter`: its server side gets no more bytes. */
  get holding(): boolean {
    return this.forwarded >= this.#cutAfter;
  }

  /**
   * Ends the first connection: FIN to the server, which reads what was
   * forwarded and then the end; its answers go on to the client, then FIN
   * to the client too. Resolves once both sides have closed.
   *
   * @throws {Error} when no connection came yet.
   */
  async cut(): Promise<void> {
    if (!this.#first) throw new Error("no connection to cut");
    this.#cutting.resolve();
    await this.#first;
  }

  /** Stops listening and waits for the connections to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#cutting.resolve();
    this.#listener.close();
    await this.#accepting;
    await Promise.all(this.#connections);
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        const first = this.#first === undefined;
        const done = this.#forward(client, first);
        if (first) this.#first = done;
        this.#connections.add(done);
      }
    } catch {
      // closed
    }
  }

  async #forward(client: Deno.TcpConn, first: boolean): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({ transport: "tcp", ...this.#target });
    } catch {
      client.close();
      return;
    }
    try {
      await Promise.all([
        first ? this.#upThenCut(client, server) : this.#pump(client, server),
        this.#pump(server, client),
      ]);
    } finally {
      client.close();
      server.close();
    }
  }

  /** Forwards `from` to `to` until `from` ends, then ends `to`. */
  async #pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await readFrom(from, buffer);
      if (n === null || !await writeTo(to, buffer.subarray(0, n))) break;
    }
    await finish(to);
  }

  /**
   * Forwards `client` to `server` up to `cutAfter` bytes, then waits for the
   * cut: FIN to the server, and what the client still sends is read and
   * dropped until it closes (so that no reset reaches it).
   */
  async #upThenCut(client: Deno.TcpConn, server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    while (this.forwarded < this.#cutAfter) {
      const n = await readFrom(client, buffer);
      if (n === null) break;
      const passed = buffer.subarray(0, Math.min(n, this.#cutAfter - this.forwarded));
      if (!await writeTo(server, passed)) break;
      this.forwarded += passed.length;
    }
    await this.#cutting.promise;
    await finish(server);
    while (await readFrom(client, buffer) !== null) {
      // dropped
    }
  }
}
