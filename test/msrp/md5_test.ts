import { createHash } from "node:crypto";
import { md5Hex } from "../../src/msrp/_md5.ts";
import { assertEquals } from "../_assert.ts";

function nodeMd5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

Deno.test("md5Hex matches the RFC 1321 §A.5 test suite", () => {
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  for (const [input, digest] of suite) assertEquals(md5Hex(input), digest, JSON.stringify(input));
});

Deno.test("md5Hex gives the same digest for a string and its UTF-8 bytes", () => {
  const text = "Grüße, 世界 🌍";
  assertEquals(md5Hex(text), md5Hex(new TextEncoder().encode(text)));
  assertEquals(md5Hex(text), nodeMd5(new TextEncoder().encode(text)));
});

Deno.test("md5Hex pads correctly around the 55/56/64-byte block boundaries", () => {
  for (const length of [54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129]) {
    const data = Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
    assertEquals(md5Hex(data), nodeMd5(data), `length ${length}`);
  }
});

Deno.test("md5Hex hashes a multi-block input with every byte value like node:crypto", () => {
  const data = Uint8Array.from({ length: 4096 + 13 }, (_, i) => i & 0xff);
  assertEquals(md5Hex(data), nodeMd5(data));
});

Deno.test("md5Hex hashes a subarray view, not its whole underlying buffer", () => {
  const buffer = Uint8Array.from({ length: 100 }, (_, i) => i);
  const view = buffer.subarray(10, 70);
  assertEquals(md5Hex(view), nodeMd5(buffer.slice(10, 70)));
});
