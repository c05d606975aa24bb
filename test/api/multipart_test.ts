/**
 * The streaming multipart/form-data reader (`src/api/_multipart.ts`):
 * property tests over random forms split at random points and over random
 * and truncated bytes, and the hostile cases one by one.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  formBoundary,
  MAX_PART_HEADER_BYTES,
  MultipartError,
  type MultipartEvent,
  MultipartParser,
  readForm,
} from "../../src/api/_multipart.ts";

const encoder = new TextEncoder();
const random = new Random(7578);

/** One part of a generated form. */
interface Part {
  readonly name: string;
  readonly filename?: string;
  readonly contentType?: string;
  readonly body: Uint8Array;
}

/** A part as the parser reports it: headers, and its data joined. */
interface ParsedPart {
  readonly name: string | undefined;
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
}

function join(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The body of a form of `parts` with `boundary`, with an optional preamble and epilogue. */
function formBytes(
  boundary: string,
  parts: readonly Part[],
  preamble = "",
  epilogue = "",
): Uint8Array {
  const pieces: Uint8Array[] = [encoder.encode(preamble ? `${preamble}\r\n` : "")];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    if (part.contentType !== undefined) head += `\r\nContent-Type: ${part.contentType}`;
    pieces.push(encoder.encode(`${head}\r\n\r\n`), part.body, encoder.encode("\r\n"));
  }
  pieces.push(encoder.encode(`--${boundary}--${epilogue ? `\r\n${epilogue}` : ""}`));
  return join(pieces);
}

/** Folds events into parts; checks they come in order and end once. */
function partsOf(events: readonly MultipartEvent[]): { parts: ParsedPart[]; ended: boolean } {
  const parts: { headers: Omit<ParsedPart, "body">; data: Uint8Array[] }[] = [];
  let ended = false;
  for (const event of events) {
    assert(!ended, "nothing after the end");
    if (event.type === "part") parts.push({ headers: event.headers, data: [] });
    else if (event.type === "data") {
      assert(parts.length > 0, "data belongs to a part");
      assert(event.bytes.length > 0, "no empty data");
      parts.at(-1)!.data.push(event.bytes.slice());
    } else ended = true;
  }
  return { parts: parts.map((p) => ({ ...p.headers, body: join(p.data) })), ended };
}

/** Parses `bytes` pushed in the pieces that `cuts` (sorted offsets) make. */
function parseSplit(boundary: string, bytes: Uint8Array, cuts: readonly number[]) {
  const parser = new MultipartParser(boundary);
  const events: MultipartEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...parser.push(bytes.slice(from, cut)));
    from = cut;
  }
  parser.finish();
  return partsOf(events);
}

/**
 * Random bytes rich in what a boundary search trips on: CR, LF, hyphens
 * and the boundary's own characters, so prefixes of the delimiter abound;
 * never the delimiter itself (an `x`, which no boundary here holds, breaks
 * each one).
 */
function trickyBytes(boundary: string, length: number): Uint8Array {
  const alphabet = ["\r", "\n", "-", "-", ...boundary, "\r\n--", "\r\n\r\n", "x"];
  let text = "";
  while (text.length < length) text += random.pick(alphabet);
  const bytes = encoder.encode(text.slice(0, length));
  for (let i = 0; i < bytes.length; i += random.int(1, 64)) bytes[i] = random.int(0, 255);
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  for (let i = 0; i + delimiter.length <= bytes.length; i++) {
    if (delimiter.every((b, j) => bytes[i + j] === b)) bytes[i + 2] = 0x78;
  }
  return bytes;
}

function randomBoundary(): string {
  const chars = "abcXYZ0189'()+_,-./:=?";
  let b = "";
  const length = random.int(1, 70);
  while (b.length < length) b += random.pick([...chars]);
  return b;
}

function randomCuts(length: number): number[] {
  const n = random.int(0, Math.min(40, length));
  const cuts = new Set<number>();
  for (let i = 0; i < n; i++) cuts.add(random.int(0, length));
  return [...cuts].sort((a, b) => a - b);
}

