import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertRejects } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  type Direction,
  type MessageRecord,
  type MessageStatus,
  type SessionCounts,
  SqliteStore,
  type Store,
  StoreSink,
} from "../../src/store/mod.ts";
import { migrate, MIGRATIONS } from "../../src/store/_schema.ts";
import type { IncomingMessageInfo, IncomingOutcome } from "../../src/session/incoming.ts";
import { storeSuite, tempDir, tempStore } from "./_support.ts";

const forEachStore = await storeSuite("counts_test");

const ZERO: SessionCounts = {
  messagesIn: 0,
  bytesIn: 0,
  messagesOut: 0,
  bytesOut: 0,
  messagesFailed: 0,
};

async function counts(store: Store, sessionId: string): Promise<SessionCounts> {
  const s = (await store.getSession(sessionId))!;
  return {
    messagesIn: s.messagesIn,
    bytesIn: s.bytesIn,
    messagesOut: s.messagesOut,
    bytesOut: s.bytesOut,
    messagesFailed: s.messagesFailed,
  };
}

/** The counts as the rule says, computed from message records. */
function countOf(messages: readonly MessageRecord[]): SessionCounts {
  const c = { ...ZERO };
  for (const m of messages) {
    if (/^application\/im-iscomposing\+xml/i.test(m.contentType)) continue;
    if (m.status === "failed" || m.status === "partial") c.messagesFailed++;
    else if (m.direction === "in" && m.status === "received") {
      c.messagesIn++;
      c.bytesIn += m.bytes;
    } else if (m.direction === "out" && (m.status === "sent" || m.status === "delivered")) {
      c.messagesOut++;
      c.bytesOut += m.bytes;
    }
  }
  return c;
}

function info(messageId: string, contentType: string, size: number): IncomingMessageInfo {
  return { messageId, contentType, size, headers: new Map() };
}

function outcome(bytes: number, complete: boolean): IncomingOutcome {
  return {
    complete,
    aborted: !complete,
    bytesReceived: bytes,
    ranges: bytes > 0 ? [[1, bytes]] : [],
    reason: complete ? "" : "aborted by sender",
  };
}

/** Receives `size` random bytes through a store sink, as a session does. */
async function receive(
  store: Store,
  sessionId: string,
  size: number,
  complete = true,
): Promise<MessageRecord> {
  const sink = new StoreSink(store, sessionId, info(crypto.randomUUID(), "image/png", size));
  const body = new Random(size).bytes(size);
  const got = complete ? size : Math.floor(size / 2);
  for (let offset = 0; offset < got; offset += 65536) {
    await sink.write(offset, body.subarray(offset, Math.min(got, offset + 65536)));
  }
  await sink.close(outcome(got, complete));
  return (await store.getMessage(sink.id))!;
}

async function send(store: Store, sessionId: string, size: number): Promise<string> {
  const message = await store.insertMessage({
    sessionId,
    direction: "out",
    messageId: crypto.randomUUID(),
    status: "queued",
    contentType: "text/plain",
    size,
  });
  return message.id;
}

forEachStore(
  "store counts: complete messages count with their bytes each way; failed and partial ones only as failed; is-composing never",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const s = t.store;
    const a = (await s.insertSession({ direction: "in", localUri: "msrp://127.0.0.1:2855/a;tcp" }))
      .id;
    const b = (await s.insertSession({ direction: "in", localUri: "msrp://127.0.0.1:2855/b;tcp" }))
      .id;
    assertEquals(await counts(s, a), ZERO);

    // A received file counts with its size once it is complete, not while it arrives.
    const sink = new StoreSink(s, a, info("file-1", "image/png", 300_001));
    await sink.write(0, new Uint8Array(200_000));
    assertEquals(await counts(s, a), ZERO);
    await sink.write(200_000, new Uint8Array(100_001));
    await sink.close(outcome(300_001, true));
    assertEquals(await counts(s, a), { ...ZERO, messagesIn: 1, bytesIn: 300_001 });

    // An is-composing indication (RFC 3994) is state, not a message: it counts nowhere.
    const typing = new StoreSink(s, a, info("typing", "application/im-iscomposing+xml", 200));
    await typing.write(0, new Uint8Array(200));
    await typing.close(outcome(200, true));
    assertEquals((await s.getMessage(typing.id))?.status, "received");
    assertEquals(await counts(s, a), { ...ZERO, messagesIn: 1, bytesIn: 300_001 });

    // A sent message counts when sent; its delivery REPORT does not count it twice.
    const out = await send(s, a, 500);
    await s.updateMessage(out, { status: "sending", bytes: 100 });
    assertEquals((await counts(s, a)).messagesOut, 0);
    await s.updateMessage(out, { status: "sent", bytes: 500 });
    await s.updateMessage(out, { status: "delivered" });
    assertEquals(await counts(s, a), {
      ...ZERO,
      messagesIn: 1,
      bytesIn: 300_001,
      messagesOut: 1,
      bytesOut: 500,
    });

    // A send that failed half-way and a reception cut short count as failed, bytes apart.
    const lost = await send(s, a, 800);
    await s.updateMessage(lost, { status: "sending", bytes: 400 });
    await s.updateMessage(lost, { status: "failed", errorCode: 408 });
    const cut = await receive(s, a, 10_000, false);
    assertEquals([cut.status, cut.bytes], ["partial", 5000]);
    assertEquals(await counts(s, a), {
      messagesIn: 1,
      bytesIn: 300_001,
      messagesOut: 1,
      bytesOut: 500,
      messagesFailed: 2,
    });
    assertEquals(await counts(s, a), countOf((await s.listMessages(a)).items));
    assertEquals(await counts(s, b), ZERO);

    // A listing carries the same counts as the row.
    const listed = (await s.listSessions()).items.find((x) => x.id === a)!;
    assertEquals(listed, await s.getSession(a));
  },
);

