/**
 * Issue 14: the WebSocket relay (RFC 7977 §5, RFC 4976) must not be a way
 * into the bridge's own network. A client of `/msrp` that AUTHs and sends
 * with a To-Path naming some host and port must get 403 before the relay
 * dials anything (not the event socket on 8021, not a port scan: the answer
 * is the same whatever listens there), unless `RELAY_ALLOW` names that next
 * hop; our own sessions and other clients of the server stay reachable.
 * Relay AUTH has its own password, never the API token, a bounded number of
 * grants per WebSocket, and wrong digests are throttled per client address.
 *
 * Most tests run the real service (`src/main.ts`) as a child process; the
 * sessions-of-ours test runs a real endpoint and WebSocket server.
 */
import { nextMessage } from "../_messages.ts";
import { assert, assertEquals } from "../_assert.ts";
import { freePort, freePorts, type ServiceProcess, startService } from "../_service_process.ts";
import {
  answerChallenge,
  formatAuthorization,
  parseChallenge,
  type ResponseHead,
} from "../../src/msrp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { authFrame, BrowserPeer } from "../session/_browser.ts";
import { RawPeer, sendFrame } from "../session/_peer.ts";
import { until } from "../_until.ts";
import {
  assertClientsReachEachOther,
  auth,
  bindToBrowser,
  request,
  response,
  wsRelay,
} from "../relay/_ws_relay_server.ts";

const API_TOKEN = "api-token-0123456789abcdef";
const RELAY_PASSWORD = "relay-password-0123456789";
/** FreeSWITCH's event socket: the port the original exploit aimed at. */
const ESL_PORT = 8021;

/**
 * A TCP listener on 127.0.0.1 that counts the connections it accepts: a next
 * hop the relay must never reach.
 */
class Trap implements AsyncDisposable {
  /** Connections accepted so far. */
  accepted = 0;
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #served: Promise<void>;

  constructor() {
    const listener = this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = listener.addr.port;
    this.#served = (async () => {
      try {
        for await (const conn of listener) {
          this.accepted++;
          conn.close();
        }
      } catch {
        // the listener was closed
      }
    })();
  }

  /** An MSRP URI naming the trap. */
  uri(id: string): string {
    return `msrp://127.0.0.1:${this.port}/${id};tcp`;
  }

  /** Proves the trap would have seen a connection: connects to it and waits for the count. */
  async prove(): Promise<void> {
    const before = this.accepted;
    (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
    await until(() => this.accepted === before + 1, "the trap to accept our own connection");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#served;
  }
}