Deno.test("multipart: random forms parse to the same parts whole and split at any points", () => {
  for (let round = 0; round < 300; round++) {
    const boundary = randomBoundary();
    const parts: Part[] = [];
    for (let i = random.int(0, 4); i > 0; i--) {
      const file = random.int(0, 1) === 1;
      parts.push({
        name: `f${i}`,
        ...(file ? { filename: `n${i}.bin`, contentType: "application/octet-stream" } : {}),
        body: trickyBytes(boundary, random.int(0, random.pick([0, 3, 80, 5000]))),
      });
    }
    const preamble = random.int(0, 3) === 0 ? "a preamble\r\nof lines" : "";
    const epilogue = random.int(0, 3) === 0 ? "an epilogue\r\n--" + boundary : "";
    const bytes = formBytes(boundary, parts, preamble, epilogue);
    const whole = parseSplit(boundary, bytes, []);
    assert(whole.ended);
    assertEquals(
      whole.parts,
      parts.map((p) => ({
        name: p.name,
        filename: p.filename,
        contentType: p.contentType,
        body: p.body,
      })),
    );
    for (let split = 0; split < 5; split++) {
      assertEquals(parseSplit(boundary, bytes, randomCuts(bytes.length)), whole);
    }
    // One byte at a time, the worst split.
    if (bytes.length < 2000) {
      assertEquals(parseSplit(boundary, bytes, [...bytes.keys()].slice(1)), whole);
    }
  }
});

Deno.test("multipart: random bytes, and random forms cut short, are a MultipartError or parts, never another error", () => {
  for (let round = 0; round < 500; round++) {
    const boundary = randomBoundary();
    const valid = formBytes(boundary, [
      { name: "to", body: trickyBytes(boundary, 20) },
      { name: "file", filename: "a.bin", body: trickyBytes(boundary, random.int(0, 3000)) },
    ]);
    const hostile = random.pick([
      () => random.bytes(random.int(0, 3000)),
      // Truncated: the closing boundary never comes.
      () => valid.slice(0, random.int(0, valid.length - 1)),
      // One byte changed.
      () => {
        const b = valid.slice();
        b[random.int(0, b.length - 1)] = random.int(0, 255);
        return b;
      },
    ])();
    try {
      parseSplit(boundary, hostile, randomCuts(hostile.length));
    } catch (e) {
      assert(e instanceof MultipartError, `not a MultipartError: ${e}`);
      assert(["malformed", "too-large"].includes(e.kind), e.kind);
    }
  }
});

Deno.test("multipart: a form cut anywhere before its closing boundary fails as malformed", () => {
  const boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
  const bytes = formBytes(boundary, [
    { name: "to", body: encoder.encode("sip:bob@pbx") },
    { name: "file", filename: "a.bin", body: trickyBytes(boundary, 2000) },
  ]);
  for (let cut = 0; cut < bytes.length; cut += random.int(1, 40)) {
    const error = assertThrows(
      () => parseSplit(boundary, bytes.slice(0, cut), randomCuts(cut)),
      MultipartError,
    );
    assertEquals(error.kind, "malformed");
  }
});

Deno.test("multipart: the boundary comes from the Content-Type: missing, too long or invalid is malformed", () => {
  assertEquals(formBoundary("multipart/form-data; boundary=abc"), "abc");
  assertEquals(formBoundary('Multipart/Form-Data; charset=x; boundary="a b:c"'), "a b:c");
  assertEquals(formBoundary("application/pdf"), undefined);
  assertEquals(formBoundary("multipart/mixed; boundary=abc"), undefined);
  for (
    const bad of [
      "multipart/form-data",
      "multipart/form-data; boundary=",
      `multipart/form-data; boundary=${"a".repeat(71)}`,
      'multipart/form-data; boundary="ends with space "',
      "multipart/form-data; boundary=a\u00e9b",
    ]
  ) {
    const error = assertThrows(() => formBoundary(bad), MultipartError);
    assertEquals([error.kind, error.field], ["malformed", "Content-Type"], bad);
  }
  assertEquals(formBoundary(`multipart/form-data; boundary=${"a".repeat(70)}`), "a".repeat(70));
});

