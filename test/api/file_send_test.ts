/**
 * `POST /v1/files` (RFC 5547, sending): through a fake PBX (the ESL double
 * and a fake SIP server) to a callee that answers the file offer and reads
 * the file over MSRP.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { headerOf } from "../../src/pbx/_sip_message.ts";
import { parseSessionDescription } from "../../src/sdp/mod.ts";
import type { MsrpMediaDescription } from "../../src/sdp/mod.ts";
import type { FileTransferData, WebhookEvent } from "../../src/webhooks/mod.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { answeringUas, FakeUas } from "../pbx/_fake_uas.ts";
import { type Harness, peerEndpoint, startHarness, waitUntil } from "./_harness.ts";
import { spooled } from "./_files.ts";

const MiB = 1024 * 1024;
const random = new Random(5548);

/** `hash:sha-1:…` value of `bytes`: colon-separated upper-case hex (RFC 5547 §9). */
function sha1Selector(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024);
}

/** The bridge's API with the PBX played by an ESL double and `pbx`. */
async function withPbx(
  pbx: FakeUas,
  body: (h: Harness) => Promise<void>,
): Promise<void> {
  const esl = new FakeFreeSwitch();
  try {
    await using h = await startHarness({
      ESL_MODE: "inbound",
      ESL_PORT: String(esl.port),
      SIP_URI: `sip:127.0.0.1:${pbx.port};transport=tcp`,
    });
    await body(h);
  } finally {
    await pbx.close();
    await esl.close();
  }
}

/** The data of the first `type` event in the event log, waiting for it. */
async function nextEvent(h: Harness, type: string): Promise<FileTransferData> {
  const find = async () => (await h.bridge.eventsSince(0, 1000)).find((e) => e.type === type);
  await waitUntil(async () => await find() !== undefined, type);
  return (JSON.parse((await find())!.payload) as WebhookEvent).data as FileTransferData;
}

Deno.test("api: POST /v1/files pushes a 2 MiB file with its selector; the callee gets it, the session ends, file.delivered", async () => {
  await using peer = peerEndpoint();
  const callee = peer.createSession();
  const pbx = answeringUas(peer, callee);
  await withPbx(pbx, async (h) => {
    const file = random.bytes(2 * MiB);
    const hash = sha1Selector(file);
    const received = callee.messages()[Symbol.asyncIterator]().next();
    const to = "sip:bob@127.0.0.1:5090";
    const query = new URLSearchParams({
      to,
      name: "q3 report.pdf",
      type: "application/pdf",
      disposition: "attachment",
    });
    const response = await h.upload(`/v1/files?${query}`, once(file), file.length, "x/y");
    assertEquals(response.status, 202, await response.clone().text());
    const accepted = await response.json();
    assertEquals(response.headers.get("location"), `/v1/files/${accepted.id}`);

    // The offer pushes the file: a=sendonly and the selector with its size and sha-1.
    const invite = await pbx.request("INVITE");
    assertEquals(headerOf(invite, "x-msrp-target"), to);
    const lines = invite.body.split("\r\n");
    assert(lines.includes("a=sendonly"), invite.body);
    assert(
      lines.includes(
        `a=file-selector:name:"q3 report.pdf" type:application/pdf size:${file.length} hash:sha-1:${hash}`,
      ),
      invite.body,
    );
    assert(lines.includes("a=file-disposition:attachment"), invite.body);
    assert(lines.some((l) => /^a=file-transfer-id:[0-9a-f]{32}$/.test(l)), invite.body);
    assert(lines.some((l) => /^a=file-date:modification:".+ GMT"$/.test(l)), invite.body);
    const media = parseSessionDescription(invite.body).media[0] as MsrpMediaDescription;
    assertEquals(media.fileTransfer?.selector?.hash, { algorithm: "sha-1", value: hash });

    const message = (await received).value!;
    assertEquals(message.contentType, "application/pdf");
    assertEquals(message.body(), file);

    const delivered = await nextEvent(h, "file.delivered");
    assertEquals(delivered.id, accepted.id);
    assertEquals([delivered.status, delivered.bytesSent, delivered.to], [
      "delivered",
      file.length,
      to,
    ]);
    const shown = await (await h.request(`/v1/files/${accepted.id}`)).json();
    assertEquals(shown, delivered);
    assertEquals(shown.file.hash, { algorithm: "sha-1", value: hash });
    assertEquals([shown.file.size, shown.file.name], [file.length, "q3 report.pdf"]);
    assertEquals(shown.error, null);
    const session = (await h.bridge.getSession(accepted.sessionId))!;
    assertEquals([session.state, session.endReason, session.kind], [
      "ended",
      "file delivered",
      "file-transfer",
    ]);
    await pbx.request("BYE");
    assertEquals(spooled(h), []);
  });
});

