import { assertEquals } from "./_assert.ts";
import { Logger } from "../src/log.ts";
import { createPluginMessage, PluginRunner } from "../src/plugins.ts";

Deno.test("readme: the library example runs and prints what it promises", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Library"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/example.ts`;
    const mod = new URL("../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(file, code.replaceAll('"./mod.ts"', `"${mod}"`));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", new URL("../deno.json", import.meta.url).pathname, file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").sort();
    assertEquals([out.code, lines], [0, ["alice: delivered", "bob got: Hello Bob"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readme: the example plugin loads, replies in capitals and drops spam", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Plugins"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
  const dir = await Deno.makeTempDir();
  try {
    const plugins = new URL("../src/plugins.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/shout.ts`,
      code.replaceAll('"../src/plugins.ts"', `"${plugins}"`),
    );
    const runner = await PluginRunner.load(["shout"], {
      directory: new URL(`file://${dir}/`),
      logger: new Logger("error"),
    });
    const session = { id: "s1", localUri: "msrp://127.0.0.1:2855/s1;tcp", remotePath: [] };
    const message = (body: string) =>
      createPluginMessage({
        id: "m",
        sessionId: "s1",
        direction: "in",
        contentType: "text/plain",
        body,
      });
    const hello = await runner.message(session, message("hello"));
    assertEquals([hello.consumed, hello.replies.map((r) => r.body)], [false, ["HELLO!"]]);
    assertEquals((await runner.message(session, message("buy spam"))).consumed, true);
    await runner.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
