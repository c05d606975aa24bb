/**
 * `FileSink` with hostile Message-IDs, checked on disk in a temporary
 * directory: nothing is written outside the sink's directory, every name is
 * short and portable, and distinct Message-IDs never share a file (nor a
 * content file a sidecar). And its write contract: a write's promise settles
 * once its bytes are in the file, with no more bytes to come, or rejects.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { fileNameFor, FileSink, MsrpEndpoint, type SavedMessage } from "../../src/session/mod.ts";

const enc = new TextEncoder();

/** Longest content file name; its sidecar adds `.json`. */
const MAX_NAME = 128;

const HOSTILE_IDS = [
  "../x",
  "..",
  ".",
  "",
  "/abs",
  "/etc/passwd",
  "a/b",
  "a_b",
  "a\\b",
  "\u0000",
  "a\u0000b",
  "a\r\nb",
  "a".repeat(10_000),
  "a".repeat(9_999) + "b",
  "Msg",
  "msg",
  "MSG",
  "héllo",
  "hállo",
  "💬",
  "x",
  "x.json",
  "x.JSON",
  ".hidden",
  "~",
  "a+b=c%d", // RFC 4975 ident characters that are not file-name safe
];

/** The names in `dir` with their kind. */
async function listing(dir: string): Promise<Map<string, "file" | "dir" | "other">> {
  const names = new Map<string, "file" | "dir" | "other">();
  for await (const e of Deno.readDir(dir)) {
    names.set(e.name, e.isFile ? "file" : e.isDirectory ? "dir" : "other");
  }
  return names;
}

/** Writes `body` as one whole message through a FileSink in `dir`. */
async function save(dir: string, messageId: string, body: Uint8Array): Promise<SavedMessage> {
  let saved: SavedMessage | undefined;
  const sink = new FileSink(
    dir,
    { messageId, contentType: "text/plain", size: body.length, headers: new Map() },
    (s) => saved = s,
  );
  await sink.write(0, body);
  await sink.close({
    complete: true,
    aborted: false,
    bytesReceived: body.length,
    ranges: body.length ? [[1, body.length]] : [],
    reason: "",
  });
  assert(saved, "onDone was called");
  return saved;
}

