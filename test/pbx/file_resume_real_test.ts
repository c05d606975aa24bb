/**
 * Resuming RFC 5547 file transfers through a real FreeSWITCH (RFC 5547 §8,
 * `a=file-range`), both ways, each cut at 40 % by a BYE: a SIP phone that
 * pushes a file to the `msrp` extension hangs up and calls again with the
 * same file, and `POST /v1/files` to a SIP endpoint behind the `out`
 * extension, which hangs up, is sent again with `?resume=`. Real SIP and
 * ESL through FreeSWITCH, real TCP MSRP, real HTTP and SQLite. Skipped when
 * FreeSWITCH is not reachable.
 */

import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildAnswer, type FileRange, parseSessionDescription } from "../../src/sdp/mod.ts";
import type { MsrpMediaDescription } from "../../src/sdp/mod.ts";
import type { IncomingMessageSink, MsrpSession } from "../../src/session/mod.ts";
import type {
  FileTransferData,
  MessageEventData,
  SessionEventData,
} from "../../src/webhooks/mod.ts";
import { type Harness, peerEndpoint, sha256Of, waitUntil } from "../api/_harness.ts";
import { FakeUas } from "./_fake_uas.ts";
import {
  eventOf,
  FS,
  sessionOfCall,
  sha1Selector,
  withFreeSwitch,
  withPhone,
} from "./_real_files.ts";
import { skipUnlessReachable } from "../_services.ts";

const skip = await skipUnlessReachable("file_resume_real_test", Number(FS.ESL_PORT), FS.ESL_HOST);

const KiB = 1024;
/** The chunk size of both sides (the bridge's default, the phone's own). */
const CHUNK = 64 * KiB;
const SIZE = 80 * CHUNK;
/** Where the first call is cut: 40 % of the file, on a chunk boundary. */
const CUT = 32 * CHUNK;
const random = new Random(5547_8_2);

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 256 * KiB) yield bytes.subarray(i, i + 256 * KiB);
}

/** The `a=file-range` and `a=file-transfer-id` lines of an SDP. */
function fileLines(sdp: string): { range: string[]; transferId: string[] } {
  const lines = sdp.split("\r\n");
  return {
    range: lines.filter((l) => l.startsWith("a=file-range:")),
    transferId: lines.filter((l) => l.startsWith("a=file-transfer-id:")),
  };
}

/** The content of message `id` as the API serves it: its SHA-256. */
async function contentSha256(h: Harness, id: string): Promise<string> {
  const content = await h.request(`/v1/messages/${id}/content`);
  assertEquals(content.status, 200);
  return await sha256Of(content.body!);
}

Deno.test({
  name: "real FreeSWITCH: a file a SIP phone pushes, cut at 40 % by its BYE, resumes when it " +
    "calls again with a=file-range: FreeSWITCH's 200 OK narrows the range, the file is whole " +
    "with a verified hash",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withFreeSwitch((h) =>
      withPhone(async (push) => {
        const file = random.bytes(SIZE);
        const hash = { algorithm: "sha-1", value: sha1Selector(file) };
        const selector = { name: "site survey.zip", type: "application/zip", size: SIZE, hash };

        // The first call: the phone sends 40 % of the file, then hangs up.
        const first = await push(selector);
        const firstId = await sessionOfCall(h, first.call.callId);
        const gate = Promise.withResolvers<void>();
        async function* partly() {
          // The sender keeps its last chunk back until it knows whether it is the last: one more.
          yield file.subarray(0, CUT + CHUNK);
          await gate.promise;
        }
        const sending = first.session.send(partly(), {
          contentType: "application/zip",
          size: SIZE,
        });
        await waitUntil(() => sending.bytesAcknowledged >= CUT, "40 % of the file acknowledged");
        assertEquals(await first.call.bye(), 200);
        first.session.close("the call was cut");
        gate.resolve();
        await eventOf<SessionEventData>(h, "session.ended", firstId);
        const [partial] = (await h.bridge.listMessages(firstId)).items;
        assertEquals(partial.status, "partial");
        const held = partial.bytes;
        assert(held >= CUT && held < SIZE, `the bridge holds ${held} bytes`);

        // The phone calls again, the same file from its start: the 200 OK asks for the rest.
        const again = await push(selector, {
          transferId: "resumedYuBRVoUPGVsFZkCK98vzcX2FX",
          range: { start: 1, end: SIZE },
        });
        assertEquals(fileLines(again.call.answerSdp).range, [`a=file-range:${held + 1}-${SIZE}`]);
        const id = await sessionOfCall(h, again.call.callId);
        assertEquals((await h.bridge.getSession(id))?.file?.resumes, partial.id);

        const rest = again.session.send(pieces(file.subarray(held)), {
          contentType: "application/zip",
          size: SIZE,
          startOffset: held,
        });
        assertEquals((await rest.done).status, "sent");
        const received = await eventOf<MessageEventData>(h, "message.received", id);
        assertEquals([received.bytes, received.hashVerified], [SIZE, true]);
        await again.call.remoteBye;
        const ended = await eventOf<SessionEventData>(h, "session.ended", id);
        assertEquals(ended.endReason, "file received");
        assertEquals(await contentSha256(h, received.messageId), await sha256Of(file));
      })
    );
  },
});

