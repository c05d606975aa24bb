import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { openStore, SqliteStore, type Store, StoreError } from "../../src/store/mod.ts";
import { migrate, MIGRATIONS } from "../../src/store/_schema.ts";
import { storeSuite, tempDir, tempStore } from "./_support.ts";

const forEachStore = await storeSuite("store_test");

function pragma(db: DatabaseSync, name: string): unknown {
  return Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
}

/** The names of the columns of `table`. */
function columns(db: DatabaseSync, table: string): string[] {
  return db.prepare(`PRAGMA table_info(${table})`).all().map((c) => String(c.name));
}

/** How many events are logged and deliveries pending. */
async function logAndOutbox(store: Store): Promise<[number, number]> {
  return [(await store.eventsSince(0, 100)).length, (await store.webhookBacklog()).pending];
}

/** Resolves after the event loop has run what was ready (timers included), without a deadline. */
function aTurnOfTheEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("store: a database from before file transfers gains kind, file and hash_verified", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/msrp-bridge.db`;
  const old = new DatabaseSync(path);
  migrate(old, MIGRATIONS.slice(0, 4));
  old.prepare(`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
    VALUES ('s1', 'ended', 'in', 'msrp://a/s1;tcp', '[]', 5)`).run();
  old.prepare(`INSERT INTO messages (id, session_id, direction, message_id, status,
      content_type, bytes, created_at, updated_at)
    VALUES ('m1', 's1', 'in', 'x', 'received', 'text/plain', 2, 5, 5)`).run();
  old.close();

  await using store = SqliteStore.open(dir.path);
  const session = (await store.getSession("s1"))!;
  assertEquals([session.kind, "file" in session], ["chat", false]);
  assertEquals("hashVerified" in (await store.getMessage("m1"))!, false);
  const file = {
    name: "a.txt",
    type: "text/plain",
    size: 2,
    hash: { algorithm: "sha-1", value: "AA:BB" },
    transferId: "t1",
    disposition: null,
    date: null,
  };
  const transfer = await store.insertSession({
    id: "s2",
    direction: "in",
    localUri: "msrp://a/s2;tcp",
    file,
  });
  assertEquals([transfer.kind, transfer.file], ["file-transfer", file]);
  assertEquals((await store.getSession("s2"))?.file, file);
  assertEquals((await store.updateMessage("m1", { hashVerified: false })).hashVerified, false);
  assertEquals((await store.updateMessage("m1", { hashVerified: true })).hashVerified, true);
});

Deno.test("store: a database from before several instances gains instance_id, claimed_by and claims", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/msrp-bridge.db`;
  const old = new DatabaseSync(path);
  migrate(old, MIGRATIONS.slice(0, 5));
  old.prepare(`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
    VALUES ('s1', 'active', 'in', 'msrp://a/s1;tcp', '[]', 5)`).run();
  old.prepare(`INSERT INTO webhook_outbox (type, payload, created_at, next_attempt_at)
    VALUES ('session.started', '{"id":"old"}', 5, 5)`).run();
  old.close();

  {
    await using store = SqliteStore.open(dir.path, { instanceId: "bridge-a", now: () => 10 });
    assertEquals(await store.schemaVersion(), MIGRATIONS.length);
    assertEquals((await store.getSession("s1"))?.state, "active");
    await store.insertSession({ id: "s2", direction: "out", localUri: "msrp://a/s2;tcp" });
    const claimed = await store.claimWebhooks(10, 10, 1000);
    assertEquals(claimed.map((w) => [w.payload, w.attempts]), [['{"id":"old"}', 1]]);
    assertEquals(await store.claim("call:c1"), true);
    assertEquals(await store.claim("call:c1"), false);
  }

  const db = new DatabaseSync(path);
  try {
    assert(columns(db, "sessions").includes("instance_id"));
    assert(columns(db, "webhook_outbox").includes("claimed_by"));
    assertEquals(columns(db, "claims"), ["key", "instance_id", "created_at"]);
    // Rows from before have no owner; rows written since are this instance's.
    assertEquals(
      db.prepare("SELECT id, instance_id FROM sessions ORDER BY id").all()
        .map((r) => [r.id, r.instance_id]),
      [["s1", null], ["s2", "bridge-a"]],
    );
    assertEquals(
      db.prepare("SELECT claimed_by FROM webhook_outbox").all().map((r) => r.claimed_by),
      ["bridge-a"],
    );
    assertEquals(
      db.prepare("SELECT key, instance_id, created_at FROM claims").all()
        .map((r) => [r.key, r.instance_id, r.created_at]),
      [["call:c1", "bridge-a", 10]],
    );
  } finally {
    db.close();
  }
});

