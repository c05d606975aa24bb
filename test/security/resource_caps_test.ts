/**
 * Resource caps (issue 14): unfinished incoming messages per session and per
 * connection, the disk quota of DATA_DIR, WebSockets counted in
 * MAX_CONNECTIONS, the SIP user agent's receive buffer and who may connect
 * to the ESL outbound-socket listener. Real service processes, endpoints
 * and sockets on 127.0.0.1.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { openPeer } from "../bridge/_peer.ts";
import { freePorts, startService } from "../_service_process.ts";
import { until } from "../_until.ts";
import { Logger } from "../../src/log.ts";
import { type FrameHead, MsrpParser } from "../../src/msrp/mod.ts";
import { EslOutboundServer } from "../../src/pbx/esl_outbound.ts";
import { SipUserAgent } from "../../src/pbx/sip_ua.ts";
import { buildOffer, type LocalMsrpOffer, parseAnswer } from "../../src/sdp/mod.ts";
import {
  FileSink,
  MsrpEndpoint,
  type SavedMessage,
  TOO_MANY_UNFINISHED,
} from "../../src/session/mod.ts";
import { parseAddressRules } from "../../src/transport/address_rule.ts";
import { ConnectionLimits } from "../../src/transport/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Largest wait for something to happen: a hang guard, not a timing check. */
const HANG_GUARD_MS = 60_000;
const TOKEN = "resource-caps-token-0123";

function waitUntil(predicate: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return until(predicate, what, { timeoutMs: HANG_GUARD_MS, intervalMs: 20 });
}

/**
 * Open file descriptors of process `pid`, listed by `ls`: Deno lets only a
 * process with every permission read another process's `/proc/<pid>/fd`.
 */
