/**
 * Resuming a file pushed to us through the PBX (RFC 5547 §8): the service
 * with ESL_MODE=inbound against the FreeSWITCH double, real TCP MSRP and
 * real SQLite. A push cut part-way leaves a partial file; the same caller
 * offering the same file again with `a=file-range` continues it, another
 * caller does not.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { until, withDeadline } from "../_until.ts";
import { peerEndpoint, sha256Of } from "../api/_harness.ts";
import { sendFileRest } from "../session/_peer.ts";
import type { Bridge } from "../../src/bridge/mod.ts";
import { buildOffer, type FileRange, type FileSelector } from "../../src/sdp/mod.ts";
import type { MessageRecord, SessionRecord } from "../../src/store/mod.ts";
import { parkHeaders } from "./_calls.ts";
import type { FakeFreeSwitch } from "./_fake_freeswitch.ts";
import { withFakeFreeSwitch } from "./_with_fake_freeswitch.ts";

const KiB = 1024;
const SIZE = 640 * KiB;
const CUT = 256 * KiB; // 40 %
const ALICE = "alice@127.0.0.1:5090";

/** The selector of `bytes` with its sha-256 (RFC 5547 §5: colon-separated upper-case hex). */
function selectorOf(bytes: Uint8Array): FileSelector {
  const hex = createHash("sha256").update(bytes).digest("hex").toUpperCase();
  return {
    name: "holiday.jpg",
    type: "image/jpeg",
    size: bytes.length,
    hash: { algorithm: "sha-256", value: hex.match(/../g)!.join(":") },
  };
}

/**
 * A phone `from` calls with a push of `selector` from its MSRP URI `path`
 * (it connects: `a=setup:active`), `range` its `a=file-range` when given;
 * FreeSWITCH parks the channel `uuid`.
 */
function call(
  fs: FakeFreeSwitch,
  uuid: string,
  from: string,
  path: string,
  selector: FileSelector,
  range?: FileRange,
): void {
  const offer = buildOffer({
    path: [path],
    address: "127.0.0.1",
    port: Number(new URL(path.replace("msrp://", "http://")).port),
    acceptTypes: ["image/jpeg"],
    setup: "active",
    fileTransfer: {
      selector,
      transferId: crypto.randomUUID().replaceAll("-", ""),
      ...(range ? { range } : {}),
    },
  });
  const headers = parkHeaders(uuid, offer, "RECEIVED_NOMEDIA", from);
  fs.addChannel(headers);
  fs.emit("CHANNEL_PARK", headers);
}

/** The answer SDP FreeSWITCH was told to send for channel `uuid`, once it answered. */
async function answerOf(fs: FakeFreeSwitch, uuid: string): Promise<string> {
  await until(() => fs.channel(uuid)?.answered === true, `the answer of ${uuid}`);
  return fs.channel(uuid)!.variables.get("switch_m_sdp")!;
}

/** The MSRP URI of the bridge's session in `answer` (its `a=path`). */
function pathOf(answer: string): string {
  return /a=path:(.*)/.exec(answer)![1].trim();
}

/** The session row of channel `uuid`, once recorded. */
async function sessionOf(bridge: Bridge, uuid: string): Promise<SessionRecord> {
  let row: SessionRecord | undefined;
  await until(async () => {
    row = (await bridge.listSessions({ limit: 50 })).items.find((s) => s.channelUuid === uuid);
    return row !== undefined;
  }, `the session of ${uuid}`);
  return row!;
}

/** The messages of session `id`. */
async function messagesOf(bridge: Bridge, id: string): Promise<MessageRecord[]> {
  return (await bridge.listMessages(id)).items;
}

/** Waits until session `id` has ended; its row. */
async function ended(bridge: Bridge, id: string): Promise<SessionRecord> {
  await until(async () => (await bridge.getSession(id))?.state === "ended", `${id} ended`);
  return (await bridge.getSession(id))!;
}

/**
 * Alice pushes `file` through the PBX on channel `uuid` and closes the
 * session once at least {@linkcode CUT} bytes are acknowledged; the id of
 * the ended session.
 */
