/**
 * The inbound ESL client against the FreeSWITCH double: login, subscription,
 * filters, api/bgapi/sendmsg, refusals, and reconnecting after a drop.
 */

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import {
  DEFAULT_EVENTS,
  EslClient,
  type EslClientOptions,
  type EslClientState,
  EslCommandError,
  EslConnectionError,
  type EslEventReceived,
  type EslStateChange,
} from "../../src/pbx/esl_client.ts";
import type { EslEvent } from "../../src/pbx/esl_codec.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

const CALL = "5b0f3d2e-8a47-4c1e-b9d6-1e2f3a4b5c6d";

/** Runs `body` with a double and a started client, both closed afterwards. */
async function withClient(
  body: (fs: FakeFreeSwitch, esl: EslClient) => Promise<void>,
  options: Omit<EslClientOptions, "port"> = {},
): Promise<void> {
  const fs = new FakeFreeSwitch();
  const esl = new EslClient({ port: fs.port, reconnectBaseMs: 20, ...options }).start();
  try {
    await body(fs, esl);
  } finally {
    await esl.close();
    await fs.close();
  }
}

/** Resolves with the next event called `name`. */
function nextEvent(esl: EslClient, name: string): Promise<EslEvent> {
  return new Promise((resolve) => {
    const listener = (e: Event) => {
      const { event } = e as EslEventReceived;
      if (event.name !== name) return;
      esl.removeEventListener("event", listener);
      resolve(event);
    };
    esl.addEventListener("event", listener);
  });
}

/** Resolves with the next state change to `state`. */
function nextState(esl: EslClient, state: EslClientState): Promise<EslStateChange> {
  return new Promise((resolve) => {
    const listener = (e: Event) => {
      const change = e as EslStateChange;
      if (change.state !== state) return;
      esl.removeEventListener("state", listener);
      resolve(change);
    };
    esl.addEventListener("state", listener);
  });
}

Deno.test("esl client: logs in, subscribes as json and delivers events", async () => {
  await withClient(async (fs, esl) => {
    await esl.whenConnected();
    assertEquals(esl.state, "connected");
    assertEquals(fs.commands.map((c) => c.command.line), [
      "auth ClueCon",
      `event json ${DEFAULT_EVENTS.join(" ")}`,
    ]);
    const parked = nextEvent(esl, "CHANNEL_PARK");
    assertEquals(
      fs.emit("CHANNEL_PARK", { "Unique-ID": CALL, "Caller-Caller-ID-Name": "Ann B" }),
      1,
    );
    const event = await parked;
    assertEquals([event.uniqueId, event.get("Caller-Caller-ID-Name")], [CALL, "Ann B"]);
  });
});

Deno.test("esl client: api returns the output, bgapi the BACKGROUND_JOB body", async () => {
  await withClient(async (fs, esl) => {
    fs.setApi("status", "UP 0 years\nFreeSWITCH is ready\n");
    fs.setApi("originate", (args) => `+OK ${args.split(" ")[0]}\n`);
    await esl.whenConnected();
    assertEquals(await esl.api("status"), "UP 0 years\nFreeSWITCH is ready\n");
    assertEquals(await esl.api("nosuchcmd arg"), "-ERR nosuchcmd Command not found!\n");
    assertEquals(
      await esl.bgapi("originate sofia/msrp/sip:bob@127.0.0.1 &park()"),
      "+OK sofia/msrp/sip:bob@127.0.0.1\n",
    );
    const bgapi = fs.commands.at(-1)!.command;
    assertEquals(bgapi.line, "bgapi originate sofia/msrp/sip:bob@127.0.0.1 &park()");
    assert(bgapi.headers.has("Job-UUID"), "bgapi carries our Job-UUID");
  });
});

Deno.test("esl client: sendmsg queues an application; a multi-line argument goes as a body", async () => {
  await withClient(async (fs, esl) => {
    fs.addChannel({ "Unique-ID": CALL, "variable_endpoint_disposition": "RECEIVED_NOMEDIA" });
    await esl.whenConnected();
    const sdp = "v=0\r\ns=-\r\n";
    const done = nextEvent(esl, "CHANNEL_EXECUTE_COMPLETE");
    await esl.sendmsg(CALL, "set", `switch_m_sdp=${sdp}`, { eventLock: true, eventUuid: "E-1" });
    assertEquals((await done).get("Application-UUID"), "E-1");
    assertEquals(fs.channel(CALL)?.variables.get("switch_m_sdp"), sdp);
    const command = fs.commands.at(-1)!.command;
    assertEquals(command.headers.get("content-type"), "text/plain");
    assertEquals(command.headers.get("event-lock"), "true");
    const error = await assertRejects(() => esl.sendmsg("no-such-uuid", "answer"), EslCommandError);
    assertEquals(error.reply, "-ERR invalid session id [no-such-uuid]");
  });
});

