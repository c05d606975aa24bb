import { assert, assertEquals, assertRejects } from "../_assert.ts";
import {
  type NewMessage,
  openPostgresStore,
  openStore,
  type Store,
  StoreError,
} from "../../src/store/mod.ts";
import { connect } from "../../src/store/_pg_pool.ts";
import { migrate, PG_MIGRATIONS } from "../../src/store/_pg_schema.ts";
import { MIGRATIONS } from "../../src/store/_schema.ts";
import { scratchSchema, skipUnlessPostgres } from "../_postgres.ts";
import { tempDir } from "./_support.ts";

const skip = await skipUnlessPostgres("postgres_test");

/** A test against a fresh schema, with a data directory; skipped without PostgreSQL. */
function pgTest(name: string, fn: (url: string, dir: string) => Promise<void>): void {
  Deno.test({
    name: `postgres store: ${name}`,
    ignore: skip !== undefined,
    async fn() {
      await using pg = (await scratchSchema())!;
      await using dir = await tempDir();
      await fn(pg.url, dir.path);
    },
  });
}

/** Opens stores on `url`, one per instance id, closed by `await using`. */
async function stores(url: string, dir: string, ...instances: string[]) {
  const opened = await Promise.all(
    instances.map((instanceId) => openPostgresStore(url, `${dir}/${instanceId}`, { instanceId })),
  );
  return Object.assign(opened, {
    async [Symbol.asyncDispose]() {
      await Promise.all(opened.map((s) => s.close()));
    },
  });
}

const message = (sessionId: string, direction: "in" | "out", status: NewMessage["status"]) => ({
  sessionId,
  direction,
  messageId: crypto.randomUUID(),
  status,
  contentType: "text/plain",
});

pgTest(
  "the schema has SQLite's version; bridges opening at once migrate it once",
  async (url, dir) => {
    assertEquals(PG_MIGRATIONS.length, MIGRATIONS.length);
    await using opened = await stores(url, dir, "a", "b", "c", "d", "e");
    for (const store of opened) assertEquals(await store.schemaVersion(), MIGRATIONS.length);
    const pool = connect(url, 1);
    try {
      const rows = await pool`SELECT version FROM schema_version`;
      assertEquals(rows.map((r) => r.version), [MIGRATIONS.length]);
      assertEquals(await migrate(pool), 0);
    } finally {
      await pool.end();
    }
  },
);

pgTest("an old database is migrated with its rows; a newer one is refused", async (url, dir) => {
  const pool = connect(url, 1);
  try {
    assertEquals(await migrate(pool, PG_MIGRATIONS.slice(0, 2)), 2);
    await pool`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
      VALUES ('s1', 'active', 'in', 'u', '["msrp://b/x;tcp"]', 5)`;
    await pool`INSERT INTO messages (id, session_id, direction, message_id, status, content_type,
        bytes, created_at, updated_at)
      VALUES ('m1', 's1', 'in', 'x', 'received', 'text/plain', 42, 5, 5)`;
  } finally {
    await pool.end();
  }
  {
    await using opened = await stores(url, dir, "a");
    const session = await opened[0].getSession("s1");
    assertEquals([session?.remotePath, session?.messagesIn, session?.bytesIn, session?.kind], [
      ["msrp://b/x;tcp"],
      1,
      42,
      "chat",
    ]);
  }
  const newer = connect(url, 1);
  try {
    await migrate(newer, [...PG_MIGRATIONS, "SELECT 1"]);
  } finally {
    await newer.end();
  }
  const e = await assertRejects(() => openPostgresStore(url, dir), StoreError);
  assertEquals(e.code, "schema-too-new");
});

pgTest("a key is claimed exactly once across two stores", async (url, dir) => {
  await using opened = await stores(url, dir, "a", "b");
  const keys = Array.from({ length: 100 }, (_, i) => `call:${i}`);
  const results = await Promise.all(
    keys.flatMap((key) =>
      opened.map(async (store) => [key, store.instanceId, await store.claim(key)] as const)
    ),
  );
  for (const key of keys) {
    const winners = results.filter(([k, , won]) => k === key && won);
    assertEquals(winners.length, 1, key);
  }
  assertEquals(await opened[0].claim("call:0"), false);
  assertEquals(await opened[1].claim("call:0"), false);
});

