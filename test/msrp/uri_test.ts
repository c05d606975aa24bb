import {
  authorityKey,
  effectivePort,
  formatMsrpUri,
  type MsrpUri,
  msrpUriEquals,
  parseMsrpUri,
  sameMsrpUri,
  sessionIdOf,
} from "../../src/msrp/uri.ts";
import { MsrpError } from "../../src/msrp/status.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";

/** Valid URIs, each with its parse result; all of them format back to the same text. */
const VALID: [string, MsrpUri][] = [
  ["msrp://192.0.2.1:2855/abc;tcp", {
    scheme: "msrp",
    host: "192.0.2.1",
    port: 2855,
    sessionId: "abc",
    transport: "tcp",
    params: [],
  }],
  ["msrp://[::1]:2855/abc;tcp", {
    scheme: "msrp",
    host: "::1",
    port: 2855,
    sessionId: "abc",
    transport: "tcp",
    params: [],
  }],
  ["msrp://[2001:db8::1]/s;tcp", {
    scheme: "msrp",
    host: "2001:db8::1",
    sessionId: "s",
    transport: "tcp",
    params: [],
  }],
  ["msrp://host.example.com:8493/asfd34;tcp", {
    scheme: "msrp",
    host: "host.example.com",
    port: 8493,
    sessionId: "asfd34",
    transport: "tcp",
    params: [],
  }],
  ["msrp://bob@relay.example.com:7777/kjhd37s2s20w2a;tcp", {
    scheme: "msrp",
    user: "bob",
    host: "relay.example.com",
    port: 7777,
    sessionId: "kjhd37s2s20w2a",
    transport: "tcp",
    params: [],
  }],
  ["msrp://relay.example.com/iau39soe2843z;tcp", {
    scheme: "msrp",
    host: "relay.example.com",
    sessionId: "iau39soe2843z",
    transport: "tcp",
    params: [],
  }],
  ["msrp://127.0.0.1:2856;tcp", {
    scheme: "msrp",
    host: "127.0.0.1",
    port: 2856,
    transport: "tcp",
    params: [],
  }],
  ["msrp://df7jal23ls0d.invalid/2s93i93idj;ws", {
    scheme: "msrp",
    host: "df7jal23ls0d.invalid",
    sessionId: "2s93i93idj",
    transport: "ws",
    params: [],
  }],
  ["msrps://alice.example.com:2856/a+b=c/d-e._~9;tcp;rn=1;flag", {
    scheme: "msrps",
    host: "alice.example.com",
    port: 2856,
    sessionId: "a+b=c/d-e._~9",
    transport: "tcp",
    params: [["rn", "1"], ["flag", undefined]],
  }],
  ["msrp://[::ffff:192.0.2.7]:1/x;tcp", {
    scheme: "msrp",
    host: "::ffff:192.0.2.7",
    port: 1,
    sessionId: "x",
    transport: "tcp",
    params: [],
  }],
  ["msrps://relay.example.net:65535;tcp", {
    scheme: "msrps",
    host: "relay.example.net",
    port: 65535,
    transport: "tcp",
    params: [],
  }],
];

Deno.test("parseMsrpUri splits IPv4, IPv6, host name, userinfo, relay, ws and msrps URIs", () => {
  for (const [text, expected] of VALID) assertEquals(parseMsrpUri(text), expected, text);
});

Deno.test("formatMsrpUri round-trips every parsed URI, bracketing IPv6 hosts", () => {
  for (const [text] of VALID) assertEquals(formatMsrpUri(parseMsrpUri(text)), text);
  assertEquals(
    formatMsrpUri({ scheme: "msrp", host: "2001:db8::5", port: 9, transport: "tcp", params: [] }),
    "msrp://[2001:db8::5]:9;tcp",
  );
});

Deno.test("parseMsrpUri lower-cases scheme and transport but keeps host and session-id case", () => {
  const uri = parseMsrpUri("MSRPS://Host.Example.COM:12/AbC;TCP;Key=Val");
  assertEquals(uri, {
    scheme: "msrps",
    host: "Host.Example.COM",
    port: 12,
    sessionId: "AbC",
    transport: "tcp",
    params: [["Key", "Val"]],
  });
});

Deno.test("parseMsrpUri accepts userinfo with sub-delims and percent-encoding", () => {
  const uri = parseMsrpUri("msrp://a%40b;x=y@host:1/s;tcp");
  assertEquals(uri.user, "a%40b;x=y");
  assertEquals(uri.host, "host");
  assertEquals(uri.sessionId, "s");
});