Deno.test("store: opening creates the directory, WAL mode and the current schema", async () => {
  await using dir = await tempDir();
  const dataDir = `${dir.path}/nested/data`;
  const store = SqliteStore.open(dataDir);
  assertEquals(await store.schemaVersion(), MIGRATIONS.length);
  assert(Deno.statSync(`${dataDir}/content`).isDirectory);
  await store.close();
  const db = new DatabaseSync(`${dataDir}/msrp-bridge.db`);
  assertEquals(pragma(db, "journal_mode"), "wal");
  assertEquals(pragma(db, "page_size"), 1024);
  db.close();
});

Deno.test("store: a database created with other pages keeps its page size", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/msrp-bridge.db`;
  const old = new DatabaseSync(path);
  old.exec("PRAGMA page_size = 4096");
  old.exec("PRAGMA journal_mode = WAL");
  migrate(old, MIGRATIONS.slice(0, 1));
  old.close();
  const store = SqliteStore.open(dir.path);
  assertEquals(await store.schemaVersion(), MIGRATIONS.length);
  await store.close();
  const db = new DatabaseSync(path);
  assertEquals(pragma(db, "page_size"), 4096);
  db.close();
});

Deno.test("store: openStore without a database URL opens the SQLite store in the data directory", async () => {
  await using dir = await tempDir();
  const store = await openStore(dir.path, { instanceId: "bridge-a" });
  try {
    assertEquals([store.kind, store.dataDir, store.instanceId], ["sqlite", dir.path, "bridge-a"]);
    assertEquals(await store.schemaVersion(), MIGRATIONS.length);
    assert(Deno.statSync(`${dir.path}/msrp-bridge.db`).isFile);
  } finally {
    await store.close();
  }
});

Deno.test("store: an old-version database is migrated, reopening is a no-op", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/msrp-bridge.db`;
  const old = new DatabaseSync(path);
  assertEquals(migrate(old, MIGRATIONS.slice(0, 1)), 1);
  old.prepare(`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
    VALUES ('s1', 'active', 'in', 'msrp://a/s1;tcp', '["msrp://b/x;tcp"]', 5)`).run();
  old.close();

  const store = SqliteStore.open(dir.path);
  assertEquals(await store.schemaVersion(), MIGRATIONS.length);
  assertEquals((await store.getSession("s1"))?.remotePath, ["msrp://b/x;tcp"]);
  assertEquals((await store.enqueueWebhook("session.started", { id: "e1" })).id, 1);
  await store.close();

  const again = new DatabaseSync(path);
  assertEquals(migrate(again), 0);
  again.close();
  await using reopened = SqliteStore.open(dir.path);
  assertEquals((await reopened.webhookBacklog()).pending, 1);
  assertEquals((await reopened.getSession("s1"))?.state, "active");
});

Deno.test("store: a database of a newer schema is refused", async () => {
  await using dir = await tempDir();
  const db = new DatabaseSync(`${dir.path}/msrp-bridge.db`);
  migrate(db, [...MIGRATIONS, () => {}]);
  db.close();
  const e = await assertRejects(() => openStore(dir.path), StoreError);
  assertEquals(e.code, "schema-too-new");
});

