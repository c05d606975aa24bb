import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { openStore, StoreError } from "../../src/store/mod.ts";
import { migrate, MIGRATIONS } from "../../src/store/_schema.ts";
import { tempDir, tempStore } from "./_support.ts";

function pragma(db: DatabaseSync, name: string): unknown {
  return Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
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

  const store = openStore(dir.path);
  const session = store.getSession("s1")!;
  assertEquals([session.kind, "file" in session], ["chat", false]);
  assertEquals("hashVerified" in store.getMessage("m1")!, false);
  const file = {
    name: "a.txt",
    type: "text/plain",
    size: 2,
    hash: { algorithm: "sha-1", value: "AA:BB" },
    transferId: "t1",
    disposition: null,
    date: null,
  };
  const transfer = store.insertSession({
    id: "s2",
    direction: "in",
    localUri: "msrp://a/s2;tcp",
    file,
  });
  assertEquals([transfer.kind, transfer.file], ["file-transfer", file]);
  assertEquals(store.getSession("s2")?.file, file);
  assertEquals(store.updateMessage("m1", { hashVerified: false }).hashVerified, false);
  assertEquals(store.updateMessage("m1", { hashVerified: true }).hashVerified, true);
  store.close();
});

Deno.test("store: opening creates the directory, WAL mode and the current schema", async () => {
  await using dir = await tempDir();
  const dataDir = `${dir.path}/nested/data`;
  const store = openStore(dataDir);
  assertEquals(store.schemaVersion, MIGRATIONS.length);
  assert(Deno.statSync(`${dataDir}/content`).isDirectory);
  store.close();
  const db = new DatabaseSync(`${dataDir}/msrp-bridge.db`);
  assertEquals(pragma(db, "journal_mode"), "wal");
  db.close();
});

