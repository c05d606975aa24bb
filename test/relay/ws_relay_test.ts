/**
 * Our WebSocket server as its clients' MSRP relay (RFC 7977 §5, RFC 4976):
 * a browser-style client AUTHs over the WebSocket and reaches a session of
 * ours or a TCP peer through the Use-Path it got.
 */
import { nextMessage } from "../_messages.ts";
import { assert, assertEquals } from "../_assert.ts";
import {
  answerChallenge,
  formatAuthorization,
  parseChallenge,
  type ResponseHead,
} from "../../src/msrp/mod.ts";
import { MsrpEndpoint, type SessionCloseEvent } from "../../src/session/mod.ts";
import { MAX_GATHERED_BYTES } from "../../src/relay/forwarding.ts";
import { authFrame, BrowserPeer, chunkFrame } from "../session/_browser.ts";
import { RawPeer, sendFrame } from "../session/_peer.ts";
import { until, withDeadline } from "../_until.ts";
import {
  answerOk,
  assertClientsReachEachOther,
  assertReplyDelivered,
  assertSentToSession,
  auth,
  bindToBrowser,
  LOOPBACK_HOPS,
  request,
  response,
  type WsRelay,
  wsRelay,
} from "./_ws_relay_server.ts";

Deno.test("ws relay: AUTH over the WebSocket gets 200 with a ;ws Use-Path naming the server and the asked Expires", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  b.send(authFrame({ tid: "a1xyz", to: r.relayUri, from: b.uri, extra: "Expires: 300\r\n" }));
  const ok = response(await b.response("a1xyz"));
  assertEquals([ok.status, ok.toPath, ok.fromPath], [200, [b.uri], [r.relayUri]]);
  const usePath = ok.headers.get("use-path")!;
  assert(
    new RegExp(`^msrp://${r.relayUri.slice(7, -3)}/[a-z0-9]{20};ws$`).test(usePath),
    usePath,
  );
  assertEquals(ok.headers.get("expires"), "300");
  // A refresh keeps the Use-Path.
  b.send(authFrame({ tid: "a2xyz", to: r.relayUri, from: b.uri }));
  const again = response(await b.response("a2xyz"));
  assertEquals([again.headers.get("use-path"), again.headers.get("expires")], [usePath, "600"]);
  await b.close();
});

Deno.test("ws relay: an Expires out of bounds gets 423 with Min-Expires or Max-Expires", async () => {
  await using r = wsRelay({ minExpires: 120, maxExpires: 900 });
  const b = await BrowserPeer.open(r.url);
  b.send(authFrame({ tid: "lowxyz", to: r.relayUri, from: b.uri, extra: "Expires: 30\r\n" }));
  const low = response(await b.response("lowxyz"));
  assertEquals([low.status, low.headers.get("min-expires")], [423, "120"]);
  b.send(authFrame({ tid: "highxyz", to: r.relayUri, from: b.uri, extra: "Expires: 86400\r\n" }));
  const high = response(await b.response("highxyz"));
  assertEquals([high.status, high.headers.get("max-expires")], [423, "900"]);
  b.send(authFrame({ tid: "badxyz", to: r.relayUri, from: b.uri, extra: "Expires: soon\r\n" }));
  assertEquals(response(await b.response("badxyz")).status, 400);
  await b.close();
});

Deno.test("ws relay: with a password AUTH is challenged, the right digest is granted and a wrong one gets 403", async () => {
  await using r = wsRelay({ password: "s3cret" });
  const b = await BrowserPeer.open(r.url);
  const challenge = async (tid: string) => {
    b.send(authFrame({ tid, to: r.relayUri, from: b.uri }));
    const c = response(await b.response(tid));
    assertEquals(c.status, 401);
    return parseChallenge(c.headers.get("www-authenticate")!);
  };
  const withPassword = (password: string, c: ReturnType<typeof parseChallenge>) =>
    `Authorization: ${
      formatAuthorization(answerChallenge(c, { username: "web", password, uri: r.relayUri }))
    }\r\n`;
  let c = await challenge("c1xyz");
  b.send(authFrame({ tid: "w1xyz", to: r.relayUri, from: b.uri, extra: withPassword("nope", c) }));
  assertEquals(response(await b.response("w1xyz")).status, 403);
  c = await challenge("c2xyz");
  b.send(
    authFrame({ tid: "r1xyz", to: r.relayUri, from: b.uri, extra: withPassword("s3cret", c) }),
  );
  const ok = response(await b.response("r1xyz"));
  assertEquals(ok.status, 200);
  assert(ok.headers.get("use-path")!.endsWith(";ws"));
  await b.close();
});

