/**
 * The incremental SIP parser of `SipConnection` (RFC 3261 §7.5, §18.3:
 * messages framed on TCP by Content-Length), fed through a connection double
 * whose reads deliver exactly the chunks a test chooses, and `serializeSip`.
 * RFC 4475 torture messages are in `sip_conformance_test.ts`.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import {
  headerOf,
  serializeSip,
  SipConnection,
  type SipMessage,
  statusOf,
} from "../../src/pbx/_sip_message.ts";

const enc = new TextEncoder();

/** What a connection fed with chosen reads gave. */
interface Fed {
  /** The messages, in order. */
  readonly messages: SipMessage[];
  /** `onOverflow`'s count, when it was called. */
  readonly overflow: number | undefined;
  /** The connection was closed by the parser's side. */
  readonly closed: boolean;
}

/**
 * Feeds `reads` to a `SipConnection` one read each (the stream then ends) and
 * waits until it has read them all.
 */
async function feed(reads: readonly Uint8Array[], maxBytes = Infinity): Promise<Fed> {
  let closed = false;
  let next = 0;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (closed || next === reads.length) controller.close();
      else controller.enqueue(reads[next++]);
    },
  });
  const conn = {
    readable,
    write: (bytes: Uint8Array) => Promise.resolve(bytes.length),
    close() {
      closed = true;
    },
  } as unknown as Deno.TcpConn;
  const messages: SipMessage[] = [];
  let overflow: number | undefined;
  const connection = new SipConnection(conn, (m) => messages.push(m), maxBytes, (n) => {
    overflow = n;
  });
  await connection.reading;
  return { messages, overflow, closed };
}

/** `bytes` cut at ascending offsets `cuts`. */
function cut(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, bytes.length];
  return bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end));
}

const INVITE_BODY = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n\r\nnot a header: the body goes on\r\n";
const UTF8_BODY = "héllo ✓ — 你好";

/**
 * A keep-alive, an INVITE whose body holds a blank line, a response without
 * a body, a MESSAGE with compact headers and a UTF-8 body, another keep-alive.
 */
const STREAM = enc.encode(
  "\r\n\r\n" +
    "INVITE sip:msrp@127.0.0.1:5060 SIP/2.0\r\n" +
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
    "Call-ID: call-1@phone\r\n" +
    "CSeq: 1 INVITE\r\n" +
    "Content-Type: application/sdp\r\n" +
    `Content-Length: ${enc.encode(INVITE_BODY).length}\r\n` +
    "\r\n" +
    INVITE_BODY +
    "SIP/2.0 180 Ringing\r\n" +
    "Call-ID: call-1@phone\r\n" +
    "CSeq: 1 INVITE\r\n" +
    "Content-Length: 0\r\n" +
    "\r\n" +
    "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n" +
    "i: call-2@phone\r\n" +
    "c: text/plain;charset=utf-8\r\n" +
    "f: <sip:alice@127.0.0.1>;tag=a\r\n" +
    "t: <sip:bob@127.0.0.1>\r\n" +
    "v: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\n" +
    "m: <sip:alice@127.0.0.1:5070;transport=tcp>\r\n" +
    `l: ${enc.encode(UTF8_BODY).length}\r\n` +
    "\r\n" +
    UTF8_BODY +
    "\r\n\r\n",
);

const EXPECTED: SipMessage[] = [
  {
    startLine: "INVITE sip:msrp@127.0.0.1:5060 SIP/2.0",
    headers: [
      ["via", "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1"],
      ["call-id", "call-1@phone"],
      ["cseq", "1 INVITE"],
      ["content-type", "application/sdp"],
      ["content-length", String(enc.encode(INVITE_BODY).length)],
    ],
    body: INVITE_BODY,
  },
  {
    startLine: "SIP/2.0 180 Ringing",
    headers: [["call-id", "call-1@phone"], ["cseq", "1 INVITE"], ["content-length", "0"]],
    body: "",
  },
  {
    startLine: "MESSAGE sip:bob@127.0.0.1 SIP/2.0",
    headers: [
      ["call-id", "call-2@phone"],
      ["content-type", "text/plain;charset=utf-8"],
      ["from", "<sip:alice@127.0.0.1>;tag=a"],
      ["to", "<sip:bob@127.0.0.1>"],
      ["via", "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2"],
      ["contact", "<sip:alice@127.0.0.1:5070;transport=tcp>"],
      ["content-length", String(enc.encode(UTF8_BODY).length)],
    ],
    body: UTF8_BODY,
  },
];

Deno.test("sip message: one read gives every message, compact forms expanded, keep-alives skipped", async () => {
  const fed = await feed([STREAM]);
  assertEquals(fed.messages, EXPECTED);
  assertEquals([fed.overflow, fed.closed], [undefined, false]);
});

Deno.test("sip message: the stream split at every offset over two reads gives the same messages", async () => {
  for (let k = 0; k <= STREAM.length; k++) {
    assertEquals((await feed(cut(STREAM, [k]))).messages, EXPECTED, `cut at ${k}`);
  }
});

