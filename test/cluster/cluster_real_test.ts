/**
 * Two bridge processes on one PostgreSQL database and one real FreeSWITCH
 * (issue 18, "Done when"): every parked MSRP call is answered by exactly one
 * of them; a message sent through the instance that does not own the
 * session is forwarded to the owner and delivered; server-sent events on one
 * instance stream the other's events in the log's order; `kill -9` of one
 * mid-transfer makes the survivor end its sessions, publish what failed and
 * hang up its calls, and the webhooks deliver every logged event, a repeat
 * with the same delivery id. Skipped (one line) without PostgreSQL
 * (`PG_TEST_URL`, `.ci/postgres.sh start`) or FreeSWITCH (127.0.0.1:8021).
 */

import { assert, assertEquals } from "../_assert.ts";
import { skipUnlessPostgres } from "../_postgres.ts";
import { skipUnlessReachable } from "../_services.ts";
import { until, withDeadline } from "../_until.ts";
import { nextMessage } from "../_messages.ts";
import { Random } from "../_random.ts";
import {
  EventStreamReader,
  HashSink,
  openPeerSession,
  peerEndpoint,
  type ServerSentEvent,
  sha256Of,
} from "../api/_harness.ts";
import { type SipCall, SipPhone } from "../pbx/_sip_phone.ts";
import { type Cluster, CLUSTER_TOKEN, type Instance, LEASE_MS, withCluster } from "./_instances.ts";
import type { MessageView, SessionView } from "../../src/api/views.ts";
import { parseMsrpUri } from "../../src/msrp/mod.ts";
import { EslClient } from "../../src/pbx/esl_client.ts";
import { buildOffer, parseSessionDescription } from "../../src/sdp/mod.ts";
import type { MsrpEndpoint, MsrpSession, SessionOptions } from "../../src/session/mod.ts";

const FILE = "cluster_real_test";
const ESL = { hostname: "127.0.0.1", port: 8021 };
const SIP = { hostname: "127.0.0.1", port: 5080 };
const skip = await skipUnlessPostgres(FILE) ?? await skipUnlessReachable(FILE);
const ignore = skip !== undefined;

const MiB = 1024 * 1024;
const CALLS = 100;
const CALLS_AT_ONCE = 10;
const encoder = new TextEncoder();

/** An MSRP call through FreeSWITCH to extension `msrp`, answered by one of the bridges. */
interface PlacedCall {
  /** The phone's side of the SIP dialog. */
  readonly sip: SipCall;
  /** The phone's side of the MSRP session, connected by the bridge. */
  readonly caller: MsrpSession;
  /** The bridge's session id (the session-id of its `a=path`). */
  readonly sessionId: string;
  /** The MSRP port in the answer: which instance answered. */
  readonly msrpPort: number;
}

/**
 * Calls extension `msrp` with an offer from a new session of `peer` (which
 * waits for the bridge to connect, `a=setup:passive`), and waits for the
 * bridge's MSRP connection.
 */
async function placeCall(
  phone: SipPhone,
  peer: MsrpEndpoint,
  options: SessionOptions = {},
): Promise<PlacedCall> {
  const caller = peer.createSession({ acceptTypes: ["*"], ...options });
  const offer = buildOffer({
    path: caller.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["*"],
    setup: "passive",
    originUsername: "alice",
  });
  const sip = await phone.invite("msrp", offer);
  assertEquals(sip.responses.at(-1)?.startLine, "SIP/2.0 200 OK");
  const media = parseSessionDescription(sip.answerSdp).media[0];
  assert(media?.kind === "msrp", `an MSRP answer: ${sip.answerSdp}`);
  const bridgeUri = parseMsrpUri(media.path.at(-1)!);
  await withDeadline(caller.ready, `the bridge's MSRP connection for call ${sip.callId}`);
  return { sip, caller, sessionId: bridgeUri.sessionId!, msrpPort: bridgeUri.port! };
}

/** The JSON of a GET through `instance`, which must answer 200. */
async function getJson<T>(instance: Instance, path: string): Promise<T> {
  const res = await instance.request(path);
  assertEquals(res.status, 200, `GET ${path} on instance ${instance.id}`);
  return await res.json();
}

