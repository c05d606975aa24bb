import { concatBytes } from "../../src/msrp/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import type { Frame } from "../../src/msrp/message.ts";
import { encodeRequest, encodeResponse } from "../../src/msrp/serializer.ts";
import { MsrpError } from "../../src/msrp/status.ts";
import {
  connect,
  listen,
  MsrpConnection,
  type MsrpListener,
  TransportError,
} from "../../src/transport/mod.ts";
import { checkBackpressure } from "./_backpressure.ts";
import {
  CountingConn,
  delay,
  FrameCollector,
  patternBytes,
  readToEnd,
  sendRequest,
  tcpPair,
} from "./_support.ts";
import { withDeadline } from "../_until.ts";

const enc = new TextEncoder();

function summary(frame: Frame): unknown {
  const h = frame.head;
  return {
    tid: h.transactionId,
    start: h.kind === "request" ? h.method : h.status,
    messageId: h.headers.get("message-id"),
    body: frame.body,
    flag: frame.flag,
  };
}

async function roundTrip(hostname: string): Promise<void> {
  const serverFrames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const listener: MsrpListener = listen({ hostname, port: 0 }, (conn) => {
    accepted.resolve(new MsrpConnection(conn, serverFrames));
  });
  const clientFrames = new FrameCollector();
  const client = new MsrpConnection(
    await connect({ hostname, port: listener.addr.port }),
    clientFrames,
  );
  const server = await withDeadline(accepted.promise, "the accepted connection");
  listener.close();
  await listener.closed;

  const small = sendRequest(1, enc.encode("Hey Bob, are you there?"));
  const large = sendRequest(2, patternBytes(300_000, 2)); // spans many reads
  await client.send(encodeRequest(small));
  await client.send(encodeRequest(large));
  await withDeadline(serverFrames.until(() => serverFrames.frames.length === 2), "two requests");
  assertEquals(serverFrames.frames.map(summary), [
    { tid: small.transactionId, start: "SEND", messageId: "m1", body: small.body, flag: "$" },
    { tid: large.transactionId, start: "SEND", messageId: "m2", body: large.body, flag: "$" },
  ]);

  await server.send([encodeResponse({
    transactionId: small.transactionId,
    status: 200,
    toPath: small.fromPath,
    fromPath: small.toPath,
  })]);
  await withDeadline(clientFrames.until(() => clientFrames.frames.length === 1), "the response");
  assertEquals(summary(clientFrames.frames[0]), {
    tid: small.transactionId,
    start: 200,
    messageId: undefined,
    body: new Uint8Array(0),
    flag: "$",
  });
  assertEquals(serverFrames.failures.length + clientFrames.failures.length, 0);

  assertEquals(client.remoteAddr.hostname, hostname);
  assertEquals(client.remoteAddr.port, listener.addr.port);
  assertEquals(server.remoteAddr.port, client.localAddr.port);
  assertEquals(client.secure, false);
  assert(client.id !== server.id);

  client.close();
  const [clientInfo, serverInfo] = await withDeadline(
    Promise.all([client.closed, server.closed]),
    "both ends to close",
  );
  assertEquals(clientInfo.error, undefined);
  assertEquals(serverInfo.error, undefined, "peer end of stream between frames is clean");
  assertEquals(clientInfo.bytesWritten, serverInfo.bytesRead);
  assertEquals(serverInfo.bytesWritten, clientInfo.bytesRead);
}

Deno.test("MsrpConnection: requests and a response round-trip over TCP on 127.0.0.1", async () => {
  await roundTrip("127.0.0.1");
});

Deno.test("MsrpConnection: requests and a response round-trip over TCP on ::1", async () => {
  await roundTrip("::1");
});

Deno.test("MsrpConnection: many small sends in one tick go out in few writes, in order", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const counting = new CountingConn(clientSocket);
  const client = new MsrpConnection(counting, new FrameCollector());
  const received = new FrameCollector();
  const server = new MsrpConnection(serverSocket, received);
  const count = 500;
  let total = 0;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const parts = encodeRequest(sendRequest(i, enc.encode(`message ${i}`)));
    for (const p of parts) total += p.length;
    sends.push(client.send(parts));
  }
  await Promise.all(sends); // far below the high-water mark: already resolved
  await withDeadline(received.until(() => received.frames.length === count), "all frames");
  assertEquals(
    received.frames.map((f) => f.head.headers.get("message-id")),
    Array.from({ length: count }, (_, i) => `m${i}`),
  );
  assertEquals(client.bytesWritten, total);
  assert(counting.writes * 10 < count, `${counting.writes} writes for ${count} sends`);
  client.close();
  await withDeadline(Promise.all([client.closed, server.closed]), "close");
});

