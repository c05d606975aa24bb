import { assertEquals, assertThrows } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import { MsrpError } from "../../src/msrp/mod.ts";
import { type OutgoingContent, PluginRunner } from "../../src/plugins/mod.ts";
import {
  buildIsComposing,
  type ComposingIndication,
  ComposingNotifier,
  IS_COMPOSING_TYPE,
  type IsComposing,
  parseIsComposing,
  plugin,
} from "../../plugins/is-composing.ts";
import { captureLogs, fakeSession, incoming, textOf } from "./_helpers.ts";

// An active indication as in the examples of RFC 3994.
const RFC_EXAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing iscomposing.xsd">
  <state>active</state>
  <contenttype>text/plain</contenttype>
  <refresh>90</refresh>
</isComposing>`;

Deno.test("is-composing: the RFC 3994 example and a prefixed idle document parse", () => {
  assertEquals(parseIsComposing(RFC_EXAMPLE), {
    state: "active",
    contentType: "text/plain",
    refresh: 90,
  });
  const prefixed = `<ic:isComposing xmlns:ic="urn:ietf:params:xml:ns:im-iscomposing">
    <!-- <ic:state>active</ic:state> -->
    <ic:state> idle </ic:state>
    <ic:lastactive>2025-05-07T10:00:00Z</ic:lastactive>
    <ic:contenttype>text/html</ic:contenttype>
  </ic:isComposing>`;
  assertEquals(parseIsComposing(prefixed), {
    state: "idle",
    lastActive: new Date("2025-05-07T10:00:00Z"),
    contentType: "text/html",
  });
});

Deno.test("is-composing: build and parse round-trip", () => {
  const indications: IsComposing[] = [
    { state: "active", contentType: 'text/plain; charset="utf-8" & <x>', refresh: 120 },
    { state: "idle", lastActive: new Date("2025-05-07T10:00:00.123Z") },
    { state: "active" },
  ];
  for (const indication of indications) {
    assertEquals(parseIsComposing(buildIsComposing(indication)), indication);
  }
  assertThrows(() => buildIsComposing({ state: "active", refresh: 0 }), RangeError);
});

Deno.test("is-composing: malformed documents are 400 errors", () => {
  const cases: [string, string][] = [
    ["<composing><state>active</state></composing>", "no isComposing element"],
    ["<isComposing><state>typing</state></isComposing>", "state must be active or idle"],
    ["<isComposing></isComposing>", "state must be active or idle"],
    [
      "<isComposing><state>active</state><refresh>-5</refresh></isComposing>",
      "refresh must be a positive whole number",
    ],
    [
      "<isComposing><state>idle</state><lastactive>yesterday</lastactive></isComposing>",
      "lastactive is not a date-time",
    ],
  ];
  for (const [xml, reason] of cases) {
    const error = assertThrows(() => parseIsComposing(xml), MsrpError, reason);
    assertEquals(error.status, 400);
  }
});

Deno.test("is-composing: received indications are consumed and announced; others pass", async () => {
  await using runner = await PluginRunner.load(["is-composing", "echo"], {
    logger: new Logger("error"),
  });
  const seen: ComposingIndication[] = [];
  const unsubscribe = runner.onComposing((event) => seen.push(event));
  const session = fakeSession("s7");
  const indication = incoming(RFC_EXAMPLE, { contentType: IS_COMPOSING_TYPE, sessionId: "s7" });
  const outcome = await runner.message(session, indication);
  assertEquals([outcome.consumed, outcome.consumedBy], [true, "is-composing"]);
  assertEquals(seen.map((e) => [e.session.id, e.indication.state]), [["s7", "active"]]);

  const text = await runner.message(session, incoming("hi"));
  assertEquals([text.consumed, text.replies.map((r) => textOf(r.body))], [false, ["hi"]]);

  const bad = await runner.message(
    session,
    incoming("<isComposing/>", { contentType: IS_COMPOSING_TYPE }),
  );
  assertEquals(bad.reject?.status, 400);

  unsubscribe();
  await runner.message(session, indication);
  assertEquals(seen.length, 1);
});

Deno.test("is-composing: a throwing listener is logged and does not stop the others", async () => {
  using logs = captureLogs();
  await using runner = await PluginRunner.create([{ name: "ic", factory: plugin }], {
    logger: new Logger("error"),
  });
  const seen: string[] = [];
  runner.onComposing(() => {
    throw new Error("listener broke");
  });
  runner.onComposing((e) => seen.push(e.indication.state));
  const outcome = await runner.message(
    fakeSession(),
    incoming(RFC_EXAMPLE, { contentType: IS_COMPOSING_TYPE }),
  );
  assertEquals([outcome.consumed, seen], [true, ["active"]]);
  assertEquals(logs.records.map((r) => r.msg), ["is-composing listener failed"]);
});

Deno.test("is-composing: the notifier sends active (refreshed) and idle on changes", async () => {
  const sent: IsComposing[] = [];
  const clock = { now: Date.parse("2025-05-07T10:00:00Z") };
  const notifier = new ComposingNotifier((content: OutgoingContent) => {
    assertEquals(content.contentType, IS_COMPOSING_TYPE);
    sent.push(parseIsComposing(textOf(content.body)));
  }, { refreshSeconds: 60, now: () => clock.now });
  assertEquals(notifier.state, "idle");
  assertEquals([notifier.active(), notifier.active()], [true, false]);
  clock.now += 30_000;
  assertEquals(notifier.active(), true, "refreshed after half the refresh interval");
  assertEquals([notifier.idle(), notifier.idle()], [true, false]);
  assertEquals(sent.map((s) => s.state), ["active", "active", "idle"]);
  assertEquals(sent[0], { state: "active", contentType: "text/plain", refresh: 60 });
  assertEquals(sent[2].lastActive, new Date(clock.now));

  sent.length = 0;
  const result = await notifier.during(() => Promise.resolve(7));
  assertEquals([result, sent.map((s) => s.state)], [7, ["active", "idle"]]);
  sent.length = 0;
  let thrown = false;
  try {
    await notifier.during(() => Promise.reject(new Error("send failed")));
  } catch {
    thrown = true;
  }
  assertEquals([thrown, sent.map((s) => s.state), notifier.state], [true, [
    "active",
    "idle",
  ], "idle"]);
});