/**
 * What a SIP endpoint holds of a file sent to it over several calls: the
 * bytes each call's message wrote at their file offsets, in order.
 */
class EndpointCopy {
  readonly bytes = new Uint8Array(SIZE);
  /** The file's first bytes held. */
  stored = 0;

  /**
   * A sink for one call's message, numbered as the file (RFC 5547 §8): it
   * holds the bytes stored before; a write reaching past `stopAt` waits for
   * `stall` and keeps nothing, so its chunk is never acknowledged.
   */
  sink(stopAt = SIZE, stall?: Promise<void>): IncomingMessageSink {
    return {
      held: this.stored,
      write: (offset, bytes) => {
        if (offset + bytes.length > stopAt) return stall;
        this.bytes.set(bytes, offset);
        this.stored = Math.max(this.stored, offset + bytes.length);
      },
      close() {},
    };
  }
}

Deno.test({
  name: "real FreeSWITCH: POST /v1/files to a SIP endpoint that hangs up at 40 % resumes with " +
    "?resume=: the new INVITE offers the rest with a new transfer id, the endpoint's answer " +
    "narrows it, file.delivered and the endpoint holds the file",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using peer = peerEndpoint();
    const copy = new EndpointCopy();
    const stall = Promise.withResolvers<void>();
    const callees: MsrpSession[] = [];
    const answered: FileRange[] = [];
    // The endpoint takes the first call up to 40 %, and the rest of the file on a call offering a range.
    const uas = new FakeUas((invite) => {
      const media = parseSessionDescription(invite.body).media[0] as MsrpMediaDescription;
      const resumed = media.fileTransfer?.range !== undefined;
      const callee = peer.createSession({
        sink: () => resumed ? copy.sink() : copy.sink(CUT, stall.promise),
      });
      callees.push(callee);
      const fileRange = resumed ? { start: copy.stored + 1, end: SIZE } : undefined;
      if (fileRange) answered.push(fileRange);
      const { sdp } = buildAnswer(invite.body, {
        path: callee.localPath,
        address: "127.0.0.1",
        port: peer.port,
        acceptTypes: ["*"],
        ...(fileRange ? { fileRange } : {}),
      });
      return { status: 200, reason: "OK", sdp };
    });
    try {
      await withFreeSwitch(async (h) => {
        const file = random.bytes(SIZE);
        const to = `sip:carol@127.0.0.1:${uas.port};transport=tcp`;
        const query = new URLSearchParams({ to, name: "floor plan.pdf", type: "application/pdf" });
        const response = await h.upload(
          `/v1/files?${query}`,
          pieces(file),
          SIZE,
          "application/pdf",
        );
        assertEquals(response.status, 202, await response.clone().text());
        const first: FileTransferData = await response.json();

        // The endpoint stores 40 % of the file, then hangs up.
        await waitUntil(() => copy.stored >= CUT, "40 % of the file at the endpoint");
        await uas.bye();
        const failed = await eventOf<FileTransferData>(h, "file.failed", first.id);
        assertEquals(failed.status, "failed");
        stall.resolve();
        assertEquals(copy.stored, CUT);

        const resumed = await h.request(`/v1/files?resume=${first.id}`, { method: "POST" });
        assertEquals(resumed.status, 202, await resumed.clone().text());
        const second: FileTransferData = await resumed.json();
        // FreeSWITCH passed the offer on: the same selector, a new transfer id, the bytes after
        // those the endpoint confirmed; the endpoint narrows it to the bytes after those it holds.
        const [inviteA, inviteB] = uas.requests.filter((r) => r.startLine.startsWith("INVITE "));
        const [selectorA, selectorB] = [inviteA, inviteB].map((i) =>
          i.body.split("\r\n").find((l) => l.startsWith("a=file-selector:"))
        );
        assertEquals(selectorB, selectorA);
        const [linesA, linesB] = [fileLines(inviteA.body), fileLines(inviteB.body)];
        assert(linesB.transferId[0] !== linesA.transferId[0], linesB.transferId[0]);
        const [offered] = linesB.range;
        const confirmed = Number(/^a=file-range:(\d+)-/.exec(offered ?? "")?.[1]) - 1;
        assertEquals(offered, `a=file-range:${confirmed + 1}-${SIZE}`);
        assert(confirmed > 0 && confirmed <= CUT, offered);
        assertEquals(answered, [{ start: CUT + 1, end: SIZE }]);

        const delivered = await eventOf<FileTransferData>(h, "file.delivered", second.id);
        assertEquals([delivered.status, delivered.bytesSent], ["delivered", SIZE - CUT]);
        await uas.request("BYE");
        assertEquals(copy.stored, SIZE);
        assertEquals(await sha256Of(copy.bytes), await sha256Of(file));
        assertEquals((await (await h.request(`/v1/files/${first.id}`)).json()).status, "failed");
      });
    } finally {
      for (const callee of callees) callee.close("test done");
      await uas.close();
    }
  },
});
