import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { type Frame, MsrpHeaders, type OutgoingRequest } from "../../src/msrp/message.ts";
import { concatBytes, MsrpParser, parseFrames } from "../../src/msrp/parser.ts";
import {
  bodyContainsEndLine,
  encodeRequest,
  encodeResponse,
  newTransactionId,
  transactionIdFor,
} from "../../src/msrp/serializer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

const SEND = "MSRP a786hjs2 SEND\r\n" +
  "To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n" +
  "From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n" +
  "Message-ID: 87652491\r\n" +
  "Byte-Range: 1-25/25\r\n" +
  "Content-Type: text/plain\r\n" +
  "\r\n" +
  "Hey Bob, are you there?\r\n" +
  "\r\n" +
  "-------a786hjs2$\r\n";

const OK = "MSRP a786hjs2 200 OK\r\n" +
  "To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n" +
  "From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n" +
  "-------a786hjs2$\r\n";

/** A comparable summary of a frame. */
function summary(f: Frame): unknown {
  const h = f.head;
  return {
    kind: h.kind,
    tid: h.transactionId,
    start: h.kind === "request" ? h.method : `${h.status} ${h.comment}`,
    headers: [...h.headers],
    body: Array.from(f.body),
    flag: f.flag,
  };
}

Deno.test("parser: reads a SEND request with typed head fields and body", () => {
  const { frames, failures } = parseFrames(bytes(SEND));
  assertEquals(failures.length, 0);
  assertEquals(frames.length, 1);
  const f = frames[0];
  assert(f.head.kind === "request");
  assertEquals(f.head.method, "SEND");
  assertEquals(f.head.transactionId, "a786hjs2");
  assertEquals(f.head.toPath, ["msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"]);
  assertEquals(f.head.fromPath, ["msrp://atlanta.example.com:7654/jshA7weztas;tcp"]);
  assertEquals(f.head.byteRange, { start: 1, end: 25, total: 25 });
  assertEquals(f.head.contentType, "text/plain");
  assertEquals(f.head.messageId, "87652491");
  assertEquals(dec.decode(f.body), "Hey Bob, are you there?\r\n");
  assertEquals(f.flag, "$");
});

Deno.test("parser: reads a response with status and comment, no body", () => {
  const { frames } = parseFrames(bytes(OK));
  const h = frames[0].head;
  assert(h.kind === "response");
  assertEquals(h.status, 200);
  assertEquals(h.comment, "OK");
  assertEquals(frames[0].body.length, 0);
});

Deno.test("parser: a response without comment has an empty comment", () => {
  const { frames } = parseFrames(bytes(OK.replace("200 OK", "200")));
  const h = frames[0].head;
  assert(h.kind === "response");
  assertEquals([h.status, h.comment], [200, ""]);
});

Deno.test("parser: many frames in one slice come out in order", () => {
  const { frames } = parseFrames(bytes(SEND + OK + SEND.replace("$\r\n", "+\r\n") + OK));
  assertEquals(frames.map((f) => f.head.kind), ["request", "response", "request", "response"]);
  assertEquals(frames[2].flag, "+");
});

Deno.test("parser: bodiless request (bind SEND, AUTH) ends at the end-line", () => {
  const text =
    "MSRP x1y2z3w4 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n" +
    "Message-ID: m1\r\nByte-Range: 1-0/0\r\n-------x1y2z3w4$\r\n";
  const { frames, failures } = parseFrames(bytes(text));
  assertEquals(failures.length, 0);
  assertEquals(frames[0].body.length, 0);
  assert(frames[0].head.kind === "request");
  assertEquals(frames[0].head.byteRange, { start: 1, end: 0, total: 0 });
});

Deno.test("parser: body with CRLFs and end-lines of other or longer ids stays body", () => {
  const body = "line1\r\n-------other$\r\n-------a786hjs2x$\r\n-------a786hjs2\r\n" +
    "\r\n-------a786hjs2!\r\nend";
  const text = SEND.replace("Hey Bob, are you there?\r\n", body);
  const { frames } = parseFrames(bytes(text));
  assertEquals(frames.length, 1);
  assertEquals(dec.decode(frames[0].body), body);
});

Deno.test("parser: header names are case-insensitive and unknown headers are kept", () => {
  const text =
    "MSRP abcd1234 SEND\r\nto-path: msrp://a:1/s;tcp\r\nFROM-PATH: msrp://b:2/t;tcp\r\n" +
    "X-Custom: hello: world\r\ncontent-type: text/plain; charset=utf-8\r\n\r\nhi\r\n" +
    "-------abcd1234$\r\n";
  const { frames } = parseFrames(bytes(text));
  const h = frames[0].head;
  assert(h.kind === "request");
  assertEquals(h.headers.get("x-custom"), "hello: world");
  assertEquals(h.contentType, "text/plain; charset=utf-8");
  assertEquals(h.toPath, ["msrp://a:1/s;tcp"]);
});