Deno.test("parseMsrpUri rejects malformed URIs with MsrpError 400 saying what is wrong", () => {
  const cases: [string, string][] = [
    ["192.0.2.1:2855/abc;tcp", "missing scheme"],
    ["msrp:/192.0.2.1:2855/abc;tcp", "missing scheme"],
    ["http://example.com/abc;tcp", 'unsupported scheme "http"'],
    ["sip://example.com/abc;tcp", 'unsupported scheme "sip"'],
    ["msrp://host:0/abc;tcp", 'bad port "0"'],
    ["msrp://host:70000/abc;tcp", 'bad port "70000"'],
    ["msrp://host:abc/abc;tcp", 'bad port "abc"'],
    ["msrp://host:/abc;tcp", 'bad port ""'],
    ["msrp://host:123456/abc;tcp", 'bad port "123456"'],
    ["msrp://[::1:2855/abc;tcp", 'unclosed "["'],
    ["msrp://[::1]2855/abc;tcp", 'unexpected "2855" after IPv6'],
    ["msrp://[::g]:2855/abc;tcp", 'bad IPv6 address "::g"'],
    ["msrp://[1:2:3:4:5:6:7:8:9]/abc;tcp", "bad IPv6 address"],
    ["msrp://[1::2::3]/abc;tcp", "bad IPv6 address"],
    ["msrp://[]:2855/abc;tcp", "empty host"],
    ["msrp://::1:2855/abc;tcp", "must be enclosed in [ ]"],
    ["msrp://256.1.1.1:2855/abc;tcp", 'bad IPv4 address "256.1.1.1"'],
    ["msrp://1.2.3:2855/abc;tcp", 'bad IPv4 address "1.2.3"'],
    ["msrp://host:2855/abc", "missing transport"],
    ["msrp://host:2855", "missing transport"],
    ["msrp://host:2855/abc;", "missing transport"],
    ["msrp://host:2855/abc;t-c-p", 'bad transport "t-c-p"'],
    ["msrp://:2855/abc;tcp", "empty host"],
    ["msrp:///abc;tcp", "empty host"],
    ["msrp://;tcp", "empty host"],
    ["msrp://alice@:2855/abc;tcp", "empty host"],
    ["msrp://host:2855/ab c;tcp", "contains a space"],
    [" msrp://host:2855/abc;tcp", "contains a space"],
    ["msrp://host:2855/abc;tcp\r\n", "contains a space, control"],
    ["msrp://hést:2855/abc;tcp", "non-ASCII"],
    ["msrp://host:2855/;tcp", "empty session-id"],
    ["msrp://host:2855/a?b;tcp", 'bad session-id "a?b"'],
    ["msrp://ho[st:2855/abc;tcp", 'bad character in host "ho[st"'],
    ["msrp://alice:secret@host:2855/abc;tcp", "must not contain a password"],
    ["msrp://al<ice@host:2855/abc;tcp", 'bad userinfo "al<ice"'],
    ["msrp://host:2855/abc;tcp;;x", 'bad URI parameter ""'],
    ["msrp://host:2855/abc;tcp;a=b=c", 'bad URI parameter "a=b=c"'],
    ["msrp://host:2855/abc;tcp;k=", 'bad URI parameter "k="'],
  ];
  for (const [text, problem] of cases) {
    const error = assertThrows(() => parseMsrpUri(text), MsrpError, problem);
    assertEquals(error.status, 400, text);
    assert(
      error.message.includes(JSON.stringify(text)),
      `message quotes the URI: ${error.message}`,
    );
  }
});

Deno.test("effectivePort is the written port, or 2855 when the URI has none", () => {
  assertEquals(effectivePort(parseMsrpUri("msrp://relay.example.com;tcp")), 2855);
  assertEquals(effectivePort(parseMsrpUri("msrps://relay.example.com;tcp")), 2855);
  assertEquals(effectivePort(parseMsrpUri("msrp://relay.example.com:2856;tcp")), 2856);
});

