/**
 * Throwaway certificate authorities and the certificates they issue, made
 * with `openssl` at test time, and fingerprints computed independently of
 * src/ (WebCrypto over the DER).
 *
 * @module
 */

/** A PEM certificate with its key, and the files holding them. */
export interface Issued {
  /** The certificate, PEM. */
  readonly cert: string;
  /** Its private key, PEM. */
  readonly key: string;
  /** The file holding `cert`. */
  readonly certPath: string;
  /** The file holding `key`. */
  readonly keyPath: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

async function read(dir: string, name: string): Promise<Issued> {
  const certPath = `${dir}/${name}.pem`;
  const keyPath = `${dir}/${name}.key`;
  return {
    cert: await Deno.readTextFile(certPath),
    key: await Deno.readTextFile(keyPath),
    certPath,
    keyPath,
  };
}

/** A directory of test certificates; dispose removes it. */
export class TestPki implements AsyncDisposable {
  /** The temporary directory. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A fresh, empty directory. */
  static async create(): Promise<TestPki> {
    return new TestPki(await Deno.makeTempDir({ prefix: "msrp-pki-test-" }));
  }

  /** A self-signed CA certificate (P-256, one day) named `name`. */
  async ca(name: string): Promise<Issued> {
    return await this.#selfSigned(name, [
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign",
    ]);
  }

  /**
   * A certificate named `name` for 127.0.0.1, ::1 and localhost, usable by
   * clients and servers, issued by `issuer` or, without one, self-signed
   * (and then marked `CA:FALSE`, which rustls needs of a leaf).
   */
  async leaf(name: string, issuer?: Issued): Promise<Issued> {
    const extensions = [
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "extendedKeyUsage=serverAuth,clientAuth",
    ];
    if (issuer === undefined) return await this.#selfSigned(name, extensions);
    await openssl([
      "req",
      ...EC,
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${this.dir}/${name}.key`,
      "-out",
      `${this.dir}/${name}.csr`,
    ]);
    await Deno.writeTextFile(`${this.dir}/${name}.ext`, extensions.join("\n") + "\n");
    await openssl([
      "x509",
      "-req",
      "-in",
      `${this.dir}/${name}.csr`,
      "-CA",
      issuer.certPath,
      "-CAkey",
      issuer.keyPath,
      "-set_serial",
      String(Date.now()),
      "-days",
      "1",
      "-extfile",
      `${this.dir}/${name}.ext`,
      "-out",
      `${this.dir}/${name}.pem`,
    ]);
    return await read(this.dir, name);
  }

  /** A self-signed certificate (P-256, one day) named `name` with the `-addext` `extensions`. */
  async #selfSigned(name: string, extensions: string[]): Promise<Issued> {
    await openssl([
      "req",
      "-x509",
      ...EC,
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      ...extensions.flatMap((e) => ["-addext", e]),
      "-keyout",
      `${this.dir}/${name}.key`,
      "-out",
      `${this.dir}/${name}.pem`,
    ]);
    return await read(this.dir, name);
  }

  /** Removes the directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** WebCrypto's name for each `a=fingerprint` hash function we test. */
export const HASHES = {
  "sha-1": "SHA-1",
  "sha-256": "SHA-256",
  "sha-384": "SHA-384",
  "sha-512": "SHA-512",
} as const;

/** The fingerprint of the first certificate of `pem` with `hash`, as `a=fingerprint` writes it. */
export async function fingerprintOf(pem: string, hash: keyof typeof HASHES): Promise<string> {
  const base64 = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem)![1];
  const der = Uint8Array.from(atob(base64.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest(HASHES[hash], der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}
