/**
 * The command-line tool, "the curl of MSRP": `listen` prints its URI and saves
 * what arrives; `send` connects, sends a text or a file and reports.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FileSink, MsrpEndpoint, type SavedMessage } from "./session/mod.ts";
import { registerWithRelay, type RelayRegistration } from "./relay/mod.ts";
import { parsePath } from "./msrp/mod.ts";

const USAGE = `usage:
  cli listen [--host H] [--port P] [--tls --cert C --key K] [--dir D] [--accept TYPES]
             [--relay URI --user U --password P [--relay-ca FILE]]
  cli send --to <msrp-uri or space-separated path> (--text T | --file F)
           [--content-type CT] [--chunk N] [--report] [--insecure | --fingerprint FP]
           [--ca FILE] [--from-port P] [--host H]
           [--relay URI --user U --password P [--relay-ca FILE]]
  A listener behind a relay prints its whole path (relay Use-Path, then its URI).
  --file - sends standard input (its size is unknown: Byte-Range total "*").`;

const RELAY_OPTIONS = {
  relay: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  "relay-ca": { type: "string" },
} as const;

async function relayFrom(
  endpoint: MsrpEndpoint,
  values: { relay?: string; user?: string; password?: string; "relay-ca"?: string },
): Promise<RelayRegistration | undefined> {
  if (values.relay === undefined) return undefined;
  if (values.user === undefined || values.password === undefined) {
    fail("--relay needs --user and --password");
  }
  return await registerWithRelay(endpoint, {
    uri: values.relay,
    username: values.user,
    password: values.password,
    caCerts: values["relay-ca"] ? [await Deno.readTextFile(values["relay-ca"])] : undefined,
  });
}

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a whole number, got ${value}`);
  return n;
}

async function listenCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      tls: { type: "boolean", default: false },
      cert: { type: "string" },
      key: { type: "string" },
      dir: { type: "string", default: "." },
      accept: { type: "string", default: "*" },
      "max-size": { type: "string" },
      ...RELAY_OPTIONS,
    },
  });
  if (values.tls && (!values.cert || !values.key)) fail("--tls needs --cert and --key");
  const tls = values.tls
    ? { cert: await Deno.readTextFile(values.cert!), key: await Deno.readTextFile(values.key!) }
    : undefined;
  await Deno.mkdir(values.dir, { recursive: true });
  const endpoint = new MsrpEndpoint({
    hostname: values.host,
    port: intOption(values.port, "port", 2855),
    tls,
  }).listen();
  const print = (saved: SavedMessage) => console.log(JSON.stringify(saved));
  const relay = await relayFrom(endpoint, values);
  const session = endpoint.createSession({
    usePath: relay?.usePath,
    multiConnection: relay === undefined,
    acceptTypes: values.accept.split(/[ ,]+/).filter(Boolean),
    maxMessageBytes: intOption(values["max-size"], "max-size", Number.MAX_SAFE_INTEGER),
    sink: (info) => new FileSink(values.dir, info, print),
  });
  console.log(session.localPath.join(" "));
  const stop = () => {
    endpoint.close().finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

/** Bytes read from a file at a time: the sender cuts many chunks from one read. */
const FILE_BLOCK_BYTES = 1024 * 1024;

// Reads `file` in large blocks, the next read under way while a block is sent.
// Each block is a new buffer: chunks are written from it, never copied.
async function* fileBlocks(file: Deno.FsFile): AsyncGenerator<Uint8Array> {
  const read = async (): Promise<Uint8Array | undefined> => {
    const block = new Uint8Array(FILE_BLOCK_BYTES);
    const n = await file.read(block);
    return n === null ? undefined : block.subarray(0, n);
  };
  let next = read();
  try {
    while (true) {
      const block = await next;
      if (block === undefined) return;
      next = read();
      yield block;
    }
  } finally {
    await next.catch(() => undefined);
    file.close();
  }
}

async function sendCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      to: { type: "string" },
      text: { type: "string" },
      file: { type: "string" },
      "content-type": { type: "string" },
      chunk: { type: "string" },
      report: { type: "boolean", default: false },
      tls: { type: "boolean", default: false },
      insecure: { type: "boolean", default: false },
      fingerprint: { type: "string" },
      ca: { type: "string" },
      "from-port": { type: "string" },
      "session-id": { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      ...RELAY_OPTIONS,
    },
  });
  if (!values.to) fail("--to is required");
  if ((values.text === undefined) === (values.file === undefined)) {
    fail("give exactly one of --text or --file");
  }
  const path = parsePath(values.to);
  const endpoint = new MsrpEndpoint({
    hostname: values.host,
    port: intOption(values["from-port"], "from-port", 0),
    session: { chunkSize: intOption(values.chunk, "chunk", 64 * 1024) || 64 * 1024 },
  }).listen();
  const started = performance.now();
  let bytes = 0;
  try {
    const relay = await relayFrom(endpoint, values);
    // --session-id (with --from-port): the URI a peer's SDP names for us (RFC 4975 §14).
    const session = endpoint.createSession({ usePath: relay?.usePath, id: values["session-id"] });
    await endpoint.connectSession(session, path, {
      relay,
      insecure: values.insecure,
      fingerprint: values.fingerprint,
      caCerts: values.ca ? [await Deno.readTextFile(values.ca)] : undefined,
    });
    let message;
    if (values.file !== undefined) {
      // RFC 4975 §7.1.1: standard input's size is unknown, so each chunk but
      // the last says total "*" and the last one the real total.
      const stdin = values.file === "-";
      const size = stdin ? undefined : (await Deno.stat(values.file)).size;
      const source = stdin ? Deno.stdin.readable : fileBlocks(await Deno.open(values.file));
      message = session.send(source, {
        contentType: values["content-type"] ?? "application/octet-stream",
        size,
        successReport: values.report,
      });
    } else {
      message = session.send(values.text!, {
        contentType: values["content-type"] ?? "text/plain",
        successReport: values.report,
      });
    }
    const result = await message.done;
    bytes = result.bytesSent;
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({
      bytes,
      seconds: Number(seconds.toFixed(3)),
      MBps: Number((bytes / seconds / 1e6).toFixed(1)),
      status: result.status,
      code: result.code,
      ...(result.reason ? { reason: result.reason } : {}),
    }));
    await endpoint.close();
    Deno.exit(result.status === "failed" ? 1 : 0);
  } catch (e) {
    console.log(JSON.stringify({
      bytes,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      MBps: 0,
      status: "failed",
      reason: e instanceof Error ? e.message : String(e),
    }));
    await endpoint.close();
    Deno.exit(1);
  }
}

if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  if (command === "listen") await listenCommand(rest);
  else if (command === "send") await sendCommand(rest);
  else fail(USAGE);
}
