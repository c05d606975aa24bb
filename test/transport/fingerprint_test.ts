import { assertEquals, assertThrows } from "../_assert.ts";
import {
  certificateFingerprint,
  fingerprintMatches,
  parseFingerprint,
} from "../../src/transport/mod.ts";
import { makeTestCertificate } from "./_certs.ts";

Deno.test("certificateFingerprint: sha-1, sha-256, sha-384 and sha-512 agree with openssl's", async () => {
  const certificate = await makeTestCertificate();
  try {
    for (const hash of ["sha-1", "sha-256", "sha-384", "sha-512"] as const) {
      const { stdout } = await new Deno.Command("openssl", {
        args: [
          "x509",
          "-in",
          `${certificate.dir}/cert.pem`,
          "-noout",
          "-fingerprint",
          `-${hash.replace("-", "")}`,
        ],
        stdout: "piped",
      }).output();
      const fromOpenssl = new TextDecoder().decode(stdout).trim().split("=")[1];
      assertEquals(await certificateFingerprint(certificate.cert, hash), fromOpenssl, hash);
      const der = Uint8Array.from(
        atob(certificate.cert.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "")),
        (c) => c.charCodeAt(0),
      );
      const pin = parseFingerprint(hash.toUpperCase(), fromOpenssl.toLowerCase());
      assertEquals(pin, { hash, value: fromOpenssl });
      assertEquals(fingerprintMatches(pin, der), true, hash);
      // Another first byte: "00" unless the fingerprint starts with it (1 certificate in 256).
      const other = pin.value.replace(/^../, pin.value.startsWith("00") ? "01" : "00");
      assertEquals(fingerprintMatches({ hash, value: other }, der), false);
    }
  } finally {
    await Deno.remove(certificate.dir, { recursive: true });
  }
});

Deno.test("parseFingerprint: md5 and md2 (RFC 8122 §5), unknown hash functions and wrong lengths are refused", () => {
  const bytes = (n: number) => Array(n).fill("AB").join(":");
  assertThrows(() => parseFingerprint("md5", bytes(16)), TypeError, "RFC 8122");
  assertThrows(() => parseFingerprint("MD2", bytes(16)), TypeError, "RFC 8122");
  assertThrows(() => parseFingerprint("sha-224", bytes(28)), TypeError, "sha-224");
  assertThrows(() => parseFingerprint("sha-256", bytes(20)), TypeError, "32 hex bytes");
  assertThrows(() => parseFingerprint("sha-1", `${bytes(19)}:G0`), TypeError, "20 hex bytes");
  assertEquals(parseFingerprint("SHA-512", bytes(64).toLowerCase()).value, bytes(64));
});
