/**
 * The raw TCP baseline's receiving process in `bench/e2e.ts`: listens on
 * loopback, prints `{"port": …}`, reads one connection in 64 KiB reads until
 * `--bytes N` arrived (or it ends, without `--bytes`), prints `{"bytes", "firstAt", "lastAt"}` (epoch
 * milliseconds of the first and last read) and exits.
 *
 * Run: `deno run --allow-net bench/_raw_receiver.ts [--bytes N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { epochMs } from "./_proc.ts";

const { values } = parseArgs({ args: Deno.args, options: { bytes: { type: "string" } } });
const total = values.bytes === undefined ? Infinity : Number(values.bytes);

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(JSON.stringify({ port: listener.addr.port }));
const conn = await listener.accept();
const buf = new Uint8Array(64 * 1024);
let bytes = 0;
let firstAt = 0;
let lastAt = 0;
while (bytes < total) {
  const n = await conn.read(buf);
  if (n === null) break;
  lastAt = epochMs();
  if (firstAt === 0) firstAt = lastAt;
  bytes += n;
}
console.log(JSON.stringify({ bytes, firstAt, lastAt }));
conn.close();
listener.close();
