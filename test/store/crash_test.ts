import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../_assert.ts";
import { SqliteStore } from "../../src/store/mod.ts";
import { tempDir } from "./_support.ts";

const WRITER = new URL("./_crash_writer.ts", import.meta.url).pathname;
const ROUNDS_BEFORE_KILL = 300;

/** Calls `onRound` for each complete line of the child's output, to its end. */
async function readRounds(
  stdout: ReadableStream<Uint8Array>,
  onRound: (round: number) => void,
): Promise<void> {
  let pending = "";
  for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onRound(Number(line));
  }
}

Deno.test("store: a writer killed with SIGKILL loses nothing committed; recovery marks in-flight rows", async () => {
  await using dir = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-read=${dir.path}`,
      `--allow-write=${dir.path}`,
      WRITER,
      dir.path,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let last = -1;
  let killed = false;
  const hangGuard = setTimeout(() => child.kill("SIGKILL"), 120_000);
  await readRounds(child.stdout, (round) => {
    assertEquals(round, last + 1);
    last = round;
    if (!killed && round >= ROUNDS_BEFORE_KILL) {
      killed = true;
      child.kill("SIGKILL");
    }
  });
  const status = await child.status;
  clearTimeout(hangGuard);
  assertEquals(status.signal, "SIGKILL");
  assert(last >= ROUNDS_BEFORE_KILL, `writer stopped after round ${last}`);

  const db = new DatabaseSync(`${dir.path}/msrp-bridge.db`);
  const integrity = db.prepare("PRAGMA integrity_check").all().map((r) => r.integrity_check);
  assertEquals(integrity, ["ok"]);
  db.close();

  await using store = SqliteStore.open(dir.path);
  for (let round = 0; round <= last; round++) {
    const out = await store.getMessage(`out-${round}`);
    const inc = await store.getMessage(`in-${round}`);
    assertEquals(out?.status, round % 3 === 0 ? "sent" : "sending", `out-${round}`);
    assertEquals(inc?.status, round % 2 === 0 ? "received" : "receiving", `in-${round}`);
  }
  const events = await store.eventsSince(0, last + 10);
  assert(events.length >= last + 1, `${events.length} events for ${last + 1} rounds`);
  assertEquals(
    events.slice(0, last + 1).map((e) => JSON.parse(e.payload).round),
    Array.from({ length: last + 1 }, (_, i) => i),
  );
  // Each event and its outbox row commit together: as many deliveries as events.
  assertEquals((await store.webhookBacklog()).pending, events.length);
  assertEquals(await store.lastEventSeq(), events.at(-1)?.seq);

  const recovery = await store.recoverAfterRestart();
  const interrupted = (await store.listSessions({ limit: 1000 })).items;
  assertEquals(recovery.endedSessions, interrupted.length);
  assert(interrupted.every((s) => s.state === "ended" && s.endReason === "interrupted by restart"));
  assert(recovery.failedMessages >= last);
  for (let round = 0; round <= last; round++) {
    assertEquals(
      (await store.getMessage(`out-${round}`))?.status,
      round % 3 === 0 ? "sent" : "failed",
    );
    const inc = await store.getMessage(`in-${round}`);
    assertEquals(inc?.status, round % 2 === 0 ? "received" : "partial");
    if (round % 2 === 1) assertEquals(inc?.errorReason, "interrupted by restart");
  }
});
