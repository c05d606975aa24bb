/**
 * Hostile input against a live MSRP listener: seeded random and mutated
 * frames on real connections. Bounded: FUZZ_ROUNDS connections (300 by
 * default; raise it for longer runs).
 */
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { type IncomingMessage, MsrpEndpoint } from "../../src/session/mod.ts";
import { concatBytes, encodeRequest, newTransactionId } from "../../src/msrp/mod.ts";

const ROUNDS = Number(Deno.env.get("FUZZ_ROUNDS") ?? 300);
const enc = new TextEncoder();

function validSend(to: string, rng: Random): Uint8Array {
  const body = rng.bytes(rng.int(0, 300));
  return concatBytes(encodeRequest({
    transactionId: newTransactionId(),
    method: rng.pick(["SEND", "REPORT", "NICKNAME", "AUTH"]),
    toPath: [to],
    fromPath: ["msrp://127.0.0.1:9/fuzzer;tcp"],
    headers: [["Message-ID", `m${rng.int(0, 1e6)}`], [
      "Byte-Range",
      `1-${body.length}/${body.length}`,
    ]],
    contentType: "application/octet-stream",
    body,
  }));
}

function hostile(to: string, rng: Random): Uint8Array {
  switch (rng.int(0, 3)) {
    case 0:
      return rng.bytes(rng.int(1, 4096));
    case 1: {
      const frame = validSend(to, rng);
      for (let k = rng.int(1, 6); k > 0; k--) frame[rng.int(0, frame.length - 1)] = rng.int(0, 255);
      return frame;
    }
    case 2:
      return enc.encode(`MSRP ${"x".repeat(rng.int(1, 2000))} SEND\r\n`);
    default:
      return enc.encode(
        `MSRP abcd1234 SEND\r\nTo-Path: ${to}\r\n${"X-Junk: y\r\n".repeat(rng.int(1, 200))}`,
      );
  }
}

Deno.test("fuzz: hostile frames never crash or hang the listener, and it keeps serving", async () => {
  const endpoint = new MsrpEndpoint({
    port: 0,
    parserLimits: { maxHeaderBytes: 1024, maxHeaderCount: 32 },
    session: { maxMessageBytes: 64 * 1024 },
    idleTimeoutMs: 2000,
  }).listen();
  const session = endpoint.createSession({ multiConnection: true });
  const rng = new Random(0x5eed);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: endpoint.port });
      const pieces = [hostile(session.localUri, rng), hostile(session.localUri, rng)];
      try {
        for (const p of pieces) await conn.write(p);
      } catch {
        // the listener may already have closed a connection whose framing was lost
      }
      // Every connection ends: answered and closed by us, or closed by the listener.
      conn.closeWrite().catch(() => {});
      const buf = new Uint8Array(65536);
      const deadline = setTimeout(() => conn.close(), 10_000); // hang guard only
      try {
        while ((await conn.read(buf)) !== null) { /* drain answers */ }
      } catch {
        // reset by the listener
      }
      clearTimeout(deadline);
      try {
        conn.close();
      } catch {
        // already closed by the hang guard
      }
    }
    // The listener still serves a well-behaved client.
    const peer = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const a = peer.createSession();
      const got = new Promise<IncomingMessage>((resolve) =>
        session.addEventListener(
          "message",
          (e) => resolve((e as unknown as { message: IncomingMessage }).message),
          { once: true },
        )
      );
      await peer.connectSession(a, [session.localUri]);
      assertEquals((await a.send("still alive").done).status, "sent");
      assertEquals((await got).text(), "still alive");
    } finally {
      await peer.close();
    }
    assert(endpoint.connectionCount <= 2, `connections left open: ${endpoint.connectionCount}`);
  } finally {
    await endpoint.close();
  }
});

Deno.test("slow-loris: a peer trickling a frame head one byte at a time is cut after the head deadline", async () => {
  const endpoint = new MsrpEndpoint({ port: 0, headTimeoutMs: 300 }).listen();
  const session = endpoint.createSession();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: endpoint.port });
  try {
    const head = enc.encode(
      `MSRP slow1234 SEND\r\nTo-Path: ${session.localUri}\r\nFrom-Path: msrp://x:1/y;tcp\r\n`,
    );
    let cut = false;
    // One byte every 50 ms: never idle, but the head never completes in time.
    for (const byte of head) {
      try {
        await conn.write(Uint8Array.of(byte));
      } catch {
        cut = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
      if (endpoint.connectionCount === 0) {
        cut = true;
        break;
      }
    }
    assert(cut, "the listener closed the connection before the head completed");
    const buf = new Uint8Array(16);
    const read = await conn.read(buf).catch(() => null);
    assertEquals(read, null);
  } finally {
    conn.close();
    await endpoint.close();
  }
});
