/**
 * Issue 14, item 6: no caller text ends an MSRP (or SIP) header line early.
 * Every content type — the API's JSON `contentType` and raw-body
 * Content-Type, a webhook reply's `contentType`, a plugin's reply — must be a
 * media type (RFC 4975 §9), checked by one rule; a refused one never reaches
 * the peer, while a valid one, in the same session, does. The serializers
 * themselves throw on CR, LF or NUL in a head.
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  openPeerSession,
  peerEndpoint,
  SECRET,
  startHarness,
  WebhookReceiver,
} from "../api/_harness.ts";
import { startBridge } from "../_bridge.ts";
import { openPeer } from "../bridge/_peer.ts";
import { until } from "../_until.ts";
import { Logger, type LogLevel } from "../../src/log.ts";
import {
  encodeRequest,
  encodeRequestHead,
  encodeResponse,
  isMediaType,
  type OutgoingRequest,
} from "../../src/msrp/mod.ts";
import { serializeSip } from "../../src/pbx/_sip_message.ts";
import { PluginRunner } from "../../src/plugins/mod.ts";
import { type IncomingMessage, MsrpEndpoint } from "../../src/session/mod.ts";

/** Largest wait for something asynchronous: a hang guard, not a timing check. */
const HANG_GUARD_MS = 30_000;

/** Content types that would end the Content-Type line, or are no media type at all. */
const BAD_TYPES = [
  "text/plain\r\nX-Injected: yes",
  "text/plain\r\n;a=b",
  "text/plain\n",
  "text/plain\r",
  "text/plain\0",
  'text/plain; a="x\r\ny"',
  "text",
  "text/plain;",
  "text/ plain",
  "",
];

function waitUntil(what: string, predicate: () => boolean): Promise<void> {
  return until(predicate, what, { timeoutMs: HANG_GUARD_MS });
}

Deno.test("header injection: one media-type rule — CR, LF, NUL and non-types are refused, parameters and quoted strings pass", () => {
  for (const type of BAD_TYPES) assert(!isMediaType(type), JSON.stringify(type));
  for (
    const type of [
      "text/plain",
      "text/plain; charset=utf-8",
      'message/cpim;x="a b;c"',
      "application/vnd.example+json;v=2",
    ]
  ) {
    assert(isMediaType(type), type);
  }
});

Deno.test("header injection: the MSRP and SIP serializers throw on CR, LF or NUL in a head, and session.send refuses such a type", async () => {
  const request: OutgoingRequest = {
    transactionId: "t1",
    method: "SEND",
    toPath: ["msrp://127.0.0.1:2855/a;tcp"],
    fromPath: ["msrp://127.0.0.1:2856/b;tcp"],
    contentType: "text/plain",
    body: new TextEncoder().encode("x"),
  };
  encodeRequest(request);
  const bad: Partial<OutgoingRequest>[] = [
    { contentType: "text/plain\r\nX-Injected: yes" },
    { contentType: "text/plain\0" },
    { headers: [["Message-ID", "m1\r\nX-Injected: yes"]] },
    { headers: [["X-Injected: yes\r\nMessage-ID", "m1"]] },
    { headers: [["Message-ID: m1\nX", "y"]] },
    { headers: [["", "y"]] },
    { toPath: ["msrp://127.0.0.1:2855/a;tcp\r\nX-Injected: yes"] },
    { fromPath: ["msrp://127.0.0.1:2856/b;tcp\n"] },
    { method: "SEND\r\nX-Injected: yes" },
  ];
  for (const change of bad) {
    assertThrows(() => encodeRequest({ ...request, ...change }), TypeError);
    assertThrows(() => encodeRequestHead({ ...request, ...change }, true), TypeError);
  }
  const response = { transactionId: "t1", status: 200, toPath: ["a"], fromPath: ["b"] };
  encodeResponse(response);
  assertThrows(() => encodeResponse({ ...response, comment: "OK\r\nX-Injected: yes" }), TypeError);
  assertThrows(() => encodeResponse({ ...response, headers: [["X", "a\rb"]] }), TypeError);

  serializeSip("MESSAGE sip:a@b SIP/2.0", [["X-Msrp-Target", "sip:a@b"]]);
  assertThrows(() => serializeSip("MESSAGE sip:a@b SIP/2.0", [["X", "a\r\nB: c"]]), TypeError);
  assertThrows(() => serializeSip("MESSAGE sip:a@b SIP/2.0", [["X\r\nB", "c"]]), TypeError);
  assertThrows(() => serializeSip("MESSAGE sip:a@b\r\nB: c SIP/2.0", []), TypeError);

  const endpoint = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  try {
    const session = endpoint.createSession();
    for (const contentType of BAD_TYPES) {
      assertThrows(() => session.send("x", { contentType }), TypeError, "media type");
    }
    assertThrows(() => session.send("x", { headers: [["X", "a\r\nB: c"]] }), TypeError);
    assertThrows(() => session.send("x", { messageId: "m\r\nB: c" }), TypeError);
  } finally {
    await endpoint.close();
  }
});

