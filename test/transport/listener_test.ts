import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { listen } from "../../src/transport/mod.ts";
import { readToEnd } from "./_support.ts";
import { withDeadline } from "../_until.ts";

/** Accepted connections, with a way to wait for the next ones. */
class Accepted {
  readonly conns: Deno.Conn[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  readonly onConnection = (conn: Deno.Conn): void => {
    this.conns.push(conn);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.conns.length < w.count) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves once `count` connections were accepted in all. */
  until(count: number): Promise<void> {
    if (this.conns.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return promise;
  }
}

/** Resolves once the listener closed `conn`: end of stream or a reset. */
function rejected(conn: Deno.Conn): Promise<number> {
  return withDeadline(readToEnd(conn), "the listener to close the connection");
}

Deno.test("listen: maxConnections closes connections beyond the limit and counts them", async () => {
  const accepted = new Accepted();
  const listener = listen(
    { hostname: "127.0.0.1", port: 0, maxConnections: 2 },
    accepted.onConnection,
  );
  const port = listener.addr.port;
  assert(port > 0);
  const c1 = await Deno.connect({ hostname: "127.0.0.1", port });
  const c2 = await Deno.connect({ hostname: "127.0.0.1", port });
  await withDeadline(accepted.until(2), "two connections");
  const c3 = await Deno.connect({ hostname: "127.0.0.1", port });
  assertEquals(await rejected(c3), 0);
  assertEquals(listener.connectionCount, 2);
  assertEquals(listener.rejectedCount, 1);

  accepted.conns[0].close(); // frees a place
  assertEquals(listener.connectionCount, 1);
  const c4 = await Deno.connect({ hostname: "127.0.0.1", port });
  await withDeadline(accepted.until(3), "a connection in the freed place");
  assertEquals(listener.connectionCount, 2);
  assertEquals(accepted.conns.length, 3);

  listener.close();
  await listener.closed;
  for (const c of [c1, c2, c3, c4, accepted.conns[1], accepted.conns[2]]) c.close();
  assertEquals(listener.connectionCount, 0);
});

Deno.test("listen: maxConnectionsPerIp limits connections from one address (::1)", async () => {
  const accepted = new Accepted();
  const listener = listen(
    { hostname: "::1", port: 0, maxConnectionsPerIp: 1 },
    accepted.onConnection,
  );
  const port = listener.addr.port;
  const c1 = await Deno.connect({ hostname: "::1", port });
  await withDeadline(accepted.until(1), "the first connection");
  assertEquals(listener.connectionsFrom("::1"), 1);
  const c2 = await Deno.connect({ hostname: "::1", port });
  assertEquals(await rejected(c2), 0);
  assertEquals(listener.rejectedCount, 1);
  assertEquals(listener.connectionsFrom("::1"), 1);

  accepted.conns[0].close();
  assertEquals(listener.connectionsFrom("::1"), 0);
  const c3 = await Deno.connect({ hostname: "::1", port });
  await withDeadline(accepted.until(2), "a connection after the first closed");
  assertEquals(listener.connectionsFrom("::1"), 1);

  listener.close();
  await listener.closed;
  for (const c of [c1, c2, c3, accepted.conns[1]]) c.close();
});

Deno.test("listen: close() stops accepting, resolves closed and leaves accepted connections open", async () => {
  const accepted = new Accepted();
  const listener = listen({ hostname: "127.0.0.1", port: 0 }, accepted.onConnection);
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  await withDeadline(accepted.until(1), "the connection");
  listener.close();
  listener.close(); // idempotent
  await withDeadline(listener.closed, "the listener to close");
  await assertRejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  await accepted.conns[0].write(Uint8Array.of(42));
  const buf = new Uint8Array(1);
  assertEquals(await client.read(buf), 1);
  assertEquals(buf[0], 42);
  client.close();
  accepted.conns[0].close();
});

Deno.test("listen: an onConnection that throws closes the listener and rejects closed", async () => {
  const bug = new Error("onConnection bug");
  const listener = listen({ hostname: "127.0.0.1", port: 0 }, () => {
    throw bug;
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const error = await withDeadline(assertRejects(() => listener.closed), "the listener to fail");
  assertEquals(error, bug);
  assertEquals(await rejected(client), 0, "the connection was closed");
  assertEquals(listener.connectionCount, 0);
  client.close();
});

Deno.test("listen: limits must be positive integers", () => {
  const noop = () => {};
  assertThrows(
    () => listen({ hostname: "127.0.0.1", port: 0, maxConnections: 0 }, noop),
    RangeError,
  );
  assertThrows(
    () => listen({ hostname: "127.0.0.1", port: 0, maxConnectionsPerIp: 1.5 }, noop),
    RangeError,
  );
});
