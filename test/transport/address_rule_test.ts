import { assertEquals, assertThrows } from "../_assert.ts";
import { addressAllowed, parseAddressRules } from "../../src/transport/address_rule.ts";

Deno.test("address rules: an empty list admits nothing", () => {
  assertEquals(parseAddressRules(""), []);
  assertEquals(addressAllowed([], "127.0.0.1", 2855), false);
});

Deno.test("address rules: IPv4 addresses and CIDR blocks match by prefix, with or without a port", () => {
  const rules = parseAddressRules("10.0.0.0/8:2855, 192.168.1.7 127.0.0.1:*");
  assertEquals(addressAllowed(rules, "10.200.3.4", 2855), true);
  assertEquals(addressAllowed(rules, "10.200.3.4", 2856), false);
  assertEquals(addressAllowed(rules, "11.0.0.1", 2855), false);
  assertEquals(addressAllowed(rules, "192.168.1.7", 1), true);
  assertEquals(addressAllowed(rules, "192.168.1.8", 1), false);
  assertEquals(addressAllowed(rules, "127.0.0.1", 8021), true);
  const odd = parseAddressRules("172.16.0.0/12");
  assertEquals(addressAllowed(odd, "172.31.255.255", 80), true);
  assertEquals(addressAllowed(odd, "172.32.0.0", 80), false);
});

Deno.test("address rules: IPv6 in any text form, bracketed with a port, and IPv4-mapped IPv6 counted as IPv4", () => {
  const rules = parseAddressRules("::1, [fd00::/8]:2855, 127.0.0.0/8");
  assertEquals(addressAllowed(rules, "::1", 9), true);
  assertEquals(addressAllowed(rules, "[0:0:0:0:0:0:0:1]", 9), true);
  assertEquals(addressAllowed(rules, "fdab::1", 2855), true);
  assertEquals(addressAllowed(rules, "fdab::1", 2856), false);
  assertEquals(addressAllowed(rules, "fe80::1", 2855), false);
  assertEquals(addressAllowed(rules, "::ffff:127.0.0.1", 8021), true);
  assertEquals(addressAllowed(rules, "::ffff:10.0.0.1", 8021), false);
});

Deno.test("address rules: names match name rules only, without case and never by resolving", () => {
  const rules = parseAddressRules("relay.example.net:*, *.example.org:2855, 127.0.0.1");
  assertEquals(addressAllowed(rules, "RELAY.example.net.", 1), true);
  assertEquals(addressAllowed(rules, "a.b.example.org", 2855), true);
  assertEquals(addressAllowed(rules, "example.org", 2855), false);
  assertEquals(addressAllowed(rules, "evilexample.org", 2855), false);
  // "localhost" resolves to 127.0.0.1, but a name never matches an address rule.
  assertEquals(addressAllowed(rules, "localhost", 8021), false);
});

Deno.test("address rules: malformed rules are refused naming the rule", () => {
  for (
    const bad of [
      "10.0.0.0/33",
      "::1/129",
      "256.1.1.1",
      "10.0.0.1:0",
      "10.0.0.1:70000",
      "[10.0.0.1]:80",
      "[::1",
      "[::1]x",
      "bad_name",
      "relay.example.net/8",
      "1::2::3",
    ]
  ) {
    const error = assertThrows(() => parseAddressRules(bad), RangeError);
    assertEquals(error.message.includes(`"${bad}"`), true, error.message);
  }
});
