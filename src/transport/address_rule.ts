/**
 * Address allow-lists (`RELAY_ALLOW`, `ESL_OUTBOUND_ALLOW`): which hosts and
 * ports a connection may go to or come from. Pure: names are compared as
 * text and never resolved, so a rule cannot be bypassed by what a DNS server
 * answers.
 *
 * Rule forms, separated by commas or white space:
 * - an IP address, `10.1.2.3` or `::1` (any port);
 * - a CIDR block, `10.0.0.0/8` or `fd00::/8`;
 * - a DNS name, `relay.example.net`, or every name below one, `*.example.net`;
 * - any of these with a port, `10.1.2.3:2855`, `[::1]:2855`, `[fd00::/8]:2855`,
 *   `relay.example.net:*` (any port spelled out).
 *
 * @example
 * ```ts
 * import { addressAllowed, parseAddressRules } from "./address_rule.ts";
 * const rules = parseAddressRules("10.0.0.0/8:2855, relay.example.net");
 * addressAllowed(rules, "10.1.2.3", 2855); // true
 * addressAllowed(rules, "127.0.0.1", 8021); // false
 * ```
 *
 * @module
 */

/** One allow-list entry. */
export interface AddressRule {
  /** The rule as written, for logs and errors. */
  readonly text: string;
  /** What the host must be. */
  readonly host:
    | { readonly kind: "ip"; readonly bytes: Uint8Array; readonly prefix: number }
    | { readonly kind: "name"; readonly name: string; readonly subdomains: boolean };
  /** The port it must have, or `undefined` for any. */
  readonly port: number | undefined;
}

const NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The 4 bytes of a dotted IPv4 address, or `undefined`. */
function ipv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** The 16 bytes of an IPv6 address (RFC 4291 §2.2 text forms), or `undefined`. */
function ipv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = ipv4(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-f]{1,4}$/i.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) as its IPv4 bytes; others as they are. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.slice(12) : bytes;
}

/** The bytes of an IP literal (IPv6 with or without brackets), or `undefined` for a name. */
export function ipBytes(host: string): Uint8Array | undefined {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const bytes = ipv4(bare) ?? ipv6(bare.replace(/%.*$/, ""));
  return bytes && unmapped(bytes);
}

function parseHost(text: string, rule: string): AddressRule["host"] {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const bytes = ipBytes(address);
  if (bytes) {
    const bits = bytes.length * 8;
    let prefix = bits;
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(p) || Number(p) > (ipv4(address) ? 32 : 128)) {
        throw new RangeError(`"${rule}": the prefix length after "/" is not valid`);
      }
      // An IPv6 prefix over a mapped IPv4 address counts the IPv4 bits only.
      prefix = Math.max(0, Number(p) - (ipv4(address) ? 0 : 128 - bits));
    }
    return { kind: "ip", bytes, prefix };
  }
  if (slash >= 0) throw new RangeError(`"${rule}": a CIDR block needs an IP address`);
  const lower = address.toLowerCase();
  const subdomains = lower.startsWith("*.");
  const name = subdomains ? lower.slice(2) : lower;
  // RFC 1123 §2.1: a top label of digits only would be a mistyped address.
  if (!NAME.test(name) || /(^|\.)\d+$/.test(name)) {
    throw new RangeError(`"${rule}": not an IP address, CIDR block or DNS name`);
  }
  return { kind: "name", name, subdomains };
}

function parsePort(text: string, rule: string): number | undefined {
  if (text === "*") return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new RangeError(`"${rule}": the port must be 1-65535 or *`);
  }
  return Number(text);
}

/** Parses one rule (see the module documentation). */
function parseRule(rule: string): AddressRule {
  if (rule.startsWith("[")) {
    const close = rule.indexOf("]");
    if (close < 0) throw new RangeError(`"${rule}": "[" without "]"`);
    const after = rule.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) {
      throw new RangeError(`"${rule}": only ":port" may follow "]"`);
    }
    const inside = rule.slice(1, close);
    const host = parseHost(inside, rule);
    if (host.kind !== "ip" || !inside.includes(":")) {
      throw new RangeError(`"${rule}": brackets hold an IPv6 address or block`);
    }
    return { text: rule, host, port: after === "" ? undefined : parsePort(after.slice(1), rule) };
  }
  const colons = rule.split(":").length - 1;
  // More than one colon without brackets: a bare IPv6 address or block, any port.
  if (colons !== 1) return { text: rule, host: parseHost(rule, rule), port: undefined };
  const at = rule.lastIndexOf(":");
  return {
    text: rule,
    host: parseHost(rule.slice(0, at), rule),
    port: parsePort(rule.slice(at + 1), rule),
  };
}

/**
 * Parses a list of rules separated by commas or white space; an empty text
 * is an empty list.
 *
 * @throws {RangeError} naming the first rule that does not parse.
 */
export function parseAddressRules(text: string): AddressRule[] {
  return text.split(/[\s,]+/).filter(Boolean).map(parseRule);
}

function inBlock(rule: { bytes: Uint8Array; prefix: number }, bytes: Uint8Array): boolean {
  if (rule.bytes.length !== bytes.length) return false;
  let bits = rule.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((rule.bytes[i] & mask) !== (bytes[i] & mask)) return false;
  }
  return true;
}

/**
 * True when some rule admits `host` (an IP literal, IPv6 with or without
 * brackets, or a DNS name) at `port`. IP literals match address and CIDR
 * rules; names match name rules only, compared without case and without a
 * trailing dot.
 */
export function addressAllowed(
  rules: readonly AddressRule[],
  host: string,
  port: number,
): boolean {
  const bytes = ipBytes(host);
  const name = bytes ? undefined : host.toLowerCase().replace(/\.$/, "");
  return rules.some((rule) => {
    if (rule.port !== undefined && rule.port !== port) return false;
    const h = rule.host;
    if (h.kind === "ip") return bytes !== undefined && inBlock(h, bytes);
    if (name === undefined) return false;
    return h.subdomains ? name.endsWith(`.${h.name}`) : name === h.name;
  });
}