Deno.test("multipart: a part's headers past the limit are too-large, split or whole", () => {
  const boundary = "b";
  const long = `--b\r\nContent-Disposition: form-data; name="x"\r\nX-Pad: ${
    "p".repeat(MAX_PART_HEADER_BYTES)
  }\r\n\r\nv\r\n--b--`;
  const bytes = encoder.encode(long);
  for (const cuts of [[], randomCuts(bytes.length), [...bytes.keys()].slice(1)]) {
    const error = assertThrows(() => parseSplit(boundary, bytes, cuts), MultipartError);
    assertEquals(error.kind, "too-large");
  }
  // A preamble that never reaches a boundary is bounded too.
  const endless = encoder.encode("x".repeat(MAX_PART_HEADER_BYTES * 2));
  assertEquals(
    assertThrows(() => new MultipartParser("b").push(endless), MultipartError).kind,
    "too-large",
  );
});

Deno.test("multipart: a part without form-data disposition, or a header line without a colon, is malformed", () => {
  for (
    const text of [
      "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--",
      "--b\r\nno colon here\r\n\r\nv\r\n--b--",
      "--b\r\n\r\nv\r\n--b--",
      "--bX\r\n\r\n",
    ]
  ) {
    const error = assertThrows(() => parseSplit("b", encoder.encode(text), []), MultipartError);
    assertEquals(error.kind, "malformed", text);
  }
});

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

const LIMITS = { fields: ["to", "name"], maxFieldBytes: 64, maxFileBytes: 10_000 };

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const piece of body) pieces.push(piece.slice());
  return join(pieces);
}

Deno.test("multipart: readForm gives the fields before the file and streams the file", async () => {
  const file = trickyBytes("xyz", 9000);
  const bytes = formBytes("xyz", [
    { name: "to", body: encoder.encode("sip:bob@pbx") },
    {
      name: "file",
      filename: 'C:\\tmp\\a \\"b\\".pdf',
      contentType: "application/pdf",
      body: file,
    },
  ]);
  const form = await readForm(chunks(bytes, 7), "xyz", LIMITS);
  assertEquals([...form.fields], [["to", "sip:bob@pbx"]]);
  // A backslash quotes the next character in a quoted string (RFC 7578 §4.2 follows RFC 2183).
  assertEquals([form.file?.filename, form.file?.contentType], [
    'C:tmpa "b".pdf',
    "application/pdf",
  ]);
  assertEquals(await readAll(form.file!.body), file);

  const none = await readForm(
    chunks(formBytes("xyz", [{ name: "name", body: encoder.encode("n") }]), 3),
    "xyz",
    LIMITS,
  );
  assertEquals([[...none.fields], none.file], [[["name", "n"]], undefined]);
});

Deno.test("multipart: readForm refuses unknown, repeated and long fields, a second file, a field after the file, a file too large", async () => {
  const field = (name: string, value = "v") => ({ name, body: encoder.encode(value) });
  const file = (size: number) => ({ name: "file", filename: "a", body: new Uint8Array(size) });
  const cases: [Part[], string, string | undefined][] = [
    [[field("too")], "invalid", "too"],
    [[field("to"), field("to")], "invalid", "to"],
    [[field("to", "x".repeat(65))], "too-large", "to"],
    [[file(10), file(10)], "invalid", "file"],
    [[file(10), field("to")], "invalid", "to"],
    [[file(10_001)], "too-large", "file"],
  ];
  for (const [parts, kind, field] of cases) {
    const bytes = formBytes("q", parts);
    const error = await assertRejects(async () => {
      const form = await readForm(chunks(bytes, 5), "q", LIMITS);
      await readAll(form.file!.body);
    }, MultipartError);
    assertEquals(
      [error.kind, error.field],
      [kind, field],
      JSON.stringify(parts.map((p) => p.name)),
    );
  }
  // Truncated inside the file: the file's bytes fail when its end does not come.
  const cut = formBytes("q", [file(5000)]).slice(0, 3000);
  const form = await readForm(chunks(cut, 100), "q", LIMITS);
  const error = await assertRejects(() => readAll(form.file!.body), MultipartError);
  assertEquals(error.kind, "malformed");
});
