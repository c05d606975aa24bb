/**
 * The index of published files (RFC 5547 pulls), in SQLite and PostgreSQL:
 * recorded, listed, deleted, kept across a reopen, and counted in the
 * bytes the quota starts from.
 */

import { assertEquals } from "../_assert.ts";
import type { NewPublishedFile } from "../../src/store/mod.ts";
import { storeSuite, tempStore } from "./_support.ts";

const forEachStore = await storeSuite("published_test");

/** A published file `id` of `size` bytes. */
function file(id: string, size: number): NewPublishedFile {
  return {
    id,
    name: `${id}.pdf`,
    type: "application/pdf",
    size,
    hash: { algorithm: "sha-1", value: "72:24:5F" },
    disposition: id === "a" ? "attachment" : null,
    path: `/data/published/${id}`,
  };
}

forEachStore(
  "store published files: inserted, listed oldest first, kept across a reopen, deleted once, and counted in the stored bytes",
  async (backend) => {
    let now = 1_000;
    await using t = await tempStore({ now: () => now++, instanceId: "one" }, backend);
    const s = t.store;
    const before = await s.storedContentBytes();
    const a = await s.insertPublishedFile(file("a", 300));
    assertEquals(a, { ...file("a", 300), instanceId: "one", createdAt: a.createdAt });
    await s.insertPublishedFile(file("b", 200));
    assertEquals((await s.listPublishedFiles()).map((f) => f.id), ["a", "b"]);
    assertEquals(await s.storedContentBytes(), before + 500);

    const reopened = await t.reopen();
    assertEquals(await reopened.listPublishedFiles(), await s.listPublishedFiles());

    assertEquals((await s.deletePublishedFile("a"))?.id, "a");
    assertEquals(await s.deletePublishedFile("a"), undefined);
    assertEquals((await s.listPublishedFiles()).map((f) => f.id), ["b"]);
    assertEquals(await s.storedContentBytes(), before + 200);
  },
);
