import { MsrpError } from "../../src/msrp/status.ts";
import {
  type MediaDescription,
  parseSessionDescription,
  SdpError,
  type SessionDescription,
} from "../../src/sdp/mod.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  AUDIO_AND_MESSAGE,
  BARESIP,
  BLINK,
  FILE_PUSH,
  FREESWITCH,
  IPV6,
  JITSI,
  LINPHONE,
  sdp,
  TWO_MESSAGES,
  WSS,
} from "./_fixtures.ts";

const FS_ADDRESS = { family: 4, address: "127.0.0.1" } as const;

/** Offers and the media descriptions they parse into. */
const MEDIA: [string, string, MediaDescription[]][] = [
  ["FreeSWITCH", FREESWITCH, [{
    kind: "msrp",
    index: 0,
    port: 2855,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://127.0.0.1:2855/caller123;tcp"],
    acceptTypes: ["text/plain"],
    acceptWrappedTypes: [],
    setup: "active",
    cema: false,
    direction: "sendrecv",
    connectionAddress: FS_ADDRESS,
  }]],
  ["Linphone", LINPHONE, [{
    kind: "msrp",
    index: 0,
    port: 34567,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://192.168.1.20:34567/Lk3dF9a0;tcp"],
    acceptTypes: ["text/plain", "message/cpim", "application/im-iscomposing+xml"],
    acceptWrappedTypes: [],
    setup: "actpass",
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "192.168.1.20" },
  }]],
  ["baresip, no a=setup", BARESIP, [{
    kind: "msrp",
    index: 0,
    port: 40001,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://10.0.0.5:40001/4a1b2c3d;tcp"],
    acceptTypes: ["text/plain"],
    acceptWrappedTypes: [],
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "10.0.0.5" },
  }]],
  ["Jitsi, FQDN hosts", JITSI, [{
    kind: "msrp",
    index: 0,
    port: 5060,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://jitsi.example.org:5060/jshA7weztas;tcp"],
    acceptTypes: ["text/plain", "text/html"],
    acceptWrappedTypes: [],
    setup: "passive",
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "jitsi.example.org" },
  }]],
  ["Blink, TLS with fingerprint and media-level c=", BLINK, [{
    kind: "msrp",
    index: 0,
    port: 2855,
    protocol: "TCP/TLS/MSRP",
    formats: ["*"],
    path: ["msrps://192.0.2.33:2855/3a0f7e9b21c5d4e8;tcp"],
    acceptTypes: ["message/cpim", "text/*", "image/*", "application/*"],
    acceptWrappedTypes: ["*"],
    setup: "active",
    fingerprint: {
      hash: "SHA-1",
      value: "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
    },
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "192.0.2.33" },
  }]],
  ["IPv6", IPV6, [{
    kind: "msrp",
    index: 0,
    port: 2855,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://[::1]:2855/v6sess;tcp"],
    acceptTypes: ["text/plain"],
    acceptWrappedTypes: [],
    setup: "actpass",
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 6, address: "::1" },
  }]],
  ["audio and message", AUDIO_AND_MESSAGE, [
    {
      kind: "other",
      index: 0,
      type: "audio",
      port: 49170,
      protocol: "RTP/AVP",
      formats: ["0", "8", "101"],
    },
    {
      kind: "msrp",
      index: 1,
      port: 2855,
      protocol: "TCP/MSRP",
      formats: ["*"],
      path: ["msrp://198.51.100.7:2855/am1;tcp"],
      acceptTypes: ["text/plain"],
      acceptWrappedTypes: [],
      cema: false,
      direction: "sendrecv",
      connectionAddress: { family: 4, address: "198.51.100.7" },
    },
  ]],
  ["WebSocket client", WSS, [{
    kind: "msrp",
    index: 0,
    port: 9,
    protocol: "TCP/WSS/MSRP",
    formats: ["*"],
    path: ["msrps://dv7gk3q2m1xx.invalid:2855/9di4ea;ws"],
    acceptTypes: ["text/plain"],
    acceptWrappedTypes: [],
    setup: "active",
    cema: false,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "192.0.2.40" },
  }]],
  ["RFC 5547 file push", FILE_PUSH, [{
    kind: "msrp",
    index: 0,
    port: 7654,
    protocol: "TCP/MSRP",
    formats: ["*"],
    path: ["msrp://atlanta.example.com:7654/jshA7weztas;tcp"],
    acceptTypes: ["message/cpim"],
    acceptWrappedTypes: ["*"],
    cema: false,
    direction: "sendonly",
    connectionAddress: { family: 4, address: "host.atlanta.example.com" },
    fileTransfer: {
      selector: {
        name: "report.pdf",
        type: "application/pdf",
        size: 32349,
        hash: {
          algorithm: "sha-1",
          value: "72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
        },
      },
      transferId: "vBnG916bdberum2fFEABR1FR3ExZMUrd",
      disposition: "attachment",
      date: { creation: "Mon, 15 May 2006 15:01:31 +0300" },
      icon: "cid:id2@alicepc.example.com",
      range: { start: 1, end: 32349 },
    },
  }]],
];

