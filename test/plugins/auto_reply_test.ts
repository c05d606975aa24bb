import { assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import { PluginConfig, PluginConfigError, PluginRunner } from "../../src/plugins/mod.ts";
import { isBusinessTime, parseBusinessHours, parseRules } from "../../plugins/auto-reply.ts";
import { fakeSession, incoming, textOf } from "./_helpers.ts";

const RULES = JSON.stringify([
  { match: "price", reply: "Prices: https://example.com/prices" },
  { match: "/^(hi|hello)\\b/i", reply: "Hello! An agent will be with you shortly." },
]);
// Wednesday 2025-05-07, 12:00 in Berlin (UTC+2).
const WEDNESDAY_NOON_BERLIN = Date.parse("2025-05-07T10:00:00Z");
const MINUTE = 60_000;

async function autoReply(
  env: Record<string, string>,
  clock: { now: number },
): Promise<PluginRunner> {
  return await PluginRunner.load(["auto-reply"], {
    env: { PLUGIN_AUTO_REPLY_RULES: RULES, ...env },
    now: () => clock.now,
    logger: new Logger("error"),
  });
}

async function replies(runner: PluginRunner, text: string, sessionId = "s1"): Promise<string[]> {
  const outcome = await runner.message(fakeSession(sessionId), incoming(text, { sessionId }));
  assertEquals(outcome.consumed, false, "auto-reply never consumes");
  return outcome.replies.map((r) => textOf(r.body));
}

Deno.test("auto-reply: keywords match whole words ignoring case; regexes as written", async () => {
  const clock = { now: WEDNESDAY_NOON_BERLIN };
  await using runner = await autoReply({}, clock);
  assertEquals(await replies(runner, "What is the PRICE?"), ["Prices: https://example.com/prices"]);
  assertEquals(await replies(runner, "Hello there", "s2"), [
    "Hello! An agent will be with you shortly.",
  ]);
  assertEquals(await replies(runner, "priceless", "s3"), []);
  assertEquals(await replies(runner, "say hello", "s3"), []);
});

Deno.test("auto-reply: one reply per rule per session per cooldown", async () => {
  const clock = { now: WEDNESDAY_NOON_BERLIN };
  await using runner = await autoReply({ PLUGIN_AUTO_REPLY_COOLDOWN_MINUTES: "10" }, clock);
  assertEquals((await replies(runner, "price?")).length, 1);
  assertEquals(await replies(runner, "price again?"), [], "same rule, same session");
  assertEquals((await replies(runner, "hi")).length, 1, "another rule");
  assertEquals((await replies(runner, "price?", "s2")).length, 1, "another session");
  clock.now += 10 * MINUTE;
  assertEquals((await replies(runner, "price?")).length, 1, "cooldown over");
  await runner.sessionEnded(fakeSession("s2"), "bye");
  assertEquals((await replies(runner, "price?", "s2")).length, 1, "state forgotten at session end");
});

Deno.test("auto-reply: outside business hours only the out-of-hours text is sent", async () => {
  const clock = { now: WEDNESDAY_NOON_BERLIN };
  await using runner = await autoReply({
    PLUGIN_AUTO_REPLY_OUT_OF_HOURS: "We are closed.",
    PLUGIN_AUTO_REPLY_TIMEZONE: "Europe/Berlin",
    PLUGIN_AUTO_REPLY_DAYS: "mon-fri",
    PLUGIN_AUTO_REPLY_HOURS: "09:00-17:00",
  }, clock);
  assertEquals(await replies(runner, "price?"), ["Prices: https://example.com/prices"]);
  clock.now = Date.parse("2025-05-07T15:30:00Z"); // 17:30 in Berlin
  assertEquals(await replies(runner, "price?", "s2"), ["We are closed."]);
  assertEquals(await replies(runner, "hello", "s2"), [], "out-of-hours reply once per cooldown");
  clock.now = Date.parse("2025-05-10T10:00:00Z"); // Saturday noon
  assertEquals(await replies(runner, "anything", "s3"), ["We are closed."]);
});

Deno.test("auto-reply: business hours follow the time zone, days and midnight spans", () => {
  const config = (days: string, hours: string, timeZone: string) =>
    parseBusinessHours(
      new PluginConfig("auto-reply", {
        PLUGIN_AUTO_REPLY_OUT_OF_HOURS: "closed",
        PLUGIN_AUTO_REPLY_DAYS: days,
        PLUGIN_AUTO_REPLY_HOURS: hours,
        PLUGIN_AUTO_REPLY_TIMEZONE: timeZone,
      }),
    )!;
  const newYork = config("mon-fri", "09:00-17:00", "America/New_York");
  // 14:00 UTC on a Wednesday is 10:00 in New York (UTC-4 in May), 16:00 in Berlin.
  assertEquals(isBusinessTime(new Date("2025-05-07T14:00:00Z"), newYork), true);
  assertEquals(isBusinessTime(new Date("2025-05-07T12:00:00Z"), newYork), false);
  const night = config("fri", "22:00-06:00", "UTC");
  assertEquals(isBusinessTime(new Date("2025-05-09T23:00:00Z"), night), true, "Friday night");
  assertEquals(isBusinessTime(new Date("2025-05-10T05:59:00Z"), night), true, "Saturday morning");
  assertEquals(isBusinessTime(new Date("2025-05-10T23:00:00Z"), night), false, "Saturday night");
  const weekend = config("sat-sun,wed", "10:00-12:00", "UTC");
  assertEquals([...weekend.days].sort(), [0, 3, 6]);
  assertEquals(
    parseBusinessHours(new PluginConfig("auto-reply", {})),
    undefined,
    "no out-of-hours text, no business hours",
  );
});

Deno.test("auto-reply: invalid configuration names the variable", async () => {
  assertThrows(() => parseRules([{ match: "x" }], "V"), PluginConfigError, "V[0] must have");
  assertThrows(() => parseRules({}, "V"), PluginConfigError, "V must be a JSON list");
  assertThrows(() => parseRules([{ match: "/(/", reply: "r" }], "V"), PluginConfigError, "regex");
  const bad = async (env: Record<string, string>, variable: string) =>
    await assertRejects(
      () => autoReply({ PLUGIN_AUTO_REPLY_OUT_OF_HOURS: "closed", ...env }, { now: 0 }),
      PluginConfigError,
      variable,
    );
  await bad({ PLUGIN_AUTO_REPLY_TIMEZONE: "Mars/Olympus" }, "PLUGIN_AUTO_REPLY_TIMEZONE");
  await bad({ PLUGIN_AUTO_REPLY_DAYS: "mon-fry" }, "PLUGIN_AUTO_REPLY_DAYS");
  await bad({ PLUGIN_AUTO_REPLY_HOURS: "9-5" }, "PLUGIN_AUTO_REPLY_HOURS");
  await bad({ PLUGIN_AUTO_REPLY_COOLDOWN_MINUTES: "-1" }, "PLUGIN_AUTO_REPLY_COOLDOWN_MINUTES");
});
