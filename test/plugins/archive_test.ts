import { assertEquals } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import { createPluginMessage, type PluginMessage, PluginRunner } from "../../src/plugins/mod.ts";
import { archiveFileName, type ArchiveRecord, pruneArchive } from "../../plugins/archive.ts";
import { fakeSession, incoming } from "./_helpers.ts";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.parse("2025-05-07T10:00:00Z");

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "archive_test_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function archive(
  dir: string,
  clock: { now: number },
  env: Record<string, string> = {},
): Promise<PluginRunner> {
  return await PluginRunner.load(["archive"], {
    env: { PLUGIN_ARCHIVE_DIR: dir, ...env },
    now: () => clock.now,
    logger: new Logger("error"),
  });
}

async function read(dir: string, time: number): Promise<ArchiveRecord[]> {
  const text = await Deno.readTextFile(`${dir}/${archiveFileName(time)}`);
  return text.trimEnd().split("\n").map((line) => JSON.parse(line));
}

function sent(body: string, id: string): PluginMessage {
  return createPluginMessage({
    id,
    sessionId: "s1",
    direction: "out",
    contentType: "text/plain",
    body,
  });
}

Deno.test("archive: both directions go to the day file with metadata, text only when small", async () => {
  await using dir = await tempDir();
  const clock = { now: NOW };
  const session = fakeSession("s1", { from: "sip:alice@pbx", to: "sip:bob@pbx", callId: "c1" });
  {
    await using runner = await archive(dir.path, clock, { PLUGIN_ARCHIVE_MAX_TEXT_BYTES: "10" });
    await runner.message(session, incoming("hello", { id: "m1" }));
    await runner.message(session, incoming("x".repeat(11), { id: "m2" }));
    await runner.message(
      session,
      incoming(new Uint8Array(4), { id: "m3", contentType: "image/png" }),
    );
    await runner.message(session, incoming("par", { id: "m4", complete: false, size: 2 }));
    const delivery = { session, code: 200, reason: "", bytesSent: 3 };
    await runner.delivery({ ...delivery, message: sent("hey", "m5"), status: "sent" });
    await runner.delivery({
      ...delivery,
      message: sent("bye", "m6"),
      status: "failed",
      code: 481,
      reason: "session closed",
    });
  }
  const records = await read(dir.path, NOW);
  const common = {
    time: new Date(NOW).toISOString(),
    sessionId: "s1",
    from: "sip:alice@pbx",
    to: "sip:bob@pbx",
    callId: "c1",
  };
  assertEquals(records, [
    {
      ...common,
      messageId: "m1",
      direction: "in",
      contentType: "text/plain",
      size: 5,
      status: "received",
      text: "hello",
    },
    {
      ...common,
      messageId: "m2",
      direction: "in",
      contentType: "text/plain",
      size: 11,
      status: "received",
    },
    {
      ...common,
      messageId: "m3",
      direction: "in",
      contentType: "image/png",
      size: 4,
      status: "received",
    },
    {
      ...common,
      messageId: "m4",
      direction: "in",
      contentType: "text/plain",
      size: 2,
      status: "partial",
    },
    {
      ...common,
      messageId: "m5",
      direction: "out",
      contentType: "text/plain",
      size: 3,
      status: "sent",
      text: "hey",
    },
    {
      ...common,
      messageId: "m6",
      direction: "out",
      contentType: "text/plain",
      size: 3,
      status: "failed",
      code: 481,
      reason: "session closed",
      text: "bye",
    },
  ]);
});

Deno.test("archive: a new day starts a new file", async () => {
  await using dir = await tempDir();
  const clock = { now: NOW };
  {
    await using runner = await archive(dir.path, clock);
    await runner.message(fakeSession(), incoming("today"));
    clock.now += DAY;
    await runner.message(fakeSession(), incoming("tomorrow"));
  }
  assertEquals((await read(dir.path, NOW)).map((r) => r.text), ["today"]);
  assertEquals((await read(dir.path, NOW + DAY)).map((r) => r.text), ["tomorrow"]);
});

Deno.test("archive: files older than the retention are deleted at start, others kept", async () => {
  await using dir = await tempDir();
  const names = ["2025-04-05.jsonl", "2025-04-06.jsonl", "2025-05-07.jsonl", "notes.txt"];
  for (const name of names) await Deno.writeTextFile(`${dir.path}/${name}`, "{}\n");
  // Retention 31 days at 2025-05-07T10:00Z: all of 2025-04-05 is older, not all of 2025-04-06.
  {
    await using _runner = await archive(dir.path, { now: NOW }, {
      PLUGIN_ARCHIVE_RETENTION_DAYS: "31",
    });
  }
  const left = [];
  for await (const e of Deno.readDir(dir.path)) left.push(e.name);
  assertEquals(left.sort(), ["2025-04-06.jsonl", "2025-05-07.jsonl", "notes.txt"]);
  assertEquals(await pruneArchive(dir.path, 0, NOW + 2 * DAY), [
    "2025-04-06.jsonl",
    "2025-05-07.jsonl",
  ]);
});

Deno.test("archive: retention 0 keeps every file", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/2000-01-01.jsonl`, "{}\n");
  {
    await using _runner = await archive(dir.path, { now: NOW }, {
      PLUGIN_ARCHIVE_RETENTION_DAYS: "0",
    });
  }
  assertEquals((await Deno.stat(`${dir.path}/2000-01-01.jsonl`)).isFile, true);
});