forEachStore("store: a closed store rejects calls with closed", async (backend) => {
  await using t = await tempStore({}, backend);
  const store = t.store;
  await store.ping();
  await store.close();
  assertEquals((await assertRejects(() => store.ping(), StoreError)).code, "closed");
  assertEquals((await assertRejects(() => store.getSession("s1"), StoreError)).code, "closed");
});

forEachStore("store: sessions are inserted, updated, read and listed in pages", async (backend) => {
  await using t = await tempStore({ now: () => 1000 }, backend);
  const s = await t.store.insertSession({
    id: "sess-1",
    direction: "in",
    localUri: "msrp://127.0.0.1:2855/sess-1;tcp",
    fromUri: "sip:alice@pbx",
    toUri: "sip:1000@pbx",
    fromDisplay: "Alice",
    callId: "abc@pbx",
    channelUuid: "chan-a",
  });
  assertEquals(s, {
    id: "sess-1",
    kind: "chat",
    state: "pending",
    direction: "in",
    localUri: "msrp://127.0.0.1:2855/sess-1;tcp",
    remotePath: [],
    fromUri: "sip:alice@pbx",
    toUri: "sip:1000@pbx",
    fromDisplay: "Alice",
    callId: "abc@pbx",
    channelUuid: "chan-a",
    otherLegUuid: null,
    sipStatus: null,
    hangupCause: null,
    createdAt: 1000,
    endedAt: null,
    endReason: null,
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    messagesFailed: 0,
  });
  const active = await t.store.updateSession("sess-1", {
    state: "active",
    remotePath: ["msrp://10.0.0.1:2855/x;tcp"],
    otherLegUuid: "chan-b",
  });
  assertEquals(
    [active.state, active.remotePath, active.otherLegUuid, active.fromUri],
    ["active", ["msrp://10.0.0.1:2855/x;tcp"], "chan-b", "sip:alice@pbx"],
  );
  const ended = await t.store.updateSession("sess-1", {
    state: "ended",
    endedAt: 2000,
    endReason: "hangup",
    hangupCause: "NORMAL_CLEARING",
    sipStatus: 200,
  });
  assertEquals(await t.store.getSession("sess-1"), ended);
  assertEquals(await t.store.getSession("nope"), undefined);
  assertEquals(
    (await assertRejects(() => t.store.updateSession("nope", {}), StoreError)).code,
    "not-found",
  );
  assertEquals(
    (await assertRejects(() =>
      t.store.insertSession({ id: "../x", direction: "out", localUri: "u" })
    )).name,
    "StoreError",
  );

  for (let i = 0; i < 5; i++) {
    await t.store.insertSession({
      id: `s${i}`,
      direction: "out",
      localUri: `u${i}`,
      state: "active",
    });
  }
  const first = await t.store.listSessions({ limit: 2 });
  assertEquals(first.items.map((x) => x.id), ["s4", "s3"]);
  const second = await t.store.listSessions({ limit: 2, cursor: first.nextCursor });
  assertEquals(second.items.map((x) => x.id), ["s2", "s1"]);
  const third = await t.store.listSessions({ limit: 2, cursor: second.nextCursor });
  assertEquals([third.items.map((x) => x.id), third.nextCursor], [["s0", "sess-1"], undefined]);
  assertEquals(
    (await t.store.listSessions({ state: "ended" })).items.map((x) => x.id),
    ["sess-1"],
  );
  assertEquals(
    (await assertRejects(() => t.store.listSessions({ limit: 0 }), StoreError)).code,
    "invalid-argument",
  );
  assertEquals(
    (await assertRejects(() => t.store.listSessions({ cursor: "x" }), StoreError)).code,
    "invalid-argument",
  );
});

