/**
 * A bridge in this process connected over the event socket (inbound) to a
 * fresh FreeSWITCH double, for tests of calls through the PBX.
 *
 * @module
 */

import { type BridgeFixture, startBridge } from "../_bridge.ts";
import { until } from "../_until.ts";
import { FakeFreeSwitch } from "./_fake_freeswitch.ts";

/**
 * Runs `body` with a FreeSWITCH double (answering `uuid_exists` for the
 * channels it has) and a bridge whose event socket is connected to it;
 * closes both after.
 */
export async function withFakeFreeSwitch(
  body: (t: { fs: FakeFreeSwitch; b: BridgeFixture }) => Promise<void>,
): Promise<void> {
  const fs = new FakeFreeSwitch();
  fs.setApi("uuid_exists", (args) => fs.channel(args.trim()) ? "true" : "false");
  try {
    await using b = await startBridge({
      ESL_MODE: "inbound",
      ESL_PORT: String(fs.port),
      SIP_PROFILE: "msrp",
    });
    await until(() => b.bridge.eslState === "connected", "the event socket");
    await body({ fs, b });
  } finally {
    await fs.close();
  }
}
