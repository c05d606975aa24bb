/**
 * `POST /v1/files` with a `multipart/form-data` body, as a browser form
 * sends it: streamed to the spool, named and typed after its file part,
 * offered with our SDP or called through the PBX; and hostile forms, each a
 * problem response that leaves nothing behind.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildAnswer } from "../../src/sdp/mod.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { answeringUas } from "../pbx/_fake_uas.ts";
import { type Harness, peerEndpoint, startHarness } from "./_harness.ts";
import { fileEvent, spooled } from "./_files.ts";

const KiB = 1024;
const BOUNDARY = "----WebKitFormBoundaryq8XJbM2vL0rYtZ4w";
const FORM_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
const encoder = new TextEncoder();
const random = new Random(7578_17);

function sha1Selector(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

/** A form part: a field, or the file with its filename and type. */
type Part =
  | { readonly field: string; readonly value: string }
  | { readonly filename: string; readonly type?: string; readonly bytes: Uint8Array };

/** The body of a form of `parts`, as a browser writes it. */
function form(parts: readonly Part[], boundary = BOUNDARY): Uint8Array {
  const pieces: Uint8Array[] = [];
  for (const part of parts) {
    if ("field" in part) {
      pieces.push(encoder.encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.field}"\r\n\r\n` +
          `${part.value}\r\n`,
      ));
    } else {
      const type = part.type === undefined ? "" : `\r\nContent-Type: ${part.type}`;
      pieces.push(
        encoder.encode(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; ` +
            `filename="${part.filename}"${type}\r\n\r\n`,
        ),
        part.bytes,
        encoder.encode("\r\n"),
      );
    }
  }
  pieces.push(encoder.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 16 * KiB) yield bytes.subarray(i, i + 16 * KiB);
}

/** POSTs `body` to `/v1/files` with `query` and `type`, with its Content-Length. */
function post(h: Harness, body: Uint8Array, query = "", type = FORM_TYPE): Promise<Response> {
  return h.upload(`/v1/files${query}`, pieces(body), body.length, type);
}

Deno.test("api: a form's file is offered under its filename made safe and its part's type, and sent once answered", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  await using peer = peerEndpoint();
  const file = random.bytes(700 * KiB);
  // Chrome sends a `"` of a name as %22; `$ { }` and a tab are sent as they are.
  const body = form([
    { field: "disposition", value: "attachment" },
    { filename: "q3\treport ${x}.pdf", type: "application/pdf", bytes: file },
  ]);
  const response = await post(h, body);
  assertEquals(response.status, 201, await response.clone().text());
  const created = await response.json();
  assertEquals([created.file.name, created.file.type, created.file.size], [
    "q3_report __x_.pdf",
    "application/pdf",
    file.length,
  ]);
  assertEquals(created.file.disposition, "attachment");
  assert(
    created.offer.includes(
      `a=file-selector:name:"q3_report __x_.pdf" type:application/pdf size:${file.length} ` +
        `hash:sha-1:${sha1Selector(file)}`,
    ),
    created.offer,
  );

  const callee = peer.createSession();
  const received = callee.messages()[Symbol.asyncIterator]().next();
  const answer = buildAnswer(created.offer, {
    path: callee.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
  }).sdp;
  const applied = await h.json("PUT", `/v1/sessions/${created.id}/answer`, { answer });
  assertEquals(applied.status, 200, await applied.clone().text());
  const message = (await received).value!;
  assertEquals(message.contentType, "application/pdf");
  assertEquals(sha1Selector(message.body()), sha1Selector(file));
  const delivered = await fileEvent(h, "file.delivered", created.id);
  assertEquals([delivered.status, delivered.bytesSent], ["delivered", file.length]);
  assertEquals(spooled(h), []);
});

Deno.test("api: a form's name and type fields (or query) win over the part's; a part without a type is octet-stream", async () => {
  await using h = await startHarness({ ESL_MODE: "off" });
  const file = random.bytes(1000);
  const named = await post(
    h,
    form([{ field: "name", value: "given.bin" }, { filename: "other.txt", bytes: file }]),
  );
  const namedBody = await named.json();
  assertEquals(named.status, 201);
  assertEquals([namedBody.file.name, namedBody.file.type], [
    "given.bin",
    "application/octet-stream",
  ]);
  const typed = await post(
    h,
    form([{ filename: "/home/me/notes.txt", type: "text/plain; charset=utf-8", bytes: file }]),
    "?type=text/markdown",
  );
  const typedBody = await typed.json();
  assertEquals(typed.status, 201);
  assertEquals([typedBody.file.name, typedBody.file.type], ["notes.txt", "text/markdown"]);
  const parameters = await post(
    h,
    form([{ filename: "notes.txt", type: "text/plain; charset=utf-8", bytes: file }]),
  );
  assertEquals((await parameters.json()).file.type, "text/plain");
});

Deno.test("api: a form with to calls through the PBX and pushes the file to the callee", async () => {
  await using peer = peerEndpoint();
  const callee = peer.createSession();
  const uas = answeringUas(peer, callee);
  const esl = new FakeFreeSwitch();
  try {
    await using h = await startHarness({
      ESL_MODE: "inbound",
      ESL_PORT: String(esl.port),
      SIP_URI: `sip:127.0.0.1:${uas.port};transport=tcp`,
    });
    const file = random.bytes(300 * KiB);
    const received = callee.messages()[Symbol.asyncIterator]().next();
    const body = form([
      { field: "to", value: "sip:bob@127.0.0.1:5090" },
      { filename: "minutes.pdf", type: "application/pdf", bytes: file },
    ]);
    const response = await post(h, body);
    assertEquals(response.status, 202, await response.clone().text());
    const accepted = await response.json();
    assertEquals([accepted.to, accepted.file.name], ["sip:bob@127.0.0.1:5090", "minutes.pdf"]);
    const invite = await uas.request("INVITE");
    assert(invite.body.includes(`a=file-selector:name:"minutes.pdf" type:application/pdf`));
    assertEquals((await received).value!.body(), file);
    const delivered = await fileEvent(h, "file.delivered", accepted.id);
    assertEquals(delivered.status, "delivered");
  } finally {
    await uas.close();
    await esl.close();
  }
});

Deno.test("api: hostile forms are 400, 413 or 422 problems and leave no session and no stored file", async () => {
  await using h = await startHarness({
    ESL_MODE: "off",
    MAX_UPLOAD_BYTES: String(40 * KiB),
    DATA_QUOTA_BYTES: String(48 * KiB),
  });
  const file = random.bytes(4 * KiB);
  const good = form([{ filename: "a.bin", bytes: file }]);
  const cases: [string, Uint8Array, string, string, number, string, string | undefined][] = [
    ["no boundary", good, "", "multipart/form-data", 400, "malformed-multipart", "Content-Type"],
    [
      "boundary too long",
      good,
      "",
      `multipart/form-data; boundary=${"b".repeat(71)}`,
      400,
      "malformed-multipart",
      "Content-Type",
    ],
    [
      "another boundary than the body's",
      good,
      "",
      "multipart/form-data; boundary=other",
      400,
      "malformed-multipart",
      "body",
    ],
    [
      "truncated",
      good.slice(0, good.length - 30),
      "",
      FORM_TYPE,
      400,
      "malformed-multipart",
      "body",
    ],
    [
      "two file parts",
      form([{ filename: "a.bin", bytes: file }, { filename: "b.bin", bytes: file }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "file",
    ],
    [
      "a field after the file",
      form([{ filename: "a.bin", bytes: file }, { field: "name", value: "x" }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "name",
    ],
    [
      "an unknown field",
      form([{ field: "too", value: "sip:bob@pbx" }, { filename: "a.bin", bytes: file }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "too",
    ],
    [
      "a field in the query and the form",
      form([{ field: "name", value: "x.bin" }, { filename: "a.bin", bytes: file }]),
      "?name=y.bin",
      FORM_TYPE,
      422,
      "validation",
      "name",
    ],
    [
      "an unsafe name field",
      form([{ field: "name", value: 'a".bin' }, { filename: "a.bin", bytes: file }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "name",
    ],
    [
      "no file part",
      form([{ field: "name", value: "x.bin" }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "file",
    ],
    [
      "an empty file",
      form([{ filename: "a.bin", bytes: new Uint8Array(0) }]),
      "",
      FORM_TYPE,
      422,
      "validation",
      "body",
    ],
    [
      "part headers over the limit",
      encoder.encode(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n` +
          `X-Pad: ${"p".repeat(9000)}\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
      ),
      "",
      FORM_TYPE,
      413,
      "payload-too-large",
      undefined,
    ],
    [
      "a file over MAX_UPLOAD_BYTES",
      form([{ filename: "a.bin", bytes: random.bytes(40 * KiB + 1) }]),
      "",
      FORM_TYPE,
      413,
      "payload-too-large",
      "file",
    ],
  ];
  for (const [what, body, query, type, status, problem, field] of cases) {
    const response = await post(h, body, query, type);
    const detail = await response.json();
    assertEquals(
      [response.status, detail.type.split("/").at(-1), detail.field],
      [status, problem, field],
      `${what}: ${JSON.stringify(detail)}`,
    );
    assertEquals(spooled(h), [], what);
  }
  assertEquals((await h.bridge.listSessions()).items, []);

  // A file past DATA_QUOTA_BYTES while another waits: refused as its bytes come.
  const waiting = await post(h, form([{ filename: "a.bin", bytes: random.bytes(30 * KiB) }]));
  assertEquals(waiting.status, 201);
  const { id } = await waiting.json();
  const over = await post(h, form([{ filename: "b.bin", bytes: random.bytes(30 * KiB) }]));
  const overProblem = await over.json();
  assertEquals([over.status, overProblem.field], [413, "body"]);
  assert(overProblem.detail.includes("DATA_QUOTA_BYTES"), overProblem.detail);
  assertEquals(spooled(h).length, 1);
  await h.request(`/v1/sessions/${id}`, { method: "DELETE" });
  await fileEvent(h, "file.failed", id);
  // The quota was given back each time: a file that fits is taken.
  const fits = await post(h, form([{ filename: "a.bin", bytes: random.bytes(40 * KiB) }]));
  assertEquals(fits.status, 201, await fits.clone().text());
});