forEachStore(
  "store: messages are inserted, updated, read and listed per session",
  async (backend) => {
    let clock = 10;
    await using t = await tempStore({ now: () => clock }, backend);
    await t.store.insertSession({ id: "a", direction: "out", localUri: "ua" });
    await t.store.insertSession({ id: "b", direction: "out", localUri: "ub" });
    const m = await t.store.insertMessage({
      id: "m1",
      sessionId: "a",
      direction: "out",
      messageId: "msrp-1",
      status: "queued",
      contentType: "text/plain",
      size: 5,
      text: "hello",
    });
    assertEquals(m, {
      id: "m1",
      sessionId: "a",
      direction: "out",
      messageId: "msrp-1",
      status: "queued",
      contentType: "text/plain",
      size: 5,
      bytes: 0,
      sha256: null,
      contentPath: null,
      text: "hello",
      errorCode: null,
      errorReason: null,
      createdAt: 10,
      updatedAt: 10,
    });
    clock = 20;
    const failed = await t.store.updateMessage("m1", {
      status: "failed",
      bytes: 3,
      errorCode: 408,
      errorReason: "no response within the timeout",
    });
    assertEquals(
      [failed.status, failed.bytes, failed.errorCode, failed.createdAt, failed.updatedAt],
      ["failed", 3, 408, 10, 20],
    );
    assertEquals(await t.store.getMessage("m1"), failed);
    for (let i = 2; i <= 4; i++) {
      await t.store.insertMessage({
        id: `m${i}`,
        sessionId: i === 3 ? "b" : "a",
        direction: "in",
        messageId: `in-${i}`,
        status: "received",
        contentType: "text/plain",
      });
    }
    const page = await t.store.listMessages("a", { limit: 1 });
    assertEquals(page.items.map((x) => x.id), ["m1"]);
    assertEquals(
      (await t.store.listMessages("a", { cursor: page.nextCursor })).items.map((x) => x.id),
      ["m2", "m4"],
    );
    assertEquals((await t.store.listMessages("b")).items.map((x) => x.id), ["m3"]);
    await assertRejects(() =>
      t.store.insertMessage({
        sessionId: "missing",
        direction: "in",
        messageId: "x",
        status: "received",
        contentType: "text/plain",
      })
    );
    assertEquals(t.store.contentPath("m1"), `${t.dir}/content/m1`);
    assertEquals(
      assertThrows(() => t.store.contentPath("a/b"), StoreError).code,
      "invalid-argument",
    );
  },
);

forEachStore("store: the event log is read from a position, in order", async (backend) => {
  await using t = await tempStore({}, backend);
  for (let i = 1; i <= 5; i++) {
    await t.store.appendEvent("message.received", { n: i }, { webhook: false });
  }
  const all = await t.store.eventsSince(0, 100);
  assertEquals(all.map((e) => JSON.parse(e.payload).n), [1, 2, 3, 4, 5]);
  const rest = await t.store.eventsSince(all[1].seq, 2);
  assertEquals(rest.map((e) => [e.type, JSON.parse(e.payload).n]), [
    ["message.received", 3],
    ["message.received", 4],
  ]);
  assertEquals(await t.store.eventsSince(all[4].seq, 10), []);
});

forEachStore(
  "store: lastEventSeq is 0 for an empty log, then the position of the newest event",
  async (backend) => {
    await using t = await tempStore({}, backend);
    assertEquals(await t.store.lastEventSeq(), 0);
    const first = await t.store.appendEvent("session.started", { n: 1 }, { webhook: false });
    assertEquals(await t.store.lastEventSeq(), first.seq);
    await t.store.appendEvent("session.ended", { n: 2 }, { webhook: true });
    const last = await t.store.appendEvent("session.started", { n: 3 }, { webhook: false });
    assert(last.seq > first.seq);
    assertEquals(await t.store.lastEventSeq(), last.seq);
    assertEquals((await t.store.eventsSince(0, 10)).at(-1)?.seq, last.seq);
    assertEquals(await t.store.eventsSince(await t.store.lastEventSeq(), 10), []);
  },
);

