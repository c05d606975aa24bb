import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { ConfigError } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import {
  createPluginMessage,
  type Plugin,
  PluginConfig,
  PluginConfigError,
  type PluginDefinition,
  PluginLoadError,
  PluginRunner,
} from "../../src/plugins/mod.ts";
import { captureLogs, fakeSession, incoming, textOf } from "./_helpers.ts";

const SECRET = "top secret body";
const fixtures = new URL("./fixtures/", import.meta.url);

function define(name: string, plugin: Plugin): PluginDefinition {
  return { name, factory: () => plugin };
}

/** A plugin that records its hook calls into `calls` as `name:hook`. */
function recorder(name: string, calls: string[]): PluginDefinition {
  return define(name, {
    onSessionStarted: () => void calls.push(`${name}:started`),
    onMessage: (_m, actions) => {
      calls.push(`${name}:message`);
      actions.reply(`from ${name}`);
    },
    onMessageDelivered: () => void calls.push(`${name}:delivered`),
    onMessageFailed: () => void calls.push(`${name}:failed`),
    onSessionEnded: () => void calls.push(`${name}:ended`),
    onPager: async () => {
      await Promise.resolve();
      calls.push(`${name}:pager`);
    },
    close: () => void calls.push(`${name}:close`),
  });
}

Deno.test("runner: hooks run in PLUGINS order, replies in that order, close last first, then none", async () => {
  const calls: string[] = [];
  const runner = await PluginRunner.create([recorder("a", calls), recorder("b", calls)], {
    logger: new Logger("error"),
  });
  assertEquals(runner.names, ["a", "b"]);
  const session = fakeSession();
  await runner.sessionStarted(session);
  const outcome = await runner.message(session, incoming("hi"));
  assertEquals(outcome.replies.map((r) => textOf(r.body)), ["from a", "from b"]);
  assertEquals([outcome.consumed, outcome.consumedBy, outcome.reject], [
    false,
    undefined,
    undefined,
  ]);
  const out = createPluginMessage({
    id: "m1",
    sessionId: "s1",
    direction: "out",
    contentType: "text/plain",
    body: "x",
  });
  const delivery = { session, message: out, code: 200, reason: "", bytesSent: 1 };
  await runner.delivery({ ...delivery, status: "delivered" });
  await runner.delivery({ ...delivery, status: "failed", code: 408, reason: "timeout" });
  await runner.pager({ from: "sip:a@x", to: "sip:b@x", contentType: "text/plain", text: "p" });
  await runner.sessionEnded(session, "bye");
  await runner.close();
  await runner.close();
  const afterClose = incoming("late");
  assert((await runner.message(session, afterClose)).message === afterClose, "passes unchanged");
  assertEquals(calls, [
    "a:started",
    "b:started",
    "a:message",
    "b:message",
    "a:delivered",
    "b:delivered",
    "a:failed",
    "b:failed",
    "a:pager",
    "b:pager",
    "a:ended",
    "b:ended",
    "b:close",
    "a:close",
  ]);
});

Deno.test("runner: a slow plugin is skipped after the hook timeout and logged without the body", async () => {
  const gate = Promise.withResolvers<void>();
  const lateReply = Promise.withResolvers<void>();
  const seen: string[] = [];
  using logs = captureLogs();
  const runner = await PluginRunner.create([
    define("slow", {
      async onMessage(_m, actions) {
        await gate.promise;
        actions.reply("too late"); // requested after the timeout: discarded
        actions.drop();
        lateReply.resolve();
      },
    }),
    define("next", { onMessage: (m) => void seen.push(m.text()) }),
  ], { hookTimeoutMs: 10, logger: new Logger("info") });
  const outcome = await runner.message(fakeSession("s9"), incoming(SECRET));
  assertEquals(seen, [SECRET], "the message went on to the next plugin");
  assertEquals([outcome.consumed, outcome.replies.length], [false, 0]);
  gate.resolve();
  await lateReply.promise;
  assertEquals(outcome.replies.length, 0);
  const record = logs.records.find((r) => r.msg.includes("timed out"));
  assert(record, "timeout logged");
  assertEquals([record.level, record.plugin, record.hook, record.sessionId, record.timeoutMs], [
    "warn",
    "slow",
    "onMessage",
    "s9",
    10,
  ]);
  assert(logs.lines.every((line) => !line.includes(SECRET)), "no body in the logs");
});

