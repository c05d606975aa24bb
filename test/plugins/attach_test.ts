import { nextMessage } from "../_messages.ts";
import { assert, assertEquals } from "../_assert.ts";
import { withDeadline } from "../_until.ts";
import { Logger } from "../../src/log.ts";
import { MsrpEndpoint, type MsrpSession } from "../../src/session/mod.ts";
import {
  attachPlugins,
  type MessageRejection,
  type PluginDelivery,
  type PluginMessage,
  PluginRunner,
} from "../../src/plugins/mod.ts";
import {
  buildIsComposing,
  IS_COMPOSING_TYPE,
  plugin as isComposing,
} from "../../plugins/is-composing.ts";

/** The hang guard of this file's waits (not a timing check). */
const GUARD_MS = 10_000;

/** Two endpoints on 127.0.0.1 with `count` connected session pairs: `a[i]` active, `b[i]` passive. */
async function pairs(count = 1) {
  const ea = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const eb = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  const a: MsrpSession[] = [];
  const b: MsrpSession[] = [];
  for (let i = 0; i < count; i++) {
    b.push(eb.createSession());
    a.push(ea.createSession());
    await withDeadline(ea.connectSession(a[i], [b[i].localUri]), "the connection", GUARD_MS);
    await withDeadline(b[i].ready, "the passive session", GUARD_MS);
  }
  return {
    a,
    b,
    eb,
    async [Symbol.asyncDispose]() {
      await ea.close();
      await eb.close();
    },
  };
}

Deno.test("attachPlugins with echo: a text sent by A comes back to A", async () => {
  await using runner = await PluginRunner.load(["echo"], {
    env: { PLUGIN_ECHO_PREFIX: "echo: " },
    logger: new Logger("error"),
  });
  await using p = await pairs();
  const forApp: string[] = [];
  const attachment = attachPlugins(runner, p.b[0], { direction: "in" }, {
    onMessage: (message) => forApp.push(message.text()),
  });
  const echoed = nextMessage(p.a[0]);
  const sent = p.a[0].send("hello");
  const back = await echoed;
  assertEquals([back.contentType, back.text()], ["text/plain", "echo: hello"]);
  assertEquals((await withDeadline(sent.done, "the send", GUARD_MS)).status, "sent");
  await withDeadline(attachment.drained(), "the plugins to drain", GUARD_MS);
  assertEquals(forApp, ["hello"], "the message still reaches the application");
});

Deno.test("attachPlugins: lifecycle and delivery hooks; consumed and rejected messages are withheld", async () => {
  const hooks: string[] = [];
  const deliveries: PluginDelivery[] = [];
  await using runner = await PluginRunner.create([
    { name: "is-composing", factory: isComposing },
    {
      name: "recorder",
      factory: () => ({
        onSessionStarted: (s) => void hooks.push(`started ${s.direction}`),
        onMessageDelivered: (info) => void deliveries.push(info),
        onSessionEnded: (_s, reason) => void hooks.push(`ended ${reason}`),
      }),
    },
    {
      name: "guard",
      factory: () => ({
        onMessage(message, actions) {
          if (message.text() !== "forbidden") return "pass";
          actions.reply("not allowed");
          return { reject: 403, reason: "forbidden word" };
        },
      }),
    },
  ], { logger: new Logger("error") });
  await using p = await pairs();
  const forApp: PluginMessage[] = [];
  const rejected: MessageRejection[] = [];
  const attachment = attachPlugins(runner, p.b[0], { direction: "in" }, {
    onMessage: (m) => forApp.push(m),
    onReject: (r) => rejected.push(r),
  });
  assertEquals(attachment.session.remotePath, p.b[0].remotePath);

  const reply = nextMessage(p.a[0]);
  await withDeadline(p.a[0].send("forbidden").done, "the forbidden send", GUARD_MS);
  assertEquals((await reply).text(), "not allowed", "the refusal is notified by a reply");
  await withDeadline(p.a[0].send("fine").done, "the fine send", GUARD_MS);
  await withDeadline(
    p.a[0].send(buildIsComposing({ state: "active" }), { contentType: IS_COMPOSING_TYPE }).done,
    "the indication",
    GUARD_MS,
  );
  await withDeadline(attachment.drained(), "the plugins to drain", GUARD_MS);
  assertEquals(forApp.map((m) => m.text()), ["fine"]);
  assertEquals(rejected, [{ plugin: "guard", status: 403, reason: "forbidden word" }]);

  const fromB = nextMessage(p.a[0]);
  attachment.send("from b", { successReport: true });
  assertEquals((await fromB).text(), "from b");
  await withDeadline(attachment.drained(), "the plugins to drain", GUARD_MS);
  assertEquals(
    deliveries.map((d) => [d.status, d.message.direction, d.message.text(), d.session.id]),
    [["sent", "out", "not allowed", p.b[0].id], ["delivered", "out", "from b", p.b[0].id]],
  );

  p.b[0].close("done");
  await withDeadline(attachment.drained(), "the plugins to drain", GUARD_MS);
  assertEquals(hooks, ["started in", "ended done"]);
});

Deno.test("attachPlugins: forward sends a copy into another session", async () => {
  await using p = await pairs(2);
  await using runner = await PluginRunner.create([{
    name: "router",
    factory: () => ({
      onMessage(_m, actions) {
        actions.forward(p.b[1].id);
        actions.forward("no-such-session");
        actions.drop();
      },
    }),
  }], { logger: new Logger("error") });
  let forApp = 0;
  const attachment = attachPlugins(runner, p.b[0], {}, {
    onMessage: () => forApp++,
    resolveSession: (id) => p.eb.session(id),
  });
  const forwarded = nextMessage(p.a[1]);
  p.a[0].send("<p>hi</p>", { contentType: "text/html" });
  const copy = await forwarded;
  assertEquals([copy.contentType, copy.text()], ["text/html", "<p>hi</p>"]);
  await withDeadline(attachment.drained(), "the plugins to drain", GUARD_MS);
  assert(forApp === 0, "a dropped message does not reach the application");
});
