/**
 * A file one bridge sends to another, cut at 40 % and resumed (RFC 5547 §8),
 * end to end: bridge A's `POST /v1/files` and `POST /v1/files?resume=`,
 * bridge B receiving with its partial file, both with real HTTP, real SQLite
 * and real TCP MSRP between them.
 *
 * The path, and why: A sends with `POST /v1/files?to=`, a call through the
 * PBX, the send path whose `?resume=` calls the same `to` again. A runs
 * against the ESL double, and its INVITE goes to a fake SIP server playing
 * FreeSWITCH's `out` extension in bypass mode: it hands A's offer unchanged
 * to B's `POST /v1/sessions {"offer"}` and answers the INVITE with B's
 * answer, as FreeSWITCH does with the far end's 200 OK. B thus decides the
 * resume as for any offer (the one `PartialFiles.resume`), and the MSRP
 * between the two bridges is theirs alone. The real FreeSWITCH cannot stand
 * in: both bridges would answer the same parked call. To cut the transfer
 * at 40 %, B advertises `MSRP_ADVERTISE=127.0.0.2` where a TCP forwarder on
 * B's port passes A's bytes on until 40 % and then drops the connection (a
 * network that fails), so that both bridges see a real connection end.
 */

import { assert, assertEquals } from "../_assert.ts";
import { CutProxy } from "../_cut_proxy.ts";
import { Random } from "../_random.ts";
import type { MessageRecord, SessionRecord } from "../../src/store/mod.ts";
import type { FileTransferData } from "../../src/webhooks/mod.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { FakeUas } from "../pbx/_fake_uas.ts";
import { type Harness, sha256Of, startHarness, waitUntil } from "./_harness.ts";
import { fileEvent } from "./_files.ts";

const KiB = 1024;
const SIZE = 2048 * KiB;
/** A's bytes B gets before the cut (MSRP headers included): 40 % of the file. */
const CUT = Math.floor(SIZE * 0.4);
/** The host B advertises, where the forwarder listens. */
const B_HOST = "127.0.0.2";

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 256 * KiB) yield bytes.subarray(i, i + 256 * KiB);
}

/** B's incoming file sessions, oldest first. */
async function receivedSessions(b: Harness): Promise<SessionRecord[]> {
  const page = await (await b.request("/v1/sessions?limit=50")).json();
  return (page.items as SessionRecord[]).filter((s) => s.kind === "file-transfer").reverse();
}

/** The one message of B's session `id`. */
async function messageOf(b: Harness, id: string): Promise<MessageRecord> {
  const [message] = (await (await b.request(`/v1/sessions/${id}/messages`)).json()).items;
  return message;
}

/** Waits until B's session `id` has ended; its row. */
async function ended(b: Harness, id: string): Promise<SessionRecord> {
  const row = async () => await (await b.request(`/v1/sessions/${id}`)).json();
  await waitUntil(async () => (await row()).state === "ended", `B's session ${id} ended`);
  return await row();
}

/** The `a=file-range` lines of an SDP. */
function rangesOf(sdp: string): string[] {
  return sdp.split("\r\n").filter((l) => l.startsWith("a=file-range:"));
}

Deno.test("api: a file bridge A sends to bridge B, cut at 40 %, resumes with POST /v1/files?resume=: B holds the whole file, hash verified, and A's new transfer is delivered", async () => {
  await using b = await startHarness({ MSRP_ADVERTISE: B_HOST });
  const bPort = b.bridge.endpoint.port;
  await using proxy = new CutProxy(
    { hostname: B_HOST, port: bPort },
    { hostname: "127.0.0.1", port: bPort },
    CUT,
  );
  // FreeSWITCH's `out` extension: A's offer to B's API, B's answer back in the 200 OK.
  const answers: string[] = [];
  const pbx = new FakeUas(async (invite) => {
    const created = await b.json("POST", "/v1/sessions", { offer: invite.body });
    if (created.status !== 201) {
      return { status: 488, reason: `Not Acceptable Here (${await created.text()})` };
    }
    const { answer } = await created.json();
    answers.push(answer);
    return { status: 200, reason: "OK", sdp: answer };
  });
  const esl = new FakeFreeSwitch();
  try {
    await using a = await startHarness({
      ESL_MODE: "inbound",
      ESL_PORT: String(esl.port),
      SIP_URI: `sip:127.0.0.1:${pbx.port};transport=tcp`,
    });
    const file = new Random(5547_8).bytes(SIZE);
    const to = "sip:bridge-b@127.0.0.1:5090";
    const query = new URLSearchParams({ to, name: "site plan.pdf", type: "application/pdf" });
    const response = await a.upload(`/v1/files?${query}`, pieces(file), SIZE, "application/pdf");
    assertEquals(response.status, 202, await response.clone().text());
    const first: FileTransferData = await response.json();

    // The network drops the connection once 40 % of the bytes went through.
    await waitUntil(() => proxy.holding, "40 % of the file on its way to B");
    await proxy.cut();
    const failed = await fileEvent(a, "file.failed", first.id);
    assertEquals(failed.status, "failed");
    const [cutSession] = await receivedSessions(b);
    await ended(b, cutSession.id);
    const partial = await messageOf(b, cutSession.id);
    assertEquals(partial.status, "partial");
    // B holds what came before the cut, up to 40 % of the file (the rest never reached it).
    const held = partial.bytes;
    assert(held > 0 && held <= CUT, `B holds ${held} bytes`);

    // A resumes: its offer names the bytes after those B confirmed, B narrows it to its own.
    const resumed = await a.request(`/v1/files?resume=${first.id}`, { method: "POST" });
    assertEquals(resumed.status, 202, await resumed.clone().text());
    const second: FileTransferData = await resumed.json();
    assert(second.id !== first.id);
    const [, invite] = pbx.requests.filter((r) => r.startLine.startsWith("INVITE "));
    const [offered] = rangesOf(invite.body);
    const confirmed = Number(/^a=file-range:(\d+)-/.exec(offered)![1]) - 1;
    assertEquals(offered, `a=file-range:${confirmed + 1}-${SIZE}`);
    assert(confirmed > 0 && confirmed <= held, `A offers from ${confirmed + 1}, B holds ${held}`);
    assertEquals(rangesOf(answers[1]), [`a=file-range:${held + 1}-${SIZE}`]);

    const delivered = await fileEvent(a, "file.delivered", second.id);
    assertEquals([delivered.status, delivered.bytesSent], ["delivered", SIZE - held]);
    assertEquals((await (await a.request(`/v1/files/${first.id}`)).json()).status, "failed");

    const [, resumedSession] = await receivedSessions(b);
    const row = await ended(b, resumedSession.id);
    assertEquals([row.endReason, row.file?.resumes], ["file received", partial.id]);
    const whole = await messageOf(b, resumedSession.id);
    assertEquals([whole.status, whole.bytes, whole.hashVerified], ["received", SIZE, true]);
    assertEquals(whole.sha256, await sha256Of(file));
    const content = await b.request(`/v1/messages/${whole.id}/content`);
    assertEquals(content.status, 200);
    assertEquals(await sha256Of(content.body!), await sha256Of(file));
    // The resumed connection went through the forwarder whole; the first stopped at the cut.
    assertEquals(proxy.forwarded, CUT);
  } finally {
    await pbx.close();
    await esl.close();
  }
});
