import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { encodeRequest, encodeResponse, transactionIdFor } from "../../src/msrp/serializer.ts";
import { concatBytes, parseFrames } from "../../src/msrp/parser.ts";
import type { OutgoingRequest } from "../../src/msrp/message.ts";
import type { IncomingMessage } from "../../src/session/incoming.ts";
import type { MessageEvent as SessionMessageEvent } from "../../src/session/session.ts";
import { MsrpEndpoint } from "../../src/session/endpoint.ts";
import {
  connectWebSocket,
  MSRP_SUBPROTOCOL,
  MsrpConnection,
  MsrpWebSocketError,
  upgradeMsrpWebSocket,
  type UpgradeMsrpWebSocketOptions,
  webSocketConn,
} from "../../src/transport/mod.ts";
import { FrameAligner } from "../../src/transport/_ws_frames.ts";
import { Random } from "../_random.ts";
import { FrameCollector, patternBytes, sendRequest } from "./_support.ts";
import { withDeadline } from "../_until.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An HTTP server on 127.0.0.1 that upgrades every request with `upgradeMsrpWebSocket`. */
function serveMsrp(
  onConnection: (conn: Deno.Conn) => void,
  options: UpgradeMsrpWebSocketOptions = {},
): { url: string; port: number; server: Deno.HttpServer<Deno.NetAddr> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) =>
      upgradeMsrpWebSocket(request, onConnection, { remoteAddr: info.remoteAddr, ...options }),
  );
  return { url: `ws://127.0.0.1:${server.addr.port}/msrp`, port: server.addr.port, server };
}

/**
 * A browser-style peer: the platform `WebSocket` API and nothing else,
 * keeping every message as it came (string or ArrayBuffer).
 */
class RawPeer {
  readonly messages: (string | ArrayBuffer)[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(url: string, protocols: string | string[] = MSRP_SUBPROTOCOL) {
    this.ws = new WebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (e) => {
      this.messages.push(e.data);
      this.#check();
    };
    this.closed = new Promise((resolve) => {
      this.ws.onclose = (e) => {
        resolve(e);
        this.#check();
      };
    });
  }

  /** Resolves once open; rejects when the WebSocket closes first. */
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) resolve();
      this.ws.addEventListener("open", () => resolve());
      this.closed.then((e) => reject(new Error(`closed before open (${e.code})`)));
    });
  }

  /** Resolves once `n` messages have come. */
  async until(n: number): Promise<void> {
    while (this.messages.length < n) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error("closed");
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Closes and waits for the close to complete. */
  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }

  #check(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