Deno.test("api: POST /v1/files to a busy callee is 503 and keeps no spooled file", async () => {
  const pbx = new FakeUas(() => ({ status: 486, reason: "Busy Here" }));
  await withPbx(pbx, async (h) => {
    const body = random.bytes(100_000);
    const query = new URLSearchParams({ to: "sip:bob@pbx", name: "a.bin", type: "x/y" });
    const response = await h.upload(`/v1/files?${query}`, once(body), body.length, "x/y");
    assertEquals(response.status, 503);
    assert((await response.json()).detail.includes("486 Busy Here"));
    await pbx.request("INVITE");
    assertEquals(spooled(h), []);
    const [session] = (await h.bridge.listSessions()).items;
    assertEquals([session.kind, session.state], ["file-transfer", "ended"]);
    const shown = await (await h.request(`/v1/files/${session.id}`)).json();
    assertEquals([shown.status, shown.error?.reason], ["failed", "sip 486 Busy Here"]);
  });
});

Deno.test("api: POST /v1/files with a hostile to is 422 invalid-sip-uri and sends no INVITE", async () => {
  const pbx = new FakeUas(() => ({ status: 500, reason: "Unused" }));
  await withPbx(pbx, async (h) => {
    const body = new TextEncoder().encode("hello");
    for (const to of ["sip:${foo}@pbx", "sip:bob@pbx?X-Evil=1", "tel:+15551234"]) {
      const query = new URLSearchParams({ to, name: "a.txt", type: "text/plain" });
      const response = await h.upload(`/v1/files?${query}`, once(body), body.length, "x/y");
      assertEquals(response.status, 422, to);
      const problem = await response.json();
      assertEquals([problem.type.endsWith("/invalid-sip-uri"), problem.field], [true, "to"]);
    }
    const query = new URLSearchParams({ to: "sip:bob@pbx", name: 'a".txt', type: "text/plain" });
    const response = await h.upload(`/v1/files?${query}`, once(body), body.length, "x/y");
    assertEquals(response.status, 422);
    assertEquals((await response.json()).field, "name");
    assertEquals(pbx.requests, []);
    assertEquals((await h.bridge.listSessions()).items, []);
  });
});

Deno.test("api: a file the callee refuses (413) is file.failed and ends the session", async () => {
  await using peer = peerEndpoint();
  const callee = peer.createSession({ maxMessageBytes: 1000 });
  const pbx = answeringUas(peer, callee);
  await withPbx(pbx, async (h) => {
    const body = random.bytes(100_000);
    const query = new URLSearchParams({ to: "sip:bob@pbx", name: "a.bin", type: "x/y" });
    const response = await h.upload(`/v1/files?${query}`, once(body), body.length, "x/y");
    assertEquals(response.status, 202);
    const { id } = await response.json();
    const failed = await nextEvent(h, "file.failed");
    assertEquals([failed.id, failed.status, failed.error?.code], [id, "failed", 413]);
    const session = (await h.bridge.getSession(id))!;
    assertEquals(session.state, "ended");
    assert(session.endReason!.startsWith("file transfer failed: "), session.endReason!);
    assertEquals(spooled(h), []);
  });
});

Deno.test("api: POST /v1/files?resume= is 404 for an unknown transfer and 409 not-resumable for one without a stored copy", async () => {
  const pbx = new FakeUas(() => ({ status: 486, reason: "Busy Here" }));
  await withPbx(pbx, async (h) => {
    const unknown = await h.request("/v1/files?resume=nope", { method: "POST" });
    assertEquals([unknown.status, (await unknown.json()).field], [404, "resume"]);

    const body = random.bytes(1000);
    const query = new URLSearchParams({ to: "sip:bob@pbx", name: "a.bin", type: "x/y" });
    const busy = await h.upload(`/v1/files?${query}`, once(body), body.length, "x/y");
    assertEquals(busy.status, 503);
    await busy.body?.cancel();
    const [session] = (await h.bridge.listSessions()).items;
    // The call failed before any byte was confirmed: nothing kept to resume from.
    const again = await h.request(`/v1/files?resume=${session.id}`, { method: "POST" });
    const problem = await again.json();
    assertEquals([again.status, problem.type.endsWith("/not-resumable")], [409, true]);
    const mixed = await h.request(`/v1/files?resume=${session.id}&name=b.bin`, { method: "POST" });
    assertEquals([mixed.status, (await mixed.json()).field], [422, "name"]);
    assertEquals(spooled(h), []);
  });
});