async function cutPush(fs: FakeFreeSwitch, bridge: Bridge, uuid: string, file: Uint8Array) {
  await using endpoint = peerEndpoint();
  const caller = endpoint.createSession({ chunkSize: 32 * KiB });
  call(fs, uuid, ALICE, caller.localPath[0], selectorOf(file));
  const answer = await answerOf(fs, uuid);
  assert(!answer.includes("a=file-range"), answer);
  await endpoint.connectSession(caller, [pathOf(answer)]);
  const gate = Promise.withResolvers<void>();
  async function* partly() {
    yield file.slice(0, CUT + 32 * KiB);
    await gate.promise;
  }
  const sent = caller.send(partly(), { contentType: "image/jpeg", size: file.length });
  // The sender keeps its last chunk back until it knows whether it is the last: one more is yielded.
  await until(() => sent.bytesSent >= CUT && sent.bytesAcknowledged > 0, "the first bytes sent");
  caller.close("cut by the test");
  gate.resolve();
  const row = await ended(bridge, (await sessionOf(bridge, uuid)).id);
  await withDeadline(
    fs.waitForCommand((c) => c.line.includes("uuid_kill") && c.line.includes(uuid)),
    "the hangup",
  );
  return row.id;
}

Deno.test("service+pbx: a push through the PBX cut at 40 % resumes with a=file-range for the same caller only", async () => {
  await withFakeFreeSwitch(async ({ fs, b: { bridge } }) => {
    const file = new Random(5547).bytes(SIZE);
    const firstId = await cutPush(fs, bridge, "0a000000-0000-4000-8000-000000000001", file);
    const [first] = await messagesOf(bridge, firstId);
    assertEquals(first.status, "partial");
    assert(first.bytes >= CUT && first.bytes < SIZE, String(first.bytes));
    const held = first.bytes;

    // Another caller offering the same file continues nothing: a fresh transfer, no range …
    const bob = "0b000000-0000-4000-8000-000000000002";
    call(fs, bob, "bob@127.0.0.1:5092", "msrp://127.0.0.1:9/bob;tcp", selectorOf(file));
    assert(!(await answerOf(fs, bob)).includes("a=file-range"));
    const bobRow = await sessionOf(bridge, bob);
    assertEquals(bobRow.file?.resumes, undefined);
    await bridge.closeSession(bobRow.id, "test done");
    // … and its range past the bytes it holds (none) refuses the call.
    const bobAgain = "0b000000-0000-4000-8000-000000000003";
    call(fs, bobAgain, "bob@127.0.0.1:5092", "msrp://127.0.0.1:9/bob2;tcp", selectorOf(file), {
      start: held + 1,
      end: SIZE,
    });
    const respond = await withDeadline(
      fs.waitForCommand((c) =>
        c.name === "sendmsg" && c.args === bobAgain &&
        c.headers.get("execute-app-name") === "respond"
      ),
      "the refusal",
    );
    assertEquals(respond.headers.get("execute-app-arg"), "488");

    // The same caller, the same file, its whole range: we answer for the rest.
    const again = "0a000000-0000-4000-8000-000000000004";
    const from = "msrp://127.0.0.1:9/resumer;tcp";
    call(fs, again, ALICE, from, selectorOf(file), { start: 1, end: SIZE });
    const answer = await answerOf(fs, again);
    const lines = answer.split("\r\n");
    assert(lines.includes(`a=file-range:${held + 1}-${SIZE}`), answer);
    assert(lines.includes("a=recvonly"), answer);
    const resumed = await sessionOf(bridge, again);
    assertEquals(resumed.file?.resumes, first.id);

    const peer = await sendFileRest(pathOf(answer), from, file, held, "image/jpeg");
    const row = await ended(bridge, resumed.id);
    await peer.close();
    assertEquals(row.endReason, "file received");
    await withDeadline(
      fs.waitForCommand((c) => c.line.includes("uuid_kill") && c.line.includes(again)),
      "the hangup",
    );
    const [message] = await messagesOf(bridge, resumed.id);
    assertEquals([message.status, message.bytes, message.hashVerified], ["received", SIZE, true]);
    assertEquals(message.sha256, await sha256Of(file));
    assertEquals(await sha256Of(await Deno.readFile(message.contentPath!)), await sha256Of(file));
    // The earlier row no longer holds the content: it moved to the resumed message.
    assertEquals((await bridge.getMessage(first.id))?.contentPath, null);
  });
});
