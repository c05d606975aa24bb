/**
 * `src/bridge/errors.ts`: lower-layer errors become the bridge's codes,
 * naming the request field at fault.
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { BridgeError, dialTarget, sdpFailure } from "../../src/bridge/errors.ts";
import { SdpError } from "../../src/sdp/mod.ts";

Deno.test("sdpFailure: SDP that does not parse is invalid-sdp, SDP we cannot negotiate is sdp-not-acceptable", () => {
  const malformed = sdpFailure(new SdpError("malformed", "no v= line"), "offer");
  assert(malformed instanceof BridgeError);
  assertEquals([malformed.code, malformed.field, malformed.message], [
    "invalid-sdp",
    "offer",
    "no v= line",
  ]);
  const refused = sdpFailure(new SdpError("no-acceptable-media", "no MSRP media line"), "answer");
  assert(refused instanceof BridgeError);
  assertEquals([refused.code, refused.field], ["sdp-not-acceptable", "answer"]);
});

Deno.test("sdpFailure: other errors are returned as they are", () => {
  const other = new TypeError("boom");
  assertEquals(sdpFailure(other, "offer"), other);
});

Deno.test("dialTarget: a dialable SIP URI comes back with a lower-case scheme; others are invalid-sip-uri naming the field", () => {
  assertEquals(dialTarget("SIP:bob@example.com", "to"), "sip:bob@example.com");
  for (const bad of ["bob@example.com", "sip:bob@example.com?X-Evil=1", "sip:${x}@example.com"]) {
    const error = assertThrows(() => dialTarget(bad, "from"), BridgeError);
    assertEquals([error.code, error.field], ["invalid-sip-uri", "from"], bad);
  }
});
