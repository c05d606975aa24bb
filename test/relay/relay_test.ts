/**
 * Relay tests against the real MSRP relay (Kamailio's msrp module) that
 * .ci/run starts from ../shared/relay (RELAY_URI, RELAY_TLS_URI,
 * RELAY_TLS_CERT). Without a reachable relay they are skipped with one
 * printed line (test/_services.ts).
 */
import { nextMessage } from "../_messages.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { registerWithRelay, type RelayRegistration } from "../../src/relay/mod.ts";
import { MsrpError } from "../../src/msrp/mod.ts";
import { DEFAULT_RELAY_URI, skipUnlessRelay, skipUnlessRelayTls } from "../_services.ts";

const RELAY_URI = Deno.env.get("RELAY_URI") ?? DEFAULT_RELAY_URI;
const RELAY_TLS_URI = Deno.env.get("RELAY_TLS_URI");
const RELAY_TLS_CERT = Deno.env.get("RELAY_TLS_CERT");

const relayUp = await skipUnlessRelay("relay_test", RELAY_URI) === undefined;
const tlsUp = relayUp && await skipUnlessRelayTls("relay_test") === undefined;

/** Alice and Bob, each authenticated at the relay as a different user, with a session between them. */
async function relayedPair(uri = RELAY_URI, caCerts?: string[], chunkSize = 8 * 1024) {
  const ea = new MsrpEndpoint({ port: 0, session: { chunkSize } }).listen();
  const eb = new MsrpEndpoint({ port: 0, session: { chunkSize } }).listen();
  const ra: RelayRegistration = await registerWithRelay(ea, {
    uri,
    username: "alice",
    password: "secret",
    caCerts,
  });
  const rb = await registerWithRelay(eb, { uri, username: "bob", password: "secret", caCerts });
  const b = eb.createSession({ usePath: rb.usePath });
  const a = ea.createSession({ usePath: ra.usePath });
  await ea.connectSession(a, b.localPath, { relay: ra });
  await b.ready;
  return {
    a,
    b,
    ra,
    rb,
    async [Symbol.asyncDispose]() {
      ra.close();
      rb.close();
      await ea.close();
      await eb.close();
    },
  };
}

Deno.test({
  name: "relay: AUTH answers the digest challenge and gets a Use-Path and Expires",
  ignore: !relayUp,
  async fn() {
    const e = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const r = await registerWithRelay(e, {
        uri: RELAY_URI,
        username: "carol",
        password: "secret",
      });
      assertEquals(r.usePath.length, 1);
      assert(r.usePath[0].startsWith(RELAY_URI.replace(";tcp", "/")), r.usePath[0]);
      assert(r.expires > 0);
      const s = e.createSession({ usePath: r.usePath });
      assertEquals(s.localPath, [...r.usePath, s.localUri]);
      r.close();
    } finally {
      await e.close();
    }
  },
});

Deno.test({
  name: "relay: a wrong password is refused with 403",
  ignore: !relayUp,
  async fn() {
    const e = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const err = await assertRejects(
        () => registerWithRelay(e, { uri: RELAY_URI, username: "alice", password: "wrong" }),
        MsrpError,
      );
      assertEquals(err.status, 403);
    } finally {
      await e.close();
    }
  },
});

Deno.test({
  name: "relay: text both ways through the relay, with success REPORTs end to end",
  ignore: !relayUp,
  async fn() {
    await using p = await relayedPair();
    const atB = nextMessage(p.b);
    const r1 = await p.a.send("Hello Bob", { successReport: true }).done;
    assertEquals((await atB).text(), "Hello Bob");
    assertEquals(r1.status, "delivered");
    const atA = nextMessage(p.a);
    const r2 = await p.b.send("Hi Alice", { successReport: true }).done;
    assertEquals((await atA).text(), "Hi Alice");
    assertEquals(r2.status, "delivered");
  },
});

Deno.test({
  name: "relay: a 50 MiB file in 8 KiB chunks crosses the relay with a success REPORT",
  ignore: !relayUp,
  async fn() {
    await using p = await relayedPair();
    const size = 50 * 1024 * 1024;
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(body.subarray(i, i + 65536));
    const atB = nextMessage(p.b);
    const r = await p.a.send(body, { contentType: "application/octet-stream", successReport: true })
      .done;
    assertEquals([r.status, r.bytesSent], ["delivered", size]);
    const m = await atB;
    assertEquals(m.body(), body);
  },
});

Deno.test({
  name: "relay: losing the relay connection fails the transfer with a reason and ends the session",
  ignore: !relayUp,
  async fn() {
    await using p = await relayedPair();
    let n = 0;
    const endless = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (n++ === 50) p.ra.close("test cut the relay connection");
        c.enqueue(new Uint8Array(8192));
        await new Promise((r) => setTimeout(r, 0));
      },
    });
    const r = await p.a.send(endless, { contentType: "application/octet-stream", size: 1 << 30 })
      .done;
    assertEquals(r.status, "failed");
    assert(r.reason.length > 0);
    assert(p.a.closed, "the session ends with its relay connection");
  },
});

Deno.test({
  name: "relay: AUTH and a message over the relay's TLS listener (msrps)",
  ignore: !tlsUp,
  async fn() {
    const ca = await Deno.readTextFile(RELAY_TLS_CERT!);
    await using p = await relayedPair(RELAY_TLS_URI!, [ca]);
    assert(p.ra.usePath[0].startsWith("msrps://"), p.ra.usePath[0]);
    const atB = nextMessage(p.b);
    assertEquals((await p.a.send("over TLS", { successReport: true }).done).status, "delivered");
    assertEquals((await atB).text(), "over TLS");
  },
});

Deno.test({
  name: "relay: several sessions share one authenticated relay connection",
  ignore: !relayUp,
  async fn() {
    const ea = new MsrpEndpoint({ port: 0 }).listen();
    const eb = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const ra = await registerWithRelay(ea, {
        uri: RELAY_URI,
        username: "alice",
        password: "secret",
      });
      const rb = await registerWithRelay(eb, {
        uri: RELAY_URI,
        username: "bob",
        password: "secret",
      });
      const pairs = [];
      for (let i = 0; i < 3; i++) {
        const b = eb.createSession({ usePath: rb.usePath });
        const a = ea.createSession({ usePath: ra.usePath });
        await ea.connectSession(a, b.localPath, { relay: ra });
        pairs.push({ a, b });
      }
      assertEquals([ea.connectionCount, eb.connectionCount], [1, 1]);
      const texts = await Promise.all(pairs.map(async ({ a, b }, i) => {
        const got = nextMessage(b);
        await a.send(`session ${i}`).done;
        return (await got).text();
      }));
      assertEquals(texts, ["session 0", "session 1", "session 2"]);
      ra.close();
      rb.close();
    } finally {
      await ea.close();
      await eb.close();
    }
  },
});
