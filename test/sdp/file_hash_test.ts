import { assert, assertEquals } from "../_assert.ts";
import { hashHex, sameHash, selectorHashValue } from "../../src/sdp/mod.ts";

Deno.test("file hash: a selector's value and a hex digest convert both ways (RFC 5547 §9)", () => {
  assertEquals(hashHex("72:24:5F:E8"), "72245fe8");
  assertEquals(selectorHashValue("72245fe8"), "72:24:5F:E8");
  assertEquals(selectorHashValue(""), "");
});

Deno.test("file hash: the same hash ignores case and colons, not the algorithm or the bytes", () => {
  assert(
    sameHash({ algorithm: "sha-1", value: "72:24:5F" }, { algorithm: "SHA-1", value: "72245f" }),
  );
  assert(
    !sameHash({ algorithm: "sha-1", value: "72:24:5F" }, { algorithm: "sha-256", value: "72245f" }),
  );
  assert(
    !sameHash({ algorithm: "sha-1", value: "72:24:5F" }, { algorithm: "sha-1", value: "72:24:5E" }),
  );
});
