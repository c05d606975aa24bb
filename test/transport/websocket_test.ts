import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { encodeRequest, encodeResponse } from "../../src/msrp/serializer.ts";
import { concatBytes, parseFrames } from "../../src/msrp/parser.ts";
import type { OutgoingRequest } from "../../src/msrp/message.ts";
import { MsrpError } from "../../src/msrp/status.ts";
import {
  connectWebSocket,
  MsrpConnection,
  MsrpWebSocket,
  MsrpWebSocketError,
  upgradeMsrpWebSocket,
} from "../../src/transport/mod.ts";
import { FrameCollector, patternBytes, sendRequest } from "./_support.ts";
import { bytesOf, RawPeer, serveMsrp } from "./_websocket.ts";
import { withDeadline } from "../_until.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server whose accepted WebSocket runs an MsrpConnection into `frames`, and a raw peer. */
async function rawPair(frames = new FrameCollector()) {
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((socket) => {
    accepted.resolve(new MsrpConnection(socket, frames));
  });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");
  return { raw, connection, frames, server };
}

Deno.test("WebSocket: MSRP frames round-trip through MsrpConnection in both directions", async () => {
  const serverFrames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, port, server } = serveMsrp((socket) => {
    accepted.resolve(new MsrpConnection(socket, serverFrames));
  });
  const clientFrames = new FrameCollector();
  const client = new MsrpConnection(await connectWebSocket(url), clientFrames);
  const peer = await withDeadline(accepted.promise, "the accepted connection");
  assert(client.framed && peer.framed, "a WebSocket carries one frame per message");

  const small = sendRequest(1, enc.encode("Hey Bob, are you there?"));
  const large = sendRequest(2, patternBytes(300_000, 2));
  await client.send(encodeRequest(small));
  await client.send(encodeRequest(large));
  await withDeadline(serverFrames.until(() => serverFrames.frames.length === 2), "two requests");
  assertEquals(serverFrames.frames.map((f) => [f.head.transactionId, f.body, f.flag]), [
    [small.transactionId, small.body, "$"],
    [large.transactionId, large.body, "$"],
  ]);

  const back = sendRequest(3, patternBytes(200_000, 3));
  await peer.send([encodeResponse({
    transactionId: small.transactionId,
    status: 200,
    toPath: small.fromPath,
    fromPath: small.toPath,
  })]);
  await peer.send(encodeRequest(back));
  await withDeadline(
    clientFrames.until(() => clientFrames.frames.length === 2),
    "response and SEND",
  );
  const [response, request] = clientFrames.frames;
  assertEquals(response.head.kind === "response" && response.head.status, 200);
  assertEquals(request.body, back.body);
  assertEquals(serverFrames.failures.length + clientFrames.failures.length, 0);
  assertEquals(client.remoteAddr, { transport: "tcp", hostname: "127.0.0.1", port });
  assertEquals(peer.remoteAddr.hostname, "127.0.0.1");
  assertEquals(peer.localAddr.port, port);
  assertEquals(client.secure, false);

  client.close();
  const [clientInfo, serverInfo] = await withDeadline(
    Promise.all([client.closed, peer.closed]),
    "both ends to close",
  );
  assertEquals(clientInfo.error, undefined);
  assertEquals(serverInfo.error, undefined, "a WebSocket close between frames is a clean end");
  assertEquals(clientInfo.bytesWritten, serverInfo.bytesRead);
  assertEquals(serverInfo.bytesWritten, clientInfo.bytesRead);
  await server.shutdown();
});

Deno.test("WebSocket: each frame goes out as one message, text when UTF-8 and binary otherwise", async () => {
  const { raw, connection, server } = await rawPair();

  // Sent in one tick, small and large frames alike: each send is one message.
  const sends: Promise<void>[] = [];
  const requests: OutgoingRequest[] = [];
  for (let i = 0; i < 50; i++) requests.push(sendRequest(i, enc.encode(`héllo ${i} ✓`)));
  requests.push(sendRequest(50, patternBytes(100_000, 5))); // not UTF-8
  requests.push(sendRequest(51, enc.encode("é".repeat(60_000)))); // UTF-8, 120 000 bytes
  requests.push(sendRequest(52, enc.encode("last")));
  for (const r of requests) sends.push(connection.send(encodeRequest(r)));
  await Promise.all(sends);
  await withDeadline(raw.until(requests.length), "one message per frame");
  assertEquals(raw.messages.length, requests.length);
  raw.messages.forEach((message, i) => {
    assertEquals(typeof message, i === 50 ? "object" : "string", `message ${i}`);
    const { frames, failures } = parseFrames(bytesOf(message));
    assertEquals(failures.length, 0);
    assertEquals(frames.length, 1, `message ${i} holds exactly one frame`);
    assertEquals(frames[0].head.transactionId, requests[i].transactionId);
    assertEquals(frames[0].body, requests[i].body);
  });

  connection.close();
  await withDeadline(Promise.all([connection.closed, raw.closed]), "close");
  await server.shutdown();
});

