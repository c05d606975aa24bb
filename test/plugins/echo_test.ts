import { assertEquals } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import { PluginRunner } from "../../src/plugins/mod.ts";
import { buildIsComposing, IS_COMPOSING_TYPE } from "../../plugins/is-composing.ts";
import { fakeSession, incoming, textOf } from "./_helpers.ts";

async function echo(env: Record<string, string> = {}): Promise<PluginRunner> {
  return await PluginRunner.load(["echo"], { env, logger: new Logger("error") });
}

Deno.test("echo: a text message comes back unchanged, with its content type; it still passes", async () => {
  await using runner = await echo();
  const outcome = await runner.message(
    fakeSession(),
    incoming("<b>hi</b>", { contentType: "text/html; charset=utf-8" }),
  );
  assertEquals(outcome.consumed, false);
  assertEquals(outcome.replies.map((r) => [r.contentType, textOf(r.body)]), [
    ["text/html; charset=utf-8", "<b>hi</b>"],
  ]);
});

Deno.test("echo: PLUGIN_ECHO_PREFIX goes in front of the text", async () => {
  await using runner = await echo({ PLUGIN_ECHO_PREFIX: "echo: " });
  const outcome = await runner.message(fakeSession(), incoming("hello"));
  assertEquals(outcome.replies.map((r) => textOf(r.body)), ["echo: hello"]);
});

Deno.test("echo: is-composing, binary and incomplete messages are not echoed", async () => {
  await using runner = await echo();
  const messages = [
    incoming(buildIsComposing({ state: "active" }), { contentType: IS_COMPOSING_TYPE }),
    incoming(new Uint8Array([1, 2, 3]), { contentType: "application/octet-stream" }),
    incoming("half", { complete: false }),
  ];
  for (const message of messages) {
    assertEquals((await runner.message(fakeSession(), message)).replies, []);
  }
});
