import { assertEquals } from "../_assert.ts";
import { Logger } from "../../src/log.ts";
import {
  applyOutcome,
  type MessageOutcome,
  type OutgoingContent,
  PluginRunner,
} from "../../src/plugins/mod.ts";
import { captureLogs, fakeSession, incoming, textOf } from "./_helpers.ts";

/** A `send` that records what it sends and knows only `sessions`. */
function recordingSend(sessions: readonly string[]) {
  const sent: [string, string, string][] = [];
  const send = (sessionId: string, content: OutgoingContent): boolean => {
    if (!sessions.includes(sessionId)) return false;
    sent.push([sessionId, content.contentType, textOf(content.body)]);
    return true;
  };
  return { sent, send };
}

function outcome(init: Partial<MessageOutcome> = {}): MessageOutcome {
  return {
    sessionId: "s1",
    message: incoming("hi", { id: "m1" }),
    consumed: false,
    consumedBy: undefined,
    reject: undefined,
    replies: [],
    forwards: [],
    ...init,
  };
}

Deno.test("applyOutcome: replies go into the message's session, then forwards into theirs, in order", () => {
  const { sent, send } = recordingSend(["s1", "s2", "s3"]);
  const deliver = applyOutcome(
    outcome({
      replies: [{ contentType: "text/plain", body: "one" }, {
        contentType: "text/html",
        body: new TextEncoder().encode("<b>two</b>"),
      }],
      forwards: [
        { sessionId: "s3", content: { contentType: "text/plain", body: "copy 3" } },
        { sessionId: "s2", content: { contentType: "text/plain", body: "copy 2" } },
      ],
    }),
    send,
  );
  assertEquals(deliver, true);
  assertEquals(sent, [
    ["s1", "text/plain", "one"],
    ["s1", "text/html", "<b>two</b>"],
    ["s3", "text/plain", "copy 3"],
    ["s2", "text/plain", "copy 2"],
  ]);
});

Deno.test("applyOutcome: a consumed or rejected message is not delivered; its replies still go", () => {
  const { sent, send } = recordingSend(["s1"]);
  const reply = { contentType: "text/plain", body: "refused" };
  assertEquals(applyOutcome(outcome({ consumed: true, consumedBy: "a" }), send), false);
  const rejected = outcome({
    consumed: true,
    consumedBy: "guard",
    reject: { plugin: "guard", status: 403, reason: "Forbidden" },
    replies: [reply],
  });
  assertEquals(applyOutcome(rejected, send), false);
  assertEquals(sent, [["s1", "text/plain", "refused"]]);
});

Deno.test("applyOutcome: a gone session is logged without the body and skipped", () => {
  using logs = captureLogs();
  const { sent, send } = recordingSend(["s2"]);
  const deliver = applyOutcome(
    outcome({
      replies: [{ contentType: "text/plain", body: "secret reply" }],
      forwards: [
        { sessionId: "gone", content: { contentType: "text/plain", body: "secret copy" } },
        { sessionId: "s2", content: { contentType: "text/plain", body: "kept" } },
      ],
    }),
    send,
    new Logger("info"),
  );
  assertEquals([deliver, sent], [true, [["s2", "text/plain", "kept"]]]);
  assertEquals(logs.records.map((r) => [r.msg, r.sessionId, r.messageId, r.target]), [
    ["session gone; plugin reply not sent", "s1", "m1", undefined],
    ["forward target session not found; not forwarded", "s1", "m1", "gone"],
  ]);
  assertEquals(logs.lines.some((l) => l.includes("secret")), false);
});

Deno.test("applyOutcome: carries out what the runner returned", async () => {
  await using runner = await PluginRunner.load(["echo"], {
    env: { PLUGIN_ECHO_PREFIX: "> " },
    logger: new Logger("error"),
  });
  const { sent, send } = recordingSend(["s8"]);
  const result = await runner.message(fakeSession("s8"), incoming("ping", { sessionId: "s8" }));
  assertEquals(result.sessionId, "s8");
  assertEquals(applyOutcome(result, send), true);
  assertEquals(sent, [["s8", "text/plain", "> ping"]]);
});
