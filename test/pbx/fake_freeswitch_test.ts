/**
 * The FreeSWITCH double against a plain Deno TCP client using the codec, and
 * against `modesl`, a stock npm ESL client: the double must speak what such a
 * client expects. The product does not use modesl (see src/pbx/esl_client.ts);
 * this test is its only user.
 */

import esl from "modesl";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import {
  encodeApi,
  encodeBgapi,
  encodeConnect,
  encodeExit,
  encodeFilter,
  encodeFilterDelete,
  encodeLinger,
  encodeMyevents,
  encodeSendmsg,
  encodeSubscribe,
  ESL_GOODBYE,
  type EslEvent,
  type EslMessage,
  parseMessages,
} from "../../src/pbx/esl_codec.ts";
import { EslTestClient } from "./_esl_test_client.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

const FIXTURES = new URL("../fixtures/esl/", import.meta.url);
const CALL = "5b0f3d2e-8a47-4c1e-b9d6-1e2f3a4b5c6d";
const APP_SDP = [
  "v=0",
  "o=msrpapp 3950327654 3950327654 IN IP4 192.0.2.50",
  "s=-",
  "c=IN IP4 192.0.2.50",
  "t=0 0",
  "m=message 2855 TCP/MSRP *",
  "a=accept-types:message/cpim text/plain",
  "a=accept-wrapped-types:*",
  "a=path:msrp://192.0.2.50:2855/s8dk2fj3lq;tcp",
  "a=setup:passive",
  "",
].join("\r\n");

function fixture(name: string): Promise<Uint8Array> {
  return Deno.readFile(new URL(name, FIXTURES));
}

async function fixtureMessages(name: string): Promise<EslMessage[]> {
  return parseMessages(await fixture(name));
}

async function fixtureEvent(name: string): Promise<EslEvent> {
  const event = (await fixtureMessages(name))[0].event;
  assert(event, `${name} holds an event`);
  return event;
}

function replyText(message: EslMessage): string | undefined {
  return message.headers.get("Reply-Text");
}

/** Runs `body` with a double and clients that are all closed afterwards. */
async function withDouble(
  body: (fs: FakeFreeSwitch, clients: EslTestClient[]) => Promise<void>,
  options: ConstructorParameters<typeof FakeFreeSwitch>[0] = {},
): Promise<void> {
  const fs = new FakeFreeSwitch(options);
  const clients: EslTestClient[] = [];
  try {
    await body(fs, clients);
  } finally {
    for (const client of clients) client.close();
    await fs.close();
  }
}

Deno.test("double: greets, accepts the right password, records the command", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.connect(fs.port);
    clients.push(client);
    assertEquals(await client.next(), (await fixtureMessages("auth-1-server-greeting.txt"))[0]);
    const reply = await client.command(await fixture("auth-2-client-auth.txt"));
    assertEquals(reply, (await fixtureMessages("auth-3-server-accepted.txt"))[0]);
    assertEquals(fs.commands.map((c) => [c.connection, c.command.line]), [[1, "auth ClueCon"]]);
    assertEquals(fs.connections, 1);
  });
});

Deno.test("double: a wrong password gets -ERR invalid, the goodbye notice, then close", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.connect(fs.port);
    clients.push(client);
    await client.next();
    await client.send(await fixture("auth-2-client-auth.txt"));
    const expected = await fixtureMessages("auth-4-server-invalid-then-disconnect.txt");
    assertEquals([await client.next(), await client.next()], expected);
    assertEquals(await client.next(), undefined);
  }, { password: "s3cret" });
});

Deno.test("double: before auth every other command is -ERR command not found", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.connect(fs.port);
    clients.push(client);
    await client.next();
    assertEquals(replyText(await client.command(encodeApi("status"))), "-ERR command not found");
    await assertRejects(() => EslTestClient.login(fs.port, "clueCon"), Error, "auth refused");
    clients.push(await EslTestClient.login(fs.port, "ClueCon"));
  });
});

