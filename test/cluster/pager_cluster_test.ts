/**
 * Pager mode with two bridge processes on one PostgreSQL database attached
 * to one event socket (the FreeSWITCH double, which fires each event to
 * every subscribed connection alike): every SIP MESSAGE event both bridges
 * see becomes one `pager.received`. Skipped (one line) without PostgreSQL
 * (`PG_TEST_URL`, `.ci/postgres.sh start`).
 */

import { assertEquals } from "../_assert.ts";
import { skipUnlessPostgres } from "../_postgres.ts";
import { until } from "../_until.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { withCluster } from "./_instances.ts";

const skip = await skipUnlessPostgres("pager_cluster_test");

const MESSAGES = 20;

Deno.test({
  name: "two bridges on one event socket: each pager MESSAGE event both receive is published " +
    "once as pager.received, by the instance that claimed it",
  ignore: skip !== undefined,
  async fn() {
    const fs = new FakeFreeSwitch();
    try {
      await withCluster({ esl: { port: fs.port } }, async (cluster) => {
        const a = await cluster.start("a");
        const b = await cluster.start("b");
        const subscribed = () =>
          fs.commands.filter((c) => /^event .*\bMESSAGE\b/.test(c.command.line)).length;
        await until(() => subscribed() === 2, "both bridges subscribed to MESSAGE");

        const texts = Array.from({ length: MESSAGES }, (_, i) => `pager ${i}`);
        for (const text of texts) {
          const sentTo = fs.emit("MESSAGE", [
            ["from", "alice@192.0.2.20"],
            ["to", "chat@192.0.2.10"],
            ["type", "text/plain"],
          ], text);
          assertEquals(sentTo, 2, "the event reaches both bridges");
        }
        const published = async () =>
          (await cluster.events()).filter((e) => e.type === "pager.received");
        await until(
          async () => (await published()).length >= MESSAGES,
          "a pager.received for every MESSAGE",
        );
        // A bridge stopping finishes what it received first: each has decided every claim.
        await a.kill("SIGTERM");
        await b.kill("SIGTERM");

        const events = await published();
        assertEquals(
          events.map((e) => (e.event.data as { text: string }).text).sort(),
          [...texts].sort(),
          "each MESSAGE published exactly once",
        );
        const claims = [...(await cluster.claims())].filter(([key]) => key.startsWith("pager:"));
        assertEquals(claims.length, MESSAGES);
        for (const [, owner] of claims) assertEquals(["a", "b"].includes(owner), true);
      });
    } finally {
      await fs.close();
    }
  },
});