Deno.test("parser: multiple To-Path/From-Path URIs and auth headers", () => {
  const text = "MSRP abcd1234 AUTH\r\n" +
    "To-Path: msrp://r1:2856/x;tcp msrp://r2:2856/y;tcp msrp://bob:1/z;tcp\r\n" +
    "From-Path: msrp://alice:3/w;tcp\r\n" +
    'Authorization: Digest username="alice", realm="r", nonce="n", uri="u", response="x"\r\n' +
    "Expires: 600\r\n-------abcd1234$\r\n" +
    "MSRP abcd1234 401 Unauthorized\r\nTo-Path: msrp://alice:3/w;tcp\r\n" +
    "From-Path: msrp://r1:2856;tcp\r\n" +
    'WWW-Authenticate: Digest realm="r", nonce="n", qop="auth"\r\n' +
    "Min-Expires: 60\r\nMax-Expires: 3600\r\n-------abcd1234$\r\n" +
    "MSRP abcd1234 200 OK\r\nTo-Path: msrp://alice:3/w;tcp\r\nFrom-Path: msrp://r1:2856;tcp\r\n" +
    'Use-Path: msrp://r1:2856/u;tcp\r\nExpires: 3600\r\nAuthentication-Info: nextnonce="a"\r\n' +
    "-------abcd1234$\r\n";
  const { frames, failures } = parseFrames(bytes(text));
  assertEquals(failures.length, 0);
  assertEquals(frames[0].head.toPath.length, 3);
  assertEquals(frames[0].head.headers.get("authorization")?.startsWith("Digest "), true);
  assertEquals(frames[1].head.headers.get("www-authenticate")?.includes('qop="auth"'), true);
  assertEquals(frames[1].head.headers.get("min-expires"), "60");
  assertEquals(frames[2].head.headers.get("use-path"), "msrp://r1:2856/u;tcp");
  assertEquals(frames[2].head.headers.get("authentication-info"), 'nextnonce="a"');
});

Deno.test("parser: REPORT with Status header parses", () => {
  const text =
    "MSRP dkei38sd REPORT\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n" +
    "Message-ID: 12339sdqwer\r\nByte-Range: 1-106/106\r\nStatus: 000 200 OK\r\n" +
    "-------dkei38sd$\r\n";
  const { frames } = parseFrames(bytes(text));
  assert(frames[0].head.kind === "request");
  assertEquals(frames[0].head.method, "REPORT");
  assertEquals(frames[0].head.headers.get("status"), "000 200 OK");
});

Deno.test("parser: stray blank lines between frames are tolerated", () => {
  const { frames, failures } = parseFrames(bytes("\r\n" + OK + "\r\n\r\n" + OK));
  assertEquals([frames.length, failures.length], [2, 0]);
});

Deno.test("parser: header folding gives 400 and the next frame still parses", () => {
  const bad = "MSRP abcd1234 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\n continued\r\n" +
    "From-Path: msrp://b:2/t;tcp\r\nContent-Type: text/plain\r\n\r\nx\r\n-------abcd1234$\r\n";
  const { frames, failures } = parseFrames(bytes(bad + OK));
  assertEquals(failures.length, 1);
  assertEquals(failures[0].error.status, 400);
  assertEquals(failures[0].error.framingLost, false);
  assertEquals(failures[0].error.transactionId, "abcd1234");
  assertEquals(failures[0].method, "SEND");
  assertEquals(frames.length, 1);
  assertEquals(frames[0].head.kind, "response");
});

Deno.test("parser: missing From-Path gives 400 with the headers read, framing kept", () => {
  const bad = "MSRP abcd1234 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\n" +
    "Content-Type: text/plain\r\n\r\nhello\r\n-------abcd1234$\r\n";
  const { frames, failures } = parseFrames(bytes(bad + OK));
  assertEquals(failures[0].error.status, 400);
  assertEquals(failures[0].headers.get("to-path"), "msrp://a:1/s;tcp");
  assertEquals(frames.length, 1);
});

Deno.test("parser: a body without Content-Type is a 400", () => {
  const bad = "MSRP abcd1234 SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n" +
    "\r\nhello\r\n-------abcd1234$\r\n";
  const { frames, failures } = parseFrames(bytes(bad + OK));
  assertEquals([failures[0].error.status, frames.length], [400, 1]);
});

Deno.test("parser: malformed Byte-Range is a 400 naming the header", () => {
  const bad = SEND.replace("1-25/25", "banana");
  const { failures } = parseFrames(bytes(bad));
  assertEquals(failures[0].error.status, 400);
  assert(failures[0].error.message.includes("Byte-Range"));
});