function bytesOf(message: string | ArrayBuffer): Uint8Array {
  return typeof message === "string" ? enc.encode(message) : new Uint8Array(message);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("WebSocket: MSRP frames round-trip through MsrpConnection in both directions", async () => {
  const serverFrames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, port, server } = serveMsrp((conn) => {
    accepted.resolve(new MsrpConnection(conn, serverFrames));
  });
  const clientFrames = new FrameCollector();
  const client = new MsrpConnection(await connectWebSocket(url), clientFrames);
  const peer = await withDeadline(accepted.promise, "the accepted connection");

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
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((conn) => {
    accepted.resolve(new MsrpConnection(conn, new FrameCollector()));
  });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");

  // Sent in one tick, the small frames share writes; the large ones are written in parts.
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

Deno.test("WebSocket: a frame above maxMessageBytes is sent in several messages", async () => {
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((conn) => {
    accepted.resolve(new MsrpConnection(conn, new FrameCollector()));
  }, { maxMessageBytes: 1000, secure: true });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");
  assert(connection.secure, "secure: true (e.g. TLS ended by a proxy) marks the connection");
  const big = sendRequest(1, patternBytes(5000, 1));
  const after = sendRequest(2, enc.encode("after"));
  await connection.send(encodeRequest(big));
  await connection.send(encodeRequest(after));
  await withDeadline(
    (async () => {
      while (true) {
        await raw.until(raw.messages.length + 1);
        if (parseFrames(raw.messages.map(bytesOf)).frames.length === 2) return;
      }
    })(),
    "both frames",
  );
  assert(raw.messages.every((m) => bytesOf(m).length <= 1000), "no message above the limit");
  assert(raw.messages.length >= 6, `5000 bytes in messages of 1000, got ${raw.messages.length}`);
  const last = parseFrames(bytesOf(raw.messages.at(-1)!));
  assertEquals(last.frames.map((f) => f.body), [after.body], "the next frame is aligned again");
  const all = parseFrames(raw.messages.map(bytesOf));
  assertEquals(all.frames.map((f) => f.body), [big.body, after.body]);

  connection.close();
  await withDeadline(Promise.all([connection.closed, raw.closed]), "close");
  await server.shutdown();
});

Deno.test("WebSocket: frames written in arbitrary pieces are cut back into whole frames", () => {
  const random = new Random(7977);
  for (let round = 0; round < 50; round++) {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      const kind = random.int(0, 3);
      if (kind === 0) {
        frames.push(encodeResponse({
          transactionId: `t${round}x${i}`,
          status: 200,
          toPath: ["msrp://a.invalid:2855/x;ws"],
          fromPath: ["msrp://127.0.0.1:2855/y;tcp"],
        }));
        continue;
      }
      // Bodies with near-misses: CRLF and dashes, other ids, a flag without CRLF.
      const tid = `t${round}y${i}`;
      const body = kind === 1
        ? enc.encode(
          `\r\n-------t${round}z${i}$\r\n\r\n------${tid}$\r\n-------${tid.slice(0, -1)}`,
        )
        : random.bytes(random.int(0, kind === 2 ? 300 : 70_000));
      if (kind === 1 || !dec.decode(body).includes(tid)) {
        frames.push(concatBytes(encodeRequest({
          transactionId: tid,
          method: "SEND",
          toPath: ["msrp://a.invalid:2855/x;ws"],
          fromPath: ["msrp://127.0.0.1:2855/y;tcp"],
          headers: [["Message-ID", `m${i}`], ["Byte-Range", `1-${body.length}/${body.length}`]],
          contentType: "application/octet-stream",
          body,
          flag: random.pick(["+", "$", "#"] as const),
        })));
      }
    }
    const stream = concatBytes(frames);
    const aligner = new FrameAligner(1024 * 1024);
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const n = Math.min(stream.length - at, random.pick([1, 2, 7, 100, 5000, 100_000]));
      for (const message of aligner.push(stream.subarray(at, at + n))) {
        assert(message.whole);
        out.push(message.bytes);
      }
      at += n;
    }
    assertEquals(aligner.pendingBytes, 0);
    assertEquals(out, frames, `round ${round}`);
  }
});

Deno.test("WebSocket: bytes that are not MSRP are passed through as written", () => {
  const aligner = new FrameAligner(1024);
  const junk = enc.encode("GET / HTTP/1.1\r\n");
  assertEquals(aligner.push(junk), [{ bytes: junk, whole: false }]);
  assertEquals(aligner.push(enc.encode("x")), [{ bytes: enc.encode("x"), whole: false }]);
});

Deno.test("WebSocket: a frame split over messages and two frames in one message are parsed", async () => {
  const frames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((conn) => {
    accepted.resolve(new MsrpConnection(conn, frames));
  });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");

  const a = sendRequest(1, patternBytes(10_000, 1));
  const b = sendRequest(2, enc.encode("second"));
  const c = sendRequest(3, enc.encode("third"));
  const first = concatBytes(encodeRequest(a));
  // Cut inside the start line, inside the body and inside the end-line.
  const end = first.length - 5;
  raw.ws.send(first.subarray(0, 7));
  raw.ws.send(first.subarray(7, 5000));
  raw.ws.send(first.subarray(5000, end));
  raw.ws.send(first.subarray(end));
  raw.ws.send(concatBytes([...encodeRequest(b), ...encodeRequest(c)]));
  await withDeadline(frames.until(() => frames.frames.length === 3), "three frames");
  assertEquals(frames.frames.map((f) => [f.head.transactionId, f.body]), [
    [a.transactionId, a.body],
    [b.transactionId, b.body],
    [c.transactionId, c.body],
  ]);
  assertEquals(frames.failures.length, 0);

  await raw.close();
  const info = await withDeadline(connection.closed, "close");
  assertEquals(info.error, undefined);
  await server.shutdown();
});