forEachStore(
  "store: appendEvent with webhook false logs the event only; with true it also fills the outbox",
  async (backend) => {
    await using t = await tempStore({ now: () => 42 }, backend);
    const quiet = await t.store.appendEvent("pager.received", { n: 1 }, { webhook: false });
    assertEquals([quiet.type, JSON.parse(quiet.payload), quiet.createdAt], [
      "pager.received",
      { n: 1 },
      42,
    ]);
    assertEquals(await logAndOutbox(t.store), [1, 0]);
    assertEquals(await t.store.nextWebhookAttemptAt(), undefined);

    const loud = await t.store.appendEvent("message.received", { n: 2 }, { webhook: true });
    assertEquals(await logAndOutbox(t.store), [2, 1]);
    const [delivery] = await t.store.claimWebhooks(42, 10, 1000);
    assertEquals([delivery.type, delivery.payload, delivery.createdAt], [
      "message.received",
      loud.payload,
      42,
    ]);
  },
);

forEachStore(
  "store: a failing transaction rolls back an appended event and its outbox row together",
  async (backend) => {
    await using t = await tempStore({}, backend);
    await assertRejects(
      () =>
        t.store.transaction(async (tx) => {
          await tx.appendEvent("message.received", { n: 1 }, { webhook: true });
          assertEquals(await logAndOutbox(tx), [1, 1]);
          throw new Error("boom");
        }),
      Error,
      "boom",
    );
    assertEquals(await logAndOutbox(t.store), [0, 0]);
    assertEquals(await t.store.lastEventSeq(), 0);
  },
);

forEachStore(
  "store: the webhook outbox counts attempts, leases claimed deliveries and tracks failures and delivery",
  async (backend) => {
    let clock = 100;
    await using t = await tempStore({ now: () => clock }, backend);
    const a = await t.store.enqueueWebhook("session.started", { id: "a" });
    const b = await t.store.enqueueWebhook("session.ended", { id: "b" });
    assertEquals([a.nextAttemptAt, a.attempts, a.payload], [100, 0, '{"id":"a"}']);
    assertEquals(await t.store.claimWebhooks(99, 10, 5000), []);

    // Claimed: one attempt counted, leased until 5000, not claimed again meanwhile.
    const [started] = await t.store.claimWebhooks(100, 1, 5000);
    assertEquals([started.id, started.attempts, started.nextAttemptAt], [a.id, 1, 5000]);
    assertEquals(
      (await t.store.claimWebhooks(100, 10, 5000)).map((w) => [w.id, w.attempts]),
      [[b.id, 1]],
    );
    assertEquals(await t.store.claimWebhooks(4999, 10, 6000), []);
    await t.store.markWebhookFailed(a.id, "HTTP 500", 300);
    assertEquals(await t.store.nextWebhookAttemptAt(), 300);
    clock = 150;
    await t.store.markWebhookDelivered(b.id);
    assertEquals(await t.store.nextWebhookAttemptAt(), 300);
    assertEquals(await t.store.webhookBacklog(), {
      pending: 1,
      exhausted: 0,
      oldestPendingAt: 100,
    });
    assertEquals(await t.store.claimWebhooks(299, 10, 5000), []);
    assertEquals(
      (await t.store.claimWebhooks(300, 10, 5000)).map((w) => [w.id, w.lastError, w.attempts]),
      [[a.id, "HTTP 500", 2]],
    );

    // An attempt that never reports back (a crash) is due again when its lease ends.
    assertEquals(await t.store.claimWebhooks(4999, 10, 9000), []);
    assertEquals(
      (await t.store.claimWebhooks(5000, 10, 9000)).map((w) => [w.id, w.attempts, w.nextAttemptAt]),
      [[a.id, 3, 9000]],
    );
    await t.store.markWebhookFailed(a.id, "HTTP 503", null);

    // Given up (a) and delivered (b): never claimed again.
    assertEquals(await t.store.claimWebhooks(1e15, 10, 2e15), []);
    assertEquals(await t.store.webhookBacklog(), {
      pending: 0,
      exhausted: 1,
      oldestPendingAt: null,
    });
    assertEquals(await t.store.nextWebhookAttemptAt(), undefined);
  },
);

