/**
 * `Checkpointer`: the worker keeps a WAL database's `-wal` file bounded while
 * rows are written (measured on disk with `Deno.stat`, against a control
 * database whose WAL grows without it), and reports failures to its
 * callback. Checkpoints are awaited by polling the database file's size, with
 * a hang guard, never by sleeping.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../_assert.ts";
import { until, withDeadline } from "../_until.ts";
import { Checkpointer } from "../../src/store/mod.ts";
import { tempDir } from "./_support.ts";

const ROUNDS = 12;
const ROWS_PER_ROUND = 200;
const ROW = new Uint8Array(1024).fill(7);

/** A WAL database at `path` that never checkpoints by itself. */
function walDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA wal_autocheckpoint = 0");
  db.exec("CREATE TABLE t (x BLOB)");
  return db;
}

/** Writes one round of rows in one transaction. */
function writeRound(db: DatabaseSync): void {
  const insert = db.prepare("INSERT INTO t (x) VALUES (?)");
  db.exec("BEGIN");
  for (let i = 0; i < ROWS_PER_ROUND; i++) insert.run(ROW);
  db.exec("COMMIT");
}

/** Size of the database's content as the writer sees it (WAL included), in bytes. */
function logicalSize(db: DatabaseSync): number {
  const { page_count } = db.prepare("PRAGMA page_count").get() as { page_count: number };
  const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
  return page_count * page_size;
}

async function fileSize(path: string): Promise<number> {
  return (await Deno.stat(path)).size;
}

/**
 * True when every WAL frame has been copied into the database: the wal-index
 * (`-shm`, https://www.sqlite.org/walformat.html) says `nBackfill` (offset
 * 96) equals `mxFrame` (offset 16), both in native byte order. Read from the
 * file, which SQLite maps shared; the test's connection does not checkpoint.
 */
async function checkpointed(path: string): Promise<boolean> {
  const shm = await Deno.readFile(`${path}-shm`);
  const view = new DataView(shm.buffer, shm.byteOffset, shm.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const mxFrame = view.getUint32(16, little);
  return mxFrame > 0 && view.getUint32(96, little) === mxFrame;
}

Deno.test("checkpointer: premise — without it, the -wal file grows with every round written", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/control.db`;
  const db = walDatabase(path);
  try {
    writeRound(db);
    const first = await fileSize(`${path}-wal`);
    for (let round = 1; round < ROUNDS; round++) writeRound(db);
    const last = await fileSize(`${path}-wal`);
    assert(last > (ROUNDS / 2) * first, `the WAL grew from ${first} to only ${last} bytes`);
    assert((await fileSize(path)) < logicalSize(db), "the rows are still only in the WAL");
  } finally {
    db.close();
  }
});

Deno.test("checkpointer: the -wal file stays bounded while many rows are written", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bounded.db`;
  const db = walDatabase(path);
  const errors: string[] = [];
  const checkpointer = new Checkpointer(path, 5, (message) => errors.push(message));
  try {
    const walSizes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      writeRound(db);
      walSizes.push(await fileSize(`${path}-wal`));
      await until(() => checkpointed(path), `a checkpoint of round ${round}`, {
        timeoutMs: 30_000,
      });
      assert((await fileSize(path)) >= logicalSize(db), "the rows are in the database file");
    }
    assertEquals(errors, []);
    // After a complete checkpoint the next commit writes the WAL from its start again.
    const bound = 2 * walSizes[0];
    assert(walSizes.every((s) => s <= bound), `WAL sizes ${walSizes}, bound ${bound}`);
    const { n } = db.prepare("SELECT count(*) AS n FROM t").get() as { n: number };
    assertEquals(n, ROUNDS * ROWS_PER_ROUND);
  } finally {
    await withDeadline(checkpointer.stop(), "the checkpointer to stop", 30_000);
    db.close();
  }
});

Deno.test("checkpointer: a database it cannot open is reported to its callback, and stop still resolves", async () => {
  await using dir = await tempDir();
  const errors: string[] = [];
  const checkpointer = new Checkpointer(`${dir.path}/missing/dir/x.db`, 5, (m) => errors.push(m));
  await until(() => errors.length > 0, "the open failure to be reported", { timeoutMs: 30_000 });
  assert(/unable to open/i.test(errors[0]), errors[0]);
  await withDeadline(checkpointer.stop(), "the checkpointer to stop", 30_000);
});

Deno.test("checkpointer: a file that is not a database is reported to its callback, and stop still resolves", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/garbage.db`;
  await Deno.writeFile(path, new Uint8Array(4096).fill(0x5a));
  const errors: string[] = [];
  const checkpointer = new Checkpointer(path, 5, (m) => errors.push(m));
  await until(() => errors.length > 0, "the checkpoint failure to be reported", {
    timeoutMs: 30_000,
  });
  assert(/not a database/i.test(errors[0]), errors[0]);
  await withDeadline(checkpointer.stop(), "the checkpointer to stop", 30_000);
  assertEquals(
    await Deno.readFile(path),
    new Uint8Array(4096).fill(0x5a),
    "the file is left as it was",
  );
});