Deno.test("msrpUriEquals follows the RFC 4975 §6.1 comparison rules", () => {
  const table: [string, string, boolean, string][] = [
    ["msrp://h.example.com:1/s;tcp", "msrp://h.example.com:1/s;tcp", true, "identical"],
    ["MSRP://H.Example.COM:1/s;tcp", "msrp://h.example.com:1/s;tcp", true, "scheme/host case"],
    ["msrp://h:1/s;TCP", "msrp://h:1/s;tcp", true, "transport case"],
    ["msrp://alice@h:1/s;tcp", "msrp://bob@h:1/s;tcp", true, "userinfo ignored"],
    ["msrp://h:1/s;tcp;a=1", "msrp://h:1/s;tcp;b=2", true, "other params ignored"],
    ["msrp://%68ost:1/s;tcp", "msrp://host:1/s;tcp", true, "pct-encoded unreserved"],
    ["msrp://[::1]:1/s;tcp", "msrp://[0:0:0:0:0:0:0:1]:1/s;tcp", true, "IPv6 equivalence"],
    ["msrp://[::FFFF:192.0.2.1]:1/s;tcp", "msrp://[::ffff:c000:201]:1/s;tcp", true, "IPv4 tail"],
    ["msrp://h:2855/s;tcp", "msrp://h/s;tcp", false, "explicit 2855 vs no port"],
    ["msrp://h:1/s;tcp", "msrp://h:2/s;tcp", false, "different port"],
    ["msrp://h:1/abc;tcp", "msrp://h:1/ABC;tcp", false, "session-id case"],
    ["msrp://h:1/s;tcp", "msrp://h:1;tcp", false, "session-id vs none"],
    ["msrp://h:1/s;tcp", "msrp://h:1/s;ws", false, "different transport"],
    ["msrp://h:1/s;tcp", "msrps://h:1/s;tcp", false, "different scheme"],
    ["msrp://h1:1/s;tcp", "msrp://h2:1/s;tcp", false, "different host"],
  ];
  for (const [a, b, expected, why] of table) {
    assertEquals(msrpUriEquals(a, b), expected, `${why}: ${a} vs ${b}`);
    assertEquals(msrpUriEquals(b, a), expected, `${why} (swapped)`);
    assertEquals(msrpUriEquals(parseMsrpUri(a), parseMsrpUri(b)), expected, `${why} (parsed)`);
  }
});

Deno.test("sameMsrpUri compares like msrpUriEquals, and an invalid URI equals only its identical text", () => {
  assertEquals(sameMsrpUri("MSRP://H1:1/s;TCP", "msrp://h1:1/s;tcp"), true);
  assertEquals(sameMsrpUri("msrp://h1:1/s;tcp", "msrp://h1:1/t;tcp"), false);
  assertEquals(sameMsrpUri("msrp://h:1/s", "msrp://h:1/s;tcp"), false);
  assertEquals(sameMsrpUri("msrp://h:1/s;tcp", "not a uri"), false);
  assertEquals(sameMsrpUri("msrp://h:1/s", "msrp://h:1/s"), true);
});

Deno.test("msrpUriEquals throws MsrpError 400 for an invalid URI string", () => {
  const error = assertThrows(
    () => msrpUriEquals("msrp://h:1/s", "msrp://h:1/s;tcp"),
    MsrpError,
    "missing transport",
  );
  assertEquals(error.status, 400);
});

Deno.test("authorityKey is scheme://host:port lower-cased with the effective port", () => {
  const key = (text: string): string => authorityKey(parseMsrpUri(text));
  assertEquals(key("MSRP://Relay.Example.COM/abc;tcp"), "msrp://relay.example.com:2855");
  assertEquals(key("msrps://bob@relay.example.com:2856/s;tcp"), "msrps://relay.example.com:2856");
  assertEquals(key("msrp://[2001:DB8:0:0::1]:7/s;tcp"), "msrp://[2001:db8::1]:7");
  assertEquals(key("msrp://h:2855/a;tcp"), key("msrp://H/b;tcp"));
  assert(key("msrp://h/a;tcp") !== key("msrps://h/a;tcp"), "scheme is part of the key");
});

Deno.test("sessionIdOf agrees with parseMsrpUri on valid URIs", () => {
  const texts = [
    ...VALID.map(([text]) => text),
    "msrp://a%40b;x=y@host:1/s;tcp",
    "MSRPS://Host.Example.COM:12/AbC;TCP;Key=Val",
    "msrp://[::1]/only;ws",
    "msrp://host;tcp;k=v",
  ];
  for (const text of texts) assertEquals(sessionIdOf(text), parseMsrpUri(text).sessionId, text);
});

Deno.test("sessionIdOf returns undefined for text without a session-id", () => {
  assertEquals(sessionIdOf("msrp://127.0.0.1:2856;tcp"), undefined);
  assertEquals(sessionIdOf("not a uri"), undefined);
  assertEquals(sessionIdOf("msrp://host/;tcp"), undefined);
});