Deno.test("MsrpConnection: partial writes are completed and keep the byte order", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const client = new MsrpConnection(new CountingConn(clientSocket, 1000), new FrameCollector());
  const received = new FrameCollector();
  const server = new MsrpConnection(serverSocket, received);
  const bodies = [patternBytes(100_000, 1), enc.encode("small"), patternBytes(20_000, 3)];
  for (let i = 0; i < bodies.length; i++) client.send(encodeRequest(sendRequest(i, bodies[i])));
  await withDeadline(received.until(() => received.frames.length === bodies.length), "all frames");
  assertEquals(received.frames.map((f) => f.body), bodies);
  client.close();
  await withDeadline(Promise.all([client.closed, server.closed]), "close");
});

Deno.test("MsrpConnection: body views given to the handler stay intact after later reads", async () => {
  const [clientSocket, serverSocket] = await tcpPair("::1");
  const client = new MsrpConnection(clientSocket, new FrameCollector());
  const received = new FrameCollector(); // keeps the parser's views, never copies
  const server = new MsrpConnection(serverSocket, received, { readBufferSize: 1024 });
  const bodies = Array.from({ length: 60 }, (_, i) => patternBytes(50 + i * 97, i));
  for (let i = 0; i < bodies.length; i++) {
    await client.send(encodeRequest(sendRequest(i, bodies[i])));
  }
  await withDeadline(received.until(() => received.frames.length === bodies.length), "all frames");
  assertEquals(received.frames.map((f) => f.body), bodies);
  client.close();
  await withDeadline(Promise.all([client.closed, server.closed]), "close");
});

Deno.test("MsrpConnection: send() stays pending past highWaterMark while the peer does not read; all arrives once it reads", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  await checkBackpressure(clientSocket, serverSocket);
});

Deno.test("MsrpConnection: a peer that never reads gets the connection closed with write queue overflow", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const client = new MsrpConnection(clientSocket, new FrameCollector(), {
    highWaterMark: 64 * 1024,
    maxQueuedBytes: 1024 * 1024,
  });
  const parts = encodeRequest(sendRequest(0, patternBytes(32 * 1024, 1)));
  const rejections: unknown[] = [];
  const flood = (async () => {
    // A sender that ignores send()'s promise (only yielding to let the writer run).
    for (let i = 0; !(await isClosed(client)); i++) {
      client.send(parts).catch((e) => rejections.push(e));
      if (i % 16 === 15) await delay(0);
    }
  })();
  const info = await withDeadline(client.closed, "the overflow");
  await flood;
  assert(info.error instanceof TransportError);
  assertEquals(info.error.code, "write-queue-overflow");
  assert(info.error.message.includes("write queue overflow"));
  // The send that overflowed rejects with the overflow; pending and later ones as closed by it.
  const overflowed = rejections.filter((e) => e === info.error);
  const closed = rejections.filter((e) =>
    e instanceof TransportError && e.code === "closed" && e.cause === info.error
  );
  assertEquals(overflowed.length, 1);
  assertEquals(closed.length, rejections.length - 1);
  assertEquals(client.queuedBytes, 0);
  serverSocket.close();
});

async function isClosed(connection: MsrpConnection): Promise<boolean> {
  const marker = Symbol();
  return await Promise.race([connection.closed, Promise.resolve(marker)]) !== marker;
}

Deno.test("MsrpConnection: one send() past maxQueuedBytes closes at once with write queue overflow", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const client = new MsrpConnection(clientSocket, new FrameCollector(), {
    highWaterMark: 1000,
    maxQueuedBytes: 4000,
  });
  const ok = client.send([new Uint8Array(3000)]);
  const over = client.send([new Uint8Array(1001)]);
  await assertRejects(() => over, TransportError, "write queue overflow");
  const pending = await assertRejects(() => ok, TransportError, "connection closed");
  assertEquals(pending.code, "closed");
  assert(pending.cause instanceof TransportError && pending.cause.code === "write-queue-overflow");
  const info = await withDeadline(client.closed, "close");
  assert(info.error instanceof TransportError);
  assertEquals(info.error.code, "write-queue-overflow");
  serverSocket.close();
});

Deno.test("MsrpConnection: idleTimeoutMs closes a silent connection; the peer sees end of stream", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const client = new MsrpConnection(clientSocket, new FrameCollector(), { idleTimeoutMs: 50 });
  const server = new MsrpConnection(serverSocket, new FrameCollector());
  const [clientInfo, serverInfo] = await withDeadline(
    Promise.all([client.closed, server.closed]),
    "the idle timeout",
  );
  assert(clientInfo.error instanceof TransportError);
  assertEquals(clientInfo.error.code, "idle-timeout");
  assertEquals(serverInfo.error, undefined);
});

Deno.test("MsrpConnection: peer end of stream resolves closed without error; later sends reject", async () => {
  const [clientSocket, serverSocket] = await tcpPair("::1");
  const client = new MsrpConnection(clientSocket, new FrameCollector());
  await serverSocket.write(encodeResponse({
    transactionId: "abcd1234",
    status: 200,
    toPath: ["msrp://[::1]:1/a;tcp"],
    fromPath: ["msrp://[::1]:2/b;tcp"],
  }));
  serverSocket.close();
  const info = await withDeadline(client.closed, "end of stream");
  assertEquals(info.error, undefined);
  assert(info.bytesRead > 0);
  assertEquals(info.bytesWritten, 0);
  const error = await assertRejects(() => client.send([enc.encode("x")]), TransportError);
  assertEquals(error.code, "closed");
});

