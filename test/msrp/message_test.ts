import { assertEquals } from "../_assert.ts";
import { parseByteRange } from "../../src/msrp/message.ts";
import { MsrpError } from "../../src/msrp/status.ts";

// RFC 4975 §9: byte-range = range-start "-" range-end "/" total, range-start 1*DIGIT,
// range-end and total 1*DIGIT / "*"; we bound each number to 15 digits.
const GRAMMAR = /^(\d{1,15})-(\d{1,15}|\*)\/(\d{1,15}|\*)$/;

function parsed(value: string): string {
  try {
    const r = parseByteRange(value);
    return `${r.start}-${r.end}/${r.total}`;
  } catch (e) {
    if (e instanceof MsrpError && e.status === 400) return "400";
    throw e;
  }
}

function expected(value: string): string {
  const m = GRAMMAR.exec(value.trim());
  if (!m) return "400";
  const [start, end, total] = [Number(m[1]), m[2], m[3]];
  if (start < 1) return "400";
  if (end !== "*" && Number(end) < start - 1) return "400";
  if (end !== "*" && total !== "*" && Number(end) > Number(total)) return "400";
  return `${start}-${end === "*" ? "*" : Number(end)}/${total === "*" ? "*" : Number(total)}`;
}

Deno.test("byte-range: well-formed values are read, with * for an unknown end or total", () => {
  assertEquals(parseByteRange("1-2048/4096"), { start: 1, end: 2048, total: 4096 });
  assertEquals(parseByteRange(" 2049-*/* "), { start: 2049, end: "*", total: "*" });
  assertEquals(parseByteRange("1-0/0"), { start: 1, end: 0, total: 0 });
});

Deno.test("byte-range: random strings over digits, '-', '/', '*' and space are accepted exactly as the grammar says", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = "0123456789-/* +x";
  const samples = ["1-2/3", "12-*/*", "0-1/2", "1-2/", "-1/2", "1--2/3", "1234567890123456-1/2"];
  for (let n = 0; n < 50_000; n++) {
    let s = "";
    const length = 1 + Math.floor(random() * 14);
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(random() * alphabet.length)];
    samples.push(s);
  }
  const digits = () => String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 16))));
  const field = () => (random() < 0.2 ? "*" : digits());
  for (let n = 0; n < 20_000; n++) samples.push(`${digits()}-${field()}/${field()}`);
  for (const s of samples) assertEquals(parsed(s), expected(s), JSON.stringify(s));
});