Deno.test("double: denyAll answers as a failed ACL does", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.connect(fs.port);
    clients.push(client);
    assertEquals(
      [await client.next(), await client.next()],
      await fixtureMessages("acl-rude-rejection.txt"),
    );
    assertEquals(await client.next(), undefined);
  }, { denyAll: true });
});

Deno.test("double: subscription and filters decide which connections get an event", async () => {
  await withDouble(async (fs, clients) => {
    const plain = await EslTestClient.login(fs.port);
    const json = await EslTestClient.login(fs.port);
    clients.push(plain, json);
    const park = await fixtureEvent("channel-park-msrp-offer.txt");
    const job = await fixtureEvent("bgapi-3-server-background-job.txt");

    assertEquals(
      await plain.command(await fixture("subscribe-1-client-event.txt")),
      (await fixtureMessages("subscribe-2-server-reply.txt"))[0],
    );
    assertEquals(
      await plain.command(await fixture("subscribe-3-client-filter.txt")),
      (await fixtureMessages("subscribe-4-server-reply.txt"))[0],
    );
    assertEquals(
      replyText(await json.command(encodeSubscribe("json", ["CHANNEL_PARK"]))),
      "+OK event listener enabled json",
    );

    assertEquals(fs.emit("CHANNEL_PARK", park.headers), 2);
    assertEquals(await plain.event(), park, "plain delivery reproduces the fixture event");
    assertEquals(await json.event(), park, "json delivery carries the same event");

    // The filter makes the plain connection positive-only (§6.2): BACKGROUND_JOB has no
    // Caller-Context, so it is dropped until a filter admits it.
    assertEquals(fs.emit("BACKGROUND_JOB", job.headers, job.body), 0);
    assertEquals(fs.emit("CHANNEL_PARK", park.headers.with("Caller-Context", "default")), 1);
    assertEquals((await json.event()).get("Caller-Context"), "default");
    assertEquals(fs.emit("CHANNEL_STATE", park.headers), 0, "not subscribed");
    assertEquals(
      replyText(await plain.command(encodeFilter("Event-Name", "BACKGROUND_JOB"))),
      "+OK filter added. [Event-Name]=[BACKGROUND_JOB]",
    );
    assertEquals(fs.emit("BACKGROUND_JOB", job.headers, job.body), 1);
    assertEquals(await plain.event(), job, "nothing filtered slipped through before it");

    // A negative filter drops what it matches even when a positive one admits it.
    await plain.command(encodeFilter("Caller-Destination-Number", "-chat"));
    assertEquals(fs.emit("CHANNEL_PARK", park.headers), 1);
    await json.event();
    await plain.command(encodeFilter("Unique-ID", "/^5b0f3d2e-/"));
    assertEquals(
      replyText(await plain.command(encodeFilterDelete("Caller-Destination-Number"))),
      "+OK filter deleted. [Caller-Destination-Number][]",
    );
    assertEquals(fs.emit("CHANNEL_PARK", park.headers.with("Caller-Context", "x")), 2);
    assertEquals((await plain.event()).uniqueId, CALL, "admitted by the regex filter");
    await json.event();

    assertEquals(
      replyText(await plain.command(encodeFilterDelete("all"))),
      "+OK filter deleted. [all][]",
    );
    assertEquals(
      replyText(await plain.command(new TextEncoder().encode("nixevent CHANNEL_PARK\n\n"))),
      "+OK events nixed",
    );
    assertEquals(fs.emit("CHANNEL_PARK", park.headers), 1);
    await json.event();
    assertEquals(
      replyText(await plain.command(encodeSubscribe("plain", ["NO_SUCH_EVENT"]))),
      "-ERR no keywords supplied",
    );
  });
});

