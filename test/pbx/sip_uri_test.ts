/**
 * SIP URIs (RFC 3261 §25.1) and the stricter dial-target rule, table-driven.
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  assertDialSafe,
  parseDialTarget,
  parseSipUri,
  SipUriError,
} from "../../src/pbx/sip_uri.ts";

/** The SipUriError `fn` throws; fails naming `label` when it throws nothing. */
function refusal(fn: () => unknown, label: string): SipUriError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SipUriError) return error;
    throw error;
  }
  throw new Error(`accepted: ${label}`);
}

Deno.test("sip uri: the RFC 3261 grammar — userinfo, host kinds, port, parameters, headers", () => {
  const cases: [string, Partial<ReturnType<typeof parseSipUri>>][] = [
    ["sip:alice@example.com", { user: "alice", host: "example.com", hostKind: "name" }],
    ["SIP:bob@127.0.0.1:5090;transport=tcp", {
      scheme: "sip",
      host: "127.0.0.1",
      hostKind: "ipv4",
      port: 5090,
      params: [["transport", "tcp"]],
      text: "sip:bob@127.0.0.1:5090;transport=tcp",
    }],
    ["sips:[2001:db8::1]:5061", { scheme: "sips", host: "2001:db8::1", hostKind: "ipv6" }],
    ["sip:[::ffff:192.0.2.1]", { host: "::ffff:192.0.2.1", hostKind: "ipv6" }],
    ["sip:pbx.example.com.", { user: undefined, host: "pbx.example.com." }],
    ["sip:a:pw@h", { user: "a", password: "pw" }],
    ["sip:+1-212;phone-context=x@h;user=phone;lr", {
      user: "+1-212;phone-context=x",
      params: [["user", "phone"], ["lr", undefined]],
    }],
    ["sip:a%40b@h?subject=hi&priority=urgent", {
      user: "a%40b",
      headers: [["subject", "hi"], ["priority", "urgent"]],
    }],
  ];
  for (const [text, expected] of cases) {
    const uri = parseSipUri(text);
    for (const [key, value] of Object.entries(expected)) {
      assertEquals(uri[key as keyof typeof uri], value, `${text}: ${key}`);
    }
  }
});

Deno.test("sip uri: what is not a SIP URI throws SipUriError", () => {
  for (
    const text of [
      "",
      "tel:+15551234",
      "sip:",
      "sip:a@",
      "sip:@h",
      "sip:a@b@c",
      "sip:a b@h",
      "sip:a@h\r\nX: y",
      "sip:a@h\0",
      "sip:a@h:65536",
      "sip:a@h:",
      "sip:a@256.1.1.1",
      "sip:a@-h",
      "sip:a@h_1",
      "sip:a@[::1",
      "sip:a@[1::2::3]",
      "sip:a@[::1]x",
      "sip:a%zz@h",
      "sip:a{b}@h",
      "sip:a|b@h",
      "sip:a@h;",
      "sip:a@h;p=",
      "sip:a@h?x",
      "<sip:a@h>",
      '"A" <sip:a@h>',
    ]
  ) {
    refusal(() => parseSipUri(text), JSON.stringify(text));
  }
});

Deno.test("sip uri: a dial target refuses what FreeSWITCH reads in dial strings, headers and passwords", () => {
  for (const text of ["sip:bob@127.0.0.1", "sips:bob@pbx.example.com:5061;transport=tls"]) {
    assertEquals(parseDialTarget(text).text, text);
  }
  assertEquals(parseDialTarget("SIP:Bob@H").text, "sip:Bob@H");
  for (
    const [text, why] of [
      ["sip:a@h?X-Evil=1", "headers"],
      ["sip:a:pw@h", "password"],
      ["sip:a@[::1]", "IPv6"],
      ["sip:a,b@h", '","'],
      ["sip:a$b@h", '"$"'],
      ["sip:o'neil@h", `"'"`],
      ["sip:a@h;maddr=[::1]", '"["'],
      ["sip:a;fs_path=x@h", '";"'],
      ["sip:a/b@h", '"/"'],
      ["sip:a@h;fs_path=sip:x", "fs_path"],
      ["sip:a@h;FS_NAT=yes", "FS_NAT"],
    ]
  ) {
    const error = refusal(() => parseDialTarget(text), text);
    assert(error.message.includes(why), `${text}: ${error.message}`);
  }
});

Deno.test("sip uri: the sink check refuses dial-string and line syntax", () => {
  assertDialSafe("internal/sip:bob@127.0.0.1:5090", "to");
  for (const value of ["a,b", "a|b", "a[b", "a]b", "a{b", "a}b", "a$b", "a b", "a\tb", "a\r\n"]) {
    assertThrows(() => assertDialSafe(value, "to"), SipUriError, "to must not contain");
  }
});