/** A temporary root holding the sink's directory `in`; removed after `fn`. */
async function withDirs(fn: (root: string, dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "msrp-file-sink-" });
  try {
    await Deno.mkdir(`${root}/in`);
    await fn(root, `${root}/in`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("file sink: hostile Message-IDs all land inside the directory, each in its own short, portable file and sidecar", async () => {
  await withDirs(async (root, dir) => {
    const saved: SavedMessage[] = [];
    for (const [i, id] of HOSTILE_IDS.entries()) {
      saved.push(await save(dir, id, enc.encode(`body of message ${i}`)));
    }
    assertEquals([...await listing(root)], [["in", "dir"]], "nothing beside the directory");
    const files = await listing(dir);
    assertEquals(files.size, 2 * HOSTILE_IDS.length, "a file and a sidecar per message");
    for (const [name, kind] of files) {
      assertEquals(kind, "file", name);
      assert(/^[A-Za-z0-9._~-]+$/.test(name), `portable name ${JSON.stringify(name)}`);
      assert(!name.startsWith("."), `${name} is neither hidden, "." nor ".."`);
      assert(name.length <= MAX_NAME + ".json".length, `${name.length} characters`);
    }
    for (const [i, s] of saved.entries()) {
      const name = s.path.slice(dir.length + 1);
      assertEquals(s.path, `${dir}/${name}`, "the saved path is in the directory");
      assert(!name.includes("/") && name.length <= MAX_NAME, JSON.stringify(name));
      assert(!name.endsWith(".json"), `${name}: a content file never looks like a sidecar`);
      assertEquals(
        await Deno.readTextFile(s.path),
        `body of message ${i}`,
        `${JSON.stringify(HOSTILE_IDS[i].slice(0, 20))}: its own bytes, not overwritten`,
      );
      const sidecar = JSON.parse(await Deno.readTextFile(`${s.path}.json`));
      assertEquals(sidecar.messageId, HOSTILE_IDS[i]);
      assertEquals(sidecar.path, s.path);
    }
  });
});

Deno.test("file sink: fileNameFor is deterministic, bounded and one-to-one over hostile ids", () => {
  const names = HOSTILE_IDS.map(fileNameFor);
  assertEquals(HOSTILE_IDS.map(fileNameFor), names, "the same id gives the same name");
  assertEquals(new Set(names).size, HOSTILE_IDS.length);
  for (const name of names) assert(name.length > 0 && name.length <= MAX_NAME, name);
  // Long ids that share their first thousands of characters stay apart.
  const long = Array.from({ length: 50 }, (_, i) => `${"z".repeat(5000)}${i}`);
  assertEquals(new Set(long.map(fileNameFor)).size, long.length);
});

Deno.test("file sink: an RFC 4975 Message-ID of letters, digits, dots and dashes is the file name", () => {
  for (const id of ["87652491", "a786hjs2", "Msg-1.part.2", "x.jsonl"]) {
    assertEquals(fileNameFor(id), id);
  }
});

Deno.test("file sink: bytes out of order are placed by offset, and the sidecar's SHA-256 is the file's", async () => {
  await withDirs(async (_root, dir) => {
    const body = enc.encode("0123456789abcdefghij");
    let saved: SavedMessage | undefined;
    const sink = new FileSink(
      dir,
      { messageId: "ooo", contentType: "text/plain", size: body.length, headers: new Map() },
      (s) => saved = s,
    );
    await sink.write(10, body.subarray(10));
    await sink.write(0, body.subarray(0, 10));
    await sink.close({
      complete: true,
      aborted: false,
      bytesReceived: body.length,
      ranges: [[1, body.length]],
      reason: "",
    });
    assertEquals(await Deno.readFile(`${dir}/ooo`), body);
    const sha256 = createHash("sha256").update(body).digest("hex");
    assertEquals(saved?.sha256, sha256);
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/ooo.json`)).sha256, sha256);
  });
});

Deno.test("file sink: each write's promise settles once its bytes are in the file, with no more bytes to come", async () => {
  await withDirs(async (_root, dir) => {
    const info = { messageId: "now", contentType: "text/plain", size: 30, headers: new Map() };
    const sink = new FileSink(dir, info, () => {});
    // Gathered into one write: both promises settle with it.
    const first = sink.write(0, enc.encode("0123456789"));
    const second = sink.write(10, enc.encode("abcdefghij"));
    await first;
    assertEquals(await Deno.readTextFile(`${dir}/now`), "0123456789abcdefghij");
    await second;
    // Out of order too, each write settles once its own bytes are in.
    await sink.write(25, enc.encode("PQRST"));
    assertEquals((await Deno.readFile(`${dir}/now`)).subarray(25), enc.encode("PQRST"));
    await sink.write(20, enc.encode("klmno"));
    assertEquals(await Deno.readTextFile(`${dir}/now`), "0123456789abcdefghijklmnoPQRST");
    await sink.close({
      complete: true,
      aborted: false,
      bytesReceived: 30,
      ranges: [[1, 30]],
      reason: "",
    });
  });
});

Deno.test("file sink: a write that fails rejects, later ones too, and the sidecar says the message is incomplete", async () => {
  await withDirs(async (_root, dir) => {
    let saved: SavedMessage | undefined;
    // A directory where the content file should be: the file cannot be opened for writing.
    await Deno.mkdir(`${dir}/nospace`);
    const info = { messageId: "nospace", contentType: "text/plain", size: 10, headers: new Map() };
    const sink = new FileSink(dir, info, (s) => saved = s);
    await assertRejects(() => sink.write(0, enc.encode("01234")));
    await assertRejects(() => sink.write(5, enc.encode("56789")));
    await sink.close({
      complete: true,
      aborted: false,
      bytesReceived: 10,
      ranges: [[1, 10]],
      reason: "",
    });
    assertEquals(saved?.complete, false);
    assert(saved?.reason.startsWith("content not stored: "), saved?.reason);
  });
});

Deno.test("file sink: a sender whose window is smaller than the bytes the sink gathers is not stalled", async () => {
  await withDirs(async (_root, dir) => {
    const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
    const ea = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
    try {
      const saved = Promise.withResolvers<SavedMessage>();
      const b = eb.createSession({ sink: (info) => new FileSink(dir, info, saved.resolve) });
      // 16 KiB unanswered at most, far below the sink's 1 MiB writes.
      const a = ea.createSession({ chunkSize: 4096, sendWindowBytes: 16 * 1024 });
      await ea.connectSession(a, [b.localUri]);
      await b.ready;
      const body = new Uint8Array(2 * 1024 * 1024).map((_, i) => i * 7);
      const result = await a.send(body, { contentType: "application/octet-stream" }).done;
      assertEquals([result.status, result.bytesAcknowledged], ["sent", body.length]);
      const file = await saved.promise;
      assertEquals([file.complete, file.sha256], [
        true,
        createHash("sha256").update(body).digest("hex"),
      ]);
    } finally {
      await ea.close();
      await eb.close();
    }
  });
});