forEachStore(
  "store: claimWebhooks takes the longest-waiting deliveries first, up to the limit",
  async (backend) => {
    let clock = 100;
    await using t = await tempStore({ now: () => clock }, backend);
    const x = await t.store.enqueueWebhook("message.received", { id: "x" });
    clock = 200;
    const y = await t.store.enqueueWebhook("message.received", { id: "y" });
    clock = 300;
    const z = await t.store.enqueueWebhook("message.received", { id: "z" });
    assertEquals((await t.store.claimWebhooks(300, 1, 1000)).map((w) => w.id), [x.id]);
    // x's retry is due at 250: y has waited since 200, x since 250, z since 300.
    await t.store.markWebhookFailed(x.id, "HTTP 500", 250);
    assertEquals((await t.store.claimWebhooks(300, 2, 2000)).map((w) => w.id), [y.id, x.id]);
    assertEquals((await t.store.claimWebhooks(300, 10, 2000)).map((w) => w.id), [z.id]);
  },
);

forEachStore(
  "store: claim(key) is true for the first claim of a key and false after",
  async (backend) => {
    await using t = await tempStore({}, backend);
    assertEquals(await t.store.claim("call:uuid-1"), true);
    assertEquals(await t.store.claim("call:uuid-1"), false);
    assertEquals(await t.store.claim("call:uuid-1"), false);
    assertEquals(await t.store.claim("call:uuid-2"), true);
    assertEquals(await t.store.claim("call:uuid-2"), false);
  },
);

forEachStore(
  "store: pruneClaims forgets the claims made before the cut-off, and a forgotten key can be claimed again",
  async (backend) => {
    let clock = 1_000;
    await using t = await tempStore({ now: () => clock }, backend);
    assertEquals(await t.store.claim("call:old"), true);
    clock = 5_000;
    assertEquals(await t.store.claim("call:new"), true);
    assertEquals(await t.store.pruneClaims(5_000), 1);
    assertEquals(await t.store.claim("call:old"), true);
    assertEquals(await t.store.claim("call:new"), false);
    assertEquals(await t.store.pruneClaims(0), 0);
  },
);

forEachStore(
  "store: a claim made in a failing transaction is rolled back with it",
  async (backend) => {
    await using t = await tempStore({}, backend);
    await assertRejects(() =>
      t.store.transaction(async (tx) => {
        assertEquals(await tx.claim("call:uuid-1"), true);
        throw new Error("boom");
      })
    );
    assertEquals(await t.store.claim("call:uuid-1"), true);
  },
);

forEachStore("store: a transaction commits together or not at all", async (backend) => {
  await using t = await tempStore({}, backend);
  await assertRejects(() =>
    t.store.transaction(async (tx) => {
      await tx.appendEvent("x", {}, { webhook: false });
      await tx.enqueueWebhook("x", {});
      throw new Error("boom");
    })
  );
  assertEquals(await logAndOutbox(t.store), [0, 0]);
  const result = await t.store.transaction(async (tx) => {
    await tx.appendEvent("x", {}, { webhook: false });
    await tx.transaction((inner) => inner.enqueueWebhook("x", {}));
    return "done";
  });
  assertEquals(result, "done");
  assertEquals(await logAndOutbox(t.store), [1, 1]);
});

Deno.test("store (SQLite): a caller outside an open transaction waits for its commit and then sees its writes", async () => {
  await using dir = await tempDir();
  await using store = SqliteStore.open(dir.path);
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const transaction = store.transaction(async (tx) => {
    await tx.insertSession({ id: "s1", direction: "in", localUri: "u", state: "active" });
    entered.resolve();
    await release.promise;
    // The outside write has not run inside the transaction.
    assertEquals(await logAndOutbox(tx), [0, 0]);
  });
  await entered.promise;
  let answered = false;
  const outsideRead = store.getSession("s1").then((s) => {
    answered = true;
    return s;
  });
  const outsideWrite = store.appendEvent("session.started", { id: "s1" }, { webhook: true });
  await aTurnOfTheEventLoop();
  assertEquals(answered, false);

  release.resolve();
  await transaction;
  assertEquals((await outsideRead)?.state, "active");
  assertEquals((await outsideWrite).type, "session.started");
  assertEquals(await logAndOutbox(store), [1, 1]);
});