Deno.test("WebSocket: a large frame goes out whole as one message, the parts of a send as one frame", async () => {
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((socket) => {
    accepted.resolve(new MsrpConnection(socket, new FrameCollector()));
  }, { secure: true });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");
  assert(connection.secure, "secure: true (e.g. TLS ended by a proxy) marks the connection");
  const big = sendRequest(1, patternBytes(5_000_000, 1));
  const after = sendRequest(2, enc.encode("after"));
  const parts = encodeRequest(big);
  assert(parts.length > 1, "head, body and end-line are separate parts");
  await connection.send([]); // no frame, no message
  await connection.send(parts);
  await connection.send(encodeRequest(after));
  await withDeadline(raw.until(2), "both frames");
  assertEquals(raw.messages.map((m) => bytesOf(m).length), [
    concatBytes(parts).length,
    concatBytes(encodeRequest(after)).length,
  ]);
  assertEquals(raw.messages.map((m) => parseFrames(bytesOf(m)).frames.map((f) => f.body)), [
    [big.body],
    [after.body],
  ]);

  connection.close();
  await withDeadline(Promise.all([connection.closed, raw.closed]), "close");
  await server.shutdown();
});

Deno.test("WebSocket: a message holding part of a frame loses framing: the handler hears why, the close is 1002", async () => {
  const { raw, connection, frames, server } = await rawPair();
  const first = concatBytes(encodeRequest(sendRequest(1, patternBytes(10_000, 1))));
  raw.ws.send(first.subarray(0, 5000)); // the rest would follow in a second message
  const info = await withDeadline(connection.closed, "the close");
  assertEquals(frames.frames.length, 0);
  assertEquals(frames.failures.length, 1);
  const failure = frames.failures[0].error;
  assert(failure.framingLost);
  assertEquals(failure.status, 400);
  assert(failure.message.includes("exactly one MSRP frame (RFC 7977 §4.2)"), failure.message);
  assertEquals(info.error, failure);
  const close = await withDeadline(raw.closed, "the peer to see the close");
  assertEquals(close.code, 1002);
  assert(close.reason.includes("exactly one MSRP frame"), close.reason);
  await server.shutdown();
});

Deno.test("WebSocket: a message holding two frames: the first is taken, then framing is lost", async () => {
  const { raw, connection, frames, server } = await rawPair();
  const a = sendRequest(1, enc.encode("first"));
  const b = sendRequest(2, enc.encode("second"));
  raw.ws.send(concatBytes([...encodeRequest(a), ...encodeRequest(b)]));
  const info = await withDeadline(connection.closed, "the close");
  assertEquals(frames.frames.map((f) => f.head.transactionId), [a.transactionId]);
  assertEquals(frames.failures.length, 1);
  assert(info.error instanceof MsrpError && info.error.framingLost, String(info.error));
  assert(info.error.message.includes("holds more than one"), info.error.message);
  assertEquals((await withDeadline(raw.closed, "the peer to see the close")).code, 1002);
  await server.shutdown();
});

Deno.test("WebSocket: a message of blank lines is a keep-alive, not a frame", async () => {
  const { raw, connection, frames, server } = await rawPair();
  raw.ws.send("\r\n");
  raw.ws.send(concatBytes(encodeRequest(sendRequest(1, enc.encode("after the keep-alive")))));
  await withDeadline(frames.until(() => frames.frames.length === 1), "the frame");
  assertEquals(dec.decode(frames.frames[0].body), "after the keep-alive");
  assertEquals(frames.failures.length, 0);

  await raw.close();
  const info = await withDeadline(connection.closed, "close");
  assertEquals(info.error, undefined);
  await server.shutdown();
});

Deno.test("WebSocket: a peer sending text messages is read as UTF-8 and answered in text", async () => {
  const { raw, connection, frames, server } = await rawPair();

  const body = "Grüße aus dem Browser ✓ 👋";
  raw.ws.send(dec.decode(concatBytes(encodeRequest(sendRequest(1, enc.encode(body))))));
  await withDeadline(frames.until(() => frames.frames.length === 1), "the frame");
  assertEquals(dec.decode(frames.frames[0].body), body);
  assertEquals(frames.failures.length, 0);

  const head = frames.frames[0].head;
  await connection.send([encodeResponse({
    transactionId: head.transactionId,
    status: 200,
    toPath: head.fromPath,
    fromPath: head.toPath,
  })]);
  await withDeadline(raw.until(1), "the response");
  assertEquals(typeof raw.messages[0], "string");
  assert((raw.messages[0] as string).startsWith(`MSRP ${head.transactionId} 200 OK\r\n`));

  await raw.close();
  await withDeadline(connection.closed, "close");
  await server.shutdown();
});