Deno.test("MsrpConnection: end of stream in the middle of a frame closes with a truncated error", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const received = new FrameCollector();
  const client = new MsrpConnection(clientSocket, received);
  const frame = encodeRequest(sendRequest(1, patternBytes(5000, 1)));
  await serverSocket.write(frame[0]);
  await serverSocket.write(frame[1].subarray(0, 2000));
  serverSocket.close();
  const info = await withDeadline(client.closed, "end of stream");
  assert(info.error instanceof TransportError);
  assertEquals(info.error.code, "truncated");
  assertEquals(received.frames.length, 0);
});

Deno.test("MsrpConnection: close() rejects pending and later sends and closes the socket", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const client = new MsrpConnection(clientSocket, new FrameCollector(), { highWaterMark: 1024 });
  const pending = client.send([new Uint8Array(4096)]);
  assertEquals(client.queuedBytes, 4096);
  const reason = new Error("session ended");
  client.close(reason);
  client.close(); // idempotent
  const error = await assertRejects(() => pending, TransportError, "session ended");
  assertEquals(error.code, "closed");
  assertEquals(error.cause, reason);
  await assertRejects(() => client.send([new Uint8Array(1)]), TransportError, "connection closed");
  const info = await withDeadline(client.closed, "close");
  assertEquals(info.error, reason);
  assertEquals(client.queuedBytes, 0);
  await withDeadline(readToEnd(serverSocket), "the peer to see the close");
  serverSocket.close();
});

Deno.test("MsrpConnection: garbage that loses framing is reported to the handler and closes the connection", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const received = new FrameCollector();
  const client = new MsrpConnection(clientSocket, received);
  await serverSocket.write(enc.encode("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  const info = await withDeadline(client.closed, "the close");
  assertEquals(received.failures.length, 1);
  const failure = received.failures[0].error;
  assert(failure.framingLost);
  assert(info.error instanceof MsrpError);
  assertEquals(info.error, failure);
  assertEquals(await withDeadline(readToEnd(serverSocket), "the peer to see the close"), 0);
  serverSocket.close();
});

Deno.test("MsrpConnection: a pending backpressure promise stops reading until it settles", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const received = new FrameCollector();
  let gate: PromiseWithResolvers<void> | undefined;
  let calls = 0;
  const client = new MsrpConnection(clientSocket, received, {
    backpressure: () => {
      calls++;
      return gate?.promise;
    },
  });
  gate = Promise.withResolvers<void>();
  await serverSocket.write(concatBytes(encodeRequest(sendRequest(1, enc.encode("first")))));
  await withDeadline(received.until(() => received.frames.length === 1), "the first frame");
  await serverSocket.write(concatBytes(encodeRequest(sendRequest(2, enc.encode("second")))));
  await delay(50); // give a broken implementation the chance to read on
  assertEquals(received.frames.length, 1, "nothing is read while the consumer holds back");
  const held = gate;
  gate = undefined;
  held.resolve();
  await withDeadline(received.until(() => received.frames.length === 2), "the second frame");
  assert(calls >= 2);
  client.close();
  await withDeadline(client.closed, "close");
  serverSocket.close();
});

Deno.test("MsrpConnection: a rejected backpressure promise closes the connection with its error", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const reason = new Error("disk full");
  const client = new MsrpConnection(clientSocket, new FrameCollector(), {
    backpressure: () => Promise.reject(reason),
  });
  await serverSocket.write(concatBytes(encodeRequest(sendRequest(1, enc.encode("data")))));
  const info = await withDeadline(client.closed, "the close");
  assertEquals(info.error, reason);
  serverSocket.close();
});

Deno.test("MsrpConnection: a handler that throws closes the connection with that error", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const reason = new Error("handler bug");
  const handler = new FrameCollector();
  handler.end = () => {
    throw reason;
  };
  const client = new MsrpConnection(clientSocket, handler);
  await serverSocket.write(concatBytes(encodeRequest(sendRequest(1, enc.encode("data")))));
  const info = await withDeadline(client.closed, "the close");
  assertEquals(info.error, reason);
  serverSocket.close();
});

Deno.test("MsrpConnection: the constructor rejects out-of-range options", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const handler = new FrameCollector();
  assertThrows(
    () => new MsrpConnection(clientSocket, handler, { highWaterMark: 10, maxQueuedBytes: 5 }),
    RangeError,
    "exceeds maxQueuedBytes",
  );
  assertThrows(() => new MsrpConnection(clientSocket, handler, { readBufferSize: 0 }), RangeError);
  assertThrows(() => new MsrpConnection(clientSocket, handler, { idleTimeoutMs: -1 }), RangeError);
  clientSocket.close();
  serverSocket.close();
});