/** The service on free loopback ports with `env`, and its relay's WebSocket URL and URI. */
async function service(
  env: Record<string, string>,
): Promise<ServiceProcess & { wsUrl: string; relayUri: string; dataDir: string }> {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-relay-policy-" });
  const [httpPort, msrpPort] = freePorts(2);
  const svc = await startService({
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    MSRP_PORT: String(msrpPort),
    ...env,
  });
  return {
    ...svc,
    wsUrl: `ws://127.0.0.1:${httpPort}/msrp`,
    relayUri: `msrp://127.0.0.1:${httpPort};ws`,
    dataDir,
    async [Symbol.asyncDispose]() {
      await svc[Symbol.asyncDispose]();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** Sends a SEND from `b` through its Use-Path `use` toward `next` (To-Path URIs); returns the response. */
async function sendToward(
  b: BrowserPeer,
  use: string,
  tid: string,
  next: string,
): Promise<ResponseHead> {
  b.send(sendFrame({
    tid,
    to: `${use} ${next}`,
    from: b.uri,
    messageId: tid,
    range: "1-5/5",
    body: "hello",
  }));
  return response(await b.response(tid));
}

Deno.test("relay policy (service, default config): AUTH then SEND toward a loopback port gets 403 and the relay never connects there", async () => {
  await using trap = new Trap();
  await using svc = await service({});
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    const use = await auth(b, svc.relayUri);
    const refused = await sendToward(b, use, "trap1xyz", trap.uri("x"));
    assertEquals([refused.status, refused.toPath, refused.fromPath], [403, [b.uri], [use]]);
    // The refusal came; had the relay dialed, the trap would have counted it by now.
    assertEquals(trap.accepted, 0, "the relay connected to the trap");
    // The same through a ;ws next hop (the relay would dial a WebSocket there).
    const ws = await sendToward(b, use, "trap2xyz", `msrp://127.0.0.1:${trap.port}/x;ws`);
    assertEquals(ws.status, 403);
    assertEquals(trap.accepted, 0, "the relay connected to the trap over WebSocket");
  } finally {
    await b.close();
  }
  await trap.prove();
});

Deno.test("relay policy (service, default config): a closed port, an open port and the event socket port get byte-identical refusals", async () => {
  await using trap = new Trap();
  await using svc = await service({});
  const closed = freePort();
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    const use = await auth(b, svc.relayUri);
    const answers: [number, string][] = [];
    const targets: [string, number][] = [["c1xyz", closed], ["o1xyz", trap.port], [
      "e1xyz",
      ESL_PORT,
    ]];
    for (const [tid, port] of targets) {
      const r = await sendToward(b, use, tid, `msrp://127.0.0.1:${port}/x;tcp`);
      answers.push([r.status, r.comment]);
    }
    assertEquals(answers[0][0], 403);
    assertEquals(answers[1], answers[0], "open and closed ports answer differently");
    assertEquals(answers[2], answers[0], "the event socket port answers differently");
    assertEquals(trap.accepted, 0, "the relay connected to the open port");
  } finally {
    await b.close();
  }
  await trap.prove();
});

Deno.test("relay policy (service): a RELAY_ALLOW-listed next hop still gets messages, other ports of the same host do not", async () => {
  await using trap = new Trap();
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    await using svc = await service({ RELAY_ALLOW: `127.0.0.1:${peer.port}` });
    const b = await BrowserPeer.open(svc.wsUrl);
    try {
      const use = await auth(b, svc.relayUri);
      const q = peer.createSession({ remotePath: [use, b.uri] });
      const got = nextMessage(q);
      const ok = await sendToward(b, use, "ok1xyz", q.localUri);
      assertEquals([ok.status, ok.toPath, ok.fromPath], [200, [b.uri], [use]]);
      assertEquals((await got).text(), "hello");
      assertEquals(q.remotePath, [use, b.uri]);
      // The rule names one port: the trap on another port of 127.0.0.1 is refused.
      assertEquals((await sendToward(b, use, "no1xyz", trap.uri("x"))).status, 403);
      assertEquals(trap.accepted, 0, "the relay connected to the trap");
    } finally {
      await b.close();
    }
  } finally {
    await peer.close();
  }
  await trap.prove();
});

Deno.test("relay policy (service): the relay dials only the first next hop, never a To-Path URI behind it", async () => {
  await using trap = new Trap();
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    await using svc = await service({ RELAY_ALLOW: `127.0.0.1:${peer.port}` });
    const a = await BrowserPeer.open(svc.wsUrl);
    const b = await BrowserPeer.open(svc.wsUrl);
    try {
      const useA = await auth(a, svc.relayUri);
      const useB = await auth(b, svc.relayUri);
      // Behind an allowed hop: the relay hands the request to that hop, whatever follows.
      const q = peer.createSession({ remotePath: [useA, a.uri] });
      const behindHop = await sendToward(a, useA, "bh1xyz", `${q.localUri} ${trap.uri("x")}`);
      assert(behindHop.status !== 403, "the allowed hop was refused");
      // Behind another client of ours: only that client may follow.
      const behindClient = await sendToward(a, useA, "bc1xyz", `${useB} ${trap.uri("y")}`);
      assertEquals(behindClient.status, 481);
      assertEquals(b.frames.filter((f) => f.head.kind === "request").length, 0);
      assertEquals(trap.accepted, 0, "a To-Path URI behind the first hop was dialed");
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    await peer.close();
  }
  await trap.prove();
});

