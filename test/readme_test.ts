import { assertEquals } from "./_assert.ts";

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