pgTest("two stores claiming deliveries never take the same one", async (url, dir) => {
  await using opened = await stores(url, dir, "a", "b");
  const total = 200;
  for (let i = 0; i < total; i++) await opened[i % 2].enqueueWebhook("x", { i });
  const taken = new Map<string, number[]>([["a", []], ["b", []]]);
  await Promise.all(opened.flatMap((store) =>
    [0, 1, 2].map(async () => {
      for (;;) {
        const batch = await store.claimWebhooks(Date.now() + 1000, 7, Date.now() + 3_600_000);
        if (batch.length === 0) return;
        for (const w of batch) {
          assertEquals(w.attempts, 1);
          taken.get(store.instanceId)!.push(w.id);
        }
      }
    })
  ));
  const all = [...taken.get("a")!, ...taken.get("b")!];
  assertEquals(all.length, total);
  assertEquals(new Set(all).size, total);
  assert(taken.get("a")!.length > 0 && taken.get("b")!.length > 0, "both stores took some");
});

pgTest(
  "events of two writers are read in one order without gaps while they are written",
  async (url, dir) => {
    await using opened = await stores(url, dir, "a", "b", "reader");
    const [a, b, reader] = opened;
    const perWriter = 150;
    let writing = true;
    const seen: number[] = [];
    const poll = (async () => {
      let last = 0;
      for (;;) {
        const done = !writing; // read once more after the writers finish
        const batch = await reader.eventsSince(last, 25);
        for (const event of batch) {
          seen.push(event.seq);
          last = event.seq;
        }
        if (done && batch.length === 0) return;
      }
    })();
    // Some appends sit in transactions that commit a little later: without the
    // event lock, a later seq would commit (and be read) before an earlier one.
    const write = (store: Store, worker: number) =>
      (async () => {
        for (let i = worker; i < perWriter; i += 5) {
          if (i % 3 === 0) {
            await store.transaction(async (tx) => {
              await tx.appendEvent("x", { by: store.instanceId, i }, { webhook: i % 2 === 0 });
              await new Promise((resolve) => setTimeout(resolve, i % 4));
            });
          } else {
            await store.appendEvent("x", { by: store.instanceId, i }, { webhook: false });
          }
        }
      })();
    await Promise.all([a, b].flatMap((store) => [0, 1, 2, 3, 4].map((w) => write(store, w))));
    writing = false;
    await poll;
    const all = (await reader.eventsSince(0, 1000)).map((e) => e.seq);
    assertEquals(all.length, 2 * perWriter);
    assertEquals(seen, all);
    assertEquals(await reader.lastEventSeq(), all[all.length - 1]);
  },
);

pgTest(
  "recovery ends only this instance's sessions, messages and leased deliveries",
  async (url, dir) => {
    await using opened = await stores(url, dir, "a", "b");
    const [a, b] = opened;
    for (const store of opened) {
      const id = `s-${store.instanceId}`;
      await store.insertSession({ id, direction: "in", localUri: "u", state: "active" });
      await store.insertMessage({
        ...message(id, "out", "sending"),
        id: `out-${store.instanceId}`,
      });
      const path = store.contentPath(`in-${store.instanceId}`);
      await Deno.writeFile(path, new Uint8Array(store === a ? 10 : 20));
      await store.insertMessage({
        ...message(id, "in", "receiving"),
        id: `in-${store.instanceId}`,
        contentPath: path,
      });
      await store.enqueueWebhook("x", { by: store.instanceId });
      const [claimed] = await store.claimWebhooks(Date.now(), 1, Date.now() + 3_600_000);
      assertEquals(JSON.parse(claimed.payload).by, store.instanceId);
    }
    const recovery = await a.recoverAfterRestart();
    assertEquals(
      [recovery.failedMessages, recovery.endedSessions, recovery.resumedWebhooks],
      [2, 1, 1],
    );
    assertEquals(recovery.messages.map((m) => [m.id, m.status, m.bytes]).sort(), [
      ["in-a", "partial", 10],
      ["out-a", "failed", 0],
    ]);
    assertEquals((await b.getSession("s-b"))?.state, "active");
    assertEquals((await b.getMessage("out-b"))?.status, "sending");
    assertEquals((await b.getMessage("in-b"))?.status, "receiving");
    assertEquals(await b.nextWebhookAttemptAt() !== undefined, true);
    const due = await b.claimWebhooks(Date.now(), 10, Date.now() + 1000);
    assertEquals(due.map((w) => JSON.parse(w.payload).by), ["a"]);
    assertEquals([await a.storedContentBytes(), await b.storedContentBytes()], [10, 0]);
    await b.updateMessage("in-b", { status: "received", bytes: 20 });
    assertEquals([await a.storedContentBytes(), await b.storedContentBytes()], [10, 20]);
  },
);

