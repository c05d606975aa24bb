/**
 * Codec micro-benchmarks (deno bench): parse and serialize throughput for
 * 2 KiB, 64 KiB and 1 MiB chunks and for small text messages.
 *
 * `deno run -A bench/codec_report.ts` turns the results into MB/s and frames/s.
 *
 * @module
 */

import { concatBytes, MsrpParser } from "../src/msrp/parser.ts";
import { encodeRequest, encodeResponse } from "../src/msrp/serializer.ts";

/** Frames per iteration for each case, so per-frame figures can be derived. */
export const CASES = {
  "2KiB": { bodySize: 2 * 1024, frames: 512 },
  "64KiB": { bodySize: 64 * 1024, frames: 64 },
  "1MiB": { bodySize: 1024 * 1024, frames: 8 },
  "small": { bodySize: 20, frames: 10_000 },
} as const;

function stream(bodySize: number, frames: number): Uint8Array {
  const body = new Uint8Array(bodySize);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < frames; i++) {
    parts.push(...encodeRequest({
      transactionId: `tid${i.toString(36).padStart(8, "0")}`,
      method: "SEND",
      toPath: ["msrp://127.0.0.1:2855/abcdefgh12345678;tcp"],
      fromPath: ["msrp://127.0.0.1:40000/zyxwvuts87654321;tcp"],
      headers: [["Message-ID", "m0001"], ["Byte-Range", `1-${bodySize}/${bodySize}`]],
      contentType: bodySize < 100 ? "text/plain" : "application/octet-stream",
      body,
    }));
  }
  return concatBytes(parts);
}

let sink = 0;
const handler = {
  head() {
    sink++;
  },
  body(b: Uint8Array) {
    sink += b.length;
  },
  end() {
    sink++;
  },
  error(f: { error: Error }) {
    throw f.error;
  },
};

for (const [name, c] of Object.entries(CASES)) {
  const data = stream(c.bodySize, c.frames);
  // Cut the stream into 64 KiB reads, as a socket would deliver it.
  const reads: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += 65536) reads.push(data.subarray(i, i + 65536));
  Deno.bench({
    name: `parse ${name}`,
    group: "parse",
    fn() {
      const p = new MsrpParser(handler);
      for (const r of reads) p.push(r);
    },
  });
  const body = new Uint8Array(c.bodySize);
  Deno.bench({
    name: `serialize ${name}`,
    group: "serialize",
    fn() {
      for (let i = 0; i < c.frames; i++) {
        sink += encodeRequest({
          transactionId: "abcdefgh12345678",
          method: "SEND",
          toPath: ["msrp://127.0.0.1:2855/abcdefgh12345678;tcp"],
          fromPath: ["msrp://127.0.0.1:40000/zyxwvuts87654321;tcp"],
          headers: [["Message-ID", "m0001"], ["Byte-Range", `1-${c.bodySize}/${c.bodySize}`]],
          contentType: "application/octet-stream",
          body,
        }).length;
      }
    },
  });
}

Deno.bench({
  name: "serialize 200 response",
  group: "serialize",
  fn() {
    for (let i = 0; i < 10_000; i++) {
      sink += encodeResponse({
        transactionId: "abcdefgh12345678",
        status: 200,
        toPath: ["msrp://127.0.0.1:40000/zyxwvuts87654321;tcp"],
        fromPath: ["msrp://127.0.0.1:2855/abcdefgh12345678;tcp"],
      }).length;
    }
  },
});