Deno.test("store (SQLite): a caller outside a transaction that rolls back is not run in it nor rolled back with it", async () => {
  await using dir = await tempDir();
  await using store = SqliteStore.open(dir.path);
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const transaction = store.transaction(async (tx) => {
    await tx.insertSession({ id: "s1", direction: "in", localUri: "u", state: "active" });
    entered.resolve();
    await release.promise;
    assertEquals(await logAndOutbox(tx), [0, 0]);
    throw new Error("boom");
  });
  await entered.promise;
  let answered = false;
  const outsideRead = store.getSession("s1").then((s) => {
    answered = true;
    return s;
  });
  const outsideWrite = store.appendEvent("session.started", { id: "s2" }, { webhook: true });
  const outsideClaim = store.claim("call:uuid-1");
  await aTurnOfTheEventLoop();
  assertEquals(answered, false);

  release.resolve();
  await assertRejects(() => transaction, Error, "boom");
  // Had the read run inside the transaction it would have seen s1, which never committed.
  assertEquals(await outsideRead, undefined);
  await outsideWrite;
  assertEquals(await outsideClaim, true);
  assertEquals(await store.getSession("s1"), undefined);
  assertEquals(await logAndOutbox(store), [1, 1]);
  assertEquals(await store.claim("call:uuid-1"), false);
});

Deno.test("store (SQLite): transactions started together run one after the other", async () => {
  await using dir = await tempDir();
  await using store = SqliteStore.open(dir.path);
  const order: string[] = [];
  const run = (name: string) =>
    store.transaction(async (tx) => {
      order.push(`${name} begins`);
      await tx.appendEvent(name, {}, { webhook: false });
      await aTurnOfTheEventLoop();
      await tx.enqueueWebhook(name, {});
      order.push(`${name} ends`);
    });
  await Promise.all([run("a"), run("b"), run("c")]);
  assertEquals(order, ["a begins", "a ends", "b begins", "b ends", "c begins", "c ends"]);
  assertEquals(await logAndOutbox(store), [3, 3]);
});

forEachStore(
  "store: recovery fails unfinished sends, marks receptions partial, ends sessions",
  async (backend) => {
    await using t = await tempStore({ now: () => 7 }, backend);
    const s = t.store;
    await s.insertSession({ id: "p", direction: "out", localUri: "u", state: "pending" });
    await s.insertSession({ id: "a", direction: "in", localUri: "u", state: "active" });
    await s.insertSession({ id: "e", direction: "in", localUri: "u", state: "ended" });
    const statuses = [
      ["out", "queued"],
      ["out", "sending"],
      ["out", "sent"],
      ["out", "delivered"],
      ["in", "receiving"],
      ["in", "received"],
    ] as const;
    for (const [i, [direction, status]] of statuses.entries()) {
      await s.insertMessage({
        id: `m${i}`,
        sessionId: "a",
        direction,
        messageId: `x${i}`,
        status,
        contentType: "text/plain",
      });
    }
    const recovery = await s.recoverAfterRestart();
    assertEquals([recovery.failedMessages, recovery.endedSessions], [3, 2]);
    assertEquals(
      await Promise.all(statuses.map(async (_, i) => (await s.getMessage(`m${i}`))?.status)),
      ["failed", "failed", "sent", "delivered", "partial", "received"],
    );
    assertEquals((await s.getMessage("m4"))?.errorReason, "interrupted by restart");
    assertEquals(
      await Promise.all(["p", "a", "e"].map(async (id) => {
        const session = await s.getSession(id);
        return [session?.state, session?.endReason];
      })),
      [["ended", "interrupted by restart"], ["ended", "interrupted by restart"], ["ended", null]],
    );
    // The changed rows come back as stored, for the events that tell of them.
    assertEquals(recovery.messages.map((m) => m.id).sort(), ["m0", "m1", "m4"]);
    assertEquals(await Promise.all(recovery.messages.map((m) => s.getMessage(m.id))), [
      ...recovery.messages,
    ]);
    assertEquals(recovery.sessions.map((r) => r.id).sort(), ["a", "p"]);
    assertEquals(await Promise.all(recovery.sessions.map((r) => s.getSession(r.id))), [
      ...recovery.sessions,
    ]);
    assertEquals(await s.recoverAfterRestart(), {
      failedMessages: 0,
      endedSessions: 0,
      messages: [],
      sessions: [],
      resumedWebhooks: 0,
    });
  },
);