/** Server-sent events of `GET /v1/events` on `instance` after `after`, read as they come. */
async function eventStream(instance: Instance, after: number): Promise<{
  readonly events: ServerSentEvent[];
  close(): Promise<void>;
}> {
  const res = await instance.request("/v1/events", {
    headers: { "last-event-id": String(after) },
  });
  assertEquals(res.status, 200);
  const reader = new EventStreamReader(res.body!);
  const events: ServerSentEvent[] = [];
  const reading = (async () => {
    while (true) events.push(await reader.next());
  })().catch(() => {});
  return {
    events,
    async close() {
      await reader.close().catch(() => {});
      await reading;
    },
  };
}

/** The position of the newest event in the shared log; 0 when it is empty. */
async function lastSeq(cluster: Cluster): Promise<number> {
  return (await cluster.events()).at(-1)?.seq ?? 0;
}

/**
 * Checks that `seen` (server-sent events, ids after `after`) is exactly the
 * shared log from `after` up to the last id seen: strictly increasing, no
 * gaps, same types and events.
 */
async function assertLogOrder(
  cluster: Cluster,
  seen: readonly ServerSentEvent[],
  after: number,
): Promise<void> {
  const ids = seen.map((e) => Number(e.id));
  for (let i = 1; i < ids.length; i++) {
    assert(ids[i] > ids[i - 1], `event ids strictly increasing: ${ids.join(", ")}`);
  }
  const last = ids.at(-1) ?? after;
  const log = (await cluster.events()).filter((e) => e.seq > after && e.seq <= last);
  assertEquals(ids, log.map((e) => e.seq), "the stream is the log, without gaps");
  assertEquals(seen.map((e) => e.event), log.map((e) => e.type));
  assertEquals(seen.map((e) => JSON.parse(e.data).id), log.map((e) => e.event.id));
}

/** `size` random bytes in 64 KiB pieces, then a pause until `release`. */
function pausedPieces(rng: Random, size: number): {
  readonly pieces: AsyncGenerator<Uint8Array>;
  release(): void;
} {
  const { promise, resolve } = Promise.withResolvers<void>();
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < size; at += 64 * 1024) yield rng.bytes(64 * 1024);
    await promise;
  }
  return { pieces: pieces(), release: () => resolve() };
}

/**
 * POSTs a raw body over a plain TCP connection declaring `declared` bytes
 * and writing what `pieces` gives; resolves with the response (head and a
 * body of its Content-Length) once it came, or with what came before the
 * connection ended or failed.
 */