Deno.test("header injection: POST /v1/sessions/{id}/messages refuses such a contentType (JSON) or Content-Type (raw) with 422, nothing reaches the peer; a valid one does", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, received } = await openPeerSession(h, peer);
  const path = `/v1/sessions/${id}/messages`;
  for (const contentType of BAD_TYPES) {
    const res = await h.json("POST", path, { text: "injected", contentType });
    const problem = await res.json();
    assertEquals([res.status, problem.type], [
      422,
      "https://msrp-bridge.dev/problems/validation",
    ], JSON.stringify(contentType));
  }
  for (const contentType of ["text", "text/plain;", 'text/plain; a="b']) {
    const body = new TextEncoder().encode("injected");
    const pieces = (async function* () {
      yield body;
    })();
    const res = await h.upload(path, pieces, body.length, contentType);
    assertEquals(res.status, 422, `raw body with Content-Type ${contentType}`);
    await res.body?.cancel();
  }

  const ok = await h.json("POST", path, { text: "fine", contentType: "text/x-ok; charset=utf-8" });
  assertEquals(ok.status, 202);
  await waitUntil("the valid message at the peer", () => received.length > 0);
  assertEquals(
    received.map((m) => [m.contentType, m.text()]),
    [["text/x-ok; charset=utf-8", "fine"]],
  );
});

/** Log records, kept in order; a logger that writes here instead of stderr. */
interface LogRecord {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

class CaptureLogger extends Logger {
  readonly records: LogRecord[];

  constructor(records: LogRecord[] = []) {
    super("debug");
    this.records = records;
  }

  override with(): Logger {
    return new CaptureLogger(this.records);
  }

  override log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.records.push({ level, msg, fields });
  }
}

/**
 * The bridge (with `env` and `plugins`) and a peer in one session; the peer
 * sends with `send` and its received messages are in `received`.
 */
async function withPeer(
  env: Record<string, string>,
  plugins: (log: Logger) => Promise<PluginRunner | undefined>,
  body: (t: {
    log: CaptureLogger;
    send: (text: string) => Promise<void>;
    received: IncomingMessage[];
  }) => Promise<void>,
): Promise<void> {
  const log = new CaptureLogger();
  await using fixture = await startBridge(env, { logger: log, plugins: await plugins(log) });
  const bridge = fixture.bridge;
  const peer = new MsrpEndpoint({ hostname: "127.0.0.1", port: 0 }).listen();
  try {
    const { session, received } = await openPeer(bridge, peer, {
      session: { acceptTypes: ["*"] },
    });
    const send = async (text: string) => {
      assertEquals((await session.send(text).done).status, "sent");
    };
    await body({ log, send, received });
  } finally {
    await peer.close();
  }
}

Deno.test("header injection: a webhook reply whose contentType is not a media type is logged and dropped; a valid reply is sent", async () => {
  await using receiver = new WebhookReceiver((event) => {
    if (event.type !== "message.received") return undefined;
    return event.data.text === "bad"
      ? { reply: { text: "injected", contentType: "text/plain\r\nX-Injected: yes" } }
      : { reply: { text: "fine", contentType: "text/x-ok" } };
  });
  await withPeer(
    { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET },
    () => Promise.resolve(undefined),
    async ({ log, send, received }) => {
      await send("bad");
      await waitUntil(
        "the log record of the dropped reply",
        () => log.records.some((r) => r.msg.startsWith("webhook reply dropped")),
      );
      await send("good");
      await waitUntil("the valid reply at the peer", () => received.length > 0);
      assertEquals(received.map((m) => [m.contentType, m.text()]), [["text/x-ok", "fine"]]);
    },
  );
});

Deno.test("header injection: a plugin replying with such a contentType gets an error logged and nothing is sent; a valid reply is sent", async () => {
  await withPeer(
    {},
    (log) =>
      PluginRunner.create([{
        name: "inject",
        factory: () => ({
          onMessage(message, actions) {
            const bad = message.text() === "bad";
            actions.reply({
              contentType: bad ? "text/plain\r\nX-Injected: yes" : "text/x-ok",
              body: bad ? "injected" : "fine",
            });
            return "pass";
          },
        }),
      }], { logger: log }),
    async ({ log, send, received }) => {
      await send("bad");
      await waitUntil(
        "the plugin's error",
        () =>
          log.records.some((r) =>
            r.level === "error" && String(r.fields.error).includes("not a media type")
          ),
      );
      await send("good");
      await waitUntil("the valid reply at the peer", () => received.length > 0);
      assertEquals(received.map((m) => [m.contentType, m.text()]), [["text/x-ok", "fine"]]);
    },
  );
});