Deno.test("WebSocket: the handshake needs the msrp subprotocol", async () => {
  let connections = 0;
  const onConnection = (socket: MsrpWebSocket) => {
    connections++;
    socket.close();
  };
  const handshake = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };

  const plain = upgradeMsrpWebSocket(new Request("http://127.0.0.1/msrp"), onConnection);
  assertEquals(plain.status, 426);
  assertEquals(plain.headers.get("upgrade"), "websocket");
  assert((await plain.text()).includes('"msrp"'));

  const missing = upgradeMsrpWebSocket(
    new Request("http://127.0.0.1/msrp", { headers: handshake }),
    onConnection,
  );
  assertEquals(missing.status, 400);
  assert((await missing.text()).includes("no Sec-WebSocket-Protocol header"));

  const wrong = upgradeMsrpWebSocket(
    new Request("http://127.0.0.1/msrp", {
      headers: { ...handshake, "sec-websocket-protocol": "sip, msrp-x" },
    }),
    onConnection,
  );
  assertEquals(wrong.status, 400);
  assert((await wrong.text()).includes('offers only "sip", "msrp-x"'));

  // Over the network: a platform client offering another subprotocol never opens.
  const { url, server } = serveMsrp(onConnection);
  const sip = new RawPeer(url, "sip");
  await assertRejects(() => withDeadline(sip.opened(), "the refusal"), Error, "closed before open");
  assertEquals(connections, 0);
  await server.shutdown();

  // A server that upgrades without selecting msrp is refused by the client.
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => {};
    return response;
  });
  const e = await assertRejects(
    () => connectWebSocket(`ws://127.0.0.1:${other.addr.port}/`),
    MsrpWebSocketError,
    'did not select the WebSocket subprotocol "msrp"',
  );
  assertEquals(e.code, "subprotocol");
  await other.shutdown();

  await assertRejects(() => connectWebSocket("http://127.0.0.1/"), TypeError, "ws: or wss:");
});

Deno.test("WebSocket: connectWebSocket reports an HTTP refusal as connect-failed", async () => {
  const refusing = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("no", { status: 404 }),
  );
  const e = await assertRejects(
    () => connectWebSocket(`ws://127.0.0.1:${refusing.addr.port}/`),
    MsrpWebSocketError,
  );
  assertEquals(e.code, "connect-failed");
  assert(e.message.includes("404"), e.message);
  await refusing.shutdown();
});

Deno.test("WebSocket: more unread bytes than maxUnreadBytes close the connection", async () => {
  const gate = Promise.withResolvers<void>();
  const frames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((socket) => {
    // A reader that stops after the first message, like one held back by a slow sink.
    accepted.resolve(new MsrpConnection(socket, frames, { backpressure: () => gate.promise }));
  }, { maxUnreadBytes: 64 * 1024 });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");
  const first = concatBytes(encodeRequest(sendRequest(1, enc.encode("first"))));
  raw.ws.send(first);
  await withDeadline(frames.until(() => frames.frames.length === 1), "the first frame");
  // The second goes over the limit (and is the last sent, so that the close is clean).
  for (let i = 0; i < 2; i++) {
    raw.ws.send(concatBytes(encodeRequest(sendRequest(2 + i, patternBytes(40 * 1024, i)))));
  }

  const close = await withDeadline(raw.closed, "the server to close the WebSocket");
  assertEquals(close.code, 1008);
  assertEquals(close.reason, "MSRP receive buffer limit exceeded");
  gate.resolve();
  const info = await withDeadline(connection.closed, "the connection to close");
  assert(info.error instanceof MsrpWebSocketError, String(info.error));
  assertEquals(info.error.code, "unread-limit");
  assertEquals(info.bytesRead, first.length);
  assertEquals(frames.frames.length, 1, "nothing past the limit was read");
  await server.shutdown();
});

Deno.test("WebSocket: send() waits for bufferedAmount; close and peer close end receive()", async () => {
  const accepted = Promise.withResolvers<MsrpWebSocket>();
  const { url, port, server } = serveMsrp((socket) => accepted.resolve(socket));
  const ws = new WebSocket(url, "msrp");
  await withDeadline(
    new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onclose = reject;
    }),
    "open",
  );
  const local: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 0 };
  const remote: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port };
  const limit = 64 * 1024;
  const socket = new MsrpWebSocket(ws, local, remote, { maxBufferedBytes: limit });
  const peer = await withDeadline(accepted.promise, "the accepted WebSocket");
  assertEquals(socket.secure, false, "a ws: WebSocket is not secure");

  // The peer reads everything; the sender never has much in the WebSocket's buffer.
  const count = 16;
  const reading = (async () => {
    const sizes: number[] = [];
    for (let m = await peer.receive(); m !== null; m = await peer.receive()) sizes.push(m.length);
    return sizes;
  })();
  const piece = patternBytes(1024 * 1024, 3);
  for (let i = 0; i < count; i++) {
    await socket.send(piece);
    assert(ws.bufferedAmount < limit, `bufferedAmount ${ws.bufferedAmount} after send()`);
  }
  await socket.send(new Uint8Array(0)); // nothing to send: no message

  // Our close closes the WebSocket: the peer receives every message sent, then null.
  socket.close();
  const sizes = await withDeadline(reading, "the peer to receive to the end");
  assertEquals(sizes, new Array(count).fill(piece.length), "one message per send()");
  assertEquals(await socket.receive(), null);
  const e = await assertRejects(() => socket.send(piece), MsrpWebSocketError);
  assertEquals(e.code, "closed");
  peer.close();
  await server.shutdown();
});