Deno.test("ws relay: text and a file from the browser reach our session with success REPORTs, and replies go back down the WebSocket", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  const use = await auth(b, r.relayUri);
  const s = r.e.createSession({ remotePath: [use, b.uri] });

  await assertSentToSession(b, use, s, {
    tid: "t1xyz",
    messageId: "m1",
    body: "hello",
    extra: "Success-Report: yes\r\n",
  });
  const report = request(
    await b.waitFor((f) => f.head.kind === "request" && f.head.method === "REPORT"),
  );
  assertEquals([report.toPath, report.fromPath], [[b.uri], [use, s.localUri]]);
  assertEquals(report.headers.get("status"), "000 200 OK");

  // A file in binary WebSocket messages, one chunk each.
  const file = new Uint8Array(192 * 1024);
  for (let i = 0; i < file.length; i += 65536) crypto.getRandomValues(file.subarray(i, i + 65536));
  const fileGot = nextMessage(s);
  const enc = new TextEncoder();
  for (let i = 0; i < 3; i++) {
    const part = file.subarray(i * 65536, (i + 1) * 65536);
    const head = `MSRP file${i} SEND\r\nTo-Path: ${use} ${s.localUri}\r\nFrom-Path: ${b.uri}\r\n` +
      `Message-ID: file\r\nSuccess-Report: yes\r\n` +
      `Byte-Range: ${i * 65536 + 1}-${(i + 1) * 65536}/${file.length}\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`;
    const end = `\r\n-------file${i}${i === 2 ? "$" : "+"}\r\n`;
    const frame = new Uint8Array([...enc.encode(head), ...part, ...enc.encode(end)]);
    b.send(frame);
  }
  for (let i = 0; i < 3; i++) assertEquals(response(await b.response(`file${i}`)).status, 200);
  assertEquals((await fileGot).body(), file);
  // Progress REPORTs may come first; the last one covers the whole file.
  const fileReport = request(
    await b.waitFor((f) =>
      f.head.kind === "request" && f.head.messageId === "file" &&
      f.head.byteRange?.end === file.length
    ),
  );
  assertEquals([fileReport.toPath, fileReport.headers.get("status")], [[b.uri], "000 200 OK"]);

  // Our reply goes down the WebSocket through the relay; the browser's REPORT delivers it.
  await assertReplyDelivered(b, use, s, "and back", "rep1");
  await b.close();
});

Deno.test("ws relay: a session of ours connects actively to a browser path through our own relay", async () => {
  await using r = wsRelay();
  const b = await BrowserPeer.open(r.url);
  const use = await auth(b, r.relayUri);
  const s = r.e.createSession();
  const bind = await bindToBrowser(r, s, b, use);
  assertEquals([bind.toPath, bind.fromPath], [[b.uri], [use, s.localUri]]);
  assertEquals(r.e.connectionCount, 1, "no connection was opened for the loop");
  // The browser going away ends the session.
  const closed = new Promise((resolve) => s.addEventListener("close", resolve));
  await b.close();
  await closed;
});

Deno.test("ws relay: the browser and a TCP peer exchange messages through the relay both ways", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS });
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    const b = await BrowserPeer.open(r.url);
    const use = await auth(b, r.relayUri);
    const q = peer.createSession({ remotePath: [use, b.uri] });
    // The relay answers hop by hop with the next hop's response.
    await assertSentToSession(b, use, q, { tid: "x1xyz", messageId: "mx", body: "over tcp!" });

    await assertReplyDelivered(b, use, q, "from tcp", "rep2");
    await b.close();
  } finally {
    await peer.close();
  }
});

Deno.test("ws relay: unknown or unreachable hops get 481 and a spoofed From-Path gets 403", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS });
  const b = await BrowserPeer.open(r.url);
  const use = await auth(b, r.relayUri);
  // Unreachable next hop (nothing listens on port 9 of loopback).
  b.send(sendFrame({ tid: "u1xyz", to: `${use} msrp://127.0.0.1:9/x;tcp`, from: b.uri }));
  assertEquals(response(await b.response("u1xyz")).status, 481);
  // Nothing after our URI.
  b.send(sendFrame({ tid: "u2xyz", to: use, from: b.uri }));
  assertEquals(response(await b.response("u2xyz")).status, 481);
  // Only the URI that authenticated sends through its Use-Path.
  b.send(
    sendFrame({
      tid: "u3xyz",
      to: `${use} msrp://127.0.0.1:9/x;tcp`,
      from: "msrp://x.invalid/y;ws",
    }),
  );
  assertEquals(response(await b.response("u3xyz")).status, 403);

  // From a TCP peer: a Use-Path nobody holds, and a hop behind ours that is not our client.
  const raw = await RawPeer.connect(r.e.port);
  try {
    const ghost = use.replace(/\/[a-z0-9]+;ws$/, "/nobodyhasthisid0000;ws");
    await raw.write(
      sendFrame({ tid: "v1xyz", to: `${ghost} ${b.uri}`, from: "msrp://127.0.0.1:1/p;tcp" }),
    );
    await raw.write(
      sendFrame({
        tid: "v2xyz",
        to: `${use} msrp://z.invalid/z;ws`,
        from: "msrp://127.0.0.1:1/p;tcp",
      }),
    );
    const frames = await raw.waitFor((fs) => fs.length >= 2);
    assertEquals(frames.map((f) => [f.head.transactionId, response(f).status]), [
      ["v1xyz", 481],
      ["v2xyz", 481],
    ]);
  } finally {
    await raw.close();
  }
  await b.close();
});