Deno.test("relay policy (service): two clients of the server still reach each other with no RELAY_ALLOW", async () => {
  await using svc = await service({});
  const a = await BrowserPeer.open(svc.wsUrl);
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    await assertClientsReachEachOther(a, b, svc.relayUri);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("relay policy (service): WS_RELAY_MAX_GRANTS bounds the grants of one WebSocket, refreshes still work", async () => {
  await using svc = await service({ WS_RELAY_MAX_GRANTS: "2" });
  const b = await BrowserPeer.open(svc.wsUrl);
  const other = await BrowserPeer.open(svc.wsUrl);
  try {
    const from = (n: number) => `msrp://grant${n}.invalid:2855/g${n};ws`;
    const authAs = async (tid: string, uri: string, peer = b) => {
      peer.send(authFrame({ tid, to: svc.relayUri, from: uri }));
      return response(await peer.response(tid));
    };
    const first = await authAs("g1xyz", from(1));
    assertEquals((await authAs("g2xyz", from(2))).status, 200);
    const third = await authAs("g3xyz", from(3));
    assertEquals(third.status, 403);
    assert(/grants/.test(third.comment), third.comment);
    assertEquals(third.headers.get("use-path"), undefined);
    // A refresh of a grant held keeps its Use-Path.
    const refresh = await authAs("g4xyz", from(1));
    assertEquals(
      [refresh.status, refresh.headers.get("use-path")],
      [200, first.headers.get("use-path")],
    );
    // The bound is per WebSocket: another one gets its own grants.
    assertEquals((await authAs("g5xyz", from(3), other)).status, 200);
  } finally {
    await b.close();
    await other.close();
  }
});

Deno.test("relay policy (service): with API_TOKEN and no WS_RELAY_PASSWORD every relay AUTH is refused, the API token included", async () => {
  await using svc = await service({ API_TOKEN });
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    b.send(authFrame({ tid: "n1xyz", to: svc.relayUri, from: b.uri }));
    const plain = response(await b.response("n1xyz"));
    assertEquals([plain.status, plain.comment], [403, "relay AUTH needs WS_RELAY_PASSWORD"]);
    assertEquals(plain.headers.get("www-authenticate"), undefined, "a challenge was offered");
    // Digest credentials for the API token, against a challenge of the same realm.
    const c = { realm: "msrp-bridge", nonce: "0123456789abcdef", qop: "auth" as const };
    const credentials = formatAuthorization(
      answerChallenge(c, { username: "web", password: API_TOKEN, uri: svc.relayUri }),
    );
    b.send(authFrame({
      tid: "n2xyz",
      to: svc.relayUri,
      from: b.uri,
      extra: `Authorization: ${credentials}\r\n`,
    }));
    const withToken = response(await b.response("n2xyz"));
    assertEquals([withToken.status, withToken.comment], [
      403,
      "relay AUTH needs WS_RELAY_PASSWORD",
    ]);
  } finally {
    await b.close();
  }
});

/** Relay AUTH with digest credentials for `password`, answering a fresh challenge. */
async function digestAuth(
  b: BrowserPeer,
  relayUri: string,
  tid: string,
  password: string,
): Promise<ResponseHead> {
  b.send(authFrame({ tid: `${tid}c`, to: relayUri, from: b.uri }));
  const challenge = response(await b.response(`${tid}c`));
  assertEquals(challenge.status, 401, `challenge for ${tid}`);
  const c = parseChallenge(challenge.headers.get("www-authenticate")!);
  const credentials = formatAuthorization(
    answerChallenge(c, { username: "web", password, uri: relayUri }),
  );
  b.send(authFrame({ tid, to: relayUri, from: b.uri, extra: `Authorization: ${credentials}\r\n` }));
  return response(await b.response(tid));
}

Deno.test("relay policy (service): WS_RELAY_PASSWORD makes relay AUTH need its digest, and the API token is not accepted in its place", async () => {
  await using svc = await service({ API_TOKEN, WS_RELAY_PASSWORD: RELAY_PASSWORD });
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    b.send(authFrame({ tid: "p0xyz", to: svc.relayUri, from: b.uri }));
    const challenge = response(await b.response("p0xyz"));
    assertEquals(challenge.status, 401);
    assert(challenge.headers.get("www-authenticate")?.startsWith("Digest "));
    const withToken = await digestAuth(b, svc.relayUri, "p1xyz", API_TOKEN);
    assertEquals([withToken.status, withToken.comment], [403, "wrong credentials"]);
    const ok = await digestAuth(b, svc.relayUri, "p2xyz", RELAY_PASSWORD);
    assertEquals(ok.status, 200);
    assert(ok.headers.get("use-path")?.endsWith(";ws"));
  } finally {
    await b.close();
  }
});

