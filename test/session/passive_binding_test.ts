/**
 * RFC 4975 §14: a passive session binds only a connection whose first
 * request comes from the peer announced in SDP; anyone else gets 481.
 */
import { nextMessage } from "../_messages.ts";
import { assertEquals } from "../_assert.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { RawPeer, sendFrame } from "./_peer.ts";

const PEER = "msrp://127.0.0.1:4000/peer1;tcp";

function statusOf(peer: RawPeer, tid: string): Promise<number | undefined> {
  return peer.waitFor((fs) => fs.some((f) => f.head.transactionId === tid)).then((fs) => {
    const h = fs.find((f) => f.head.transactionId === tid)!.head;
    return h.kind === "response" ? h.status : undefined;
  });
}

Deno.test("passive binding: a first request from another From-Path gets 481 and does not bind; the expected peer then binds", async () => {
  const e = new MsrpEndpoint({ port: 0 }).listen();
  const intruder = await RawPeer.connect(e.port);
  const peer = await RawPeer.connect(e.port);
  try {
    const s = e.createSession({ remotePath: [PEER] });
    await intruder.write(sendFrame({
      tid: "intr1",
      to: s.localUri,
      from: "msrp://127.0.0.1:4001/other;tcp",
      messageId: "x",
      range: "1-3/3",
      body: "bad",
    }));
    assertEquals(await statusOf(intruder, "intr1"), 481);
    // The right URI behind a relay hop is not the direct peer we expect either.
    await intruder.write(
      sendFrame({ tid: "intr2", to: s.localUri, from: `msrp://10.0.0.1:2856/r;tcp ${PEER}` }),
    );
    assertEquals(await statusOf(intruder, "intr2"), 481);
    assertEquals(s.link, undefined);

    const got = nextMessage(s);
    // RFC 4975 §6.1: host case and an equivalent spelling still match.
    await peer.write(sendFrame({
      tid: "good1",
      to: s.localUri,
      from: "MSRP://127.0.0.1:4000/peer1;TCP",
      messageId: "y",
      range: "1-2/2",
      body: "ok",
    }));
    assertEquals(await statusOf(peer, "good1"), 200);
    assertEquals((await got).text(), "ok");
  } finally {
    await intruder.close();
    await peer.close();
    await e.close();
  }
});

Deno.test("passive binding: a relayed peer is matched by its own URI, whatever relay hop comes first", async () => {
  const e = new MsrpEndpoint({ port: 0 }).listen();
  const relay = await RawPeer.connect(e.port);
  try {
    const s = e.createSession();
    s.expectPeer(["msrp://relay.example.net:2856/a1;tcp", PEER]);
    await relay.write(
      sendFrame({
        tid: "rel1",
        to: s.localUri,
        from: `msrp://127.0.0.1:2856/zz;tcp msrp://127.0.0.1:4001/other;tcp`,
      }),
    );
    assertEquals(await statusOf(relay, "rel1"), 481);
    await relay.write(
      sendFrame({ tid: "rel2", to: s.localUri, from: `msrp://127.0.0.1:2856/zz;tcp ${PEER}` }),
    );
    assertEquals(await statusOf(relay, "rel2"), 200);
    await s.ready;
  } finally {
    await relay.close();
    await e.close();
  }
});

Deno.test("passive binding: without a known peer path the first connection binds as before", async () => {
  const e = new MsrpEndpoint({ port: 0 }).listen();
  const anyone = await RawPeer.connect(e.port);
  try {
    const s = e.createSession();
    await anyone.write(
      sendFrame({ tid: "any1", to: s.localUri, from: "msrp://127.0.0.1:4009/w;tcp" }),
    );
    assertEquals(await statusOf(anyone, "any1"), 200);
    assertEquals(s.remotePath, ["msrp://127.0.0.1:4009/w;tcp"]);
  } finally {
    await anyone.close();
    await e.close();
  }
});