Deno.test("parser: a start line that is not MSRP loses framing and stops", () => {
  const { frames, failures } = parseFrames(bytes("GET / HTTP/1.1\r\n\r\n" + OK));
  assertEquals(failures.length, 1);
  assertEquals(failures[0].error.framingLost, true);
  assertEquals(frames.length, 0);
});

Deno.test("parser: an unknown-case method with valid id is a 400 with framing kept", () => {
  const bad = "MSRP abcd1234 send\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n" +
    "-------abcd1234$\r\n";
  const { frames, failures } = parseFrames(bytes(bad + OK));
  assertEquals([failures[0].error.status, failures[0].error.framingLost], [400, false]);
  assertEquals(frames.length, 1);
});

Deno.test("parser: start line over the limit loses framing", () => {
  const { failures } = parseFrames(bytes(`MSRP abcd1234 ${"X".repeat(600)}\r\n`), {
    maxStartLineBytes: 100,
  });
  assertEquals([failures[0].error.status, failures[0].error.framingLost], [400, true]);
});

Deno.test("parser: header block over the limit is a 400, framing kept", () => {
  const big = SEND.replace("Message-ID: 87652491", `Message-ID: ${"x".repeat(5000)}`);
  for (const slices of [[bytes(big + OK)], Array.from(bytes(big + OK), (b) => Uint8Array.of(b))]) {
    const { frames, failures } = parseFrames(slices, { maxHeaderBytes: 1024 });
    assertEquals(failures.length, 1);
    assertEquals([failures[0].error.status, failures[0].error.framingLost], [400, false]);
    assertEquals(frames.length, 1);
    assertEquals(frames[0].head.kind, "response");
  }
});

Deno.test("parser: too many header lines is a 400, framing kept", () => {
  const many = SEND.replace("Message-ID", "X-A: 1\r\n".repeat(10) + "Message-ID");
  const { frames, failures } = parseFrames(bytes(many + OK), { maxHeaderCount: 8 });
  assertEquals([failures[0].error.status, frames.length], [400, 1]);
});

Deno.test("parser: chunk body over the limit is a 413 and later frames parse", () => {
  const body = "y".repeat(3000);
  const big = SEND.replace("Hey Bob, are you there?\r\n", body);
  const { frames, failures } = parseFrames(bytes(big + OK), { maxChunkBodyBytes: 1000 });
  assertEquals(failures.length, 1);
  assertEquals([failures[0].error.status, failures[0].error.framingLost], [413, false]);
  assert(failures[0].head !== undefined);
  assertEquals(frames.length, 1);
  assertEquals(frames[0].head.kind, "response");
});

Deno.test("parser: body bytes are delivered as views of the input, not copies", () => {
  const body = new Uint8Array(64 * 1024).fill(0x61);
  const input = concatBytes(encodeRequest({
    transactionId: "zerocopy1",
    method: "SEND",
    toPath: ["msrp://a:1/s;tcp"],
    fromPath: ["msrp://b:2/t;tcp"],
    contentType: "application/octet-stream",
    body,
  }));
  const seen: Uint8Array[] = [];
  const parser = new MsrpParser({
    head() {},
    body(b) {
      seen.push(b);
    },
    end() {},
    error(f) {
      throw f.error;
    },
  });
  parser.push(input);
  assertEquals(seen.length, 1);
  assertEquals(seen[0].length, body.length);
  assert(seen[0].buffer === input.buffer, "body slice shares the input buffer");
});

Deno.test("parser: a 1 GiB-style stream passes through without being held", () => {
  // 256 slices of 64 KiB each form one chunk; the parser must not keep them.
  const tid = "bigbody01";
  const head = bytes(
    `MSRP ${tid} SEND\r\nTo-Path: msrp://a:1/s;tcp\r\nFrom-Path: msrp://b:2/t;tcp\r\n` +
      "Byte-Range: 1-*/*\r\nContent-Type: application/octet-stream\r\n\r\n",
  );
  let received = 0;
  let ended = false;
  const parser = new MsrpParser({
    head() {},
    body(b) {
      received += b.length;
    },
    end() {
      ended = true;
    },
    error(f) {
      throw f.error;
    },
  });
  parser.push(head);
  const slice = new Uint8Array(64 * 1024).fill(0x0d);
  for (let i = 0; i < 256; i++) parser.push(slice);
  parser.push(bytes(`\r\n-------${tid}$\r\n`));
  assertEquals([received, ended], [256 * 64 * 1024, true]);
});

// --- property tests -------------------------------------------------------

const TRICKY = ["\r\n", "-------", "\r\n-------", "$\r\n", "#", "+", "\r", "\n", "MSRP "];