Deno.test("store: an old-version database is migrated, reopening is a no-op", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/msrp-bridge.db`;
  const old = new DatabaseSync(path);
  assertEquals(migrate(old, MIGRATIONS.slice(0, 1)), 1);
  old.prepare(`INSERT INTO sessions (id, state, direction, local_uri, remote_path, created_at)
    VALUES ('s1', 'active', 'in', 'msrp://a/s1;tcp', '["msrp://b/x;tcp"]', 5)`).run();
  old.close();

  const store = openStore(dir.path);
  assertEquals(store.schemaVersion, MIGRATIONS.length);
  assertEquals(store.getSession("s1")?.remotePath, ["msrp://b/x;tcp"]);
  assertEquals(store.enqueueWebhook("session.started", { id: "e1" }).id, 1);
  store.close();

  const again = new DatabaseSync(path);
  assertEquals(migrate(again), 0);
  again.close();
  const reopened = openStore(dir.path);
  assertEquals(reopened.webhookBacklog().pending, 1);
  assertEquals(reopened.getSession("s1")?.state, "active");
  reopened.close();
});

Deno.test("store: a database of a newer schema is refused", async () => {
  await using dir = await tempDir();
  const db = new DatabaseSync(`${dir.path}/msrp-bridge.db`);
  migrate(db, [...MIGRATIONS, () => {}]);
  db.close();
  const e = assertThrows(() => openStore(dir.path), StoreError);
  assertEquals(e.code, "schema-too-new");
});

Deno.test("store: sessions are inserted, updated, read and listed in pages", async () => {
  await using t = await tempStore({ now: () => 1000 });
  const s = t.store.insertSession({
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
  const active = t.store.updateSession("sess-1", {
    state: "active",
    remotePath: ["msrp://10.0.0.1:2855/x;tcp"],
    otherLegUuid: "chan-b",
  });
  assertEquals(
    [active.state, active.remotePath, active.otherLegUuid, active.fromUri],
    ["active", ["msrp://10.0.0.1:2855/x;tcp"], "chan-b", "sip:alice@pbx"],
  );
  const ended = t.store.updateSession("sess-1", {
    state: "ended",
    endedAt: 2000,
    endReason: "hangup",
    hangupCause: "NORMAL_CLEARING",
    sipStatus: 200,
  });
  assertEquals(t.store.getSession("sess-1"), ended);
  assertEquals(t.store.getSession("nope"), undefined);
  assertEquals(assertThrows(() => t.store.updateSession("nope", {}), StoreError).code, "not-found");
  assertEquals(
    assertThrows(() => t.store.insertSession({ id: "../x", direction: "out", localUri: "u" }))
      .name,
    "StoreError",
  );

  for (let i = 0; i < 5; i++) {
    t.store.insertSession({ id: `s${i}`, direction: "out", localUri: `u${i}`, state: "active" });
  }
  const first = t.store.listSessions({ limit: 2 });
  assertEquals(first.items.map((x) => x.id), ["s4", "s3"]);
  const second = t.store.listSessions({ limit: 2, cursor: first.nextCursor });
  assertEquals(second.items.map((x) => x.id), ["s2", "s1"]);
  const third = t.store.listSessions({ limit: 2, cursor: second.nextCursor });
  assertEquals([third.items.map((x) => x.id), third.nextCursor], [["s0", "sess-1"], undefined]);
  assertEquals(t.store.listSessions({ state: "ended" }).items.map((x) => x.id), ["sess-1"]);
  assertEquals(
    assertThrows(() => t.store.listSessions({ limit: 0 }), StoreError).code,
    "invalid-argument",
  );
  assertEquals(
    assertThrows(() => t.store.listSessions({ cursor: "x" }), StoreError).code,
    "invalid-argument",
  );
});

Deno.test("store: messages are inserted, updated, read and listed per session", async () => {
  let clock = 10;
  await using t = await tempStore({ now: () => clock });
  t.store.insertSession({ id: "a", direction: "out", localUri: "ua" });
  t.store.insertSession({ id: "b", direction: "out", localUri: "ub" });
  const m = t.store.insertMessage({
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
  const failed = t.store.updateMessage("m1", {
    status: "failed",
    bytes: 3,
    errorCode: 408,
    errorReason: "no response within the timeout",
  });
  assertEquals(
    [failed.status, failed.bytes, failed.errorCode, failed.createdAt, failed.updatedAt],
    ["failed", 3, 408, 10, 20],
  );
  assertEquals(t.store.getMessage("m1"), failed);
  for (let i = 2; i <= 4; i++) {
    t.store.insertMessage({
      id: `m${i}`,
      sessionId: i === 3 ? "b" : "a",
      direction: "in",
      messageId: `in-${i}`,
      status: "received",
      contentType: "text/plain",
    });
  }
  const page = t.store.listMessages("a", { limit: 1 });
  assertEquals(page.items.map((x) => x.id), ["m1"]);
  assertEquals(
    t.store.listMessages("a", { cursor: page.nextCursor }).items.map((x) => x.id),
    ["m2", "m4"],
  );
  assertEquals(t.store.listMessages("b").items.map((x) => x.id), ["m3"]);
  assertThrows(() =>
    t.store.insertMessage({
      sessionId: "missing",
      direction: "in",
      messageId: "x",
      status: "received",
      contentType: "text/plain",
    })
  );
  assertEquals(t.store.contentPath("m1"), `${t.dir}/content/m1`);
  assertEquals(assertThrows(() => t.store.contentPath("a/b"), StoreError).code, "invalid-argument");
});

Deno.test("store: the event log is read from a position, in order", async () => {
  await using t = await tempStore();
  for (let i = 1; i <= 5; i++) t.store.appendEvent("message.received", { n: i });
  const all = t.store.eventsSince(0, 100);
  assertEquals(all.map((e) => JSON.parse(e.payload).n), [1, 2, 3, 4, 5]);
  const rest = t.store.eventsSince(all[1].seq, 2);
  assertEquals(rest.map((e) => [e.type, JSON.parse(e.payload).n]), [
    ["message.received", 3],
    ["message.received", 4],
  ]);
  assertEquals(t.store.eventsSince(all[4].seq, 10), []);
});

Deno.test("store: the webhook outbox tracks attempts, failures and delivery", async () => {
  let clock = 100;
  await using t = await tempStore({ now: () => clock });
  const a = t.store.enqueueWebhook("session.started", { id: "a" });
  const b = t.store.enqueueWebhook("session.ended", { id: "b" });
  assertEquals([a.nextAttemptAt, a.attempts, a.payload], [100, 0, '{"id":"a"}']);
  assertEquals(t.store.dueWebhooks(99, 10), []);
  assertEquals(t.store.dueWebhooks(100, 10).map((w) => w.id), [a.id, b.id]);

  const started = t.store.startWebhookAttempt(a.id, 5000);
  assertEquals([started?.attempts, started?.nextAttemptAt], [1, 5000]);
  assertEquals(t.store.dueWebhooks(100, 10).map((w) => w.id), [b.id]);
  t.store.markWebhookFailed(a.id, "HTTP 500", 300);
  assertEquals(t.store.nextWebhookAttemptAt(), 100);
  t.store.startWebhookAttempt(b.id, 5000);
  clock = 150;
  t.store.markWebhookDelivered(b.id);
  assertEquals(t.store.nextWebhookAttemptAt(), 300);
  assertEquals(t.store.webhookBacklog(), { pending: 1, exhausted: 0, oldestPendingAt: 100 });
  assertEquals(t.store.dueWebhooks(300, 10).map((w) => [w.id, w.lastError]), [[a.id, "HTTP 500"]]);

  t.store.startWebhookAttempt(a.id, 5000);
  t.store.markWebhookFailed(a.id, "HTTP 503", null);
  assertEquals(t.store.startWebhookAttempt(a.id, 6000), undefined);
  assertEquals(t.store.webhookBacklog(), { pending: 0, exhausted: 1, oldestPendingAt: null });
  assertEquals(t.store.nextWebhookAttemptAt(), undefined);
  assertEquals(t.store.dueWebhooks(1e15, 10), []);
});

Deno.test("store: a transaction commits together or not at all", async () => {
  await using t = await tempStore();
  assertThrows(() =>
    t.store.transaction(() => {
      t.store.appendEvent("x", {});
      t.store.enqueueWebhook("x", {});
      throw new Error("boom");
    })
  );
  assertEquals([t.store.eventsSince(0, 10).length, t.store.webhookBacklog().pending], [0, 0]);
  t.store.transaction(() => {
    t.store.appendEvent("x", {});
    t.store.transaction(() => t.store.enqueueWebhook("x", {}));
  });
  assertEquals([t.store.eventsSince(0, 10).length, t.store.webhookBacklog().pending], [1, 1]);
});

Deno.test("store: recovery fails unfinished sends, marks receptions partial, ends sessions", async () => {
  await using t = await tempStore({ now: () => 7 });
  const s = t.store;
  s.insertSession({ id: "p", direction: "out", localUri: "u", state: "pending" });
  s.insertSession({ id: "a", direction: "in", localUri: "u", state: "active" });
  s.insertSession({ id: "e", direction: "in", localUri: "u", state: "ended" });
  const statuses = [
    ["out", "queued"],
    ["out", "sending"],
    ["out", "sent"],
    ["out", "delivered"],
    ["in", "receiving"],
    ["in", "received"],
  ] as const;
  for (const [i, [direction, status]] of statuses.entries()) {
    s.insertMessage({
      id: `m${i}`,
      sessionId: "a",
      direction,
      messageId: `x${i}`,
      status,
      contentType: "text/plain",
    });
  }
  const recovery = s.recoverAfterRestart();
  assertEquals([recovery.failedMessages, recovery.endedSessions], [3, 2]);
  assertEquals(
    statuses.map((_, i) => s.getMessage(`m${i}`)?.status),
    ["failed", "failed", "sent", "delivered", "partial", "received"],
  );
  assertEquals(s.getMessage("m4")?.errorReason, "interrupted by restart");
  assertEquals(
    ["p", "a", "e"].map((id) => [s.getSession(id)?.state, s.getSession(id)?.endReason]),
    [["ended", "interrupted by restart"], ["ended", "interrupted by restart"], ["ended", null]],
  );
  // The changed rows come back as stored, for the events that tell of them.
  assertEquals(recovery.messages.map((m) => m.id).sort(), ["m0", "m1", "m4"]);
  assertEquals(recovery.messages.map((m) => s.getMessage(m.id)), [...recovery.messages]);
  assertEquals(recovery.sessions.map((r) => r.id).sort(), ["a", "p"]);
  assertEquals(recovery.sessions.map((r) => s.getSession(r.id)), [...recovery.sessions]);
  assertEquals(s.recoverAfterRestart(), {
    failedMessages: 0,
    endedSessions: 0,
    messages: [],
    sessions: [],
    resumedWebhooks: 0,
  });
});

Deno.test("store: recovery records the length of a partial reception's content file as its bytes", async () => {
  await using t = await tempStore();
  const s = t.store;
  s.insertSession({ id: "a", direction: "in", localUri: "u", state: "active" });
  const kept = s.contentPath("kept");
  await Deno.writeFile(kept, new Uint8Array(12345));
  const rows: [string, string | null][] = [["kept", kept], ["gone", s.contentPath("gone")], [
    "none",
    null,
  ]];
  for (const [id, contentPath] of rows) {
    s.insertMessage({
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
  const recovery = s.recoverAfterRestart();
  assertEquals(
    rows.map(([id]) => [s.getMessage(id)?.status, s.getMessage(id)?.bytes]),
    [["partial", 12345], ["partial", 0], ["partial", 0]],
  );
  assertEquals(recovery.messages.find((m) => m.id === "kept")?.bytes, 12345);
  assertEquals((await Deno.readFile(kept)).length, 12345);
});

Deno.test("store: recovery makes leased and backed-off webhook deliveries due at once, not delivered or given-up ones", async () => {
  let clock = 1000;
  await using t = await tempStore({ now: () => clock });
  const s = t.store;
  const leased = s.enqueueWebhook("message.received", { id: "leased" });
  const backedOff = s.enqueueWebhook("message.received", { id: "backed-off" });
  const due = s.enqueueWebhook("message.received", { id: "due" });
  const delivered = s.enqueueWebhook("message.received", { id: "delivered" });
  const givenUp = s.enqueueWebhook("message.received", { id: "given-up" });
  s.startWebhookAttempt(leased.id, 81_000); // the process died during this attempt
  s.startWebhookAttempt(backedOff.id, 81_000);
  s.markWebhookFailed(backedOff.id, "HTTP 500", 9000);
  s.startWebhookAttempt(delivered.id, 81_000);
  s.markWebhookDelivered(delivered.id);
  s.startWebhookAttempt(givenUp.id, 81_000);
  s.markWebhookFailed(givenUp.id, "HTTP 500", null);
  clock = 2000;
  assertEquals(s.dueWebhooks(clock, 10).map((w) => w.id), [due.id]);

  assertEquals(s.recoverAfterRestart().resumedWebhooks, 2);
  assertEquals(
    s.dueWebhooks(clock, 10).map((w) => [w.id, w.attempts]),
    [[due.id, 0], [leased.id, 1], [backedOff.id, 1]],
  );
  assertEquals(s.webhookBacklog(), { pending: 3, exhausted: 1, oldestPendingAt: 1000 });
});