Deno.test("sip message: the stream split over three reads, the first cut at every offset, gives the same messages", async () => {
  for (let a = 0; a <= STREAM.length; a++) {
    // The second cut: a few bytes later (short middle reads), then every 11th offset.
    for (let b = a; b <= STREAM.length; b += b - a < 4 ? 1 : 11) {
      assertEquals((await feed(cut(STREAM, [a, b]))).messages, EXPECTED, `cuts at ${a}, ${b}`);
    }
  }
});

Deno.test("sip message: one byte per read gives the same messages (UTF-8 characters split too)", async () => {
  const reads = Array.from(STREAM, (b) => Uint8Array.of(b));
  assertEquals((await feed(reads)).messages, EXPECTED);
});

Deno.test("sip message: Content-Length counts bytes: a body that looks like a message stays body", async () => {
  const inner = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
  const fed = await feed([serializeSip("MESSAGE sip:b@h SIP/2.0", [["Call-ID", "x"]], inner)]);
  assertEquals(fed.messages.map((m) => [m.startLine, m.body]), [
    ["MESSAGE sip:b@h SIP/2.0", inner],
  ]);
});

Deno.test("sip message: nothing is delivered until Content-Length bytes of body are in", async () => {
  const whole = serializeSip("MESSAGE sip:b@h SIP/2.0", [["Call-ID", "x"]], "0123456789");
  const short = await feed([whole.subarray(0, whole.length - 1)]);
  assertEquals(short.messages, [], "one byte of body is missing");
  const full = await feed([whole.subarray(0, whole.length - 1), whole.subarray(whole.length - 1)]);
  assertEquals(full.messages.map((m) => m.body), ["0123456789"]);
});

Deno.test("sip message: without Content-Length the body is empty and the next bytes start a message", async () => {
  const fed = await feed([
    enc.encode("OPTIONS sip:b@h SIP/2.0\r\nCall-ID: 1\r\n\r\nOPTIONS sip:c@h SIP/2.0\r\n\r\n"),
  ]);
  assertEquals(fed.messages.map((m) => [m.startLine, m.body]), [
    ["OPTIONS sip:b@h SIP/2.0", ""],
    ["OPTIONS sip:c@h SIP/2.0", ""],
  ]);
});

Deno.test("sip message: a head that never ends past maxBytes is refused: onOverflow hears the count, the connection closes", async () => {
  const head = enc.encode(`INVITE sip:b@h SIP/2.0\r\nX-Filler: ${"a".repeat(200)}\r\n`);
  const fed = await feed(cut(head, [100]), 150);
  assertEquals(fed.messages, []);
  assertEquals(fed.overflow, head.length, "told once the buffer passed maxBytes");
  assert(fed.closed);
});

Deno.test("sip message: a body announced beyond maxBytes overflows once the buffered bytes pass it", async () => {
  const head = "MESSAGE sip:b@h SIP/2.0\r\nContent-Length: 1000\r\n\r\n";
  const reads = [enc.encode(head), enc.encode("x".repeat(100)), enc.encode("x".repeat(100))];
  const max = head.length + 150;
  const fed = await feed(reads, max);
  assertEquals(fed.overflow, head.length + 200);
  assert(fed.closed);
  assertEquals(fed.messages, []);
});

Deno.test("sip message: exactly maxBytes buffered is not an overflow, and messages complete before one are delivered", async () => {
  const first = serializeSip("OPTIONS sip:b@h SIP/2.0", [["Call-ID", "1"]]);
  const partial = enc.encode("OPTIONS sip:c@h SIP/2.0\r\nCall-ID: 2\r\n");
  const atLimit = await feed([first, partial], partial.length);
  assertEquals(atLimit.messages.length, 1);
  assertEquals([atLimit.overflow, atLimit.closed], [undefined, false]);
  const over = await feed([first, partial, enc.encode("X")], partial.length);
  assertEquals(over.messages.map((m) => m.startLine), ["OPTIONS sip:b@h SIP/2.0"]);
  assertEquals([over.overflow, over.closed], [partial.length + 1, true]);
});

Deno.test("sip message: serializeSip adds Content-Length in bytes and parses back to the same message", async () => {
  const headers: [string, string][] = [["Via", "SIP/2.0/TCP h;branch=z9hG4bKx"], ["CSeq", "7 BYE"]];
  const bytes = serializeSip("BYE sip:b@h SIP/2.0", headers, UTF8_BODY);
  const text = new TextDecoder().decode(bytes);
  assert(text.endsWith(`Content-Length: ${enc.encode(UTF8_BODY).length}\r\n\r\n${UTF8_BODY}`));
  const [message] = (await feed([bytes])).messages;
  assertEquals(message, {
    startLine: "BYE sip:b@h SIP/2.0",
    headers: [
      ["via", "SIP/2.0/TCP h;branch=z9hG4bKx"],
      ["cseq", "7 BYE"],
      ["content-length", String(enc.encode(UTF8_BODY).length)],
    ],
    body: UTF8_BODY,
  });
  assertEquals(headerOf(message, "CSEQ"), "7 BYE", "names in any case");
  assertEquals(headerOf(message, "x-absent"), undefined);
  assertEquals(statusOf(message), 0, "a request has no status");
  assertEquals(statusOf(EXPECTED[1]), 180);
});