Deno.test("relay policy (service): after AUTH_FAILURE_LIMIT wrong digests a client address is refused 'too many failed attempts', right password or not", async () => {
  await using svc = await service({
    WS_RELAY_PASSWORD: RELAY_PASSWORD,
    AUTH_FAILURE_LIMIT: "3",
  });
  const b = await BrowserPeer.open(svc.wsUrl);
  try {
    for (let i = 0; i < 3; i++) {
      const wrong = await digestAuth(b, svc.relayUri, `w${i}xyz`, `wrong-password-${i}-0123456`);
      assertEquals([wrong.status, wrong.comment], [403, "wrong credentials"]);
    }
    // Blocked: not even the right password is looked at, nor is a challenge offered.
    b.send(authFrame({ tid: "blk0xyz", to: svc.relayUri, from: b.uri }));
    const noChallenge = response(await b.response("blk0xyz"));
    assertEquals([noChallenge.status, noChallenge.comment], [403, "too many failed attempts"]);
  } finally {
    await b.close();
  }
  // The count is per client address, not per WebSocket: a new one is blocked too.
  const again = await BrowserPeer.open(svc.wsUrl);
  try {
    const c = { realm: "msrp-bridge", nonce: "0123456789abcdef", qop: "auth" as const };
    const credentials = formatAuthorization(
      answerChallenge(c, { username: "web", password: RELAY_PASSWORD, uri: svc.relayUri }),
    );
    again.send(authFrame({
      tid: "blk1xyz",
      to: svc.relayUri,
      from: again.uri,
      extra: `Authorization: ${credentials}\r\n`,
    }));
    const right = response(await again.response("blk1xyz"));
    assertEquals([right.status, right.comment], [403, "too many failed attempts"]);
  } finally {
    await again.close();
  }
});

Deno.test("relay policy (endpoint): with no allow-list a client still reaches sessions of ours both ways, and a link we hold to a disallowed port is not lent to it", async () => {
  await using r = wsRelay();
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = await BrowserPeer.open(r.url);
  let peer: RawPeer | undefined;
  try {
    const use = await auth(b, r.relayUri);
    // A session of ours reached from the browser through its Use-Path.
    const s = r.e.createSession({ remotePath: [use, b.uri] });
    const got = nextMessage(s);
    const ok = await sendToward(b, use, "s1xyz", s.localUri);
    assertEquals(ok.status, 200);
    assertEquals((await got).text(), "hello");
    // A session of ours that connects actively to the browser through the relay.
    await bindToBrowser(r, r.e.createSession(), b, use);

    // A session of ours holds a shared connection to a port the relay may not dial.
    const u = r.e.createSession();
    const accepted = RawPeer.accept(held);
    const heldUri = `msrp://127.0.0.1:${held.addr.port}/heldpeer01;tcp`;
    const bound = r.e.connectSession(u, [heldUri], { reuse: true });
    peer = await accepted;
    const [first] = await peer.waitFor((fs) => fs.length >= 1);
    const tid = request(first).transactionId;
    await peer.write(
      `MSRP ${tid} 200 OK\r\nTo-Path: ${u.localUri}\r\nFrom-Path: ${heldUri}\r\n-------${tid}$\r\n`,
    );
    await bound;
    const refused = await sendToward(b, use, "h1xyz", heldUri);
    assertEquals(refused.status, 403);
    // The request did not travel over the connection we hold: the peer saw the bind only.
    u.send("marker");
    const frames = await peer.waitFor((fs) => fs.length >= 2);
    assertEquals(frames.map((f) => request(f).transactionId !== "h1xyz"), [true, true]);
  } finally {
    await peer?.close();
    held.close();
    await b.close();
  }
});
