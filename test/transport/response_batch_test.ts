/**
 * Responses produced while one read is parsed leave in one write: the
 * receiver answers a burst of pipelined SENDs with all its 200s together,
 * in order.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { encodeRequest, encodeResponse } from "../../src/msrp/serializer.ts";
import type { FrameHead } from "../../src/msrp/message.ts";
import { concatBytes } from "../../src/msrp/parser.ts";
import { MsrpConnection } from "../../src/transport/mod.ts";
import { CountingConn, FrameCollector, sendRequest, tcpPair } from "./_support.ts";
import { withDeadline } from "../_until.ts";

const enc = new TextEncoder();

// Counts reads that returned data, besides the writes CountingConn counts.
class ReadCountingConn extends CountingConn {
  reads = 0;
  override async read(p: Uint8Array): Promise<number | null> {
    const n = await super.read(p);
    if (n) this.reads++;
    return n;
  }
}

Deno.test("MsrpConnection: 200s for many frames of one read go out in one write, in order", async () => {
  const [clientSocket, serverSocket] = await tcpPair("127.0.0.1");
  const server = new ReadCountingConn(serverSocket);
  let head: FrameHead | undefined;
  // Answers each SEND at its end-line, as the session's Link does.
  const connection: MsrpConnection = new MsrpConnection(server, {
    head: (h) => head = h,
    body: () => {},
    end: () => {
      if (head?.kind !== "request") return;
      connection.send([encodeResponse({
        transactionId: head.transactionId,
        status: 200,
        toPath: [head.fromPath[0]],
        fromPath: [head.toPath[0]],
      })]);
    },
    error: () => {},
  });
  const answers = new FrameCollector();
  const client = new MsrpConnection(clientSocket, answers);
  const count = 64;
  const frames = Array.from(
    { length: count },
    (_, i) => concatBytes(encodeRequest(sendRequest(i, enc.encode(`message ${i}`)))),
  );
  await client.send([concatBytes(frames)]); // one write of 64 frames
  await withDeadline(answers.until(() => answers.frames.length === count), "all 200s");
  assertEquals(
    answers.frames.map((f) => [f.head.transactionId, f.head.kind === "response" && f.head.status]),
    Array.from({ length: count }, (_, i) => [`tx${String(i).padStart(6, "0")}`, 200]),
  );
  assert(server.writes >= 1);
  assert(
    server.writes <= server.reads,
    `${server.writes} writes of 200s for ${server.reads} reads: at most one per read`,
  );
  client.close();
  connection.close();
  await withDeadline(Promise.all([client.closed, connection.closed]), "close");
});