pgTest("int8 columns come back as numbers, as SQLite gives them", async (url, dir) => {
  await using opened = await stores(url, dir, "a");
  const [store] = opened;
  const big = 2 ** 40 + 7;
  await store.insertSession({ id: "s", direction: "in", localUri: "u", createdAt: big });
  const m = await store.insertMessage({
    ...message("s", "in", "received"),
    size: big,
    bytes: big,
    createdAt: big,
  });
  assertEquals([m.size, m.bytes, m.createdAt, m.updatedAt], [big, big, big, big]);
  const session = (await store.getSession("s"))!;
  assertEquals([session.createdAt, session.messagesIn, session.bytesIn], [big, 1, big]);
  const event = await store.appendEvent("x", {}, { webhook: true });
  const [w] = await store.claimWebhooks(Number.MAX_SAFE_INTEGER, 1, big);
  const backlog = await store.webhookBacklog();
  const values = [
    event.seq,
    event.createdAt,
    w.id,
    w.attempts,
    w.nextAttemptAt,
    await store.lastEventSeq(),
    await store.nextWebhookAttemptAt(),
    backlog.pending,
    backlog.oldestPendingAt,
    await store.storedContentBytes(),
    await store.schemaVersion(),
  ];
  for (const value of values) assertEquals(typeof value, "number", String(values));
  assertEquals([w.nextAttemptAt, await store.nextWebhookAttemptAt()], [big, big]);
});

pgTest("errors are StoreErrors that never show the password", async (url, dir) => {
  const password = new URL(url).password;
  assert(password.length > 0, "PG_TEST_URL has a password");
  const shown: StoreError[] = [];
  const wrong = new URL(url);
  wrong.password = "not-the-password-1234";
  shown.push(await assertRejects(() => openPostgresStore(wrong.href, dir), StoreError));
  const refused = new URL(url);
  refused.port = "1";
  shown.push(await assertRejects(() => openPostgresStore(refused.href, dir), StoreError));
  const broken = url.replace("@", "@[");
  shown.push(await assertRejects(() => openPostgresStore(broken, dir), StoreError));
  await using opened = await stores(url, dir, "a");
  const [store] = opened;
  const orphan = await assertRejects(
    () => store.insertMessage(message("no-such-session", "in", "received")),
    StoreError,
  );
  assertEquals(orphan.code, "invalid-argument");
  shown.push(orphan);
  for (const e of shown) {
    const text = `${Deno.inspect(e)} ${JSON.stringify(e)}`;
    for (const secret of [password, wrong.password]) {
      assert(!text.includes(secret), `a secret in ${text}`);
    }
    assert(e.message.includes("PostgreSQL"), e.message);
  }
  assertEquals(shown.slice(0, 2).map((e) => e.code), ["unavailable", "unavailable"]);
});

pgTest("ping wants a writable database; a closed store rejects with closed", async (url, dir) => {
  await using opened = await stores(url, dir, "a");
  const [store] = opened;
  await store.ping();
  const readOnly = new URL(url);
  readOnly.searchParams.set("default_transaction_read_only", "on");
  const ro = await openPostgresStore(readOnly.href, dir);
  try {
    assertEquals((await assertRejects(() => ro.ping(), StoreError)).code, "unavailable");
  } finally {
    await ro.close();
  }
  await store.close();
  assertEquals((await assertRejects(() => store.ping(), StoreError)).code, "closed");
  await store.close();
});

pgTest(
  "a transaction commits together, joins an outer one, and rejects with fn's own error",
  async (url, dir) => {
    await using opened = await stores(url, dir, "a", "b");
    const [a, b] = opened;
    const boom = new Error("boom");
    const e = await assertRejects(() =>
      a.transaction(async (tx) => {
        await tx.appendEvent("x", {}, { webhook: true });
        throw boom;
      })
    );
    assert(e === boom);
    assertEquals([await a.lastEventSeq(), (await a.webhookBacklog()).pending], [0, 0]);
    let seenOutside = -1;
    await a.transaction(async (tx) => {
      await tx.appendEvent("x", {}, { webhook: false });
      await tx.transaction((inner) => inner.enqueueWebhook("x", {}));
      seenOutside = (await b.webhookBacklog()).pending;
    });
    assertEquals(seenOutside, 0);
    assertEquals([(await b.eventsSince(0, 10)).length, (await b.webhookBacklog()).pending], [1, 1]);
  },
);