Deno.test("ws relay: a next hop that never answers gets the browser a 408 response and a 408 REPORT, and its late response is dropped", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS }, { transactionTimeoutMs: 300 });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hopUri = `msrp://127.0.0.1:${listener.addr.port}/silent01;tcp`;
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    const accepted = RawPeer.accept(listener);
    b.send(sendFrame({
      tid: "slow1xyz",
      to: `${use} ${hopUri}`,
      from: b.uri,
      messageId: "m408",
      range: "1-5/5",
      body: "hello",
    }));
    const hop = await accepted;
    try {
      const [forwarded] = await hop.waitFor((fs) => fs.length >= 1);
      assertEquals(request(forwarded).transactionId, "slow1xyz");
      const timedOut = response(await b.response("slow1xyz"));
      assertEquals([timedOut.status, timedOut.toPath, timedOut.fromPath], [408, [b.uri], [use]]);
      // RFC 4976 §6.4.1: the sender also gets a REPORT with the 408.
      const report = request(
        await b.waitFor((f) => f.head.kind === "request" && f.head.method === "REPORT"),
      );
      assertEquals(
        [
          report.messageId,
          report.toPath,
          report.fromPath,
          report.headers.get("status")?.slice(0, 7),
        ],
        ["m408", [b.uri], [use], "000 408"],
      );
      // The transaction is forgotten: the hop's late 200 goes nowhere, while what the hop
      // writes next still reaches the browser (no answer to wait for, so no race with the
      // short timeout): the relay read the 200 before it.
      await hop.write(
        `MSRP slow1xyz 200 OK\r\nTo-Path: ${use}\r\nFrom-Path: ${hopUri}\r\n-------slow1xyz$\r\n`,
      );
      await hop.write(sendFrame({ tid: "next1xyz", to: `${use} ${b.uri}`, from: hopUri }));
      const next = request(await b.waitFor((f) => f.head.transactionId === "next1xyz"));
      assertEquals([next.toPath, next.fromPath], [[b.uri], [use, hopUri]]);
      assertEquals(
        b.frames.filter((f) => f.head.transactionId === "slow1xyz").map((f) => response(f).status),
        [408],
      );
    } finally {
      await hop.close();
    }
  } finally {
    listener.close();
    await b.close();
  }
});

Deno.test("ws relay: an expired grant is dropped without being used and the session reached through it ends", async () => {
  await using r = wsRelay({ minExpires: 1 });
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    assertEquals(r.relay.grantCount, 1);
    const s = r.e.createSession();
    await bindToBrowser(r, s, b, use);
    // Only now is the grant cut short (a refresh keeps the Use-Path): its expiry races nothing.
    const closed = new Promise<string>((resolve) =>
      s.addEventListener("close", (e) => resolve((e as SessionCloseEvent).reason))
    );
    assertEquals(await auth(b, r.relayUri, "Expires: 1\r\n"), use);
    const reason = await withDeadline(closed, "the session to end");
    assert(reason.includes("expired"), reason);
    assertEquals(r.relay.grantCount, 0);
    // The WebSocket stays open; the old Use-Path is gone.
    b.send(sendFrame({ tid: "gone1xyz", to: `${use} ${s.localUri}`, from: b.uri }));
    assertEquals(response(await b.response("gone1xyz")).status, 481);
  } finally {
    await b.close();
  }
});

Deno.test("ws relay: the connection it dialed to a next hop closes once its client is gone and it is idle", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS, hopIdleMs: 0 });
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    const b = await BrowserPeer.open(r.url);
    const use = await auth(b, r.relayUri);
    const q = peer.createSession({ remotePath: [use, b.uri] });
    const got = nextMessage(q);
    b.send(sendFrame({
      tid: "h1xyz",
      to: `${use} ${q.localUri}`,
      from: b.uri,
      messageId: "mh",
      range: "1-2/2",
      body: "hi",
    }));
    assertEquals(response(await b.response("h1xyz")).status, 200);
    assertEquals((await got).text(), "hi");
    // The browser's WebSocket and the connection to the peer.
    assertEquals(r.e.connectionCount, 2);
    await b.close();
    await until(() => r.e.connectionCount === 0, "the relay to close its next-hop connection");
    await until(() => peer.connectionCount === 0, "the peer to see the connection end");
  } finally {
    await peer.close();
  }
});