function openFds(pid: number): number {
  const out = new Deno.Command("ls", { args: ["-1", `/proc/${pid}/fd`] }).outputSync();
  if (!out.success) {
    throw new Error(`ls /proc/${pid}/fd failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).length;
}

/** A raw MSRP peer on a TCP connection: writes hand-made frames, tallies what comes back. */
class Tap {
  /** Responses by transaction id. */
  readonly responses = new Map<string, { status: number; comment: string }>();
  /** REPORTs received: Message-ID and Status header. */
  readonly reports: { messageId: string; status: string }[] = [];
  readonly conn: Deno.TcpConn;
  readonly reading: Promise<void>;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    const parser = new MsrpParser({
      head: (h: FrameHead) => {
        if (h.kind === "response") {
          this.responses.set(h.transactionId, { status: h.status, comment: h.comment });
        } else if (h.method === "REPORT") {
          this.reports.push({
            messageId: h.messageId ?? "",
            status: h.headers.get("status") ?? "",
          });
        }
      },
      body() {},
      end() {},
      error() {},
    });
    this.reading = (async () => {
      try {
        for await (const chunk of conn.readable) parser.push(chunk);
      } catch {
        // closed
      }
    })();
  }

  static async connect(port: number): Promise<Tap> {
    return new Tap(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(text: string): Promise<void> {
    const bytes = enc.encode(text);
    for (let done = 0; done < bytes.length;) done += await this.conn.write(bytes.subarray(done));
  }

  /** Waits for the response to `tid` and returns it. */
  async response(tid: string): Promise<{ status: number; comment: string }> {
    await waitUntil(() => this.responses.has(tid), `the response to ${tid}`);
    return this.responses.get(tid)!;
  }

  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
    await this.reading;
  }
}

/** A SEND chunk: `range` as in Byte-Range, flag `+` unless given. */
function send(
  tid: string,
  to: string,
  from: string,
  messageId: string,
  range: string,
  body: string,
  flag = "+",
): string {
  return `MSRP ${tid} SEND\r\nTo-Path: ${to}\r\nFrom-Path: ${from}\r\n` +
    `Message-ID: ${messageId}\r\nByte-Range: ${range}\r\nContent-Type: text/plain\r\n\r\n` +
    `${body}\r\n-------${tid}${flag}\r\n`;
}

/** A bodiless SEND that binds the connection to the session (RFC 4975 §7.1). */
function bind(tid: string, to: string, from: string): string {
  return `MSRP ${tid} SEND\r\nTo-Path: ${to}\r\nFrom-Path: ${from}\r\n` +
    `Message-ID: bind-${tid}\r\nByte-Range: 1-0/0\r\n-------${tid}$\r\n`;
}

/** An SDP offer of a raw peer at `uri` that connects actively. */
function peerOffer(uri: string, port: number): LocalMsrpOffer {
  return { path: [uri], address: "127.0.0.1", port, acceptTypes: ["*"], setup: "active" };
}

/** Captures the service log lines written while `body` runs (Logger writes to console.error). */
async function capturingLog<T>(body: (lines: string[]) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    return await body(lines);
  } finally {
    console.error = original;
  }
}

Deno.test("unfinished messages: 5 000 SENDs with distinct Message-IDs on one session of the service hold at most MAX_UNFINISHED_PER_SESSION files open; the rest get 413 too many unfinished messages", async () => {
  const cap = 32;
  const total = 5000;
  const slack = 8; // the service's own descriptors may come and go (database, workers)
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-caps-" });
  const [httpPort, msrpPort] = freePorts(2);
  try {
    await using service = await startService({
      HTTP_PORT: String(httpPort),
      MSRP_PORT: String(msrpPort),
      DATA_DIR: dataDir,
      API_TOKEN: TOKEN,
      MAX_UNFINISHED_PER_SESSION: String(cap),
    });
    const pid = service.child.pid;
    const peerUri = "msrp://127.0.0.1:9/capspeer;tcp";
    const local = peerOffer(peerUri, 9);
    const created = await service.json("POST", "/v1/sessions", { offer: buildOffer(local) });
    assertEquals(created.status, 201);
    const { id, answer } = await created.json();
    const bridgeUri = parseAnswer(answer, local).remotePath[0];

    const tap = await Tap.connect(msrpPort);
    try {
      await tap.write(bind("bind0", bridgeUri, peerUri));
      assertEquals((await tap.response("bind0")).status, 200);
      const before = openFds(pid);

      // The premise: the first `cap` messages are accepted and each holds a file open.
      let frames = "";
      for (let i = 1; i <= cap; i++) {
        frames += send(`tid${i}`, bridgeUri, peerUri, `msg${i}`, "1-1/100000000", "x");
      }
      await tap.write(frames);
      for (let i = 1; i <= cap; i++) assertEquals((await tap.response(`tid${i}`)).status, 200);
      await waitUntil(
        () => openFds(pid) >= before + cap,
        `${cap} content files open (${openFds(pid) - before} more descriptors so far)`,
      );

      frames = "";
      for (let i = cap + 1; i <= total; i++) {
        frames += send(`tid${i}`, bridgeUri, peerUri, `msg${i}`, "1-1/100000000", "x");
      }
      await tap.write(frames);
      await waitUntil(() => tap.responses.size === total + 1, `${total} responses`);
      for (let i = cap + 1; i <= total; i++) {
        const r = tap.responses.get(`tid${i}`)!;
        assertEquals([r.status, r.comment], [413, TOO_MANY_UNFINISHED], `SEND ${i}`);
      }
      const during = openFds(pid);
      assert(
        during <= before + cap + slack,
        `${
          during - before
        } descriptors more than before the messages; at most ${cap} files may be open`,
      );
      // Refused messages left nothing in the store.
      const rows = await (await service.request(`/v1/sessions/${id}/messages?limit=1000`)).json();
      assertEquals(rows.items.length, cap);

      // The connection goes: the unfinished messages end as partial and their files close.
      await tap.close();
      await waitUntil(async () => {
        const page = await (await service.request(`/v1/sessions/${id}/messages?limit=1000`))
          .json();
        return page.items.every((m: { status: string }) => m.status === "partial");
      }, "the unfinished messages to be recorded as partial");
      await waitUntil(
        () => openFds(pid) <= before + slack,
        "the content files of the unfinished messages to be closed",
      );
    } finally {
      await tap.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("unfinished messages: at the session cap the message idle longest is failed to make room (its file closed, a 413 REPORT sent, its later chunks refused)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-idle-" });
  const saved: SavedMessage[] = [];
  const endpoint = new MsrpEndpoint({ port: 0 }).listen();
  const tap = await Tap.connect(endpoint.port);
  try {
    const session = endpoint.createSession({
      maxUnfinishedMessages: 2,
      unfinishedIdleMs: 1,
      sink: (info) => new FileSink(dir, info, (s) => saved.push(s)),
    });
    const peer = "msrp://127.0.0.1:9/idlepeer;tcp";
    const to = session.localUri;
    await tap.write(send("tida1", to, peer, "msgA", "1-3/10", "aaa"));
    assertEquals((await tap.response("tida1")).status, 200);
    await tap.write(send("tidb1", to, peer, "msgB", "1-3/10", "bbb"));
    assertEquals((await tap.response("tidb1")).status, 200);
    // Both are idle for more than unfinishedIdleMs once this wait is over.
    await new Promise((r) => setTimeout(r, 20));
    await tap.write(send("tidc1", to, peer, "msgC", "1-3/10", "ccc"));
    assertEquals((await tap.response("tidc1")).status, 200, "C is accepted: A makes room");
    await waitUntil(() => saved.length === 1, "A's file to be closed");
    assertEquals(saved[0].messageId, "msgA");
    assertEquals(saved[0].complete, false);
    assert(saved[0].reason.includes(TOO_MANY_UNFINISHED), saved[0].reason);
    await waitUntil(() => tap.reports.length === 1, "a failure REPORT for A");
    assertEquals(tap.reports[0], { messageId: "msgA", status: `000 413 ${TOO_MANY_UNFINISHED}` });
    // RFC 4975 §10.5: a message refused with 413 stays refused.
    await tap.write(send("tida2", to, peer, "msgA", "4-6/10", "aaa"));
    assertEquals(await tap.response("tida2"), { status: 413, comment: TOO_MANY_UNFINISHED });
    assertEquals(saved.length, 1, "the refused chunk started no new message");
  } finally {
    await tap.close();
    await endpoint.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unfinished messages: MAX_UNFINISHED_PER_CONNECTION caps them over all sessions of one connection (413)", async () => {
  const endpoint = new MsrpEndpoint({
    port: 0,
    maxUnfinishedPerConnection: 3,
    session: { maxUnfinishedMessages: 2 },
  }).listen();
  const tap = await Tap.connect(endpoint.port);
  try {
    const one = endpoint.createSession();
    const two = endpoint.createSession();
    const peer = "msrp://127.0.0.1:9/connpeer;tcp";
    const chunks = [
      ["tid1", one.localUri, "msgA"],
      ["tid2", one.localUri, "msgB"],
      ["tid3", two.localUri, "msgC"],
      ["tid4", two.localUri, "msgD"],
    ];
    for (const [tid, to, id] of chunks) {
      await tap.write(send(tid, to, peer, id, "1-1/1000", "x"));
      await tap.response(tid);
    }
    assertEquals(
      chunks.map(([tid]) => tap.responses.get(tid)!.status),
      [200, 200, 200, 413],
      "the second session has room of its own, the connection has not",
    );
    assertEquals(tap.responses.get("tid4")!.comment, TOO_MANY_UNFINISHED);
    assertEquals([one.unfinishedCount, two.unfinishedCount], [2, 1]);
  } finally {
    await tap.close();
    await endpoint.close();
  }
});

Deno.test("disk quota: content past DATA_QUOTA_BYTES is refused with 413 disk quota exceeded and a log line; nothing is half-stored", async () => {
  await using fixture = await startBridge(
    { DATA_QUOTA_BYTES: "1000" },
    { logger: new Logger("warn") },
  );
  const { bridge, dataDir } = fixture;
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    await capturingLog(async (log) => {
      const { id, session } = await openPeer(bridge, peer, { session: { chunkSize: 100 } });
      const rows = async () => (await bridge.listMessages(id)).items;
      const files = () => [...Deno.readDirSync(`${dataDir}/content`)].length;
      const settled = (n: number) =>
        waitUntil(
          async () => (await rows()).filter((r) => r.status !== "receiving").length === n,
          `${n} rows`,
        );

      // 600 bytes fit.
      const first = await session.send(new Uint8Array(600).fill(65)).done;
      assertEquals(first.status, "sent");
      await settled(1);
      assertEquals((await rows())[0].status, "received");

      // A declared 500 bytes more do not: refused on the first chunk, nothing recorded.
      const refused = await session.send(new Uint8Array(500).fill(66)).done;
      assertEquals(refused.status, "failed");
      assertEquals([refused.code, refused.reason], [413, "disk quota exceeded"]);
      assertEquals((await rows()).length, 1, "no row for the refused message");
      assertEquals(files(), 1, "no content file for the refused message");
      assert(
        log.some((l) => l.includes("disk quota exceeded: received content refused")),
        "the refusal is logged",
      );

      // 500 bytes of unknown size cross the quota on their fifth chunk: the message fails.
      const stream = ReadableStream.from([new Uint8Array(500).fill(67)]);
      const crossing = await session.send(stream).done;
      assertEquals(crossing.status, "failed");
      assertEquals([crossing.code, crossing.reason], [413, "disk quota exceeded"]);
      await settled(2);
      const failed = (await rows())[1];
      assertEquals(failed.status, "failed");
      assertEquals(failed.contentPath, null, "the partial content is not kept");
      assert(failed.errorReason?.includes("disk quota exceeded"), failed.errorReason ?? "");
      assertEquals(files(), 1, "the partial content file was removed");

      // The failed message's reservation is given back: 400 bytes still fit.
      const last = await session.send(new Uint8Array(400).fill(68)).done;
      assertEquals(last.status, "sent");
      await settled(3);
      assertEquals((await rows())[2].status, "received");
      assertEquals(files(), 2);
    });
  } finally {
    await peer.close();
  }
});

/** Sends a raw HTTP/1.1 WebSocket upgrade for `msrp` and returns the status and body. */
async function upgrade(port: number): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `GET /msrp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: msrp\r\n\r\n`;
    await conn.write(enc.encode(request));
    let text = "";
    const buf = new Uint8Array(4096);
    while (true) {
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const status = Number(text.slice(9, 12));
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (status === 101 || text.length >= end + 4 + length) {
          return { status, body: text.slice(end + 4, end + 4 + length) };
        }
      }
      const n = await conn.read(buf);
      if (n === null) throw new Error(`the connection closed after ${JSON.stringify(text)}`);
      text += dec.decode(buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

Deno.test("connections: WebSockets count in MAX_CONNECTIONS with MSRP TCP connections; beyond it the upgrade gets a 503 problem and no 101", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "msrp-bridge-wscap-" });
  const [httpPort, msrpPort] = freePorts(2);
  try {
    await using service = await startService({
      HTTP_PORT: String(httpPort),
      MSRP_PORT: String(msrpPort),
      DATA_DIR: dataDir,
      MAX_CONNECTIONS: "2",
    });
    const connections = async () => {
      const text = await (await service.request("/metrics")).text();
      return Number(/^msrp_bridge_msrp_connections (\d+)/m.exec(text)?.[1]);
    };
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/msrp`, "msrp");
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("the first WebSocket did not open"));
    });
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: msrpPort });
    try {
      await waitUntil(async () => await connections() === 2, "a WebSocket and a TCP connection");

      const refused = await upgrade(httpPort);
      assertEquals(refused.status, 503);
      const problem = JSON.parse(refused.body);
      assert(String(problem.type).endsWith("/connection-limit"), refused.body);

      // A third MSRP TCP connection is closed at once as well.
      const third = await Deno.connect({ hostname: "127.0.0.1", port: msrpPort });
      assertEquals(await third.read(new Uint8Array(16)), null);
      third.close();

      // The WebSocket's place is given back when it closes.
      const gone = new Promise((r) => ws.onclose = r);
      ws.close();
      await gone;
      await waitUntil(async () => await connections() === 1, "the WebSocket to be gone");
      await waitUntil(
        async () => (await upgrade(httpPort)).status === 101,
        "an upgrade to be accepted again",
      );
    } finally {
      tcp.close();
      if (ws.readyState !== WebSocket.CLOSED) ws.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("connections: an IPv4-mapped IPv6 address counts as its IPv4 address in MAX_CONNECTIONS_PER_IP", () => {
  const limits = new ConnectionLimits({ maxConnectionsPerIp: 1 });
  const release = limits.admit("127.0.0.1");
  assert(release !== undefined, "the first connection is admitted");
  assertEquals(limits.admit("::ffff:127.0.0.1"), undefined);
  assertEquals(limits.countFrom("::ffff:7f00:1"), 1);
  release();
  release(); // a second release gives back nothing more
  assertEquals(limits.count, 0);
  assert(limits.admit("::ffff:127.0.0.1") !== undefined, "admitted once the place is free");
});

/** Reads from `conn` until `text` has arrived; returns all read. */
async function readUntil(conn: Deno.Conn, text: string): Promise<string> {
  let got = "";
  const buf = new Uint8Array(65536);
  while (!got.includes(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before ${JSON.stringify(text)}`);
    got += dec.decode(buf.subarray(0, n));
  }
  return got;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

Deno.test("SIP UA: a server that sends more than SIP_MAX_MESSAGE_BYTES without completing a message is disconnected and logged", async () => {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await capturingLog(async (log) => {
    const ua = await SipUserAgent.connect({
      server: { hostname: "127.0.0.1", port: server.addr.port },
      maxMessageBytes: 64 * 1024,
      logger: new Logger("warn"),
    });
    const conn = await server.accept();
    try {
      // The premise: a large but complete response (60 KB body) is read and answered.
      const first = ua.invite({ requestUri: "sip:out@127.0.0.1", sdp: "v=0\r\n" });
      const invite = await readUntil(conn, "\r\n\r\nv=0\r\n");
      const copied = invite.split("\r\n")
        .filter((l) => /^(via|from|to|call-id|cseq):/i.test(l)).join("\r\n");
      const body = "x".repeat(60_000);
      await writeAll(
        conn,
        enc.encode(
          `SIP/2.0 486 Busy Here\r\n${copied}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      assertEquals((await first).status, 486);

      // Then 70 KB of a header block that never ends: the connection is dropped.
      const second = ua.invite({ requestUri: "sip:out@127.0.0.1", sdp: "v=0\r\n" });
      second.catch(() => {});
      await readUntil(conn, "INVITE");
      const junk = enc.encode(`SIP/2.0 180 Ringing\r\nX-Junk: ${"y".repeat(70_000)}`);
      await writeAll(conn, junk).catch(() => {}); // the UA may close while we write
      await assertRejects(() => second, Error, "lost");
      const buf = new Uint8Array(65536);
      while (await conn.read(buf).catch(() => null) !== null) {
        // drain until the UA's close arrives
      }
      assert(
        log.some((l) => l.includes("sip connection closed: message too large")),
        "the disconnection is logged",
      );
    } finally {
      conn.close();
      await ua.close();
    }
  });
  server.close();
});

Deno.test("ESL outbound listener: a connection from an address outside ESL_OUTBOUND_ALLOW is closed at once, before any command, and logged", async () => {
  const endpoint = new MsrpEndpoint({ port: 0 });
  await capturingLog(async (log) => {
    for (const [rules, allowed] of [["127.0.0.0/8, ::1", true], ["10.0.0.0/8", false]] as const) {
      const server = new EslOutboundServer({
        endpoint,
        port: 0,
        allow: parseAddressRules(rules),
        logger: new Logger("warn"),
      }).listen();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      try {
        const n = await conn.read(new Uint8Array(64));
        if (allowed) {
          // The premise: from an allowed address the server starts with `connect`.
          assert(n !== null && n > 0, "an allowed connection gets the connect command");
        } else {
          assertEquals(n, null, "a refused connection is closed without a byte");
          assert(
            log.some((l) =>
              l.includes("esl outbound connection refused") && l.includes("127.0.0.1")
            ),
            "the refusal is logged",
          );
        }
      } finally {
        conn.close();
        await server.close();
      }
    }
  });
  await endpoint.close();
});
