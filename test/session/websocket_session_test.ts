import { nextMessage } from "../_messages.ts";
import { assertEquals, assertRejects } from "../_assert.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { upgradeMsrpWebSocket } from "../../src/transport/mod.ts";

/** Endpoint B serves MSRP over WebSocket on an HTTP server; A dials its `;ws` URI. */
async function wsPair() {
  const ac = new AbortController();
  const adopt: { to?: MsrpEndpoint } = {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req, info) =>
      new URL(req.url).pathname === "/msrp"
        ? upgradeMsrpWebSocket(req, (conn) => adopt.to!.adopt(conn), {
          remoteAddr: info.remoteAddr,
        })
        : new Response("not found", { status: 404 }),
  );
  const eb = adopt.to = new MsrpEndpoint({
    port: 0,
    webSocketAuthority: `127.0.0.1:${server.addr.port}`,
  }).listen();
  const ea = new MsrpEndpoint({ port: 0 }).listen();
  const b = eb.createSession({ transport: "ws" });
  const a = ea.createSession();
  await ea.connectSession(a, [b.localUri]);
  await b.ready;
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await ea.close();
      await eb.close();
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("websocket: a ;ws session is dialed over WebSocket and text flows both ways", async () => {
  await using p = await wsPair();
  assertEquals(p.b.localUri.endsWith(";ws"), true);
  const atB = nextMessage(p.b);
  assertEquals((await p.a.send("over ws", { successReport: true }).done).status, "delivered");
  assertEquals((await atB).text(), "over ws");
  const atA = nextMessage(p.a);
  await p.b.send("and back").done;
  assertEquals((await atA).text(), "and back");
});

Deno.test("websocket: a 50 MiB file crosses a WebSocket session byte-exact", async () => {
  await using p = await wsPair();
  const size = 50 * 1024 * 1024;
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(body.subarray(i, i + 65536));
  const atB = nextMessage(p.b);
  const r = await p.a.send(body, { contentType: "application/octet-stream", successReport: true })
    .done;
  assertEquals(r.status, "delivered");
  assertEquals((await atB).body(), body);
});

Deno.test("websocket: a *.invalid browser path is never dialed", async () => {
  const e = new MsrpEndpoint({ port: 0 }).listen();
  try {
    const s = e.createSession();
    await assertRejects(
      () => e.connectSession(s, ["msrp://df7jal23ls0d.invalid/2s93i93idj;ws"]),
      TypeError,
      "wait for that WebSocket client",
    );
  } finally {
    await e.close();
  }
});