pgTest("session counters: is-composing in any case counts nowhere", async (url, dir) => {
  await using opened = await stores(url, dir, "a");
  const [store] = opened;
  await store.insertSession({ id: "s", direction: "in", localUri: "u" });
  for (const contentType of ["text/plain", "Application/IM-IsComposing+XML; charset=utf-8"]) {
    const m = await store.insertMessage({ ...message("s", "out", "sending"), contentType });
    await store.updateMessage(m.id, { status: "sent", bytes: 5 });
    await store.updateMessage(m.id, { status: "delivered" });
    await store.insertMessage({ ...message("s", "in", "partial"), contentType });
  }
  const s = (await store.getSession("s"))!;
  assertEquals(
    [s.messagesIn, s.bytesIn, s.messagesOut, s.bytesOut, s.messagesFailed],
    [0, 0, 1, 5, 1],
  );
});

pgTest(
  "instances beat, own their rows, and a lost one is taken over by exactly one other",
  async (url, dir) => {
    let clock = 1000;
    const open = (instanceId: string) =>
      openPostgresStore(url, `${dir}/${instanceId}`, { instanceId, now: () => clock });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map(open));
    try {
      for (const store of [a, b, c]) await store.heartbeat(`http://${store.instanceId}`, true);
      await a.insertSession({ id: "s-a", direction: "in", localUri: "u", channelUuid: "chan-1" });
      await a.updateSession("s-a", { state: "active" });
      await a.insertMessage({ ...message("s-a", "out", "sending"), id: "m-a" });
      await a.enqueueWebhook("x", {});
      await a.claimWebhooks(clock, 1, 90_000);
      assertEquals([await b.sessionOwner("s-a"), await b.messageOwner("m-a")], ["a", "a"]);
      assertEquals([await b.sessionOwner("none"), await b.messageOwner("none")], [
        undefined,
        undefined,
      ]);

      clock = 5000; // a stops beating; b and c go on
      await b.heartbeat("http://b", false);
      await c.heartbeat("http://c", false);
      assertEquals([await b.lostInstances(4000), await c.lostInstances(4000)], [["a"], ["a"]]);
      const results = await Promise.all([b, c].map((s) => s.takeOver("a", 4000, "instance lost")));
      const winners = results.filter((r) => r !== undefined);
      assertEquals(winners.length, 1);
      const [won] = winners;
      assertEquals(
        [
          won.endedSessions,
          won.failedMessages,
          won.resumedWebhooks,
          won.sessions.map((s) => s.channelUuid),
        ],
        [1, 1, 1, ["chan-1"]],
      );
      assertEquals((await c.getSession("s-a"))?.endReason, "instance lost");
      const taken = (await c.instance("a"))!;
      assertEquals([taken.url, taken.heartbeatAt, taken.startedAt], ["http://a", 1000, 1000]);
      assert(taken.takenOverBy === "b" || taken.takenOverBy === "c");
      assertEquals(await b.lostInstances(4000), []);

      clock = 6000; // a starts again: the take-over is cleared
      await a.heartbeat("http://a2", true);
      assertEquals(await c.instance("a"), {
        id: "a",
        url: "http://a2",
        startedAt: 6000,
        heartbeatAt: 6000,
        takenOverBy: null,
      });
      assertEquals(await b.takeOver("a", 4000, "again"), undefined);
    } finally {
      await Promise.all([a, b, c].map((s) => s.close()));
    }
  },
);

pgTest("openStore with a database URL opens the PostgreSQL store", async (url, dir) => {
  const store = await openStore(dir, { databaseUrl: url, instanceId: "bridge-a" });
  try {
    assertEquals([store.kind, store.dataDir, store.instanceId], ["postgres", dir, "bridge-a"]);
    assertEquals(await store.schemaVersion(), MIGRATIONS.length);
    assert((await Deno.stat(`${dir}/content`)).isDirectory);
  } finally {
    await store.close();
  }
});