for (const [name, offer, media] of MEDIA) {
  Deno.test(`parseSessionDescription: ${name}`, () => {
    assertEquals(parseSessionDescription(offer).media, media);
  });
}

Deno.test("parseSessionDescription: session-level origin, name and connection", () => {
  const expected: SessionDescription = {
    origin: {
      username: "FreeSWITCH",
      sessionId: "1764070000",
      sessionVersion: "1764070001",
      address: FS_ADDRESS,
    },
    sessionName: "FreeSWITCH",
    connectionAddress: FS_ADDRESS,
    media: parseSessionDescription(FREESWITCH).media,
  };
  assertEquals(parseSessionDescription(FREESWITCH), expected);
  assertEquals(parseSessionDescription(FREESWITCH.replaceAll("\n", "\r\n")), expected);
});

Deno.test("parseSessionDescription: two message lines are both kept", () => {
  const media = parseSessionDescription(TWO_MESSAGES).media;
  assertEquals(media.map((m) => [m.kind, m.index, m.port]), [["msrp", 0, 2855], ["msrp", 1, 2856]]);
});

/** Attribute variations on top of a minimal MSRP line, and what they parse into. */
const ATTRIBUTES: [string, string[], Record<string, unknown>][] = [
  ["relay path", ["a=path:msrp://relay.example.net:2855/r1;tcp msrp://192.0.2.1:2855/me;tcp"], {
    path: ["msrp://relay.example.net:2855/r1;tcp", "msrp://192.0.2.1:2855/me;tcp"],
  }],
  ["max-size, cema, connection", ["a=max-size:65536", "a=msrp-cema", "a=connection:existing"], {
    maxSize: 65536,
    cema: true,
    connection: "existing",
  }],
  ["directions", ["a=recvonly"], { direction: "recvonly" }],
  ["inactive", ["a=inactive"], { direction: "inactive" }],
  ["setup is case-insensitive", ["a=setup:ActPass"], { setup: "actpass" }],
  ["holdconn", ["a=setup:holdconn"], { setup: "holdconn" }],
  ["lower-case fingerprint", ["a=fingerprint:sha-256 ab:cd:ef"], {
    fingerprint: { hash: "sha-256", value: "ab:cd:ef" },
  }],
  ["media c= overrides session c=", ["c=IN IP6 2001:db8::5"], {
    connectionAddress: { family: 6, address: "2001:db8::5" },
  }],
  ["open file range, escaped name", [
    'a=file-selector:name:"a %22b%22 c.txt"',
    "a=file-range:100-*",
  ], {
    fileTransfer: { selector: { name: 'a "b" c.txt' }, range: { start: 100, end: "*" } },
  }],
];

function minimal(...extra: string[]): string {
  return sdp(
    "v=0",
    "o=- 5 5 IN IP4 192.0.2.1",
    "s=-",
    "c=IN IP4 192.0.2.1",
    "t=0 0",
    "m=message 2855 TCP/MSRP *",
    "a=accept-types:text/plain",
    "a=path:msrp://192.0.2.1:2855/me;tcp",
    ...extra,
  );
}

for (const [name, extra, expected] of ATTRIBUTES) {
  Deno.test(`parseSessionDescription: attributes: ${name}`, () => {
    const text = extra[0].startsWith("a=path:")
      ? minimal().replace("a=path:msrp://192.0.2.1:2855/me;tcp", extra[0])
      : minimal(...extra);
    const media = parseSessionDescription(text).media[0] as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected)) assertEquals(media[key], value, key);
  });
}

Deno.test("parseSessionDescription: session-level setup, fingerprint and direction are inherited", () => {
  const text = sdp(
    "v=0",
    "o=- 5 5 IN IP4 192.0.2.1",
    "s=-",
    "c=IN IP4 192.0.2.1",
    "t=0 0",
    "a=setup:passive",
    "a=connection:new",
    "a=sendonly",
    "a=fingerprint:SHA-256 AA:BB",
    "m=message 2855 TCP/TLS/MSRP *",
    "a=accept-types:text/plain",
    "a=path:msrps://192.0.2.1:2855/me;tcp",
  );
  const media = parseSessionDescription(text).media[0];
  assert(media.kind === "msrp");
  assertEquals(
    [media.setup, media.connection, media.direction, media.fingerprint],
    ["passive", "new", "sendonly", { hash: "SHA-256", value: "AA:BB" }],
  );
});

