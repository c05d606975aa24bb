/**
 * The service with ESL_MODE=inbound against the FreeSWITCH double: an
 * inbound MSRP call becomes a recorded session with the caller's identity,
 * pager mode in and out, and the ESL state on readiness.
 */

import { assert, assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { buildOffer } from "../../src/sdp/mod.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { withFakeFreeSwitch } from "./_with_fake_freeswitch.ts";

const CALL = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";

Deno.test("service+pbx: an inbound MSRP call is answered, recorded with the caller's identity and hung up from the API", async () => {
  await withFakeFreeSwitch(async ({ fs, b: { bridge, events } }) => {
    const peer = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const caller = peer.createSession();
      const offer = buildOffer({
        path: caller.localPath,
        address: "127.0.0.1",
        port: peer.port,
        acceptTypes: ["text/plain"],
        setup: "active",
      });
      const headers: [string, string][] = [
        ["Unique-ID", CALL],
        ["Call-Direction", "inbound"],
        ["Caller-Caller-ID-Name", "Alice Example"],
        ["Caller-Caller-ID-Number", "alice"],
        ["Caller-Destination-Number", "msrp"],
        ["variable_sip_from_uri", "alice@127.0.0.1:5090"],
        ["variable_sip_to_uri", "msrp@127.0.0.1:5080"],
        ["variable_sip_call_id", "abc123@127.0.0.1"],
        ["variable_switch_r_sdp", offer],
        ["variable_endpoint_disposition", "RECEIVED_NOMEDIA"],
      ];
      fs.addChannel(headers);
      fs.emit("CHANNEL_PARK", headers);
      await until(
        () =>
          events.some((e) => e.type === "session.started") || fs.channel(CALL)?.answered === true,
        "the answer",
      );
      const answered = fs.channel(CALL)!;
      assert(answered.answered, "FreeSWITCH answered the call");
      const answer = answered.variables.get("switch_m_sdp")!;
      const path = /a=path:(.*)/.exec(answer)![1].trim().split(" ");
      await peer.connectSession(caller, path);
      await until(() => events.some((e) => e.type === "session.started"), "session.started");
      const started = JSON.parse(events.find((e) => e.type === "session.started")!.payload);
      const id = started.data.sessionId;
      const row = (await bridge.getSession(id))!;
      assertEquals(
        [row.fromUri, row.fromDisplay, row.callId, row.channelUuid],
        ["sip:alice@127.0.0.1:5090", "Alice Example", "abc123@127.0.0.1", CALL],
      );
      await caller.send("hi from the phone").done;
      await until(() => events.some((e) => e.type === "message.received"), "message.received");
      await bridge.closeSession(id, "agent hung up");
      await fs.waitForCommand((c) => c.line.includes("uuid_kill") && c.line.includes(CALL));
    } finally {
      await peer.close();
    }
  });
});