Deno.test("esl client: filters are installed with one for BACKGROUND_JOB", async () => {
  await withClient(async (fs, esl) => {
    await esl.whenConnected();
    assertEquals(fs.commands.slice(1).map((c) => c.command.line), [
      "event json CHANNEL_PARK BACKGROUND_JOB",
      "filter variable_sofia_profile_name msrp",
      "filter Event-Name BACKGROUND_JOB",
    ]);
    const parked = nextEvent(esl, "CHANNEL_PARK");
    assertEquals(fs.emit("CHANNEL_PARK", { "Unique-ID": "other" }), 0, "filtered out");
    fs.emit("CHANNEL_PARK", { "Unique-ID": CALL, "variable_sofia_profile_name": "msrp" });
    assertEquals((await parked).uniqueId, CALL);
    fs.setApi("status", "ready\n");
    assertEquals(await esl.bgapi("status"), "ready\n");
  }, { events: ["CHANNEL_PARK"], filters: [["variable_sofia_profile_name", "msrp"]] });
});

Deno.test("esl client: reconnects and subscribes again after FreeSWITCH drops the connection", async () => {
  await withClient(async (fs, esl) => {
    await esl.whenConnected();
    const lost = nextState(esl, "disconnected");
    const back = nextState(esl, "connected");
    await fs.dropConnections();
    assert((await lost).error instanceof EslConnectionError, "the loss is reported");
    await assertRejects(() => esl.api("status"), EslConnectionError, "not connected");
    await back;
    assertEquals(fs.commands.map((c) => [c.connection, c.command.line]), [
      [1, "auth ClueCon"],
      [1, `event json ${DEFAULT_EVENTS.join(" ")}`],
      [2, "auth ClueCon"],
      [2, `event json ${DEFAULT_EVENTS.join(" ")}`],
    ]);
    const parked = nextEvent(esl, "CHANNEL_PARK");
    fs.emit("CHANNEL_PARK", { "Unique-ID": CALL });
    assertEquals((await parked).uniqueId, CALL);
  });
});

Deno.test("esl client: a wrong password is reported and retried, never connected", async () => {
  await withClient(async (fs, esl) => {
    const refused = await nextState(esl, "disconnected");
    assertEquals(refused.error?.message, "FreeSWITCH refused the login: -ERR invalid");
    await nextState(esl, "connecting");
    assertEquals(esl.state === "connected", false);
    assert(fs.commands.every((c) => c.command.line === "auth wrong"), "only auth was tried");
  }, { password: "wrong" });
});

Deno.test("esl client: an ACL refusal is reported", async () => {
  const fs = new FakeFreeSwitch({ denyAll: true });
  const esl = new EslClient({ port: fs.port, reconnectBaseMs: 20 });
  const refused = nextState(esl, "disconnected");
  esl.start();
  try {
    assertEquals(
      (await refused).error?.message,
      "FreeSWITCH refused the client (event_socket ACL)",
    );
  } finally {
    await esl.close();
    await fs.close();
  }
});

Deno.test("esl client: a refused TCP connection is retried until closed; whenConnected then fails", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const esl = new EslClient({ port, reconnectBaseMs: 10 });
  const states: EslClientState[] = [];
  esl.addEventListener("state", (e) => states.push((e as EslStateChange).state));
  const connected = esl.whenConnected();
  const second = new Promise<void>((resolve) =>
    esl.addEventListener("state", () => {
      if (states.filter((s) => s === "connecting").length === 2) resolve();
    })
  );
  esl.start();
  await second;
  await esl.close();
  await assertRejects(() => connected, EslConnectionError, "client closed");
  assertEquals(states.slice(0, 3), ["connecting", "disconnected", "connecting"]);
  assertEquals(esl.state, "disconnected");
});