Deno.test("double: injected events reach only subscribers, CUSTOM by subclass", async () => {
  await withDouble(async (fs, clients) => {
    const a = await EslTestClient.login(fs.port);
    const b = await EslTestClient.login(fs.port);
    clients.push(a, b);
    await a.command(encodeSubscribe("plain", ["MESSAGE", "CUSTOM", "SMS::DELIVERY_REPORT"]));
    const message = await fixtureEvent("message-event-inbound-sip-message.txt");
    assertEquals(fs.emit("MESSAGE", message.headers, message.body), 1);
    const received = await a.event();
    assertEquals(received, message);
    assertEquals([received.get("from"), received.bodyText], [
      "alice@192.0.2.20",
      "Hello from pager mode",
    ]);
    assertEquals(fs.emit("CUSTOM", { "Event-Subclass": "sofia::register" }), 0);
    assertEquals(fs.emit("CUSTOM", { "Event-Subclass": "SMS::DELIVERY_REPORT" }), 1);
    const report = await a.event();
    assertEquals([report.name, report.subclass], ["CUSTOM", "SMS::DELIVERY_REPORT"]);
    assertEquals(report.get("Core-UUID"), "2a8d5e7c-1f0b-4f21-9a3e-6b1c0d9e4f11");
    assertEquals(report.get("Event-Date-Timestamp")?.length, 16);
  });
});

Deno.test("double: api answers scripted output, and the fixtures' not-found text", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    assertEquals(
      await client.command(await fixture("api-3-client-unknown.txt")),
      (await fixtureMessages("api-4-server-response-not-found.txt"))[0],
    );
    fs.setApi("status", "UP 0 years, 0 days, 0 hours\nFreeSWITCH is ready\n");
    fs.setApi("echo", (args) => args);
    const text = (m: EslMessage) => new TextDecoder().decode(m.body);
    assertEquals(
      text(await client.command(encodeApi("status"))),
      "UP 0 years, 0 days, 0 hours\nFreeSWITCH is ready\n",
    );
    assertEquals(text(await client.command(encodeApi("echo", "a b"))), "a b");
    assertEquals(text(await client.command(encodeApi("echo"))), "-ERR no reply\n");
    fs.setApi("chat", "Sent");
    assertEquals(
      await client.command(await fixture("chat-1-client-api-chat.txt")),
      (await fixtureMessages("chat-2-server-response.txt"))[0],
    );
    assertEquals(text(await client.command(encodeApi("uuid_answer", CALL))), "-ERROR\n");
    fs.addChannel((await fixtureEvent("channel-park-msrp-offer.txt")).headers);
    assertEquals(
      await client.command(await fixture("api-1-client-uuid-answer.txt")),
      (await fixtureMessages("api-2-server-response-ok.txt"))[0],
    );
  });
});

Deno.test("double: bgapi replies with the Job-UUID, then fires BACKGROUND_JOB", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", ["BACKGROUND_JOB"]));
    fs.setApi("originate", "+OK 9e8d7c6b-5a49-4838-a726-1f0e0d0c0b0a\n");
    assertEquals(
      await client.command(await fixture("bgapi-1-client-originate.txt")),
      (await fixtureMessages("bgapi-2-server-reply.txt"))[0],
    );
    const expected = await fixtureEvent("bgapi-3-server-background-job.txt");
    const job = await client.event();
    const volatile = [
      "Event-Date-Local",
      "Event-Date-GMT",
      "Event-Date-Timestamp",
      "Event-Sequence",
    ];
    assertEquals(
      Array.from(job.headers.without(...volatile)),
      Array.from(expected.headers.without(...volatile)),
    );
    assertEquals(job.body, expected.body);

    const reply = await client.command(encodeBgapi("nosuchcmd"));
    const jobUuid = reply.headers.get("Job-UUID");
    assert(jobUuid);
    assertEquals(replyText(reply), `+OK Job-UUID: ${jobUuid}`);
    const failed = await client.event();
    assertEquals([failed.get("Job-UUID"), failed.get("Job-Command"), failed.bodyText], [
      jobUuid,
      "nosuchcmd",
      "-ERR nosuchcmd Command not found!\n",
    ]);
    assertEquals(failed.get("Job-Command-Arg"), undefined);
  });
});

