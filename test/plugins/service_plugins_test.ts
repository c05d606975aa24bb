import { assertEquals } from "../_assert.ts";
import { startBridge } from "../_bridge.ts";
import { openPeer } from "../bridge/_peer.ts";
import { Logger } from "../../src/log.ts";
import { PluginRunner } from "../../src/plugins/mod.ts";
import { type IncomingMessage, MsrpEndpoint } from "../../src/session/mod.ts";

Deno.test("service: with PLUGINS=echo the bridge echoes a peer's text back in the same session", async () => {
  const log = new Logger("error");
  const plugins = await PluginRunner.fromEnv({ PLUGINS: "echo" }, { logger: log });
  await using fixture = await startBridge({}, { logger: log, plugins });
  const bridge = fixture.bridge;
  const peer = new MsrpEndpoint({ port: 0 }).listen();
  try {
    const { session: peerSession } = await openPeer(bridge, peer, {
      offer: { acceptTypes: ["text/plain"] },
    });
    const echoed = new Promise<IncomingMessage>((resolve) =>
      peerSession.addEventListener(
        "message",
        (e) => resolve((e as unknown as { message: IncomingMessage }).message),
        { once: true },
      )
    );
    await peerSession.send("hello bridge").done;
    assertEquals((await echoed).text(), "hello bridge");
  } finally {
    await peer.close();
  }
});
