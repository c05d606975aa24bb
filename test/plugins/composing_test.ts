import { assertEquals } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import {
  type ComposingIndication,
  type PluginFactory,
  PluginRunner,
} from "../../src/plugins/mod.ts";
import { captureLogs, fakeSession, incoming } from "./_helpers.ts";

/** A plugin that announces `active` for every message, from an async hook. */
const announcer: PluginFactory = (ctx) => ({
  async onMessage(_message, actions) {
    await Promise.resolve();
    ctx.composing(actions.session, { state: "active", refresh: 60 });
  },
});

Deno.test("onComposing: every listener hears what a plugin announces, until it unsubscribes", async () => {
  await using runner = await PluginRunner.create([{ name: "typing", factory: announcer }], {
    logger: new Logger("error"),
  });
  const first: ComposingIndication[] = [];
  const second: string[] = [];
  const unsubscribe = runner.onComposing((event) => first.push(event));
  runner.onComposing((event) => second.push(event.session.id));

  const outcome = await runner.message(fakeSession("s4"), incoming("hi", { sessionId: "s4" }));
  assertEquals(outcome.consumed, false, "announcing does not consume");
  assertEquals(first.map((e) => [e.session.id, e.indication]), [
    ["s4", { state: "active", refresh: 60 }],
  ]);

  unsubscribe();
  await runner.message(fakeSession("s5"), incoming("again", { sessionId: "s5" }));
  assertEquals([first.length, second], [1, ["s4", "s5"]]);
});

Deno.test("onComposing: a throwing listener is logged with the announcing plugin, the next one still hears", async () => {
  using logs = captureLogs();
  await using runner = await PluginRunner.create([{ name: "typing", factory: announcer }], {
    logger: new Logger("error"),
  });
  const seen: string[] = [];
  runner.onComposing(() => {
    throw new Error("listener broke");
  });
  runner.onComposing((event) => seen.push(event.indication.state));
  await runner.message(fakeSession("s6"), incoming("hi", { sessionId: "s6" }));
  assertEquals(seen, ["active"]);
  assertEquals(
    logs.records.map((r) => [r.msg, r.plugin, r.sessionId, r.error]),
    [["is-composing listener failed", "typing", "s6", "Error: listener broke"]],
  );
});

Deno.test("onComposing: with no listener an announcement is a no-op", async () => {
  using logs = captureLogs();
  await using runner = await PluginRunner.load(["is-composing"], { logger: new Logger("info") });
  const outcome = await runner.message(
    fakeSession(),
    incoming(
      '<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>idle</state></isComposing>',
      { contentType: "application/im-iscomposing+xml" },
    ),
  );
  assertEquals([outcome.consumed, outcome.consumedBy], [true, "is-composing"]);
  assertEquals(logs.records.map((r) => r.msg), ["plugins loaded"]);
});
