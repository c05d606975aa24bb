/**
 * The receiving process of `bench/e2e.ts`: one library session on loopback
 * that prints its URI as a JSON line (`{"uri": …}`), counts what arrives and,
 * after `--messages N` messages, prints `{"messages", "bytes", "firstAt",
 * "lastAt"}` (epoch milliseconds of the first body byte and of the last
 * message); it keeps answering until it gets SIGTERM. With `--sink` every
 * message goes to a sink that counts and discards its bytes; otherwise
 * messages are kept in memory, as a library user gets them by default.
 *
 * Run: `deno run --allow-net bench/_sink_receiver.ts --messages N [--sink]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type MessageEvent, MsrpEndpoint } from "../src/session/mod.ts";
import { epochMs } from "./_proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { messages: { type: "string", default: "1" }, sink: { type: "boolean" } },
});
const expected = Number(values.messages);

let bytes = 0;
let messages = 0;
let firstAt = 0;
const endpoint = new MsrpEndpoint({ port: 0, maxSessions: 4 }).listen();
const session = endpoint.createSession({
  maxMessageBytes: Number.MAX_SAFE_INTEGER,
  sink: values.sink
    ? () => ({
      write() {
        if (firstAt === 0) firstAt = epochMs();
      },
      close() {},
    })
    : undefined,
});
session.addEventListener("message", (e) => {
  if (firstAt === 0) firstAt = epochMs();
  bytes += (e as MessageEvent).message.outcome?.bytesReceived ?? 0;
  if (++messages < expected) return;
  console.log(JSON.stringify({ messages, bytes, firstAt, lastAt: epochMs() }));
});
Deno.addSignalListener("SIGTERM", () => {
  // A clean exit, so that `--cpu-prof` writes its profile.
  endpoint.close().finally(() => Deno.exit(0));
});
console.log(JSON.stringify({ uri: session.localUri }));
