/**
 * The small-message sending process of `bench/e2e.ts`: `--count N` text
 * SENDs (RFC 4975 §7.1), serialized before the clock starts, written on one
 * connection in writes of up to `--batch` bytes while fewer than `--window`
 * bytes of them are unanswered; counts the 200s. Prints `{"startAt",
 * "doneAt", "ok", "other", "firstOther"}` (epoch milliseconds after
 * connecting and when the last response arrived) and exits. With `--raw` it
 * writes the same bytes in the same writes to a raw TCP receiver without
 * waiting for anything (the baseline); `doneAt` is then its last write.
 *
 * Run: `deno run --allow-net bench/_small_sender.ts --port P --to URI --count N [--raw]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { epochMs } from "./_proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    to: { type: "string", default: "msrp://127.0.0.1:1/raw;tcp" },
    count: { type: "string", default: "100000" },
    window: { type: "string", default: String(4 * 1024 * 1024) },
    batch: { type: "string", default: String(64 * 1024) },
    raw: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const window = Number(values.window);
const batch = Number(values.batch);

const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(values.port) });
const from = `msrp://127.0.0.1:${conn.localAddr.port}/benchsender;tcp`;
const body = "hello, this is message";
const prefix = crypto.randomUUID().slice(0, 8);
const texts: string[] = [];
const offsets = new Array<number>(count + 1);
offsets[0] = 0;
for (let n = 0; n < count; n++) {
  const tid = prefix + n.toString(36).padStart(8, "0");
  const text = `MSRP ${tid} SEND\r\nTo-Path: ${values.to}\r\nFrom-Path: ${from}\r\n` +
    `Message-ID: m${tid}\r\nByte-Range: 1-${body.length}/${body.length}\r\n` +
    `Content-Type: text/plain\r\n\r\n${body}\r\n-------${tid}$\r\n`;
  texts.push(text);
  offsets[n + 1] = offsets[n] + text.length;
}
const frames = new TextEncoder().encode(texts.join(""));

let ok = 0;
let other = 0;
let firstOther: string | undefined;
let wake: (() => void) | undefined;
let doneAt = 0;

async function readResponses(): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const piece of conn.readable) {
    rest += decoder.decode(piece, { stream: true });
    const lines = rest.split("\r\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith("MSRP ")) continue;
      const code = line.split(" ", 3)[2];
      if (code === "200") ok++;
      else {
        other++;
        firstOther ??= line;
      }
    }
    if (ok + other >= count && doneAt === 0) doneAt = epochMs();
    wake?.();
    if (doneAt !== 0) return;
  }
}

const reading = values.raw ? undefined : readResponses();
const startAt = epochMs();
let next = 0;
while (next < count) {
  const answered = values.raw ? next : ok + other;
  const limit = values.raw ? Infinity : offsets[answered] + window;
  let end = next;
  while (end < count && offsets[end + 1] - offsets[next] <= batch && offsets[end + 1] <= limit) {
    end++;
  }
  if (end === next) {
    // A frame bigger than a batch still goes, alone; a full window waits.
    if (offsets[next + 1] <= limit) end = next + 1;
    else {
      await new Promise<void>((resolve) => wake = resolve);
      continue;
    }
  }
  const write = frames.subarray(offsets[next], offsets[end]);
  let done = 0;
  while (done < write.length) done += await conn.write(write.subarray(done));
  next = end;
}
if (reading) await reading;
else doneAt = epochMs();
console.log(JSON.stringify({ startAt, doneAt, ok, other, firstOther }));
Deno.exit(0);
