/**
 * Pager mode through a real FreeSWITCH (shared/freeswitch, started with
 * `.ci/freeswitch.sh start`): a SIP MESSAGE from a phone reaches the bridge
 * as `pager.received`, and `sendPager` makes FreeSWITCH deliver a MESSAGE to
 * a SIP endpoint. Skipped when the event socket (127.0.0.1:8021) is not
 * reachable.
 */

import { assertEquals } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import dgram from "node:dgram";
import { SipPhone } from "./_sip_phone.ts";
import { skipUnlessReachable } from "../_services.ts";

const skip = await skipUnlessReachable("pager_real_test");

/** A SIP endpoint on UDP (FreeSWITCH sends pager MESSAGEs over UDP) that answers 200 and keeps the bodies. */
async function udpMessageSink(): Promise<{ port: number; bodies: string[]; close(): void }> {
  const socket = dgram.createSocket("udp4");
  const bodies: string[] = [];
  socket.on("message", (msg, from) => {
    const text = msg.toString();
    const [head, body = ""] = text.split("\r\n\r\n");
    const lines = head.split("\r\n");
    if (!lines[0].startsWith("MESSAGE ")) return;
    bodies.push(body);
    const copied = lines.filter((l) => /^(via|from|to|call-id|cseq|v|f|t|i):/i.test(l));
    socket.send(
      ["SIP/2.0 200 OK", ...copied, "Content-Length: 0", "", ""].join("\r\n"),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { port: socket.address().port, bodies, close: () => socket.close() };
}

Deno.test({
  name:
    "pager (real FreeSWITCH): a SIP MESSAGE in becomes pager.received; sendPager delivers one out",
  ignore: skip !== undefined,
  async fn() {
    const fixture = await startBridge({ ESL_MODE: "inbound", SIP_PROFILE: "msrp" });
    const { bridge, events } = fixture;
    const phone = await SipPhone.open({ server: { hostname: "127.0.0.1", port: 5080 } });
    const sink = await udpMessageSink();
    try {
      await until(() => bridge.eslState === "connected", "the event socket");
      const status = await phone.message("chat", "Hello from pager mode");
      assertEquals(status < 300, true);
      await until(() => events.some((e) => e.type === "pager.received"), "pager.received");
      const data = JSON.parse(events.find((e) => e.type === "pager.received")!.payload).data;
      assertEquals([data.text, data.contentType], ["Hello from pager mode", "text/plain"]);

      await bridge.sendPager({
        to: `sip:bob@127.0.0.1:${sink.port}`,
        from: "sip:bridge@127.0.0.1",
        text: "Hello back",
      });
      await until(() => sink.bodies.length > 0, "the MESSAGE at the SIP endpoint");
      assertEquals(sink.bodies, ["Hello back"]);
    } finally {
      await phone.close();
      sink.close();
      await fixture[Symbol.asyncDispose]();
    }
  },
});
