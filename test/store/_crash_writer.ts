/**
 * Writes to a store in a loop until killed, for the crash-recovery test.
 * After each round it prints the round number: everything written in that
 * round is committed by then. Usage: `_crash_writer.ts <dataDir>`.
 *
 * @module
 */

import { SqliteStore } from "../../src/store/mod.ts";

const store = SqliteStore.open(Deno.args[0]);
const encoder = new TextEncoder();
const filler = "x".repeat(2000);

for (let round = 0;; round++) {
  if (round % 50 === 0) {
    await store.insertSession({
      id: `s${round}`,
      direction: "in",
      localUri: `msrp://127.0.0.1:2855/s${round};tcp`,
      state: "active",
    });
  }
  const sessionId = `s${round - round % 50}`;
  await store.insertMessage({
    id: `out-${round}`,
    sessionId,
    direction: "out",
    messageId: `o${round}`,
    status: "queued",
    contentType: "text/plain",
  });
  await store.updateMessage(`out-${round}`, { status: round % 3 === 0 ? "sent" : "sending" });
  await store.insertMessage({
    id: `in-${round}`,
    sessionId,
    direction: "in",
    messageId: `i${round}`,
    status: "receiving",
    contentType: "text/plain",
  });
  if (round % 2 === 0) {
    await store.updateMessage(`in-${round}`, { status: "received", bytes: round });
  }
  await store.appendEvent("message.received", { round, filler }, { webhook: true });
  Deno.stdout.writeSync(encoder.encode(`${round}\n`));
}