Deno.test("service+pbx: an RFC 5547 file call is recorded as a file transfer and hung up once the file arrived", async () => {
  await withFakeFreeSwitch(async ({ fs, b: { bridge, events } }) => {
    const peer = new MsrpEndpoint({ port: 0 }).listen();
    try {
      const caller = peer.createSession();
      const file = new TextEncoder().encode("%PDF-1.4 not really\n".repeat(4000));
      const offer = buildOffer({
        path: caller.localPath,
        address: "127.0.0.1",
        port: peer.port,
        acceptTypes: ["message/cpim", "application/pdf"],
        acceptWrappedTypes: ["*"],
        setup: "active",
        fileTransfer: {
          selector: { name: "notes.pdf", type: "application/pdf", size: file.length },
          transferId: "Xf3kq9",
        },
      });
      const headers: [string, string][] = [
        ["Unique-ID", CALL],
        ["Call-Direction", "inbound"],
        ["Caller-Caller-ID-Name", "Alice Example"],
        ["variable_sip_call_id", "file123@127.0.0.1"],
        ["variable_switch_r_sdp", offer],
        ["variable_endpoint_disposition", "RECEIVED_NOMEDIA"],
      ];
      fs.addChannel(headers);
      fs.emit("CHANNEL_PARK", headers);
      await until(() => fs.channel(CALL)?.answered === true, "the answer");
      const answer = fs.channel(CALL)!.variables.get("switch_m_sdp")!;
      assert(answer.includes("a=recvonly"), answer);
      assert(answer.includes("a=accept-wrapped-types:*"), answer);
      const path = /a=path:(.*)/.exec(answer)![1].trim().split(" ");
      await peer.connectSession(caller, path);
      await until(() => events.some((e) => e.type === "session.started"), "session.started");
      const started = JSON.parse(events.find((e) => e.type === "session.started")!.payload);
      assertEquals([started.data.kind, started.data.file.name], ["file-transfer", "notes.pdf"]);
      const id = started.data.sessionId;
      const row = (await bridge.getSession(id))!;
      assertEquals([row.kind, row.file?.size, row.file?.transferId], [
        "file-transfer",
        file.length,
        "Xf3kq9",
      ]);
      await caller.send(file, { contentType: "application/pdf" }).done;
      await until(() => events.some((e) => e.type === "message.received"), "message.received");
      await fs.waitForCommand((c) => c.line.includes("uuid_kill") && c.line.includes(CALL));
      assertEquals((await bridge.getSession(id))?.endReason, "file received");
    } finally {
      await peer.close();
    }
  });
});

Deno.test("service+pbx: an inbound SIP MESSAGE is published as pager.received; sendPager uses the chat API", async () => {
  await withFakeFreeSwitch(async ({ fs, b: { bridge, events } }) => {
    fs.emit("MESSAGE", [
      ["from", "alice@192.0.2.20"],
      ["to", "chat@192.0.2.10"],
      ["type", "text/plain"],
      ["from_full", '"Alice Example" <sip:alice@192.0.2.20>;tag=9fxced76sl'],
    ], "Hello from pager mode");
    await until(() => events.some((e) => e.type === "pager.received"), "pager.received");
    const pager = JSON.parse(events.find((e) => e.type === "pager.received")!.payload).data;
    assertEquals(
      [pager.from, pager.to, pager.fromDisplay, pager.text],
      ["sip:alice@192.0.2.20", "sip:chat@192.0.2.10", "Alice Example", "Hello from pager mode"],
    );

    fs.setApi("chat", "Sent");
    await bridge.sendPager({
      to: "sip:bob@127.0.0.1:5090",
      from: "sip:bridge@127.0.0.1",
      text: "hi",
    });
    const sent = await fs.waitForCommand((c) => c.line.startsWith("bgapi chat"));
    assertEquals(
      sent.line,
      "bgapi chat sip|bridge@127.0.0.1|msrp/sip:bob@127.0.0.1:5090|hi|text/plain",
    );

    fs.setApi("chat", "Error! Message Not Sent");
    let refused = "";
    await bridge.sendPager({ to: "sip:x@127.0.0.1", from: "sip:b@127.0.0.1", text: "x" })
      .catch((e) => refused = e.code);
    assertEquals(refused, "pbx-unavailable");
    assertEquals((await bridge.readiness()).esl, "connected");
  });
});

Deno.test("service+pbx: an inbound SIP MESSAGE event seen twice (same Core-UUID and Event-Sequence) is handled once", async () => {
  await withFakeFreeSwitch(async ({ fs, b: { events } }) => {
    const message = (sequence: string): [string, string][] => [
      ["Event-Sequence", sequence],
      ["from", "alice@192.0.2.20"],
      ["to", "chat@192.0.2.10"],
      ["type", "text/plain"],
    ];
    fs.emit("MESSAGE", message("9001"), "one");
    fs.emit("MESSAGE", message("9001"), "one");
    fs.emit("MESSAGE", message("9002"), "two");
    const texts = () =>
      events.filter((e) => e.type === "pager.received").map((e) => JSON.parse(e.payload).data.text);
    await until(() => texts().includes("two"), "the second MESSAGE");
    assertEquals(texts().sort(), ["one", "two"]);
  });
});
