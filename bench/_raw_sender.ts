/**
 * The raw TCP baseline's sending process in `bench/e2e.ts`: connects to
 * `--port` on loopback, writes `--bytes N` from memory in `--write S` byte
 * writes (each awaited, as a plain sender would), prints `{"startAt",
 * "doneAt"}` (epoch milliseconds before connecting and after the last write)
 * and exits.
 *
 * Run: `deno run --allow-net bench/_raw_sender.ts --port P --bytes N --write S`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { epochMs } from "./_proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, bytes: { type: "string" }, write: { type: "string" } },
});
const total = Number(values.bytes);
const size = Number(values.write);

const piece = new Uint8Array(size);
crypto.getRandomValues(piece.subarray(0, Math.min(size, 65536)));
const startAt = epochMs();
const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(values.port) });
let sent = 0;
while (sent < total) {
  const write = piece.subarray(0, Math.min(size, total - sent));
  let done = 0;
  while (done < write.length) done += await conn.write(write.subarray(done));
  sent += write.length;
}
console.log(JSON.stringify({ startAt, doneAt: epochMs() }));
conn.close();