Deno.test("ws relay: a browser reaches another client of the same relay down its WebSocket, without a connection to itself", async () => {
  await using r = wsRelay();
  const a = await BrowserPeer.open(r.url);
  const b = await BrowserPeer.open(r.url);
  try {
    await assertClientsReachEachOther(a, b, r.relayUri);
    // Only the two browsers' WebSockets: the relay did not dial itself.
    assertEquals(r.e.connectionCount, 2);
  } finally {
    await a.close();
    await b.close();
  }
});

/** The From-Path of {@linkcode relayedNickname}'s request: two URIs. */
const NICK_FROM = "msrp://127.0.0.1:1/hopa;tcp msrp://127.0.0.1:1/peerp;tcp";

/**
 * A NICKNAME from a TCP peer with a two-URI From-Path, relayed to a browser
 * that answers it 200 or leaves it unanswered; the response the peer gets.
 */
async function relayedNickname(r: WsRelay, answer: boolean): Promise<ResponseHead> {
  const b = await BrowserPeer.open(r.url);
  const raw = await RawPeer.connect(r.e.port);
  try {
    const use = await auth(b, r.relayUri);
    await raw.write(
      sendFrame({ tid: "n1xyz", method: "NICKNAME", to: `${use} ${b.uri}`, from: NICK_FROM }),
    );
    const nick = request(await b.waitFor((f) => f.head.transactionId === "n1xyz"));
    assertEquals(nick.fromPath, [use, ...NICK_FROM.split(" ")]);
    if (answer) {
      answerOk(b, use, "n1xyz");
    }
    const [answered] = await raw.waitFor((fs) => fs.length >= 1);
    const head = response(answered);
    assertEquals([head.transactionId, head.toPath, head.fromPath], ["n1xyz", NICK_FROM.split(" "), [
      use,
    ]]);
    return head;
  } finally {
    await raw.close();
    await b.close();
  }
}

Deno.test("ws relay: responses to a relayed non-SEND request, 408 included, carry the whole From-Path as To-Path", async () => {
  {
    await using r = wsRelay();
    assertEquals((await relayedNickname(r, true)).status, 200);
  }
  {
    // Only here is a short timeout wanted: the 408 is what this half is about.
    await using r = wsRelay({}, { transactionTimeoutMs: 200 });
    assertEquals((await relayedNickname(r, false)).status, 408);
  }
});

Deno.test("ws relay: a chunk too large for the parser while its next hop is dialed is answered 413", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS }, {
    parserLimits: { maxChunkBodyBytes: 1024 },
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hopUri = `msrp://127.0.0.1:${listener.addr.port}/big01;tcp`;
  const b = await BrowserPeer.open(r.url);
  try {
    const use = await auth(b, r.relayUri);
    b.send(chunkFrame({
      tid: "big1xyz",
      to: `${use} ${hopUri}`,
      from: b.uri,
      messageId: "big",
      start: 1,
      total: 4096,
      body: new Uint8Array(4096),
      flag: "$",
    }));
    const refused = response(await b.response("big1xyz"));
    assertEquals([refused.status, refused.toPath, refused.fromPath], [413, [b.uri], [use]]);
  } finally {
    listener.close();
    await b.close();
  }
});

Deno.test("ws relay: a request toward the browser too large for one WebSocket message is answered 413", async () => {
  await using r = wsRelay({ allow: LOOPBACK_HOPS });
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    const b = await BrowserPeer.open(r.url);
    const use = await auth(b, r.relayUri);
    // One chunk, streamed from TCP: the relay gathers it whole for the WebSocket (RFC 7977 §4.2).
    const q = peer.createSession({ remotePath: [use, b.uri], chunkSize: MAX_GATHERED_BYTES + 1 });
    await assertSentToSession(b, use, q, { tid: "g1xyz", messageId: "mg", body: "hello" });
    const big = await q.send(new Uint8Array(MAX_GATHERED_BYTES + 1)).done;
    assertEquals([big.status, big.code], ["failed", 413]);
    // Nothing of it reached the browser, and the relay goes on.
    await assertReplyDelivered(b, use, q, "after it", "rep3");
    assertEquals(b.frames.filter((f) => f.body.length > 8).length, 0);
    await b.close();
  } finally {
    await peer.close();
  }
});