const CHANNEL_EVENTS = [
  "CHANNEL_EXECUTE",
  "CHANNEL_EXECUTE_COMPLETE",
  "CHANNEL_ANSWER",
  "CHANNEL_HANGUP",
  "CHANNEL_HANGUP_COMPLETE",
  "CHANNEL_DESTROY",
];

function summary(events: EslEvent[]): string[] {
  return events.map((e) => [e.name, e.get("Application")].filter(Boolean).join(" "));
}

Deno.test("double: sendmsg set, set, answer, hangup — the recipe of §4.2 with its events", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", CHANNEL_EVENTS));
    await client.command(encodeFilter("Unique-ID", CALL));
    fs.addChannel((await fixtureEvent("channel-park-msrp-offer.txt")).headers);
    const ok = (await fixtureMessages("answer-2-server-reply.txt"))[0];
    for (
      const name of [
        "answer-1-client-sendmsg-set-sdp.txt",
        "answer-3-client-sendmsg-soa-off.txt",
        "answer-4-client-sendmsg-answer.txt",
      ]
    ) {
      assertEquals(await client.command(await fixture(name)), ok);
    }
    const events = await client.events(7);
    assertEquals(summary(events), [
      "CHANNEL_EXECUTE set",
      "CHANNEL_EXECUTE_COMPLETE set",
      "CHANNEL_EXECUTE set",
      "CHANNEL_EXECUTE_COMPLETE set",
      "CHANNEL_EXECUTE answer",
      "CHANNEL_ANSWER",
      "CHANNEL_EXECUTE_COMPLETE answer",
    ]);
    assertEquals(events[1].get("Application-Data"), `switch_m_sdp=${APP_SDP}`);
    assertEquals(events[1].get("Application-Response"), "_none_");
    assertEquals(events[3].get("Application-Data"), "sip_enable_soa=false");
    const answer = events[5];
    assertEquals(answer.uniqueId, CALL);
    assertEquals(answer.get("Answer-State"), "answered");
    assertEquals(answer.get("Channel-Call-State"), "ACTIVE");
    assertEquals(answer.get("variable_rtp_local_sdp_str"), APP_SDP, "answered with the app's SDP");
    assertEquals(answer.get("variable_sip_enable_soa"), "false");
    assertEquals(events[6].get("Application-UUID"), "0f1e2d3c-4b5a-4697-8877-665544332211");
    assertEquals(fs.channel(CALL)?.answered, true);

    assertEquals(await client.command(await fixture("hangup-client-sendmsg.txt")), ok);
    const ended = await client.events(3);
    assertEquals(summary(ended), ["CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"]);
    assertEquals(ended[0].get("Hangup-Cause"), "NORMAL_CLEARING");
    assertEquals(ended[0].get("Answer-State"), "hangup");
    assertEquals(fs.channel(CALL), undefined);
    assertEquals(
      replyText(await client.command(encodeSendmsg(CALL, { command: "execute", app: "answer" }))),
      `-ERR invalid session id [${CALL}]`,
    );
  });
});

Deno.test("double: the set/answer race of §4.2 — api uuid_answer overtakes a queued set", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", CHANNEL_EVENTS));
    fs.addChannel((await fixtureEvent("channel-park-msrp-offer.txt")).headers, {
      deferExecution: true,
    });
    const set = { command: "execute", app: "set", arg: `switch_m_sdp=${APP_SDP}` } as const;
    assertEquals(replyText(await client.command(encodeSendmsg(CALL, set))), "+OK");
    assertEquals(fs.channel(CALL)?.queued, 1, "+OK means queued, not run");
    const getvar = await client.command(encodeApi("uuid_getvar", `${CALL} switch_m_sdp`));
    assertEquals(new TextDecoder().decode(getvar.body), "_undef_");
    await client.command(encodeApi("uuid_answer", CALL));
    const answer = await client.event();
    assertEquals(answer.name, "CHANNEL_ANSWER");
    const sent = answer.get("variable_rtp_local_sdp_str");
    assert(sent !== APP_SDP, "FreeSWITCH answered with its own SDP");
    assert(sent?.includes("a=path:msrp://192.0.2.10:2855/"), sent);
    fs.runQueued(CALL);
    assertEquals(summary(await client.events(2)), [
      "CHANNEL_EXECUTE set",
      "CHANNEL_EXECUTE_COMPLETE set",
    ]);
  });
});