forEachStore(
  "store: recovery records the length of a partial reception's content file as its bytes",
  async (backend) => {
    await using t = await tempStore({}, backend);
    const s = t.store;
    await s.insertSession({ id: "a", direction: "in", localUri: "u", state: "active" });
    const kept = s.contentPath("kept");
    await Deno.writeFile(kept, new Uint8Array(12345));
    const rows: [string, string | null][] = [["kept", kept], ["gone", s.contentPath("gone")], [
      "none",
      null,
    ]];
    for (const [id, contentPath] of rows) {
      await s.insertMessage({
        id,
        sessionId: "a",
        direction: "in",
        messageId: `x-${id}`,
        status: "receiving",
        contentType: "application/octet-stream",
        size: 1_000_000,
        contentPath,
      });
    }
    const recovery = await s.recoverAfterRestart();
    assertEquals(
      await Promise.all(rows.map(async ([id]) => {
        const message = await s.getMessage(id);
        return [message?.status, message?.bytes];
      })),
      [["partial", 12345], ["partial", 0], ["partial", 0]],
    );
    assertEquals(recovery.messages.find((m) => m.id === "kept")?.bytes, 12345);
    assertEquals((await Deno.readFile(kept)).length, 12345);
  },
);

forEachStore(
  "store: recovery makes leased and backed-off webhook deliveries due at once, not delivered or given-up ones",
  async (backend) => {
    let clock = 1000;
    await using t = await tempStore({ now: () => clock }, backend);
    const s = t.store;
    const leased = await s.enqueueWebhook("message.received", { id: "leased" });
    const backedOff = await s.enqueueWebhook("message.received", { id: "backed-off" });
    const delivered = await s.enqueueWebhook("message.received", { id: "delivered" });
    const givenUp = await s.enqueueWebhook("message.received", { id: "given-up" });
    // The process died during the attempt of `leased`.
    assertEquals(
      (await s.claimWebhooks(clock, 10, 81_000)).map((w) => w.id),
      [leased.id, backedOff.id, delivered.id, givenUp.id],
    );
    await s.markWebhookFailed(backedOff.id, "HTTP 500", 9000);
    await s.markWebhookDelivered(delivered.id);
    await s.markWebhookFailed(givenUp.id, "HTTP 500", null);
    // Without a recovery none of them would be taken at 2000.
    assertEquals(await s.claimWebhooks(2000, 10, 81_000), []);
    const due = await s.enqueueWebhook("message.received", { id: "due" });
    clock = 2000;

    assertEquals((await s.recoverAfterRestart()).resumedWebhooks, 2);
    // `due` has waited since 1000, the resumed ones since the restart at 2000.
    assertEquals(
      (await s.claimWebhooks(clock, 10, 90_000)).map((w) => [w.id, w.attempts]),
      [[due.id, 1], [leased.id, 2], [backedOff.id, 2]],
    );
    assertEquals(await s.webhookBacklog(), { pending: 3, exhausted: 1, oldestPendingAt: 1000 });
  },
);