Deno.test("runner: a throwing plugin is isolated and its actions are discarded", async () => {
  using logs = captureLogs();
  const seen: string[] = [];
  const runner = await PluginRunner.create([
    define("broken", {
      onSessionStarted() {
        throw new Error("boom at start");
      },
      onMessage(_m, actions) {
        actions.reply("half done");
        actions.drop();
        throw new TypeError("boom");
      },
    }),
    define("async-broken", { onMessage: () => Promise.reject(new RangeError("async boom")) }),
    define("ok", {
      onSessionStarted: () => void seen.push("started"),
      onMessage: (m) => void seen.push(m.text()),
    }),
  ], { logger: new Logger("info") });
  await runner.sessionStarted(fakeSession("s2"));
  const outcome = await runner.message(fakeSession("s2"), incoming(SECRET));
  assertEquals(seen, ["started", SECRET]);
  assertEquals([outcome.consumed, outcome.replies.length], [false, 0]);
  const failures = logs.records.filter((r) => r.msg.includes("failed"));
  assertEquals(failures.map((r) => [r.level, r.plugin, r.hook, r.sessionId, r.error]), [
    ["error", "broken", "onSessionStarted", "s2", "Error: boom at start"],
    ["error", "broken", "onMessage", "s2", "TypeError: boom"],
    ["error", "async-broken", "onMessage", "s2", "RangeError: async boom"],
  ]);
  assert(logs.lines.every((line) => !line.includes(SECRET)), "no body in the logs");
});

Deno.test("runner: drop consumes the message; later plugins do not see it", async () => {
  const seen: string[] = [];
  const runner = await PluginRunner.create([
    define("first", {
      onMessage(_m, actions) {
        actions.reply("noted");
        actions.drop();
      },
    }),
    define("second", { onMessage: () => void seen.push("second") }),
  ], { logger: new Logger("error") });
  const outcome = await runner.message(fakeSession(), incoming("x"));
  assertEquals([outcome.consumed, outcome.consumedBy, seen], [true, "first", []]);
  assertEquals(outcome.replies.map((r) => textOf(r.body)), ["noted"]);
});

Deno.test("runner: reject consumes the message with its status and a default reason", async () => {
  using _logs = captureLogs();
  const runner = await PluginRunner.create([
    define("guard", { onMessage: () => ({ reject: 403 }) }),
    define("never", {
      onMessage() {
        throw new Error("must not run");
      },
    }),
  ]);
  const outcome = await runner.message(fakeSession(), incoming("x"));
  assertEquals(outcome.consumed, true);
  assertEquals(outcome.reject, { plugin: "guard", status: 403, reason: "Forbidden" });
});

Deno.test("runner: an invalid verdict is logged and skipped", async () => {
  using logs = captureLogs();
  const runner = await PluginRunner.create([
    define("odd", {
      onMessage(_m, actions) {
        actions.reply("ignored");
        return { reject: 200 };
      },
    }),
  ]);
  const outcome = await runner.message(fakeSession(), incoming("x"));
  assertEquals([outcome.consumed, outcome.replies.length], [false, 0]);
  const record = logs.records.find((r) => r.msg.includes("invalid verdict"));
  assertEquals([record?.plugin, record?.error], ["odd", "reject status must be 400-599, got 200"]);
});

Deno.test("runner: a rewrite is what later plugins and the outcome see; forward copies it", async () => {
  const seen: string[] = [];
  const runner = await PluginRunner.create([
    define("upper", {
      onMessage: (m) => ({
        rewrite: createPluginMessage({
          id: m.id,
          sessionId: m.sessionId,
          direction: m.direction,
          contentType: "text/x-upper",
          body: m.text().toUpperCase(),
        }),
      }),
    }),
    define("copy", {
      onMessage(m, actions) {
        seen.push(`${m.contentType} ${m.text()}`);
        actions.forward("other");
      },
    }),
  ], { logger: new Logger("error") });
  const outcome = await runner.message(fakeSession(), incoming("hello"));
  assertEquals(seen, ["text/x-upper HELLO"]);
  assertEquals(outcome.message.text(), "HELLO");
  assertEquals(outcome.forwards.map((f) => [f.sessionId, f.content.contentType]), [
    ["other", "text/x-upper"],
  ]);
  assertEquals(textOf(outcome.forwards[0].content.body), "HELLO");
});

Deno.test("runner: plugins get their own config, a scoped logger and the clock", async () => {
  let seen: [string, string | undefined, number] | undefined;
  await PluginRunner.create([{
    name: "auto-reply",
    factory: (ctx) => {
      seen = [ctx.name, ctx.config.string("RULES"), ctx.now()];
      return {};
    },
  }], {
    env: { PLUGIN_AUTO_REPLY_RULES: "[]", PLUGIN_ECHO_PREFIX: "> ", OTHER: "x" },
    now: () => 42,
    logger: new Logger("error"),
  });
  assertEquals(seen, ["auto-reply", "[]", 42]);
});

Deno.test("runner: an unknown plugin name stops loading with a clear error", async () => {
  const error = await assertRejects(
    () => PluginRunner.load(["echo", "no-such-plugin"]),
    PluginLoadError,
    'unknown plugin "no-such-plugin"',
  );
  assert(error instanceof ConfigError, "reported like a configuration error");
  await assertRejects(
    () => PluginRunner.load(["../src/main"]),
    PluginLoadError,
    "not a plugin name",
  );
  await assertRejects(() => PluginRunner.load(["echo", "echo"]), PluginLoadError, "listed twice");
});

