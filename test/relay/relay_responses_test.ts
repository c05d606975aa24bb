/**
 * The relay client against a raw fake relay (a TCP listener writing
 * hand-made responses): AUTH answers that cannot be retried fail at once.
 */
import { assertEquals, assertRejects } from "../_assert.ts";
import { MsrpEndpoint } from "../../src/session/mod.ts";
import { registerWithRelay } from "../../src/relay/mod.ts";
import { MsrpError } from "../../src/msrp/mod.ts";
import { RawPeer } from "../session/_peer.ts";

/** Runs AUTH against a fake relay that answers every AUTH with `status` and `extra` headers. */
async function authAgainst(status: string, extra = "") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const e = new MsrpEndpoint({ port: 0 }).listen();
  const relayUri = `msrp://127.0.0.1:${listener.addr.port};tcp`;
  const relay = RawPeer.accept(listener);
  const registering = registerWithRelay(e, {
    uri: relayUri,
    username: "u",
    password: "p",
    expires: 30,
  });
  const fake = await relay;
  const answered = new Set<string>();
  const answering = (async () => {
    while (true) {
      const frames = await fake.waitFor((fs) =>
        fs.some((f) => f.head.kind === "request" && !answered.has(f.head.transactionId))
      ).catch(() => undefined);
      if (!frames) return;
      for (const f of frames) {
        const h = f.head;
        if (h.kind !== "request" || answered.has(h.transactionId)) continue;
        answered.add(h.transactionId);
        await fake.write(
          `MSRP ${h.transactionId} ${status}\r\nTo-Path: ${h.fromPath[0]}\r\n` +
            `From-Path: ${relayUri}\r\n${extra}-------${h.transactionId}$\r\n`,
        );
      }
    }
  })();
  try {
    const error = await assertRejects(() => registering, MsrpError);
    return { error, auths: answered.size };
  } finally {
    await e.close();
    await fake.close();
    await answering;
    listener.close();
  }
}

Deno.test("relay client: a 420 (no MSRP meaning) fails AUTH at once with that status", async () => {
  const { error, auths } = await authAgainst("420 Bad Extension");
  assertEquals([error.status, auths], [420, 1]);
});

Deno.test("relay client: a 423 naming no bound fails AUTH with 423 instead of retrying", async () => {
  const { error, auths } = await authAgainst("423 Interval Out-of-Bounds");
  assertEquals([error.status, auths], [423, 1]);
});

Deno.test("relay client: a 423 whose Min-Expires is met by the retry is retried once per new value", async () => {
  // The fake keeps answering 423 Min-Expires: 60; the retry asks 60, the next one
  // would not change it, so AUTH ends with 423 after two requests.
  const { error, auths } = await authAgainst("423 Interval Out-of-Bounds", "Min-Expires: 60\r\n");
  assertEquals([error.status, auths], [423, 2]);
});
