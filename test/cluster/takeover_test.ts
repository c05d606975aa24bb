/**
 * An instance that stalls past its lease (SIGSTOP) is taken over by the
 * other, and when it runs again (SIGCONT) it ends the sessions it still
 * holds without publishing their end twice. Two bridge processes on one
 * PostgreSQL database, no PBX. Skipped (one line) without PostgreSQL
 * (`PG_TEST_URL`, `.ci/postgres.sh start`).
 */

import { assert, assertEquals } from "../_assert.ts";
import { skipUnlessPostgres } from "../_postgres.ts";
import { until } from "../_until.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { withCluster } from "./_instances.ts";

const skip = await skipUnlessPostgres("takeover_test");

Deno.test({
  name: "an instance that stalls past its lease is taken over; when it runs again it ends the " +
    "sessions it still holds (the MSRP peer sees the end) and session.ended is published once",
  ignore: skip !== undefined,
  async fn() {
    const peer = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
    try {
      await withCluster({}, async (cluster) => {
        const a = await cluster.start("a");
        await cluster.start("b");
        const caller = peer.createSession();
        const offer = buildOffer({
          path: caller.localPath,
          address: "127.0.0.1",
          port: peer.port,
          acceptTypes: ["text/plain"],
          setup: "passive",
        });
        const created = await a.json("POST", "/v1/sessions", { offer });
        assertEquals(created.status, 201);
        const { id } = await created.json();
        await caller.ready;
        const row = async () => (await cluster.sessions()).find((s) => s.id === id);
        assertEquals((await row())?.instanceId, "a");

        a.signal("SIGSTOP");
        try {
          await until(async () => (await row())?.state === "ended", "b to take a over");
          assertEquals((await row())?.endReason, "instance a lost");
        } finally {
          a.signal("SIGCONT");
        }
        await until(() => caller.closed, "the peer's session to end");
        await until(
          () => a.logs().some((l) => l.includes("this instance was taken over")),
          "a to notice",
        );
        const ended = (await cluster.events()).filter((e) =>
          e.type === "session.ended" && (e.event.data as { sessionId: string }).sessionId === id
        );
        assertEquals(ended.length, 1, "one session.ended");
        assertEquals((await row())?.endReason, "instance a lost");
        const ready = await a.request("/readyz");
        await ready.body?.cancel();
        assert(ready.ok, "a takes work again");
      });
    } finally {
      await peer.close();
    }
  },
});