Deno.test("double: no race when answer is queued behind set, or sent after set completed", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", CHANNEL_EVENTS));
    const park = await fixtureEvent("channel-park-msrp-offer.txt");
    const set = { command: "execute", app: "set", arg: `switch_m_sdp=${APP_SDP}` } as const;

    fs.addChannel(park.headers, { deferExecution: true });
    await client.command(encodeSendmsg(CALL, set));
    await client.command(encodeSendmsg(CALL, { command: "execute", app: "answer" }));
    assertEquals(fs.channel(CALL)?.queued, 2);
    fs.runQueued(CALL);
    const queued = await client.events(5);
    assertEquals(summary(queued).slice(2, 4), ["CHANNEL_EXECUTE answer", "CHANNEL_ANSWER"]);
    assertEquals(queued[3].get("variable_rtp_local_sdp_str"), APP_SDP);

    const other = "0c3f7a52-6a1e-4c55-8f0d-2b2f4f5d9e01";
    fs.addChannel(park.headers.with("Unique-ID", other), { deferExecution: true });
    const tag = "6f1e1b8a-97a4-4a8e-9d0e-6a2f6c1b7d11";
    await client.command(encodeSendmsg(other, { ...set, eventUuid: tag }));
    fs.runQueued(other);
    const done = await client.events(2);
    assertEquals(done[1].get("Application-UUID"), tag);
    await client.command(encodeApi("uuid_answer", other));
    const answer = await client.event();
    assertEquals([answer.uniqueId, answer.get("variable_rtp_local_sdp_str")], [other, APP_SDP]);
  });
});

Deno.test("double: respond 486 rejects the call, the hangup app and uuid_kill hang up", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", CHANNEL_EVENTS));
    const park = await fixtureEvent("channel-park-msrp-offer.txt");
    fs.addChannel(park.headers);
    await client.command(encodeSendmsg(CALL, { command: "execute", app: "respond", arg: "486" }));
    const events = await client.events(5);
    assertEquals(summary(events), [
      "CHANNEL_EXECUTE respond",
      "CHANNEL_HANGUP",
      "CHANNEL_EXECUTE_COMPLETE respond",
      "CHANNEL_HANGUP_COMPLETE",
      "CHANNEL_DESTROY",
    ]);
    assertEquals(events[1].get("Hangup-Cause"), "USER_BUSY");

    fs.addChannel(park.headers);
    await client.command(
      encodeSendmsg(CALL, { command: "execute", app: "hangup", arg: "CALL_REJECTED" }),
    );
    const hung = await client.events(5);
    assertEquals(hung[1].get("Hangup-Cause"), "CALL_REJECTED");

    fs.addChannel(park.headers);
    const kill = await client.command(encodeApi("uuid_kill", CALL));
    assertEquals(new TextDecoder().decode(kill.body), "+OK\n");
    assertEquals(summary(await client.events(3)), [
      "CHANNEL_HANGUP",
      "CHANNEL_HANGUP_COMPLETE",
      "CHANNEL_DESTROY",
    ]);
  });
});

Deno.test("double: sendevent fires the client's event and replies with its Event-UUID", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.command(encodeSubscribe("plain", ["CUSTOM", "SMS::SEND_MESSAGE"]));
    const reply = await client.command(await fixture("sendevent-1-client-sms-send-message.txt"));
    const text = replyText(reply) ?? "";
    assert(/^\+OK [0-9a-f-]{36}$/.test(text), text);
    const event = await client.event();
    assertEquals([event.name, event.subclass, event.get("to"), event.bodyText], [
      "CUSTOM",
      "SMS::SEND_MESSAGE",
      "msrp/sip:alice@192.0.2.20:5060",
      "Hello via SMS::SEND_MESSAGE",
    ]);
    assertEquals(event.get("Event-UUID"), text.slice(4));
  });
});