Deno.test("WebSocket: a peer sending text messages is read as UTF-8 and answered in text", async () => {
  const frames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((conn) => {
    accepted.resolve(new MsrpConnection(conn, frames));
  });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");

  const body = "Grüße aus dem Browser ✓ 👋";
  const text = dec.decode(concatBytes(encodeRequest(sendRequest(1, enc.encode(body)))));
  const cut = text.indexOf("✓"); // split the frame over two text messages
  raw.ws.send(text.slice(0, cut));
  raw.ws.send(text.slice(cut));
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
  const onConnection = (conn: Deno.Conn) => {
    connections++;
    conn.close();
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

Deno.test("WebSocket: a browser-style client talks to an MsrpEndpoint over the WebSocket it opened", async () => {
  const endpoint = new MsrpEndpoint();
  const session = endpoint.createSession();
  const received = Promise.withResolvers<IncomingMessage>();
  session.addEventListener("message", (e) => received.resolve((e as SessionMessageEvent).message));
  const { url, server } = serveMsrp((conn) => endpoint.adopt(conn));

  // Hand-written, as a browser would send it: the client's own URI has a
  // random *.invalid host and the ws transport (RFC 7977).
  const browserUri = "msrp://df7jal23ls0d.invalid:2855/98cjs;ws";
  const ws = new WebSocket(url, "msrp");
  const messages: string[] = [];
  let arrived: (() => void) | undefined;
  ws.onmessage = (e) => {
    messages.push(e.data);
    arrived?.();
  };
  const closed = new Promise((resolve) => ws.onclose = resolve);
  const next = async (n: number) => {
    while (messages.length < n) await new Promise<void>((r) => arrived = r);
    return messages[n - 1];
  };
  await withDeadline(new Promise((resolve) => ws.onopen = resolve), "open");
  ws.send(
    "MSRP a786hjs2 SEND\r\n" +
      `To-Path: ${session.localUri}\r\n` +
      `From-Path: ${browserUri}\r\n` +
      "Message-ID: 87652491\r\n" +
      "Byte-Range: 1-23/23\r\n" +
      "Content-Type: text/plain\r\n" +
      "\r\n" +
      "Hey Bob, are you there?\r\n" +
      "-------a786hjs2$\r\n",
  );
  const ok = await withDeadline(next(1), "the 200");
  assert(ok.startsWith("MSRP a786hjs2 200 OK\r\n"), ok);
  assert(ok.includes(`\r\nTo-Path: ${browserUri}\r\n`), ok);
  assert(ok.includes(`\r\nFrom-Path: ${session.localUri}\r\n`), ok);
  assert(ok.endsWith("\r\n-------a786hjs2$\r\n"), ok);
  const message = await withDeadline(received.promise, "the message");
  assertEquals(message.text(), "Hey Bob, are you there?");
  assertEquals(session.remotePath, [browserUri]);

  // The reply goes back over the same WebSocket, to the *.invalid path.
  const reply = session.send("Yes, here.");
  const send = await withDeadline(next(2), "the reply SEND");
  const start = /^MSRP (\S+) SEND\r\n/.exec(send);
  assert(start !== null, send);
  const tid = start[1];
  assert(send.includes(`\r\nTo-Path: ${browserUri}\r\n`), send);
  assert(send.includes(`\r\nFrom-Path: ${session.localUri}\r\n`), send);
  assert(send.endsWith(`\r\n\r\nYes, here.\r\n-------${tid}$\r\n`), send);
  ws.send(
    `MSRP ${tid} 200 OK\r\nTo-Path: ${session.localUri}\r\nFrom-Path: ${browserUri}\r\n` +
      `-------${tid}$\r\n`,
  );
  const result = await withDeadline(reply.done, "the reply's outcome");
  assertEquals([result.status, result.code], ["sent", 200]);

  ws.close();
  await withDeadline(closed, "the browser's close");
  await endpoint.close();
  await server.shutdown();
});

Deno.test("WebSocket: a 50 MiB message in 64 KiB chunks crosses to an MsrpEndpoint", async () => {
  const endpoint = new MsrpEndpoint();
  const session = endpoint.createSession();
  const received = Promise.withResolvers<IncomingMessage>();
  session.addEventListener("message", (e) => received.resolve((e as SessionMessageEvent).message));
  const { url, server } = serveMsrp((conn) => endpoint.adopt(conn));

  // The sending side at the MsrpConnection level: the endpoint cannot yet
  // bind a session to a connection it did not open itself over TCP.
  const total = 50 * 1024 * 1024;
  const chunk = 64 * 1024;
  const source = patternBytes(total, 7);
  let ok = 0;
  let failed = "";
  const allOk = Promise.withResolvers<void>();
  const chunks = total / chunk;
  const client = new MsrpConnection(await connectWebSocket(url), {
    head(head) {
      if (head.kind !== "response") return;
      if (head.status !== 200) failed ||= `${head.status} ${head.comment}`;
      if (++ok === chunks) allOk.resolve();
    },
    body() {},
    end() {},
    error(failure) {
      failed ||= failure.error.message;
    },
  });
  const fromPath = ["msrp://k2n8s1.invalid:2855/sender;ws"];
  for (let i = 0; i < chunks; i++) {
    const body = source.subarray(i * chunk, (i + 1) * chunk);
    await client.send(encodeRequest({
      transactionId: transactionIdFor(body),
      method: "SEND",
      toPath: [session.localUri],
      fromPath,
      headers: [
        ["Message-ID", "fifty"],
        ["Byte-Range", `${i * chunk + 1}-${(i + 1) * chunk}/${total}`],
      ],
      contentType: "application/octet-stream",
      body,
      flag: i + 1 === chunks ? "$" : "+",
    }));
  }
  await withDeadline(allOk.promise, "a 200 for every chunk", 120_000);
  const message = await withDeadline(received.promise, "the message", 120_000);
  assertEquals(failed, "");
  assertEquals(message.outcome?.complete, true);
  assertEquals(message.body().length, total);
  assertEquals(await sha256(message.body()), await sha256(source));

  client.close();
  await withDeadline(client.closed, "close");
  await endpoint.close();
  await server.shutdown();
});

Deno.test("WebSocket: more unread bytes than maxUnreadBytes close the connection", async () => {
  const gate = Promise.withResolvers<void>();
  const frames = new FrameCollector();
  const accepted = Promise.withResolvers<MsrpConnection>();
  const { url, server } = serveMsrp((conn) => {
    // A reader that stops after the first read, like one held back by a slow sink.
    accepted.resolve(new MsrpConnection(conn, frames, { backpressure: () => gate.promise }));
  }, { maxUnreadBytes: 64 * 1024 });
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const connection = await withDeadline(accepted.promise, "the accepted connection");
  raw.ws.send(concatBytes(encodeRequest(sendRequest(1, enc.encode("first")))));
  await withDeadline(frames.until(() => frames.frames.length === 1), "the first frame");
  for (let i = 0; i < 3; i++) raw.ws.send(patternBytes(32 * 1024, i));

  const close = await withDeadline(raw.closed, "the server to close the WebSocket");
  assertEquals(close.code, 1008);
  assertEquals(close.reason, "MSRP receive buffer limit exceeded");
  gate.resolve();
  const info = await withDeadline(connection.closed, "the connection to close");
  assert(info.error instanceof MsrpWebSocketError, String(info.error));
  assertEquals(info.error.code, "unread-limit");
  assertEquals(
    info.bytesRead,
    concatBytes(encodeRequest(sendRequest(1, enc.encode("first")))).length,
  );
  await server.shutdown();
});

Deno.test("WebSocket: write() waits for bufferedAmount; close and peer close end the stream", async () => {
  const accepted = Promise.withResolvers<Deno.Conn>();
  const { url, port, server } = serveMsrp((conn) => accepted.resolve(conn));
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
  const conn = webSocketConn(ws, local, remote, { maxBufferedBytes: limit, frameAligned: false });
  const peer = await withDeadline(accepted.promise, "the accepted connection");
  assert(!("handshake" in conn), "a ws: connection is not secure");

  // The peer reads everything; the writer never has much in the WebSocket's buffer.
  const total = 16 * 1024 * 1024;
  const reading = (async () => {
    const buf = new Uint8Array(64 * 1024);
    let n = 0;
    for (let r = await peer.read(buf); r !== null; r = await peer.read(buf)) n += r;
    return n;
  })();
  const piece = patternBytes(1024 * 1024, 3);
  for (let written = 0; written < total;) {
    written += await conn.write(piece);
    assert(ws.bufferedAmount < limit, `bufferedAmount ${ws.bufferedAmount} after write()`);
  }
  await conn.write(new Uint8Array(0));

  // Our close closes the WebSocket: the peer reads everything sent, then null.
  conn.close();
  assertEquals(await withDeadline(reading, "the peer to read to the end"), total);
  assertEquals(await conn.read(new Uint8Array(10)), null);
  const e = await assertRejects(() => conn.write(piece), MsrpWebSocketError);
  assertEquals(e.code, "closed");
  peer.close();
  await server.shutdown();
});
