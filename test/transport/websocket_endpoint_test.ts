import { assert, assertEquals } from "../_assert.ts";
import { encodeRequest, transactionIdFor } from "../../src/msrp/serializer.ts";
import { concatBytes, parseFrames } from "../../src/msrp/parser.ts";
import type { IncomingMessage } from "../../src/session/incoming.ts";
import type { MessageEvent as SessionMessageEvent } from "../../src/session/session.ts";
import { MsrpEndpoint } from "../../src/session/endpoint.ts";
import { connectWebSocket, MsrpConnection } from "../../src/transport/mod.ts";
import { Random } from "../_random.ts";
import { patternBytes } from "./_support.ts";
import { bytesOf, RawPeer, serveMsrp } from "./_websocket.ts";
import { withDeadline } from "../_until.ts";

const enc = new TextEncoder();

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A SEND as a browser writes it (RFC 7977: its URI has a *.invalid host and ;ws). */
function browserSend(tid: string, to: string, from: string, text: string): string {
  return `MSRP ${tid} SEND\r\nTo-Path: ${to}\r\nFrom-Path: ${from}\r\nMessage-ID: ${tid}m\r\n` +
    `Byte-Range: 1-${enc.encode(text).length}/${enc.encode(text).length}\r\n` +
    `Content-Type: text/plain\r\n\r\n${text}\r\n-------${tid}$\r\n`;
}

Deno.test("WebSocket: a browser-style client talks to an MsrpEndpoint over the WebSocket it opened", async () => {
  const endpoint = new MsrpEndpoint();
  const session = endpoint.createSession();
  const received = Promise.withResolvers<IncomingMessage>();
  session.addEventListener("message", (e) => received.resolve((e as SessionMessageEvent).message));
  const { url, server } = serveMsrp((socket) => endpoint.adopt(socket));

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
  ws.send(browserSend("a786hjs2", session.localUri, browserUri, "Hey Bob, are you there?"));
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

Deno.test("WebSocket: a session's chunks, batched in one tick, reach a WebSocket peer one frame per message", async () => {
  const endpoint = new MsrpEndpoint();
  const chunkSize = 1000;
  const session = endpoint.createSession({ chunkSize });
  const { url, server } = serveMsrp((socket) => endpoint.adopt(socket));
  const raw = new RawPeer(url);
  await withDeadline(raw.opened(), "open");
  const browserUri = "msrp://k2n8s1.invalid:2855/batch;ws";
  raw.ws.send(browserSend("bind0001", session.localUri, browserUri, "bind"));
  await withDeadline(raw.until(1), "the 200 that binds the session");

  // Short and long messages, text and binary, queued together: the sender
  // encodes many chunks into one batch and must still send each on its own.
  const random = new Random(7977);
  const bodies = new Map<string, Uint8Array>();
  let frames = 0;
  for (let i = 0; i < 60; i++) {
    const size = random.pick([0, 1, 10, 999, 1000, 1001, 2500, 7000]);
    const body = random.int(0, 1) === 0
      ? enc.encode("é✓x".repeat(size).slice(0, size))
      : random.bytes(size);
    const messageId = `batch${i}`;
    bodies.set(messageId, body);
    session.send(body, { messageId, contentType: "application/octet-stream" });
    frames += Math.max(1, Math.ceil(body.length / chunkSize));
  }
  await withDeadline(raw.until(1 + frames), "one message per chunk");
  assertEquals(raw.messages.length, 1 + frames);
  const got = new Map<string, Uint8Array[]>();
  for (const [i, message] of raw.messages.slice(1).entries()) {
    const parsed = parseFrames(bytesOf(message));
    assertEquals(parsed.failures.length, 0);
    assertEquals(parsed.frames.length, 1, `message ${i} holds exactly one frame`);
    const [frame] = parsed.frames;
    assert(frame.head.kind === "request" && frame.head.method === "SEND");
    const id = frame.head.messageId!;
    got.set(id, [...got.get(id) ?? [], frame.body]);
  }
  assertEquals(got.size, bodies.size);
  for (const [id, body] of bodies) assertEquals(concatBytes(got.get(id)!), body, id);

  await raw.close();
  await endpoint.close();
  await server.shutdown();
});

Deno.test("WebSocket: a 50 MiB message in 64 KiB chunks crosses to an MsrpEndpoint", async () => {
  const endpoint = new MsrpEndpoint();
  const session = endpoint.createSession();
  const received = Promise.withResolvers<IncomingMessage>();
  session.addEventListener("message", (e) => received.resolve((e as SessionMessageEvent).message));
  const { url, server } = serveMsrp((socket) => endpoint.adopt(socket));

  // The sending side at the MsrpConnection level: one frame per send.
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
