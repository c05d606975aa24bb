/**
 * Pulling a published file through the PBX (RFC 5547 §6): the service with
 * ESL_MODE=inbound against the FreeSWITCH double, real TCP MSRP and real
 * SQLite. A phone calls with `a=recvonly` and an `a=file-selector`; the
 * bridge answers `a=sendonly`, sends the published file it names, and
 * hangs up; a selector naming no published file refuses the call (488).
 */

import { assert, assertEquals } from "../_assert.ts";
import type { BridgeFixture } from "../_bridge.ts";
import { Random } from "../_random.ts";
import { until, withDeadline } from "../_until.ts";
import { HashSink, peerEndpoint, sha256Of } from "../api/_harness.ts";
import { buildOffer, type FileSelector } from "../../src/sdp/mod.ts";
import type { SessionRecord } from "../../src/store/mod.ts";
import type { FileTransferData, WebhookEvent } from "../../src/webhooks/mod.ts";
import { parkHeaders } from "./_calls.ts";
import type { FakeFreeSwitch } from "./_fake_freeswitch.ts";
import { withFakeFreeSwitch } from "./_with_fake_freeswitch.ts";

const MiB = 1024 * 1024;
const PHONE = "carol@127.0.0.1:5094";

/** The phone calls from its MSRP URI `path` (it connects) asking for `selector`; channel `uuid`. */
function pullCall(fs: FakeFreeSwitch, uuid: string, path: string, selector: FileSelector): void {
  const offer = buildOffer({
    path: [path],
    address: "127.0.0.1",
    port: Number(new URL(path.replace("msrp://", "http://")).port),
    acceptTypes: ["*"],
    setup: "active",
    direction: "recvonly",
    fileTransfer: { selector, transferId: crypto.randomUUID().replaceAll("-", "") },
  });
  const headers = parkHeaders(uuid, offer, "RECEIVED_NOMEDIA", PHONE);
  fs.addChannel(headers);
  fs.emit("CHANNEL_PARK", headers);
}

/** The session row of channel `uuid`, once recorded. */
async function sessionOf(b: BridgeFixture, uuid: string): Promise<SessionRecord> {
  let row: SessionRecord | undefined;
  await until(async () => {
    row = (await b.bridge.listSessions({ limit: 50 })).items.find((s) => s.channelUuid === uuid);
    return row !== undefined;
  }, `the session of ${uuid}`);
  return row!;
}

Deno.test("service+pbx: a call pulling a published 3 MiB file is answered sendonly, sent the file, and hung up; an unpublished name is refused with 488", async () => {
  await withFakeFreeSwitch(async ({ fs, b }) => {
    const { bridge } = b;
    const file = new Random(5547_0601).bytes(3 * MiB);
    async function* body() {
      yield file;
    }
    const published = await bridge.publishFile({
      name: "menu.pdf",
      type: "application/pdf",
      size: file.length,
      body: body(),
    });

    await using endpoint = peerEndpoint();
    const sinks: HashSink[] = [];
    const phone = endpoint.createSession({
      sink: (info) => {
        const sink = new HashSink(info);
        sinks.push(sink);
        return sink;
      },
    });
    const uuid = "0c000000-0000-4000-8000-000000000001";
    pullCall(fs, uuid, phone.localPath[0], { name: "menu.pdf", type: "application/pdf" });
    await until(() => fs.channel(uuid)?.answered === true, "the answer");
    const answer = fs.channel(uuid)!.variables.get("switch_m_sdp")!;
    const lines = answer.split("\r\n");
    assert(lines.includes("a=sendonly"), answer);
    assert(
      lines.includes(
        `a=file-selector:name:"menu.pdf" type:application/pdf size:${file.length} ` +
          `hash:sha-1:${published.hash.value}`,
      ),
      answer,
    );
    await endpoint.connectSession(phone, [/a=path:(.*)/.exec(answer)![1].trim()]);
    await until(() => sinks[0]?.sha256 !== undefined, "the pulled file");
    assertEquals([sinks[0].bytes, sinks[0].sha256], [file.length, await sha256Of(file)]);

    const row = await sessionOf(b, uuid);
    const delivered = JSON.parse((await b.next("file.delivered")).payload) as WebhookEvent;
    assertEquals((delivered.data as FileTransferData).id, row.id);
    assertEquals([row.kind, row.direction, row.fromUri], ["file-transfer", "out", `sip:${PHONE}`]);
    await withDeadline(
      fs.waitForCommand((c) => c.line.includes("uuid_kill") && c.line.includes(uuid)),
      "the hangup",
    );
    await until(async () => (await bridge.getSession(row.id))?.state === "ended", "the end");
    assertEquals((await bridge.getSession(row.id))?.endReason, "file delivered");
    assertEquals((await bridge.getFileTransfer(row.id))?.status, "delivered");

    const refused = "0c000000-0000-4000-8000-000000000002";
    pullCall(fs, refused, "msrp://127.0.0.1:9/nobody;tcp", { name: "../menu.pdf" });
    const respond = await withDeadline(
      fs.waitForCommand((c) =>
        c.name === "sendmsg" && c.args === refused &&
        c.headers.get("execute-app-name") === "respond"
      ),
      "the refusal",
    );
    assertEquals(respond.headers.get("execute-app-arg"), "488");
    const rows = (await bridge.listSessions({ limit: 50 })).items;
    assertEquals(rows.filter((s) => s.channelUuid === refused), []);
  });
});