function randomRequest(rng: Random): OutgoingRequest {
  const tid = rng.next() < 0.5 ? newTransactionId() : "t" + rng.int(46656, 1e7).toString(36);
  let body: Uint8Array | undefined;
  const kind = rng.int(0, 3);
  if (kind === 1) body = rng.bytes(rng.int(0, 300));
  if (kind === 2) {
    // text that looks like end-lines: other ids and this id's prefix
    let s = "";
    for (let i = rng.int(1, 20); i > 0; i--) {
      s += rng.pick([...TRICKY, `-------${tid.slice(0, -1)}$\r\n`, `-------${tid}x$`, "héllo"]);
    }
    body = bytes(s);
  }
  const headers: [string, string][] = [["Message-ID", `m${rng.int(0, 1e6)}`]];
  if (rng.next() < 0.5) headers.push(["Byte-Range", `1-${body?.length ?? 0}/${body?.length ?? 0}`]);
  if (rng.next() < 0.3) headers.push(["X-Ext", "v".repeat(rng.int(0, 40))]);
  return {
    transactionId: tid,
    method: rng.pick(["SEND", "REPORT", "NICKNAME"]),
    toPath: ["msrp://a.example:2855/s1;tcp", ...(rng.next() < 0.3 ? ["msrp://b:1/x;tcp"] : [])],
    fromPath: ["msrp://c.example:2855/s2;tcp"],
    headers,
    contentType: body ? "application/octet-stream" : undefined,
    body,
    flag: rng.pick(["$", "+", "#"] as const),
  };
}

function randomStream(rng: Random): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let n = rng.int(1, 8); n > 0; n--) {
    if (rng.next() < 0.7) {
      const req = randomRequest(rng);
      // Pick another id when the body holds this one's end-line, as a sender must.
      const safe = req.body && bodyContainsEndLine(req.transactionId, req.body)
        ? { ...req, transactionId: transactionIdFor(req.body) }
        : req;
      parts.push(...encodeRequest(safe));
    } else {
      parts.push(encodeResponse({
        transactionId: newTransactionId(),
        status: rng.pick([200, 400, 403, 408, 413, 415, 423, 481, 501, 506]),
        toPath: ["msrp://c:1/s;tcp"],
        fromPath: ["msrp://d:2/t;tcp"],
        headers: rng.next() < 0.5 ? [["Message-ID", "abc"]] : [],
      }));
    }
  }
  return concatBytes(parts);
}

function split(rng: Random, data: Uint8Array, maxPiece: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < data.length) {
    const n = rng.int(1, maxPiece);
    out.push(data.slice(i, i + n));
    i += n;
  }
  return out;
}

Deno.test("parser property: any split of a frame stream yields identical frames", () => {
  const rng = new Random(0xc0ffee);
  for (let round = 0; round < 300; round++) {
    const stream = randomStream(rng);
    const whole = parseFrames(stream);
    assertEquals(whole.failures.map((f) => f.error.message), [], `round ${round}`);
    const expected = whole.frames.map(summary);
    for (const max of [1, 2, 7, 64, 1000]) {
      const pieces = split(rng, stream, max);
      const got = parseFrames(pieces);
      assertEquals(got.failures.length, 0, `round ${round} split ${max}`);
      assertEquals(got.frames.map(summary), expected, `round ${round} split ${max}`);
    }
  }
});

Deno.test("parser property: byte-by-byte feeding equals whole feeding", () => {
  const rng = new Random(42);
  for (let round = 0; round < 60; round++) {
    const stream = randomStream(rng);
    const whole = parseFrames(stream).frames.map(summary);
    const bytewise = parseFrames(Array.from(stream, (b) => Uint8Array.of(b))).frames.map(summary);
    assertEquals(bytewise, whole, `round ${round}`);
  }
});

Deno.test("parser property: random garbage never throws and always finishes", () => {
  const rng = new Random(7);
  for (let round = 0; round < 500; round++) {
    const garbage = rng.next() < 0.5 ? rng.bytes(rng.int(0, 2000)) : bytes(
      Array.from(
        { length: rng.int(1, 60) },
        () => rng.pick([...TRICKY, "MSRP abcd1234 SEND", "x:"]),
      )
        .join(""),
    );
    for (const pieces of [[garbage], split(rng, garbage, 13)]) {
      const { failures } = parseFrames(pieces, { maxHeaderBytes: 512, maxChunkBodyBytes: 256 });
      for (const f of failures) assert([400, 413].includes(f.error.status));
    }
  }
});

Deno.test("parser property: mutated valid streams only produce typed failures", () => {
  const rng = new Random(99);
  for (let round = 0; round < 400; round++) {
    const stream = randomStream(rng);
    for (let k = rng.int(1, 4); k > 0; k--) stream[rng.int(0, stream.length - 1)] = rng.int(0, 255);
    const { frames, failures } = parseFrames(split(rng, stream, 50));
    for (const f of failures) assert([400, 413].includes(f.error.status));
    for (const f of frames) assert(f.head.headers instanceof MsrpHeaders);
  }
});