Deno.test("double: exit replies +OK bye, sends the goodbye notice and closes", async () => {
  await withDouble(async (fs, clients) => {
    const client = await EslTestClient.login(fs.port);
    clients.push(client);
    await client.send(encodeExit());
    const expected = await fixtureMessages("exit-2-server-reply-and-disconnect.txt");
    assertEquals([await client.next(), await client.next()], expected);
    assertEquals(await client.next(), undefined);
  });
});

Deno.test("double: dropConnections closes every client, which can then reconnect", async () => {
  await withDouble(async (fs, clients) => {
    const a = await EslTestClient.login(fs.port);
    const b = await EslTestClient.login(fs.port);
    clients.push(a, b);
    await a.command(encodeSubscribe("plain", ["CHANNEL_PARK"]));
    assertEquals(fs.connections, 2);
    await fs.dropConnections();
    assertEquals(fs.connections, 0);
    assertEquals([await a.next(), await b.next()], [undefined, undefined]);
    const again = await EslTestClient.login(fs.port);
    clients.push(again);
    const park = await fixtureEvent("channel-park-msrp-offer.txt");
    assertEquals(
      fs.emit("CHANNEL_PARK", park.headers),
      0,
      "subscriptions died with the connection",
    );
    await again.command(encodeSubscribe("plain", ["CHANNEL_PARK"]));
    assertEquals(fs.emit("CHANNEL_PARK", park.headers), 1);
    assertEquals((await again.event()).uniqueId, CALL);
    assertEquals(fs.commands.map((c) => c.connection), [1, 2, 1, 3, 3]);
  });
});

/** The parts of modesl's (untyped) `esl.Event` this test reads. */
interface ModeslEvent {
  getHeader(name: string): string | undefined;
  getBody(): string;
}

/** The parts of modesl's (untyped) `esl.Connection` this test uses. */
interface ModeslConnection {
  readonly socket: { once(event: "close", listener: () => void): void };
  on(event: "error", listener: (error: Error) => void): void;
  once(event: string, listener: (event: ModeslEvent) => void): void;
  api(command: string, callback: (response: ModeslEvent) => void): void;
  events(format: string, names: string[], callback: () => void): void;
  disconnect(): void;
}

/** modesl's `Connection` constructor, inbound form: host, port, password, on ready. */
const ModeslConnection = esl.Connection as new (
  host: string,
  port: number,
  password: string,
  ready: () => void,
) => ModeslConnection;

