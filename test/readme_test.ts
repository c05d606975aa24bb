/**
 * The README and docs/ are executed, so they cannot rot: the library and
 * plugin examples run, the README's five-minute walk-through runs as written
 * (on free ports), and every relative link between the pages resolves.
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { freePorts } from "./_service_process.ts";
import { skipUnless } from "./_services.ts";
import { Logger } from "../src/log.ts";
import { createPluginMessage, PluginRunner } from "../src/plugins/mod.ts";

const ROOT = new URL("../", import.meta.url);

/** The text of `path` (relative to the repository) from `heading` to the next heading of its level. */
async function section(path: string, heading: string): Promise<string> {
  const text = await Deno.readTextFile(new URL(path, ROOT));
  const start = text.indexOf(`${heading}\n`);
  assert(start >= 0, `${path} has no "${heading}"`);
  const level = heading.slice(0, heading.indexOf(" ") + 1);
  const end = text.indexOf(`\n${level}`, start + heading.length);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The code blocks of `markdown` fenced as `lang`. */
function codeBlocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) =>
    m[1]
  );
}

Deno.test("readme: the library example runs and prints what it promises", async () => {
  const code = codeBlocks(await section("docs/library.md", "# Library"), "ts")[0];
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/example.ts`;
    const mod = new URL("mod.ts", ROOT).href;
    await Deno.writeTextFile(file, code.replaceAll('"./mod.ts"', `"${mod}"`));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", new URL("deno.json", ROOT).pathname, file],
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
  const code = codeBlocks(await section("docs/plugins.md", "## Writing a plugin"), "ts")[0];
  const dir = await Deno.makeTempDir();
  try {
    const plugins = new URL("src/plugins/mod.ts", ROOT).href;
    await Deno.writeTextFile(
      `${dir}/shout.ts`,
      code.replaceAll(/"\.\.\/src\/plugins(?:\/mod)?\.ts"/g, `"${plugins}"`),
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

/** Why the walk-through cannot run here (a missing tool), or `undefined`. */
async function missingTool(): Promise<string | undefined> {
  for (const tool of ["bash", "curl", "jq"]) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!found.success) return `${tool} is not installed`;
  }
  return undefined;
}

const WALK_THROUGH_GUARD_MS = 180_000;
const skipWalkThrough = skipUnless(
  "readme_test",
  "the walk-through's shell",
  await missingTool(),
  "install bash, curl and jq",
);

Deno.test({
  name: "readme: the five-minute walk-through runs as written",
  ignore: skipWalkThrough !== undefined,
  async fn() {
    const blocks = codeBlocks(await section("README.md", "## Five-minute walk-through"), "sh");
    assert(blocks.length >= 5, "the walk-through has its steps");
    // The README's ports, moved to free ones (the service's through HTTP_PORT and MSRP_PORT);
    // `npx -y deno@2` is this Deno.
    const [http, msrp, listen, send, hook] = freePorts(5);
    const ports: Record<string, number> = { 8080: http, 2900: listen, 2901: send, 9000: hook };
    const script = blocks.join("\n")
      .replaceAll(/\b(8080|2900|2901|9000)\b/g, (p) => String(ports[p]))
      .replaceAll("npx -y deno@2", `'${Deno.execPath()}'`);
    const tmp = await Deno.makeTempDir();
    try {
      const child = new Deno.Command("bash", {
        args: [
          "-c",
          // Job control, so that `kill %n` (and the guard) reach each job's process group.
          "set -euo pipefail -m\n" +
          "trap 'for p in $(jobs -p); do kill -- -$p 2>/dev/null || true; done' EXIT\n" +
          "trap 'exit 1' TERM\n" + script,
        ],
        cwd: ROOT.pathname,
        env: { TMPDIR: tmp, HTTP_PORT: String(http), MSRP_PORT: String(msrp) },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const guard = setTimeout(() => child.kill("SIGTERM"), WALK_THROUGH_GUARD_MS);
      const out = await child.output();
      clearTimeout(guard);
      const stdout = new TextDecoder().decode(out.stdout);
      const shown = `${stdout}\n${new TextDecoder().decode(out.stderr)}`;
      assertEquals(out.code, 0, shown);
      const lines = stdout.split("\n");
      const line = (...parts: string[]) => lines.some((l) => parts.every((p) => l.includes(p)));
      for (
        const parts of [
          ['{"status":"ready","checks":{"store":true,"msrp":true,"esl":"off"}}'],
          ['"answer":"v=0', "a=setup:active"],
          ['"messageId":', '"status":"queued"'],
          ['"status":"delivered"', '"text":"Hello from the API"'],
          ['"contentType":"text/markdown"', '"complete":true'],
          ['"offer":"v=0', "a=setup:actpass"],
          ['"state":"pending"'],
          ['"bytes":12', '"status":"delivered","code":200'],
          ['"direction":"in"', '"status":"received"', '"text":"Hello bridge"'],
          ["event: session.started"],
          ["event: message.received"],
          ["webhook: session.started"],
          ["webhook: message.delivered"],
          ["204"],
        ]
      ) {
        assert(line(...parts), `no line with ${parts.join(" and ")} in:\n${shown}`);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a markdown page's headings, outside code blocks. */
function anchorsOf(markdown: string): Set<string> {
  const prose = markdown.replaceAll(/```[\s\S]*?```/g, "");
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1])));
}

Deno.test("readme: every relative link in README.md and docs/ points at a file and heading", async () => {
  const pages = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  const broken: string[] = [];
  for (const page of pages) {
    const url = new URL(page, ROOT);
    const prose = (await Deno.readTextFile(url)).replaceAll(/```[\s\S]*?```/g, "");
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split("#");
      const file = path === "" ? url : new URL(path, url);
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch {
        broken.push(`${page}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && !anchorsOf(text).has(anchor)) {
        broken.push(`${page}: ${target} (no such heading)`);
      }
    }
  }
  assertEquals(broken, []);
});
