import { assert, assertEquals } from "./_assert.ts";
import { makeTestCertificate } from "./transport/_certs.ts";
import { DEFAULT_RELAY_URI, skipUnlessRelay } from "./_services.ts";

const CLI = new URL("../src/cli.ts", import.meta.url).pathname;

/** A `cli listen` child process and the URI it printed first. */
async function startListener(dir: string, extra: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "listen", "--port", "0", "--dir", dir, ...extra],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`listener ended early: ${buffered}`);
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return line;
  };
  const uri = await nextLine();
  return {
    uri,
    nextLine,
    async stop() {
      child.kill("SIGTERM");
      await lines.cancel();
      await child.stderr.cancel();
      await child.status;
    },
  };
}

async function runSend(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "send", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return { code: out.code, summary: JSON.parse(text.split("\n").at(-1)!) };
}

/** A file of `size` bytes made of repeated random blocks; returns its sha256. */
async function makeFile(path: string, size: number): Promise<string> {
  const block = new Uint8Array(1024 * 1024);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let done = 0; done < size; done += block.length) {
    const piece = block.subarray(0, Math.min(block.length, size - done));
    // Vary each block so that misplaced chunks change the hash.
    piece[0] = done / block.length & 0xff;
    hash.update(piece);
    let w = 0;
    while (w < piece.length) w += await file.write(piece.subarray(w));
  }
  return hash.digest("hex");
}

Deno.test("cli: listen prints its URI first and saves a text message with a sidecar", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await startListener(dir);
  try {
    assert(/^msrp:\/\/127\.0\.0\.1:\d+\/[a-z0-9]+;tcp$/.test(listener.uri), listener.uri);
    const { code, summary } = await runSend([
      "--to",
      listener.uri,
      "--text",
      "hi there",
      "--report",
    ]);
    assertEquals([code, summary.status, summary.bytes], [0, "delivered", 8]);
    const saved = JSON.parse(await listener.nextLine());
    assertEquals([saved.contentType, saved.bytes, saved.complete], ["text/plain", 8, true]);
    assertEquals(await Deno.readTextFile(saved.path), "hi there");
    const sidecar = JSON.parse(await Deno.readTextFile(`${saved.path}.json`));
    assertEquals(sidecar.sha256, saved.sha256);
  } finally {
    await listener.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: send to a URI nobody serves exits non-zero with a JSON reason", async () => {
  const { code, summary } = await runSend(["--to", "msrp://127.0.0.1:9/nobody;tcp", "--text", "x"]);
  assertEquals([code, summary.status], [1, "failed"]);
  assert(typeof summary.reason === "string" && summary.reason.length > 0);
});

Deno.test("cli: send --file - sends standard input of unknown size, byte for byte", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await startListener(dir);
  try {
    // Several chunks of 64 KiB with total "*", and a last one that is not full.
    const body = new Uint8Array(3 * 1024 * 1024 + 12345);
    for (let i = 0; i < body.length; i += 65536) {
      crypto.getRandomValues(body.subarray(i, i + 65536));
    }
    const sha = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", body)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "send", "--to", listener.uri, "--file", "-", "--report"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    // Written in uneven pieces, as a pipe delivers them.
    for (let i = 0; i < body.length; i += 100_000) await writer.write(body.slice(i, i + 100_000));
    await writer.close();
    const out = await child.output();
    const summary = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assertEquals([out.code, summary.status, summary.bytes], [0, "delivered", body.length]);
    const saved = JSON.parse(await listener.nextLine());
    assertEquals([saved.bytes, saved.sha256, saved.complete], [body.length, sha, true]);
    assertEquals(await Deno.readFile(saved.path), body);
  } finally {
    await listener.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a 256 MiB file crosses TCP with matching sha256", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await startListener(`${dir}/out`);
  try {
    const sha = await makeFile(`${dir}/big.bin`, 256 * 1024 * 1024);
    const { code, summary } = await runSend(["--to", listener.uri, "--file", `${dir}/big.bin`]);
    assertEquals([code, summary.status, summary.bytes], [0, "sent", 256 * 1024 * 1024]);
    const saved = JSON.parse(await listener.nextLine());
    assertEquals([saved.sha256, saved.complete], [sha, true]);
  } finally {
    await listener.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a 256 MiB file crosses TLS (msrps) with matching sha256", async () => {
  const cert = await makeTestCertificate();
  const dir = await Deno.makeTempDir();
  const listener = await startListener(`${dir}/out`, [
    "--tls",
    "--cert",
    `${cert.dir}/cert.pem`,
    "--key",
    `${cert.dir}/key.pem`,
  ]);
  try {
    assert(listener.uri.startsWith("msrps://"), listener.uri);
    const sha = await makeFile(`${dir}/big.bin`, 256 * 1024 * 1024);
    const { code, summary } = await runSend([
      "--to",
      listener.uri,
      "--file",
      `${dir}/big.bin`,
      "--ca",
      `${cert.dir}/cert.pem`,
      "--report",
    ]);
    assertEquals([code, summary.status], [0, "delivered"]);
    const saved = JSON.parse(await listener.nextLine());
    assertEquals([saved.sha256, saved.complete], [sha, true]);
  } finally {
    await listener.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cert.dir, { recursive: true });
  }
});

const RELAY_URI = Deno.env.get("RELAY_URI") ?? DEFAULT_RELAY_URI;
const relayUp = await skipUnlessRelay("cli_test", RELAY_URI) === undefined;

Deno.test({
  name:
    "cli: listen behind a relay prints its whole path and a 50 MiB file arrives through the relay",
  ignore: !relayUp,
  async fn() {
    const dir = await Deno.makeTempDir();
    const relay = ["--relay", RELAY_URI, "--password", "secret"];
    const listener = await startListener(`${dir}/out`, [...relay, "--user", "bob"]);
    try {
      const path = listener.uri.split(" ");
      assertEquals(path.length, 2);
      assert(path[0].startsWith(RELAY_URI.replace(";tcp", "/")), path[0]);
      const sha = await makeFile(`${dir}/f.bin`, 50 * 1024 * 1024);
      const { code, summary } = await runSend([
        "--to",
        listener.uri,
        "--file",
        `${dir}/f.bin`,
        "--chunk",
        "8192",
        "--report",
        ...relay,
        "--user",
        "alice",
      ]);
      assertEquals([code, summary.status], [0, "delivered"]);
      const saved = JSON.parse(await listener.nextLine());
      assertEquals([saved.sha256, saved.complete], [sha, true]);
    } finally {
      await listener.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
