/**
 * Throwaway TLS certificates for tests, made with `openssl` at test time.
 *
 * @module
 */

/** A self-signed certificate, its key and where they are stored. */
export interface TestCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PEM. */
  key: string;
  /** SHA-256 of the certificate's DER, uppercase hex bytes joined by colons. */
  fingerprint: string;
  /** The temporary directory holding `cert.pem` and `key.pem`; remove it when done. */
  dir: string;
}

/** SHA-256 of the first certificate in `pem`, computed here independently of src/. */
async function fingerprintOf(pem: string): Promise<string> {
  const base64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(":").toUpperCase();
}

/**
 * A fresh self-signed P-256 certificate, valid for one day, for `names` (an
 * openssl subjectAltName value; by default `localhost`, 127.0.0.1 and ::1).
 * It is marked `CA:FALSE`: `Deno.connectTls` (rustls) refuses a leaf marked
 * as a CA (`CaUsedAsEndEntity`), which `openssl req -x509` makes by default.
 */
export async function makeTestCertificate(
  names = "IP:127.0.0.1,IP:::1,DNS:localhost",
): Promise<TestCertificate> {
  const dir = await Deno.makeTempDir({ prefix: "msrp-transport-test-" });
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  const { code, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      `subjectAltName=${names}`,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`openssl req failed: ${new TextDecoder().decode(stderr)}`);
  }
  const cert = await Deno.readTextFile(certPath);
  const key = await Deno.readTextFile(keyPath);
  return { cert, key, fingerprint: await fingerprintOf(cert), dir };
}