async function rawUpload(
  instance: Instance,
  path: string,
  declared: number,
  pieces: AsyncIterable<Uint8Array>,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: instance.httpPort });
  const write = async (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
  };
  let answer = "";
  try {
    await write(encoder.encode(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${instance.httpPort}\r\n` +
        `Authorization: Bearer ${CLUSTER_TOKEN}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`,
    ));
    for await (const piece of pieces) await write(piece);
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    while (true) {
      const head = answer.indexOf("\r\n\r\n");
      const length = /^content-length: *(\d+)/im.exec(answer.slice(0, head));
      if (head >= 0 && answer.length >= head + 4 + Number(length?.[1] ?? 0)) return answer;
      const n = await conn.read(buffer);
      if (n === null) return answer || "connection closed";
      answer += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } catch (e) {
    return answer || (e instanceof Error ? e.message : String(e));
  } finally {
    conn.close();
  }
}

Deno.test({
  name: `two bridges on one FreeSWITCH: each of ${CALLS} MSRP calls is answered by exactly one ` +
    "of them (one session row per channel, owned by the instance whose SDP answered), none missed",
  ignore,
  async fn() {
    await withCluster({ esl: ESL }, async (cluster) => {
      const a = await cluster.start("a");
      const b = await cluster.start("b");
      const byPort = new Map([[a.msrpPort, a.id], [b.msrpPort, b.id]]);
      await using peer = peerEndpoint();
      const phone = await SipPhone.open({ server: SIP });
      const calls: PlacedCall[] = [];
      try {
        while (calls.length < CALLS) {
          const batch = Array.from({ length: CALLS_AT_ONCE }, () => placeCall(phone, peer));
          calls.push(...await Promise.all(batch));
        }
        assertEquals(new Set(calls.map((c) => c.sip.callId)).size, CALLS);
        assertEquals(new Set(calls.map((c) => c.sessionId)).size, CALLS);
        for (const call of calls) assert(byPort.has(call.msrpPort), "answered by a or b");

        const rows = await cluster.sessions();
        assertEquals(rows.length, CALLS, "one session row per call, none twice");
        const channels = new Set(rows.map((r) => r.channelUuid));
        assertEquals(channels.size, CALLS, "distinct channel UUIDs");
        assert(!channels.has(null), "every row names its channel");
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const call of calls) {
          const row = byId.get(call.sessionId);
          assert(row !== undefined, `a row for the session of call ${call.sip.callId}`);
          assertEquals(row.callId, call.sip.callId);
          assertEquals(
            row.instanceId,
            byPort.get(call.msrpPort),
            "owned by the instance that answered",
          );
        }
        const claims = await cluster.claims();
        assertEquals([...claims.keys()].filter((k) => k.startsWith("call:")).length, CALLS);
        for (const row of rows) assertEquals(claims.get(`call:${row.channelUuid}`), row.instanceId);

        // Either instance lists them all from the shared store.
        for (const instance of [a, b]) {
          const page = await getJson<{ items: SessionView[] }>(instance, "/v1/sessions?limit=1000");
          assertEquals(
            page.items.map((s) => s.id).sort(),
            [...byId.keys()].sort(),
            `the sessions listed by instance ${instance.id}`,
          );
        }

        // Each owner serves its calls' hang-ups.
        for (let at = 0; at < calls.length; at += CALLS_AT_ONCE) {
          const statuses = await Promise.all(
            calls.slice(at, at + CALLS_AT_ONCE).map((c) => c.sip.bye()),
          );
          assertEquals(statuses, statuses.map(() => 200));
        }
        await until(
          async () => (await cluster.sessions()).every((r) => r.state === "ended"),
          "every session ended after the BYEs",
        );
      } finally {
        await phone.close();
      }
    });
  },
});

/** The message `id` read through `instance`, once `predicate` holds for it. */
async function messageWhere(
  instance: Instance,
  id: string,
  what: string,
  predicate: (m: MessageView) => boolean,
): Promise<MessageView> {
  let found: MessageView | undefined;
  await until(async () => {
    found = await getJson<MessageView>(instance, `/v1/messages/${id}`);
    return predicate(found);
  }, `${what} (message ${id} through instance ${instance.id})`);
  return found!;
}

Deno.test({
  name: "two bridges: a text and a 1 MiB body sent through the instance that does not own the " +
    "call's session are forwarded to the owner, reach the MSRP peer intact, and read as sent " +
    "through either instance",
  ignore,
  async fn() {
    await withCluster({ esl: ESL }, async (cluster) => {
      // A alone sees the call, so A answers it; B starts after.
      const a = await cluster.start("a");
      await using peer = peerEndpoint();
      const phone = await SipPhone.open({ server: SIP });
      try {
        const call = await placeCall(phone, peer);
        assertEquals(call.msrpPort, a.msrpPort);
        const b = await cluster.start("b");
        assertEquals((await cluster.sessions()).map((r) => r.instanceId), ["a"]);

        const text = nextMessage(call.caller);
        const sent = await b.json("POST", `/v1/sessions/${call.sessionId}/messages`, {
          text: "sent through b ✓",
        });
        assertEquals(sent.status, 202);
        const { messageId: textId } = await sent.json();
        assertEquals((await text).text(), "sent through b ✓");

        const body = new Random(18).bytes(MiB);
        const file = nextMessage(call.caller);
        const uploaded = await b.upload(
          `/v1/sessions/${call.sessionId}/messages`,
          (async function* () {
            for (let at = 0; at < body.length; at += 64 * 1024) {
              yield body.slice(at, at + 64 * 1024);
            }
          })(),
          body.length,
          "application/octet-stream",
        );
        assertEquals(uploaded.status, 202);
        const { messageId: fileId } = await uploaded.json();
        const got = await file;
        assertEquals(got.contentType, "application/octet-stream");
        assertEquals(await sha256Of(got.body()), await sha256Of(body));

        for (const instance of [a, b]) {
          for (const id of [textId, fileId]) {
            const row = await messageWhere(
              instance,
              id,
              "its row sent",
              (m) => m.status === "sent" || m.status === "delivered",
            );
            assertEquals(row.sessionId, call.sessionId);
          }
        }
        assertEquals((await b.request(`/v1/messages/${fileId}`).then((r) => r.json())).size, MiB);
        await call.sip.bye();
      } finally {
        await phone.close();
      }
    });
  },
});

Deno.test({
  name: "two bridges: server-sent events on B stream the events of A's session (started, " +
    "delivered, received, ended) in the log's order: strictly increasing ids, no gaps",
  ignore,
  async fn() {
    await withCluster({ esl: ESL }, async (cluster) => {
      const a = await cluster.start("a");
      const b = await cluster.start("b");
      const after = await lastSeq(cluster);
      const stream = await eventStream(b, after);
      await using peer = peerEndpoint();
      try {
        const s = await openPeerSession(a, peer);
        assertEquals((await cluster.sessions()).find((r) => r.id === s.id)?.instanceId, "a");
        for (const [i, instance] of [a, b, a].entries()) {
          const res = await instance.json("POST", `/v1/sessions/${s.id}/messages`, {
            text: `out ${i}`,
            report: true,
          });
          assertEquals(res.status, 202);
          await res.body?.cancel();
        }
        assertEquals((await s.session.send("in 0").done).status, "sent");
        const closed = await b.request(`/v1/sessions/${s.id}`, { method: "DELETE" });
        assertEquals(closed.status, 204);

        const ofSession = () =>
          stream.events.filter((e) => JSON.parse(e.data).data?.sessionId === s.id);
        await until(
          () => ofSession().some((e) => e.event === "session.ended"),
          "session.ended of A's session on B's stream",
        );
        const types = ofSession().map((e) => e.event);
        assertEquals(types[0], "session.started");
        assertEquals(types.at(-1), "session.ended");
        assertEquals(types.filter((t) => t === "message.delivered").length, 3);
        assertEquals(types.filter((t) => t === "message.received").length, 1);
        await assertLogOrder(cluster, stream.events, after);
      } finally {
        await stream.close();
      }
    });
  },
});

Deno.test({
  name: "kill -9 of A mid-transfer: once A's lease has passed B ends A's sessions ('instance a " +
    "lost'), fails its transfers, publishes session.ended and message.failed and hangs up its " +
    "calls on FreeSWITCH; the upload B was forwarding gets 503 naming A; the webhooks deliver " +
    "every logged event, a repeat with its first delivery id",
  ignore,
  async fn() {
    await withCluster({ esl: ESL, webhooks: true }, async (cluster) => {
      const receiver = cluster.receiver!;
      const rng = new Random(1804);
      const a = await cluster.start("a");
      await using peer = peerEndpoint();
      const phone = await SipPhone.open({ server: SIP });
      try {
        // Two calls answered by A (alone on the PBX): one receives an upload, one sends a file.
        const sinks: HashSink[] = [];
        const upCall = await placeCall(phone, peer, {
          sink: (info) => {
            const sink = new HashSink(info);
            sinks.push(sink);
            return sink;
          },
        });
        const fileCall = await placeCall(phone, peer);
        const b = await cluster.start("b");
        const after = await lastSeq(cluster);
        const stream = await eventStream(b, after);
        try {
          const rows = await cluster.sessions();
          assertEquals(rows.map((r) => r.instanceId), ["a", "a"]);
          const channels = rows.map((r) => r.channelUuid!);

          // An upload through B (forwarded to A) and a file from the peer, 64 MiB each, paused.
          const declared = 64 * MiB;
          const upload = pausedPieces(rng, 4 * MiB);
          const uploaded = rawUpload(
            b,
            `/v1/sessions/${upCall.sessionId}/messages`,
            declared,
            upload.pieces,
          );
          const incoming = pausedPieces(rng, 4 * MiB);
          const sending = fileCall.caller.send(
            ReadableStream.from(incoming.pieces),
            { contentType: "application/octet-stream", size: declared },
          );
          await until(() => (sinks[0]?.bytes ?? 0) >= 2 * MiB, "the upload reaching the peer");
          await until(() => sending.bytesAcknowledged >= 2 * MiB, "the file reaching A");
          // A webhook delivery in flight at the kill: held by the receiver.
          const { promise: hold, resolve: releaseHold } = Promise.withResolvers<void>();
          receiver.hold = hold;
          const text = await a.json("POST", `/v1/sessions/${fileCall.sessionId}/messages`, {
            text: "last words",
          });
          assertEquals(text.status, 202);
          await until(() => receiver.held > 0, "a webhook delivery in flight");

          assertEquals((await a.kill("SIGKILL")).signal, "SIGKILL");
          receiver.hold = undefined;
          releaseHold();
          upload.release();
          incoming.release();

          // B notices once the lease has passed (the wait is a hang guard, not a timing check).
          const reason = "instance a lost";
          await until(
            async () => (await cluster.sessions()).every((r) => r.state === "ended"),
            `A's sessions ended by B (lease ${LEASE_MS} ms)`,
          );
          for (const row of await cluster.sessions()) assertEquals(row.endReason, reason);
          for (const call of [upCall, fileCall]) {
            const view = await getJson<SessionView>(b, `/v1/sessions/${call.sessionId}`);
            assertEquals([view.state, view.endReason], ["ended", reason]);
          }
          const messages = [
            ...(await getJson<{ items: MessageView[] }>(
              b,
              `/v1/sessions/${upCall.sessionId}/messages`,
            )).items,
            ...(await getJson<{ items: MessageView[] }>(
              b,
              `/v1/sessions/${fileCall.sessionId}/messages`,
            )).items,
          ];
          const big = messages.filter((m) => m.size === declared);
          assertEquals(
            big.map((m) => [m.direction, m.status, m.error?.reason]).sort(),
            [["in", "partial", reason], ["out", "failed", reason]],
          );

          // Its calls are hung up on FreeSWITCH: the phone gets BYE, the channels are gone.
          await Promise.all([upCall.sip.remoteBye, fileCall.sip.remoteBye]);
          const esl = new EslClient(ESL).start();
          try {
            await withDeadline(esl.whenConnected(), "an ESL connection");
            for (const uuid of channels) {
              assertEquals((await esl.api(`uuid_exists ${uuid}`)).trim(), "false");
            }
          } finally {
            await esl.close();
          }
          assertEquals((await sending.done).status, "failed");
          // The upload B was forwarding: a 503 problem naming the lost owner.
          const cut = await withDeadline(uploaded, "the answer to the cut upload");
          assert(cut.startsWith("HTTP/1.1 503 "), `the cut upload's answer: ${cut}`);
          const problem = JSON.parse(cut.slice(cut.indexOf("\r\n\r\n") + 4));
          assertEquals([problem.status, problem.owner], [503, "a"]);
          assert(problem.type.endsWith("/instance-unavailable"), problem.type);

          // B publishes what A left: session.ended for both, message.failed for both transfers.
          const ofEvents = (type: string) =>
            stream.events.filter((e) => e.event === type).map((e) => JSON.parse(e.data).data);
          await until(
            () =>
              ofEvents("session.ended").length === 2 &&
              big.every((m) => ofEvents("message.failed").some((d) => d.messageId === m.id)),
            "session.ended and message.failed on B's stream",
          );

          // Webhooks continue: a call B answers now, ended, is delivered like the rest.
          const later = await placeCall(phone, peer);
          assertEquals(later.msrpPort, b.msrpPort);
          assertEquals(await later.sip.bye(), 200);
          const log = async () => (await cluster.events()).map((e) => e.event.id);
          await until(async () => {
            const delivered = new Set(receiver.attempts.map((t) => t.event.id));
            const ids = await log();
            return ids.filter((id) => !delivered.has(id)).length === 0 &&
              (await cluster.events()).filter((e) => e.type === "session.ended").length === 3;
          }, "every logged event delivered");
          const ids = await log();
          assertEquals(receiver.rejected, 0);
          const byEvent = new Map<string, Set<string>>();
          for (const t of receiver.attempts) {
            assert(ids.includes(t.event.id), `a delivered event is in the log: ${t.event.type}`);
            assertEquals(t.type, t.event.type, "X-Msrp-Bridge-Event names the event's type");
            byEvent.set(t.event.id, (byEvent.get(t.event.id) ?? new Set()).add(t.deliveryId));
          }
          for (const [id, deliveries] of byEvent) {
            assertEquals(deliveries.size, 1, `event ${id}: every attempt has one delivery id`);
          }
          const deliveryIds = [...byEvent.values()].map((d) => [...d][0]);
          assertEquals(new Set(deliveryIds).size, byEvent.size, "one delivery per event");
          await assertLogOrder(cluster, stream.events, after);
        } finally {
          await stream.close();
        }
      } finally {
        await phone.close();
      }
    });
  },
});
