/**
 * What a sender is told about content the store could not write: over a real
 * MSRP session, a chunk whose bytes the `StoreSink` cannot write is answered
 * 413 with the reason (never 200), and the message row ends `failed` with it.
 *
 * @module
 */

import { assert, assertEquals } from "../_assert.ts";
import { type MessageRecord, StoreSink } from "../../src/store/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { tempStore } from "./_support.ts";

Deno.test("store sink: a chunk the content file cannot take is answered 413, not 200, and its row ends failed", async () => {
  await using t = await tempStore();
  // Nowhere to write content: the sink's file cannot be opened.
  await Deno.remove(`${t.dir}/content`, { recursive: true });
  const session = await t.store.insertSession({
    direction: "in",
    localUri: "msrp://127.0.0.1:2855/x;tcp",
  });
  const closed = Promise.withResolvers<MessageRecord>();
  const ea = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  try {
    const b = eb.createSession({
      sink: (info) => new StoreSink(t.store, session.id, info, { onClose: closed.resolve }),
    });
    const a = ea.createSession({ chunkSize: 4096 });
    await ea.connectSession(a, [b.localUri]);
    await b.ready;
    const sent = a.send(new Uint8Array(64 * 1024), { contentType: "application/octet-stream" });
    const result = await sent.done;
    assertEquals([result.status, result.code, result.bytesAcknowledged], ["failed", 413, 0]);
    assert(result.reason.startsWith("content not stored: "), result.reason);
    const row = await closed.promise;
    assertEquals(row.status, "failed");
    assert(row.errorReason?.startsWith("content not stored: "), row.errorReason ?? "");
    assertEquals(await t.store.getMessage(row.id), row);
  } finally {
    await ea.close();
    await eb.close();
  }
});