forEachStore(
  "store counts: a message row and its counts commit or roll back together",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const s = t.store;
    const a = (await s.insertSession({ direction: "out", localUri: "u" })).id;
    const m = await send(s, a, 3);
    await assertRejects(() =>
      s.transaction(async (tx) => {
        await tx.updateMessage(m, { status: "sent", bytes: 3 });
        assertEquals((await counts(tx, a)).messagesOut, 1);
        throw new Error("boom");
      })
    );
    assertEquals([(await s.getMessage(m))?.status, await counts(s, a)], ["queued", ZERO]);
  },
);

forEachStore(
  "store counts: messages a restart interrupted count as failed, and counts survive reopening",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const first = t.store;
    const a = (await first.insertSession({ direction: "in", localUri: "u", state: "active" })).id;
    const received = await receive(first, a, 70_000);
    const sending = await send(first, a, 9);
    await first.updateMessage(sending, { status: "sending", bytes: 4 });
    await first.insertMessage({
      sessionId: a,
      direction: "in",
      messageId: "arriving",
      status: "receiving",
      contentType: "text/plain",
      bytes: 6,
    });
    await first.close();

    const again = await t.reopen();
    assertEquals(await counts(again, a), { ...ZERO, messagesIn: 1, bytesIn: received.bytes });
    assertEquals((await again.recoverAfterRestart()).failedMessages, 2);
    assertEquals(await counts(again, a), {
      ...ZERO,
      messagesIn: 1,
      bytesIn: 70_000,
      messagesFailed: 2,
    });
  },
);

Deno.test("store counts: migrating a version-2 database fills the counts from its messages", async () => {
  await using dir = await tempDir();
  const db = new DatabaseSync(`${dir.path}/msrp-bridge.db`);
  migrate(db, MIGRATIONS.slice(0, 2));
  for (const id of ["s1", "s2", "s3"]) {
    db.prepare(`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
      VALUES (?, 'ended', 'in', 'u', '[]', 1)`).run(id);
  }
  const rows: [string, Direction, MessageStatus, number][] = [
    ["s1", "in", "received", 10],
    ["s1", "in", "received", 32],
    ["s1", "out", "delivered", 7],
    ["s1", "out", "sent", 5],
    ["s1", "out", "failed", 3],
    ["s1", "in", "partial", 2],
    ["s1", "out", "queued", 0],
    ["s2", "out", "sent", 1000],
  ];
  for (const [i, [session, direction, status, bytes]] of rows.entries()) {
    db.prepare(`INSERT INTO messages (id, session_id, direction, message_id, status,
        content_type, bytes, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, 'text/plain', ?, 1, 1)`)
      .run(`m${i}`, session, direction, `x${i}`, status, bytes);
  }
  db.close();

  await using store = SqliteStore.open(dir.path);
  assertEquals(await counts(store, "s1"), {
    messagesIn: 2,
    bytesIn: 42,
    messagesOut: 2,
    bytesOut: 12,
    messagesFailed: 2,
  });
  assertEquals(await counts(store, "s2"), { ...ZERO, messagesOut: 1, bytesOut: 1000 });
  assertEquals(await counts(store, "s3"), ZERO);
  await store.updateMessage("m6", { status: "sent", bytes: 8 });
  assertEquals((await counts(store, "s1")).bytesOut, 20);
});

forEachStore(
  "store counts: after random inserts and updates the counters equal a count of the rows",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const s = t.store;
    const random = new Random(4975);
    const sessions: string[] = [];
    for (const i of [0, 1, 2]) {
      sessions.push((await s.insertSession({ direction: "in", localUri: `u${i}` })).id);
    }
    const statuses: MessageStatus[] = [
      "queued",
      "sending",
      "sent",
      "delivered",
      "failed",
      "receiving",
      "received",
      "partial",
    ];
    const TYPES = [
      "application/octet-stream",
      "text/plain",
      "application/im-iscomposing+xml",
      "Application/IM-IsComposing+XML; charset=utf-8",
    ];
    const ids: string[] = [];
    for (let step = 0; step < 600; step++) {
      if (ids.length === 0 || random.next() < 0.4) {
        const message = await s.insertMessage({
          sessionId: random.pick(sessions),
          direction: random.pick(["in", "out"] as const),
          messageId: `x${step}`,
          status: random.pick(statuses),
          contentType: random.pick(TYPES),
          bytes: random.int(0, 1 << 20),
        });
        ids.push(message.id);
      } else {
        const id = random.pick(ids);
        const change = random.int(0, 2);
        await s.updateMessage(id, {
          status: change === 1 ? undefined : random.pick(statuses),
          bytes: change === 0 ? undefined : random.int(0, 1 << 20),
          errorReason: random.next() < 0.5 ? "x" : null,
        });
      }
    }
    for (const id of sessions) {
      assertEquals(
        await counts(s, id),
        countOf((await s.listMessages(id, { limit: 1000 })).items),
        id,
      );
    }
  },
);