Deno.test("runner: a module without a plugin factory is a load error", async () => {
  await assertRejects(
    () => PluginRunner.load(["no-export"], { directory: fixtures }),
    PluginLoadError,
    'plugin "no-export" does not export "plugin"',
  );
});

Deno.test("runner: plugins load from <name>.ts and <name>/mod.ts with their config", async () => {
  await using runner = await PluginRunner.load(["tagger", "folder"], {
    directory: fixtures,
    env: { PLUGIN_TAGGER_TAG: "#1" },
    logger: new Logger("error"),
  });
  const outcome = await runner.message(fakeSession(), incoming("x"));
  assertEquals(outcome.replies.map((r) => textOf(r.body)), ["#1"]);
  assertEquals(outcome.consumedBy, "folder");
});

Deno.test("runner: a failing factory is a load error; a config error passes through", async () => {
  const closed: string[] = [];
  const first = define("first", { close: () => void closed.push("first") });
  await assertRejects(
    () =>
      PluginRunner.create([first, {
        name: "bad",
        factory: () => {
          throw new Error("cannot open");
        },
      }], { logger: new Logger("error") }),
    PluginLoadError,
    'plugin "bad" failed to start: Error: cannot open',
  );
  assertEquals(closed, ["first"], "plugins created before are closed");
  await assertRejects(
    () => PluginRunner.load(["auto-reply"], { env: { PLUGIN_AUTO_REPLY_RULES: "{" } }),
    PluginConfigError,
    "PLUGIN_AUTO_REPLY_RULES must be JSON",
  );
});

Deno.test("runner: fromEnv reads PLUGINS and PLUGINS_TIMEOUT_MS", async () => {
  await using runner = await PluginRunner.fromEnv(
    { PLUGINS: "echo, auto-reply", PLUGINS_TIMEOUT_MS: "500", PLUGIN_ECHO_PREFIX: "> " },
    { logger: new Logger("error") },
  );
  assertEquals(runner.names, ["echo", "auto-reply"]);
  const outcome = await runner.message(fakeSession(), incoming("hi"));
  assertEquals(outcome.replies.map((r) => textOf(r.body)), ["> hi"]);
  assertEquals((await PluginRunner.fromEnv({})).names, []);
  await assertRejects(
    () => PluginRunner.fromEnv({ PLUGINS_TIMEOUT_MS: "soon" }),
    PluginConfigError,
    "PLUGINS_TIMEOUT_MS",
  );
});

Deno.test("plugin config: typed accessors name the variable on errors", () => {
  const config = new PluginConfig("auto-reply", {
    PLUGIN_AUTO_REPLY_N: "5",
    PLUGIN_AUTO_REPLY_BAD: "5.5",
    PLUGIN_AUTO_REPLY_ON: "yes",
    PLUGIN_AUTO_REPLY_LIST: "a, b c",
    PLUGIN_AUTO_REPLY_JSON: '{"a":1}',
    PLUGIN_AUTO_REPLY_EMPTY: "",
    PLUGIN_ECHO_PREFIX: "x",
  });
  assertEquals(config.values, {
    N: "5",
    BAD: "5.5",
    ON: "yes",
    LIST: "a, b c",
    JSON: '{"a":1}',
  });
  assertEquals(config.int("N", 1), 5);
  assertEquals(config.int("MISSING", 7), 7);
  assertEquals(config.string("EMPTY", "fallback"), "fallback");
  assertEquals(config.bool("ON", false), true);
  assertEquals(config.list("LIST", []), ["a", "b", "c"]);
  assertEquals(config.json("JSON"), { a: 1 });
  assertThrows(() => config.int("BAD", 1), PluginConfigError, "PLUGIN_AUTO_REPLY_BAD");
  assertThrows(() => config.int("N", 1, { max: 3 }), PluginConfigError, "in 0..3");
  assertThrows(() => config.bool("N", false), PluginConfigError, "PLUGIN_AUTO_REPLY_N");
});

Deno.test("plugin message: bodies only when complete, small and (for text()) textual", () => {
  const small = incoming("hé");
  assertEquals([small.size, small.isText, small.hasBody, small.text()], [3, true, true, "hé"]);
  const big = incoming(new Uint8Array(10), {
    contentType: "application/octet-stream",
    maxBodyBytes: 5,
  });
  assertEquals([big.size, big.isText, big.hasBody], [10, false, false]);
  assertThrows(() => big.bytes(), TypeError, "not available");
  const binary = incoming(new Uint8Array(3), { contentType: "image/png" });
  assertEquals(binary.bytes().length, 3);
  assertThrows(() => binary.text(), TypeError, "not text");
  const partial = incoming("par", { complete: false });
  assertEquals(partial.hasBody, false);
  assertEquals(incoming("{}", { contentType: "application/vnd.x+json" }).isText, true);
});