Deno.test("modesl: connects to the double, runs api status, receives injected json and plain events", async () => {
  await withDouble(async (fs) => {
    const status = "UP 0 years, 0 days, 0 hours\nFreeSWITCH (Version 1.10.12) is ready\n";
    fs.setApi("status", status);
    const park = await fixtureEvent("channel-park-msrp-offer.txt");
    const conn = await new Promise<ModeslConnection>((resolve, reject) => {
      const c = new ModeslConnection("127.0.0.1", fs.port, "ClueCon", () => resolve(c));
      c.on("error", reject);
    });
    const socketClosed = new Promise<void>((resolve) => conn.socket.once("close", resolve));
    try {
      const body = await new Promise((resolve) => conn.api("status", (r) => resolve(r.getBody())));
      assertEquals(body, status);
      await new Promise<void>((resolve) => conn.events("json", ["CHANNEL_PARK"], resolve));
      const received = new Promise<ModeslEvent>((resolve) =>
        conn.once(`esl::event::CHANNEL_PARK::${CALL}`, resolve)
      );
      assertEquals(fs.emit("CHANNEL_PARK", park.headers), 1);
      const event = await received;
      assertEquals(event.getHeader("Unique-ID"), CALL);
      assertEquals(event.getHeader("variable_switch_r_sdp"), park.remoteSdp);
      assertEquals(event.getHeader("Caller-Caller-ID-Name"), "Alice Example");

      conn.events("plain", ["MESSAGE"], () => {});
      const subscribed = await fs.waitForCommand((c) => c.args.startsWith("plain MESSAGE"));
      assertEquals(subscribed.name, "event");
      const message = await fixtureEvent("message-event-inbound-sip-message.txt");
      const pager = new Promise<ModeslEvent>((resolve) =>
        conn.once("esl::event::MESSAGE::*", resolve)
      );
      assertEquals(fs.emit("MESSAGE", message.headers, message.body), 1);
      const sms = await pager;
      assertEquals([sms.getHeader("from"), sms.getBody()], [
        "alice@192.0.2.20",
        "Hello from pager mode",
      ]);
      assertEquals(fs.commands.map((c) => c.command.line), [
        "auth ClueCon",
        "event json BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE",
        "api status",
        "event json CHANNEL_PARK BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE",
        "event plain MESSAGE BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE",
      ]);
    } finally {
      conn.disconnect();
      await socketClosed;
    }
  });
});

Deno.test("double: the socket application — connect reply, myevents, linger only with full, the linger notice of the fixture, exit", async () => {
  for (const full of [true, false]) {
    await withDouble(async (fs) => {
      const park = await fixtureEvent("channel-park-msrp-offer.txt");
      fs.addChannel(park.headers);
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      await fs.socket(CALL, { hostname: "127.0.0.1", port: listener.addr.port }, { full });
      const socket = await EslTestClient.accept(listener);
      listener.close();
      try {
        const reply = await socket.command(encodeConnect());
        assertEquals(reply.event?.name, "CHANNEL_DATA");
        assertEquals(reply.event?.remoteSdp, park.remoteSdp);
        assertEquals(Array.from(reply.headers).slice(-4), [
          ["Content-Type", "command/reply"],
          ["Reply-Text", "+OK\n"],
          ["Socket-Mode", "async"],
          ["Control", full ? "full" : "single-channel"],
        ]);
        assertEquals(reply.headers.has("Content-Length"), false);
        assertEquals(
          replyText(await socket.command(encodeMyevents({ format: "json" }))),
          "+OK Events Enabled",
        );
        assertEquals(replyText(await socket.command(encodeMyevents())), "-ERR aready enabled.");
        const linger = replyText(await socket.command(encodeLinger(30)));
        assertEquals(linger, full ? "+OK will linger 30 seconds" : "-ERR command not found");

        await socket.command(encodeSendmsg(undefined, { command: "hangup" }));
        assertEquals((await socket.event()).name, "CHANNEL_HANGUP");
        if (!full) {
          const notice = await socket.next();
          assertEquals(notice?.headers.get("Content-Disposition"), "disconnect");
          assertEquals(await socket.next(), undefined, "closed at hangup without linger");
          return;
        }
        const notice = await socket.next();
        const expected = (await fixtureMessages("outbound-3-server-linger-notice.txt"))[0];
        assertEquals(Array.from(notice!.headers), Array.from(expected.headers));
        assertEquals((await socket.events(2)).map((e) => e.name), [
          "CHANNEL_HANGUP_COMPLETE",
          "CHANNEL_DESTROY",
        ]);
        assertEquals(replyText(await socket.command(encodeExit())), "+OK bye");
        const goodbye = await socket.next();
        assertEquals(Array.from(goodbye!.headers), [
          ["Content-Type", "text/disconnect-notice"],
          ["Controlled-Session-UUID", CALL],
          ["Content-Disposition", "disconnect"],
          ["Content-Length", "67"],
        ]);
        assertEquals(new TextDecoder().decode(goodbye!.body), ESL_GOODBYE);
      } finally {
        socket.close();
      }
    });
  }
});