Deno.test("parseSessionDescription: unknown MSRP-like protocols and lower case", () => {
  const media = parseSessionDescription(
    minimal().replace("TCP/MSRP", "tcp/msrp") +
      "m=message 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
  ).media;
  assertEquals(media[0].kind === "msrp" && media[0].protocol, "TCP/MSRP");
  assertEquals(media[1], {
    kind: "other",
    index: 1,
    type: "message",
    port: 9,
    protocol: "UDP/DTLS/SCTP",
    formats: ["webrtc-datachannel"],
  });
});

Deno.test("parseSessionDescription: a disabled MSRP line needs no a=path or a=accept-types", () => {
  const media = parseSessionDescription(sdp("v=0", "m=message 0 TCP/MSRP *")).media[0];
  assertEquals(media.kind === "msrp" && [media.port, media.path, media.acceptTypes], [0, [], []]);
});

/** Bad descriptions: the text, what the message must name, and the line at fault. */
const MALFORMED: [string, string, string, number | undefined][] = [
  ["empty", "", "empty session description", undefined],
  ["garbage", "hello world\r\n", 'expected "<type>=<value>", got "hello world"', 1],
  ["no v=", minimal().replace("v=0\r\n", ""), 'starts with "v=0"', 1],
  ["wrong version", minimal().replace("v=0", "v=1"), "unsupported SDP version v=1", 1],
  ["no m=", sdp("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"), "no m= line", undefined],
  ["bad o=", minimal().replace("o=- 5 5 IN IP4 192.0.2.1", "o=- five 5 IN IP4 192.0.2.1"), "o=", 2],
  ["bad c=", minimal().replace("c=IN IP4 192.0.2.1", "c=IN IP9 192.0.2.1"), "c=IN IP4|IP6", 4],
  ["bad m= port", minimal().replace("m=message 2855", "m=message abc"), 'expected "m=<media>', 6],
  [
    "m= port out of range",
    minimal().replace("m=message 2855", "m=message 70000"),
    "m=message 70000",
    6,
  ],
  [
    "no a=path",
    minimal().replace("a=path:msrp://192.0.2.1:2855/me;tcp\r\n", ""),
    "m=message on line 6 has no a=path",
    6,
  ],
  [
    "empty a=path",
    minimal().replace("a=path:msrp://192.0.2.1:2855/me;tcp", "a=path:"),
    "a=path is empty",
    8,
  ],
  [
    "bad a=path URI",
    minimal().replace("msrp://192.0.2.1:2855/me;tcp", "msrp://[::1/me;tcp"),
    'a=path: invalid MSRP URI "msrp://[::1/me;tcp"',
    8,
  ],
  [
    "a=path URI without transport",
    minimal().replace("msrp://192.0.2.1:2855/me;tcp", "msrp://192.0.2.1:2855/me"),
    "missing transport",
    8,
  ],
  [
    "a=path with another scheme",
    minimal().replace("msrp://192.0.2.1:2855/me;tcp", "sip:alice@example.com"),
    "missing scheme",
    8,
  ],
  [
    "no a=accept-types",
    minimal().replace("a=accept-types:text/plain\r\n", ""),
    "has no a=accept-types, which RFC 4975 §8.1 requires",
    6,
  ],
  [
    "repeated a=path",
    minimal("a=path:msrp://192.0.2.1:2855/two;tcp"),
    "a=path repeated (first on line 8)",
    9,
  ],
  ["bad a=max-size", minimal("a=max-size:big"), "a=max-size: expected a number", 9],
  ["bad a=setup", minimal("a=setup:sideways"), 'a=setup: unknown value "sideways"', 9],
  ["bad a=connection", minimal("a=connection:old"), 'a=connection: unknown value "old"', 9],
  ["bad a=fingerprint", minimal("a=fingerprint:SHA-1"), "a=fingerprint: expected", 9],
  ["bad file size", minimal("a=file-selector:size:huge"), 'a=file-selector: bad size "huge"', 9],
  ["bad file hash", minimal("a=file-selector:hash:sha-1"), "a=file-selector: bad hash", 9],
  ["unclosed file name", minimal('a=file-selector:name:"x'), "unclosed quote", 9],
  ["bad file range", minimal("a=file-range:0-10"), "a=file-range", 9],
  ["bad transfer id", minimal("a=file-transfer-id:"), "a=file-transfer-id: bad value", 9],
];

for (const [name, text, message, line] of MALFORMED) {
  Deno.test(`parseSessionDescription: rejects ${name}`, () => {
    const error = assertThrows(() => parseSessionDescription(text), SdpError, message);
    assertEquals([error.code, error.line], ["malformed", line]);
    if (line !== undefined) assert(error.message.startsWith(`line ${line}: `), error.message);
  });
}

Deno.test("parseSessionDescription: a bad a=path URI keeps the MsrpError as cause", () => {
  const text = minimal().replace("msrp://192.0.2.1:2855/me;tcp", "msrp://192.0.2.1:99999/me;tcp");
  const error = assertThrows(() => parseSessionDescription(text), SdpError, "bad port");
  assert(error.cause instanceof MsrpError);
});
