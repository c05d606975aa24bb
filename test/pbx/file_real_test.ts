/**
 * RFC 5547 file transfer through a real FreeSWITCH (shared/freeswitch,
 * started with `.ci/freeswitch.sh start`; `ESL_HOST`, `ESL_PORT`,
 * `ESL_PASSWORD` and `FS_SIP_URI` from its output, defaulting to what it
 * prints): a SIP phone pushes a file to the `msrp` extension, which the
 * bridge answers over ESL; and `POST /v1/files` pushes one through the `out`
 * extension to a SIP endpoint that FreeSWITCH bridges the INVITE to. Skipped
 * when FreeSWITCH is not reachable.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { headerOf } from "../../src/pbx/_sip_message.ts";
import type {
  FileTransferData,
  MessageEventData,
  SessionEventData,
} from "../../src/webhooks/mod.ts";
import { peerEndpoint } from "../api/_harness.ts";
import { answeringUas } from "./_fake_uas.ts";
import {
  eventOf,
  FS,
  sessionOfCall,
  sha1Selector,
  TRANSFER_ID,
  withFreeSwitch,
  withPhone,
} from "./_real_files.ts";
import { skipUnlessReachable } from "../_services.ts";

const skip = await skipUnlessReachable("file_real_test", Number(FS.ESL_PORT), FS.ESL_HOST);

const MiB = 1024 * 1024;
const random = new Random(5547_17);

Deno.test({
  name: "real FreeSWITCH: a 50 MiB file pushed by a SIP phone (RFC 5547, sha-1) arrives with " +
    "its name and a verified hash, message.received carries file and hashVerified, BYE follows",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withFreeSwitch((h) =>
      withPhone(async (push) => {
        const file = random.bytes(50 * MiB);
        const hash = { algorithm: "sha-1", value: sha1Selector(file) };
        const selector = {
          name: "holiday photos.zip",
          type: "application/zip",
          size: file.length,
          hash,
        };
        const { call, session, offer } = await push(selector);
        assert(offer.split("\r\n").includes("a=sendonly"), offer);

        // The answer receives the push and echoes the selector and transfer id.
        const answer = call.answerSdp.split("\r\n");
        assert(answer.includes("a=recvonly"), call.answerSdp);
        assert(answer.includes(`a=file-transfer-id:${TRANSFER_ID}`));
        assert(answer.some((l) => l.startsWith("a=file-selector:") && l.includes(hash.value)));

        const id = await sessionOfCall(h, call.callId);
        const shown = await (await h.request(`/v1/sessions/${id}`)).json();
        assertEquals(shown.kind, "file-transfer");
        assertEquals(
          [shown.file.name, shown.file.type, shown.file.size, shown.file.hash],
          [selector.name, selector.type, file.length, hash],
        );
        assertEquals(shown.file.transferId, TRANSFER_ID);

        const sent = await session.send(file, { contentType: "application/zip" }).done;
        assertEquals(sent.status, "sent");
        const received = await eventOf<MessageEventData>(h, "message.received", id);
        assertEquals(received.hashVerified, true);
        assertEquals(received.file?.name, selector.name);
        assertEquals(received.file?.hash, hash);
        assertEquals(received.bytes, file.length);

        // The call is hung up once the file is in: the phone gets BYE through FreeSWITCH.
        await call.remoteBye;
        const ended = await eventOf<SessionEventData>(h, "session.ended", id);
        assertEquals(ended.endReason, "file received");

        // The stored content is the file, byte for byte.
        const row = await (await h.request(`/v1/messages/${received.messageId}`)).json();
        assertEquals([row.status, row.hashVerified], ["received", true]);
        const content = await h.request(`/v1/messages/${received.messageId}/content`);
        const digest = createHash("sha256");
        for await (const piece of content.body!) digest.update(piece);
        assertEquals(
          digest.digest("hex"),
          createHash("sha256").update(file).digest("hex"),
        );
      })
    );
  },
});

Deno.test({
  name: "real FreeSWITCH: a file whose offered hash is wrong fails with 'hash mismatch'",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withFreeSwitch((h) =>
      withPhone(async (push) => {
        const file = random.bytes(3 * MiB);
        const wrong = sha1Selector(random.bytes(16));
        const hash = { algorithm: "sha-1", value: wrong };
        const { call, session } = await push({
          name: "tampered.bin",
          type: "application/octet-stream",
          size: file.length,
          hash,
        });
        const id = await sessionOfCall(h, call.callId);
        await session.send(file, { contentType: "application/octet-stream" }).done;

        const failed = await eventOf<MessageEventData>(h, "message.failed", id);
        assertEquals(failed.hashVerified, false);
        assertEquals(failed.error?.reason, "hash mismatch");
        assertEquals(failed.file?.name, "tampered.bin");
        const ended = await eventOf<SessionEventData>(h, "session.ended", id);
        assertEquals(ended.endReason, "file transfer failed: hash mismatch");
        await call.remoteBye;
        const events = (await h.bridge.eventsSince(0, 1000)).map((e) => e.type);
        assert(!events.includes("message.received"), events.join(", "));
      })
    );
  },
});

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024);
}

Deno.test({
  name: "real FreeSWITCH: POST /v1/files delivers a file to a SIP endpoint through the out " +
    "extension, with a success REPORT, file.delivered and BYE",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using peer = peerEndpoint();
    const callee = peer.createSession();
    const uas = answeringUas(peer, callee);
    try {
      await withFreeSwitch(async (h) => {
        const file = random.bytes(8 * MiB);
        const to = `sip:bob@127.0.0.1:${uas.port};transport=tcp`;
        const query = new URLSearchParams({
          to,
          name: "contract v2.pdf",
          type: "application/pdf",
          disposition: "attachment",
        });
        const received = callee.messages()[Symbol.asyncIterator]().next();
        const response = await h.upload(
          `/v1/files?${query}`,
          pieces(file),
          file.length,
          "application/pdf",
        );
        assertEquals(response.status, 202, await response.clone().text());
        const accepted = await response.json();

        // FreeSWITCH bridged the bridge's INVITE to us with the RFC 5547 offer unchanged.
        const invite = await uas.request("INVITE");
        const lines = invite.body.split("\r\n");
        assert(lines.includes("a=sendonly"), invite.body);
        assert(
          lines.includes(
            `a=file-selector:name:"contract v2.pdf" type:application/pdf size:${file.length} ` +
              `hash:sha-1:${sha1Selector(file)}`,
          ),
          invite.body,
        );

        const message = (await received).value!;
        assertEquals(message.contentType, "application/pdf");
        assertEquals(message.body(), file);

        const delivered = await eventOf<FileTransferData>(h, "file.delivered", accepted.id);
        assertEquals([delivered.status, delivered.bytesSent, delivered.to], [
          "delivered",
          file.length,
          to,
        ]);
        // `delivered` is set by the success REPORT the sender asked for.
        const rows = (await (await h.request(`/v1/sessions/${accepted.id}/messages`)).json())
          .items;
        assertEquals(rows.map((m: { status: string }) => m.status), ["delivered"]);

        // The session ends with the transfer: FreeSWITCH passes the BYE on to the endpoint.
        const bye = await uas.request("BYE");
        assertEquals(headerOf(bye, "call-id"), headerOf(invite, "call-id"));
        const session = (await h.bridge.getSession(accepted.id))!;
        assertEquals([session.state, session.endReason], ["ended", "file delivered"]);
      });
    } finally {
      await uas.close();
    }
  },
});
