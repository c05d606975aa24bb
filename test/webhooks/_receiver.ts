/**
 * A real HTTP webhook receiver on 127.0.0.1 for tests.
 *
 * @module
 */

/** One request the receiver got. */
export interface ReceivedRequest {
  /** Request headers. */
  readonly headers: Headers;
  /** The raw body. */
  readonly body: string;
}

/** Decides the response to a request; may wait on `signal`, aborted when the receiver closes. */
export type ReceiverHandler = (
  request: ReceivedRequest,
  signal: AbortSignal,
) => Response | Promise<Response>;

/** A webhook receiver; `await using` shuts it down. */
export class Receiver implements AsyncDisposable {
  /** Every request so far, in arrival order. */
  readonly requests: ReceivedRequest[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #release = new AbortController();
  #closed = false;

  /** Listens on 127.0.0.1 at `port` (a free one when 0). */
  constructor(handler: ReceiverHandler, port = 0) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      async (req) => {
        const request = { headers: req.headers, body: await req.text() };
        this.requests.push(request);
        return await handler(request, this.#release.signal);
      },
    );
  }

  /** The port it listens on. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Its URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Stops listening: waiting handlers are released first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#release.abort();
    await this.#server.shutdown();
  }

  /** Same as {@linkcode Receiver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
