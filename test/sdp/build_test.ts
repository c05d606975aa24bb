import { parse as transformParse } from "./_sdp_transform.ts";
import {
  type AcceptedMedia,
  buildAnswer,
  buildOffer,
  type Direction,
  type LocalMsrpEndpoint,
  type MsrpMediaDescription,
  parseAnswer,
  parseSessionDescription,
  SdpError,
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
  LOCAL_TCP,
  LOCAL_TLS,
  LOCAL_V6,
  LOCAL_WSS,
  sdp,
  TWO_MESSAGES,
  WSS,
} from "./_fixtures.ts";

/** The MSRP line of the RFC 5547 file push offer. */
const PUSHED = parseSessionDescription(FILE_PUSH).media[0] as MsrpMediaDescription;

/** The `m=` lines of an SDP text. */
function mLines(text: string): string[] {
  return text.split("\r\n").filter((line) => line.startsWith("m="));
}

/** Checks what every SDP we write must be: CRLF lines, reparseable by us and by sdp-transform. */
function assertWellFormed(text: string): void {
  assert(text.endsWith("\r\n"), "ends with CRLF");
  assert(!/[^\r]\n/.test(text), "no bare LF");
  const lines = text.split("\r\n");
  assertEquals(lines.slice(0, 2).map((l) => l.slice(0, 2)), ["v=", "o="]);
  assert(lines.some((l) => l.startsWith("s=")) && lines.includes("t=0 0"), "has s= and t=0 0");
  const ours = parseSessionDescription(text);
  const theirs = transformParse(text);
  assertEquals(theirs.media.length, ours.media.length);
  theirs.media.forEach((m, i) => {
    assertEquals([m.type, m.port, m.protocol], [
      ours.media[i].kind === "msrp" ? "message" : (ours.media[i] as { type: string }).type,
      ours.media[i].port,
      ours.media[i].protocol,
    ]);
  });
}

/** The answer's accepted media line, parsed back. */
function answeredMedia(text: string, index: number): MsrpMediaDescription {
  const media = parseSessionDescription(text).media[index];
  assert(media.kind === "msrp", `media ${index} is MSRP`);
  return media;
}

interface AnswerCase {
  readonly name: string;
  readonly offer: string;
  readonly local: LocalMsrpEndpoint;
  /** Expected members of `accepted`. */
  readonly accepted: Partial<AcceptedMedia>;
  /** Expected `m=` lines of the answer. */
  readonly mLines: string[];
  /** Lines the answer must contain. */
  readonly has?: string[];
  /** Line prefixes the answer must not contain. */
  readonly hasNot?: string[];
}

const ANSWERS: AnswerCase[] = [
  {
    name: "FreeSWITCH, active offerer",
    offer: FREESWITCH,
    local: LOCAL_TCP,
    accepted: {
      mediaIndex: 0,
      protocol: "TCP/MSRP",
      remotePath: ["msrp://127.0.0.1:2855/caller123;tcp"],
      localPath: ["msrp://192.0.2.10:2855/bridge01;tcp"],
      acceptTypes: ["text/plain"],
      remoteAcceptTypes: ["text/plain"],
      setup: "passive",
      connection: "new",
      cema: false,
      direction: "sendrecv",
      remoteAddress: { family: 4, address: "127.0.0.1" },
      remotePort: 2855,
    },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: [
      "o=- 1000 0 IN IP4 192.0.2.10",
      "c=IN IP4 192.0.2.10",
      "a=accept-types:text/plain",
      "a=path:msrp://192.0.2.10:2855/bridge01;tcp",
      "a=setup:passive",
      "a=connection:new",
      "a=sendrecv",
    ],
    hasNot: ["a=msrp-cema", "a=fingerprint", "a=accept-wrapped-types"],
  },
  {
    name: "Linphone, actpass: we are passive",
    offer: LINPHONE,
    local: LOCAL_TCP,
    accepted: { setup: "passive", acceptTypes: ["text/plain", "message/cpim"] },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=setup:passive", "a=accept-types:text/plain message/cpim"],
  },
  {
    name: "Linphone, actpass with preferActive: we are active",
    offer: LINPHONE,
    local: { ...LOCAL_TCP, preferActive: true },
    accepted: { setup: "active" },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=setup:active"],
  },
  {
    name: "baresip, no a=setup: the offerer is active",
    offer: BARESIP,
    local: { ...LOCAL_TCP, preferActive: true },
    accepted: { setup: "passive", remotePath: ["msrp://10.0.0.5:40001/4a1b2c3d;tcp"] },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=setup:passive"],
  },
  {
    name: "Jitsi, passive offerer: we are active",
    offer: JITSI,
    local: LOCAL_TCP,
    accepted: { setup: "active", remoteAddress: { family: 4, address: "jitsi.example.org" } },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=setup:active"],
  },
  {
    name: "Blink over TLS: wildcards narrowed, fingerprints exchanged",
    offer: BLINK,
    local: LOCAL_TLS,
    accepted: {
      protocol: "TCP/TLS/MSRP",
      setup: "passive",
      acceptTypes: ["text/plain", "message/cpim"],
      remoteAcceptTypes: ["message/cpim", "text/*", "image/*", "application/*"],
      remoteAcceptWrappedTypes: ["*"],
      fingerprint: {
        hash: "SHA-1",
        value: "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
      },
    },
    mLines: ["m=message 2856 TCP/TLS/MSRP *"],
    has: [
      "a=accept-types:text/plain message/cpim",
      "a=accept-wrapped-types:text/plain",
      "a=path:msrps://192.0.2.10:2856/bridge02;tcp",
      `a=fingerprint:SHA-256 ${LOCAL_TLS.fingerprint?.value}`,
    ],
  },
  {
    name: "IPv6",
    offer: IPV6,
    local: LOCAL_V6,
    accepted: {
      remotePath: ["msrp://[::1]:2855/v6sess;tcp"],
      remoteAddress: { family: 6, address: "::1" },
    },
    mLines: ["m=message 2860 TCP/MSRP *"],
    has: ["c=IN IP6 ::1", "a=path:msrp://[::1]:2860/bridge06;tcp"],
  },
  {
    name: "audio and message: audio rejected with port 0",
    offer: AUDIO_AND_MESSAGE,
    local: LOCAL_TCP,
    accepted: { mediaIndex: 1, remotePath: ["msrp://198.51.100.7:2855/am1;tcp"] },
    mLines: ["m=audio 0 RTP/AVP 0 8 101", "m=message 2855 TCP/MSRP *"],
    hasNot: ["a=rtpmap"],
  },
  {
    name: "two message lines: the second is rejected",
    offer: TWO_MESSAGES,
    local: LOCAL_TCP,
    accepted: { mediaIndex: 0, remotePath: ["msrp://198.51.100.8:2855/first;tcp"] },
    mLines: ["m=message 2855 TCP/MSRP *", "m=message 0 TCP/MSRP *"],
  },
  {
    name: "TLS line skipped by a TCP endpoint, plain line accepted",
    offer: BLINK + sdp(
      "m=message 2857 TCP/MSRP *",
      "a=accept-types:text/plain",
      "a=path:msrp://192.0.2.33:2857/plain;tcp",
    ),
    local: LOCAL_TCP,
    accepted: { mediaIndex: 1, protocol: "TCP/MSRP" },
    mLines: ["m=message 0 TCP/TLS/MSRP *", "m=message 2855 TCP/MSRP *"],
  },
  {
    name: "WebSocket client: we are passive even with preferActive",
    offer: WSS,
    local: { ...LOCAL_WSS, preferActive: true },
    accepted: {
      protocol: "TCP/WSS/MSRP",
      setup: "passive",
      remotePath: ["msrps://dv7gk3q2m1xx.invalid:2855/9di4ea;ws"],
    },
    mLines: ["m=message 8443 TCP/WSS/MSRP *"],
    has: ["c=IN IP4 bridge.example.com", "a=path:msrps://bridge.example.com:8443/bridge03;ws"],
  },
  {
    name: "RFC 5547 file push: recvonly, selector and transfer id echoed",
    offer: FILE_PUSH,
    local: { ...LOCAL_TCP, acceptTypes: ["message/cpim"], acceptWrappedTypes: ["application/pdf"] },
    accepted: {
      direction: "recvonly",
      acceptTypes: ["message/cpim"],
      fileTransfer: PUSHED.fileTransfer,
    },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: [
      "a=recvonly",
      "a=accept-wrapped-types:application/pdf",
      'a=file-selector:name:"report.pdf" type:application/pdf size:32349 ' +
      "hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
      "a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd",
      "a=file-range:1-32349",
    ],
    hasNot: ["a=file-disposition", "a=file-date", "a=file-icon"],
  },
  {
    name: "offer with * accept-types: we list ours",
    offer: FREESWITCH.replace("a=accept-types:text/plain", "a=accept-types:*"),
    local: LOCAL_TCP,
    accepted: { acceptTypes: ["text/plain", "message/cpim"], remoteAcceptTypes: ["*"] },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=accept-types:text/plain message/cpim"],
  },
  {
    name: "CEMA on both sides, max-size both ways",
    offer: FREESWITCH.replace("a=setup:active", "a=msrp-cema\na=max-size:4096"),
    local: { ...LOCAL_TCP, cema: true, maxSize: 1048576 },
    accepted: { cema: true, remoteMaxSize: 4096 },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=msrp-cema", "a=max-size:1048576"],
  },
  {
    name: "CEMA offered, not supported by us",
    offer: FREESWITCH.replace("a=setup:active", "a=msrp-cema"),
    local: LOCAL_TCP,
    accepted: { cema: false },
    mLines: ["m=message 2855 TCP/MSRP *"],
    hasNot: ["a=msrp-cema"],
  },
  {
    name: "recvonly offer: we answer sendonly",
    offer: FREESWITCH.replace("a=setup:active", "a=recvonly"),
    local: LOCAL_TCP,
    accepted: { direction: "sendonly" },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=sendonly"],
  },
  {
    name: "inactive offer stays inactive",
    offer: FREESWITCH.replace("a=setup:active", "a=inactive"),
    local: LOCAL_TCP,
    accepted: { direction: "inactive" },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=inactive"],
  },
  {
    name: "RFC 5547 push in CPIM, we accept *: the wrapped types are echoed",
    offer: FILE_PUSH.replace(
      "a=accept-wrapped-types:*",
      "a=accept-wrapped-types:application/pdf text/*",
    ),
    local: { ...LOCAL_TCP, acceptTypes: ["*"] },
    accepted: {
      acceptTypes: ["message/cpim"],
      remoteAcceptWrappedTypes: ["application/pdf", "text/*"],
    },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=accept-types:message/cpim", "a=accept-wrapped-types:application/pdf text/*"],
  },
  {
    name: "RFC 5547 push in CPIM, no wrapped types of ours: those we accept that they list",
    offer: FILE_PUSH,
    local: { ...LOCAL_TCP, acceptTypes: ["message/cpim", "application/pdf"] },
    accepted: { acceptTypes: ["message/cpim"] },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=accept-wrapped-types:message/cpim application/pdf"],
  },
  {
    name: "wrapped types holding $, { or } are never echoed",
    offer: FILE_PUSH.replace(
      "a=accept-wrapped-types:*",
      "a=accept-wrapped-types:text/plain a/${x} b/$y c/{z}",
    ),
    local: { ...LOCAL_TCP, acceptTypes: ["*"] },
    accepted: { acceptTypes: ["message/cpim"] },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=accept-wrapped-types:text/plain"],
  },
  {
    name: "no message/cpim answered: no wrapped types",
    offer: BLINK,
    local: { ...LOCAL_TLS, acceptTypes: ["text/plain"], acceptWrappedTypes: undefined },
    accepted: { acceptTypes: ["text/plain"] },
    mLines: ["m=message 2856 TCP/TLS/MSRP *"],
    hasNot: ["a=accept-wrapped-types"],
  },
  {
    name: "relay Use-Path first, our URI last",
    offer: FREESWITCH,
    local: {
      ...LOCAL_TCP,
      path: ["msrps://relay.example.net:2855/j8sf2;tcp", "msrp://192.0.2.10:2855/bridge01;tcp"],
      protocol: "TCP/MSRP",
    },
    accepted: {
      localPath: [
        "msrps://relay.example.net:2855/j8sf2;tcp",
        "msrp://192.0.2.10:2855/bridge01;tcp",
      ],
    },
    mLines: ["m=message 2855 TCP/MSRP *"],
    has: ["a=path:msrps://relay.example.net:2855/j8sf2;tcp msrp://192.0.2.10:2855/bridge01;tcp"],
  },
];

for (const c of ANSWERS) {
  Deno.test(`buildAnswer: ${c.name}`, () => {
    const { sdp: answer, accepted } = buildAnswer(c.offer, c.local);
    assertWellFormed(answer);
    for (const [key, value] of Object.entries(c.accepted)) {
      assertEquals(accepted[key as keyof AcceptedMedia], value, key);
    }
    assertEquals(mLines(answer), c.mLines);
    const lines = answer.split("\r\n");
    for (const line of c.has ?? []) assert(lines.includes(line), `answer has ${line}\n${answer}`);
    for (const prefix of c.hasNot ?? []) {
      assert(!lines.some((l) => l.startsWith(prefix)), `answer has no ${prefix}\n${answer}`);
    }
    // The accepted line describes itself as `accepted` says.
    const media = answeredMedia(answer, accepted.mediaIndex);
    assertEquals(media.path, accepted.localPath);
    assertEquals(media.acceptTypes, accepted.acceptTypes);
    assertEquals(media.setup, accepted.setup);
    assertEquals(media.direction, accepted.direction);
  });
}

Deno.test("buildAnswer: takes a parsed SessionDescription as well as text", () => {
  const fromText = buildAnswer(LINPHONE, LOCAL_TCP);
  const fromParsed = buildAnswer(parseSessionDescription(LINPHONE), LOCAL_TCP);
  assertEquals(fromParsed.accepted, fromText.accepted);
  assertEquals(fromParsed.sdp, fromText.sdp);
});

Deno.test("buildAnswer: a random numeric o= session id by default", () => {
  const { originSessionId: _, ...local } = LOCAL_TCP;
  const ids = [1, 2].map(() =>
    parseSessionDescription(buildAnswer(FREESWITCH, local).sdp).origin?.sessionId
  );
  for (const id of ids) assert(/^[0-9]+$/.test(id ?? ""), `numeric id ${id}`);
  assert(ids[0] !== ids[1], "ids differ");
});

/** Offers nothing can be served from, and what the error must name. */
const UNACCEPTABLE: [string, string, LocalMsrpEndpoint, string][] = [
  [
    "no common type",
    FREESWITCH.replace("a=accept-types:text/plain", "a=accept-types:image/png image/jpeg"),
    LOCAL_TCP,
    "no common type: offer accepts image/png image/jpeg, we accept text/plain message/cpim",
  ],
  [
    "audio only",
    sdp("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "m=audio 4000 RTP/AVP 0"),
    LOCAL_TCP,
    "m=audio (media 0): not MSRP",
  ],
  ["TLS offer, TCP endpoint", BLINK, LOCAL_TCP, "protocol TCP/TLS/MSRP, we serve TCP/MSRP"],
  ["TCP offer, TLS endpoint", FREESWITCH, LOCAL_TLS, "protocol TCP/MSRP, we serve TCP/TLS/MSRP"],
  ["holdconn", FREESWITCH.replace("a=setup:active", "a=setup:holdconn"), LOCAL_TCP, "holdconn"],
  [
    "disabled line",
    FREESWITCH.replace("m=message 2855", "m=message 0"),
    LOCAL_TCP,
    "disabled (port 0)",
  ],
  [
    "passive WebSocket client",
    WSS.replace("a=setup:active", "a=setup:passive"),
    LOCAL_WSS,
    "a WebSocket client must connect",
  ],
];

for (const [name, offer, local, message] of UNACCEPTABLE) {
  Deno.test(`buildAnswer: no-acceptable-media: ${name}`, () => {
    const error = assertThrows(() => buildAnswer(offer, local), SdpError, message);
    assertEquals(error.code, "no-acceptable-media");
  });
}

Deno.test("buildAnswer: a malformed offer is a malformed error", () => {
  const error = assertThrows(
    () => buildAnswer(FREESWITCH.replace("a=accept-types:text/plain\n", ""), LOCAL_TCP),
    SdpError,
    "has no a=accept-types",
  );
  assertEquals(error.code, "malformed");
});

/** Unusable local endpoints. */
const BAD_LOCALS: [string, LocalMsrpEndpoint, string][] = [
  ["empty path", { ...LOCAL_TCP, path: [] }, "a=path needs at least our own URI"],
  ["bad path URI", { ...LOCAL_TCP, path: ["msrp://bad host/x;tcp"] }, "a=path: invalid MSRP URI"],
  ["no accept types", { ...LOCAL_TCP, acceptTypes: [] }, "a=accept-types must not be empty"],
  ["port 0", { ...LOCAL_TCP, port: 0 }, "bad port 0"],
  ["empty address", { ...LOCAL_TCP, address: "" }, "bad address"],
  ["o= username with a space", { ...LOCAL_TCP, originUsername: "a b" }, "bad o= username"],
  ["o= session id not numeric", { ...LOCAL_TCP, originSessionId: "x1" }, "must be numeric"],
  ["o= version negative", { ...LOCAL_TCP, originVersion: -1 }, "bad o= session version"],
  ["s= with CRLF", { ...LOCAL_TCP, sessionName: "x\r\na=evil" }, "s= must not hold CR, LF"],
  [
    "unknown transport",
    { ...LOCAL_TCP, path: ["msrp://192.0.2.10:2855/x;sctp"] },
    'transport "sctp"',
  ],
];

for (const [name, local, message] of BAD_LOCALS) {
  Deno.test(`buildAnswer and buildOffer: invalid-argument: ${name}`, () => {
    for (const run of [() => buildAnswer(FREESWITCH, local), () => buildOffer(local)]) {
      const error = assertThrows(run, SdpError, message);
      assertEquals(error.code, "invalid-argument");
    }
  });
}

Deno.test("buildOffer: one m=message line with our attributes", () => {
  const offer = buildOffer({
    ...LOCAL_TLS,
    cema: true,
    maxSize: 2048,
    originSessionId: "55",
    originVersion: 3,
    originUsername: "msrp-bridge",
    sessionName: "bridge",
  });
  assertWellFormed(offer);
  assertEquals(offer.split("\r\n").slice(0, 5), [
    "v=0",
    "o=msrp-bridge 55 3 IN IP4 192.0.2.10",
    "s=bridge",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
  ]);
  const media = answeredMedia(offer, 0);
  assertEquals(media, {
    kind: "msrp",
    index: 0,
    port: 2856,
    protocol: "TCP/TLS/MSRP",
    formats: ["*"],
    path: ["msrps://192.0.2.10:2856/bridge02;tcp"],
    acceptTypes: ["text/plain", "message/cpim"],
    acceptWrappedTypes: ["text/plain"],
    maxSize: 2048,
    setup: "actpass",
    connection: "new",
    fingerprint: LOCAL_TLS.fingerprint,
    cema: true,
    direction: "sendrecv",
    connectionAddress: { family: 4, address: "192.0.2.10" },
  });
});

Deno.test("buildOffer: protocols derived from our URI", () => {
  const cases: [string, string][] = [
    ["msrp://192.0.2.10:2855/a;tcp", "TCP/MSRP"],
    ["msrps://192.0.2.10:2855/a;tcp", "TCP/TLS/MSRP"],
    ["msrp://192.0.2.10:80/a;ws", "TCP/WS/MSRP"],
    ["msrps://192.0.2.10:443/a;ws", "TCP/WSS/MSRP"],
  ];
  for (const [uri, protocol] of cases) {
    assertEquals(mLines(buildOffer({ ...LOCAL_TCP, path: [uri] })), [
      `m=message 2855 ${protocol} *`,
    ]);
  }
});

Deno.test("buildOffer: a file push is sendonly and carries every RFC 5547 attribute", () => {
  const offer = buildOffer({ ...LOCAL_TCP, fileTransfer: PUSHED.fileTransfer });
  assertWellFormed(offer);
  const media = answeredMedia(offer, 0);
  assertEquals(media.direction, "sendonly");
  assertEquals(media.fileTransfer, PUSHED.fileTransfer);
});

Deno.test("buildOffer: IPv6 address in o= and c=", () => {
  const offer = buildOffer({ ...LOCAL_V6, originSessionId: "7" });
  assert(offer.includes("\r\no=- 7 0 IN IP6 ::1\r\n"), offer);
  assert(offer.includes("\r\nc=IN IP6 ::1\r\n"), offer);
  assertWellFormed(offer);
});

/** Answers to our offer, how parseAnswer reads them, or why it refuses them. */
const OFFER_SETUPS: [
  "actpass" | "active" | "passive",
  string | undefined,
  "active" | "passive" | string,
][] = [
  ["actpass", "a=setup:passive", "active"],
  ["actpass", "a=setup:active", "passive"],
  ["actpass", undefined, "active"],
  ["active", "a=setup:passive", "active"],
  ["active", undefined, "active"],
  ["passive", "a=setup:active", "passive"],
  ["passive", undefined, "active"],
  ["active", "a=setup:active", "both would be active"],
  ["passive", "a=setup:passive", "both would be passive"],
  ["actpass", "a=setup:actpass", "an answer must be active or passive"],
  ["actpass", "a=setup:holdconn", "an answer must be active or passive"],
];

function answerText(...extra: string[]): string {
  return sdp(
    "v=0",
    "o=- 9 9 IN IP4 203.0.113.9",
    "s=-",
    "c=IN IP4 203.0.113.9",
    "t=0 0",
    "m=message 7777 TCP/MSRP *",
    "a=accept-types:text/*",
    "a=path:msrp://203.0.113.9:7777/peer;tcp",
    ...extra,
  );
}

for (const [offered, answered, expected] of OFFER_SETUPS) {
  Deno.test(`parseAnswer: offered ${offered}, answer ${answered ?? "without a=setup"}`, () => {
    const text = answered ? answerText(answered) : answerText();
    const local = { ...LOCAL_TCP, setup: offered };
    if (expected === "active" || expected === "passive") {
      assertEquals(parseAnswer(text, local).setup, expected);
    } else {
      const error = assertThrows(() => parseAnswer(text, local), SdpError, expected);
      assertEquals(error.code, "negotiation-failed");
    }
  });
}

Deno.test("parseAnswer: the negotiated session", () => {
  const accepted = parseAnswer(answerText("a=setup:passive", "a=msrp-cema", "a=max-size:100"), {
    ...LOCAL_TCP,
    cema: true,
  });
  assertEquals(accepted, {
    mediaIndex: 0,
    protocol: "TCP/MSRP",
    remotePath: ["msrp://203.0.113.9:7777/peer;tcp"],
    localPath: ["msrp://192.0.2.10:2855/bridge01;tcp"],
    acceptTypes: ["text/plain"],
    remoteAcceptTypes: ["text/*"],
    remoteAcceptWrappedTypes: [],
    setup: "active",
    connection: "new",
    cema: true,
    direction: "sendrecv",
    remoteMaxSize: 100,
    remoteAddress: { family: 4, address: "203.0.113.9" },
    remotePort: 7777,
  });
});

Deno.test("parseAnswer: directions narrow what we offered", () => {
  const cases: [Direction, string, Direction][] = [
    ["sendrecv", "a=recvonly", "sendonly"],
    ["sendrecv", "a=sendonly", "recvonly"],
    ["sendonly", "a=recvonly", "sendonly"],
    ["sendonly", "a=inactive", "inactive"],
    ["recvonly", "a=sendrecv", "recvonly"],
  ];
  for (const [offered, answered, expected] of cases) {
    const local = { ...LOCAL_TCP, direction: offered };
    assertEquals(
      parseAnswer(answerText(answered), local).direction,
      expected,
      `${offered} ${answered}`,
    );
  }
});

/** Answers parseAnswer refuses, with the error code and message. */
const BAD_ANSWERS: [string, string, string, string][] = [
  [
    "rejected line",
    answerText().replace("m=message 7777", "m=message 0"),
    "no-acceptable-media",
    "port 0",
  ],
  [
    "no MSRP line",
    sdp("v=0", "m=audio 0 RTP/AVP 0"),
    "malformed",
    "answer has no MSRP m=message line",
  ],
  [
    "protocol changed",
    answerText().replace("TCP/MSRP", "TCP/TLS/MSRP"),
    "negotiation-failed",
    "changed the protocol",
  ],
  [
    "no common type",
    answerText().replace("text/*", "image/png"),
    "no-acceptable-media",
    "no common type",
  ],
  ["garbage", "nonsense", "malformed", "line 1"],
];

for (const [name, text, code, message] of BAD_ANSWERS) {
  Deno.test(`parseAnswer: refuses ${name}`, () => {
    const error = assertThrows(() => parseAnswer(text, LOCAL_TCP), SdpError, message);
    assertEquals(error.code, code);
  });
}

Deno.test("buildAnswer: a pull (recvonly with a selector) answered with sentFile describes our file, sendonly, with its disposition; sentFile is ignored for a push", () => {
  const pull = FILE_PUSH.replace("a=sendonly", "a=recvonly")
    .replace(/a=file-selector:.*\r\n/, 'a=file-selector:name:"report.pdf"\r\n')
    .replace("a=file-disposition:attachment\r\n", "")
    .replace("a=file-range:1-32349\r\n", "");
  const sentFile = {
    selector: {
      name: "report.pdf",
      type: "application/pdf",
      size: 32349,
      hash: { algorithm: "sha-1", value: "72:24:5F" },
    },
    transferId: "vBnG916bdberum2fFEABR1FR3ExZMUrd",
    disposition: "render",
  };
  const local = { ...LOCAL_TCP, acceptTypes: ["*"], sentFile };
  const { sdp: answer, accepted } = buildAnswer(pull, local);
  const lines = answer.split("\r\n");
  assert(lines.includes("a=sendonly"), answer);
  assert(
    lines.includes(
      'a=file-selector:name:"report.pdf" type:application/pdf size:32349 hash:sha-1:72:24:5F',
    ),
    answer,
  );
  assert(lines.includes("a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd"), answer);
  assert(lines.includes("a=file-disposition:render"), answer);
  assertEquals([accepted.direction, accepted.fileTransfer], ["sendonly", sentFile]);

  const pushed = buildAnswer(FILE_PUSH, local).sdp.split("\r\n");
  assert(pushed.includes("a=recvonly"));
  assert(!pushed.includes("a=file-disposition:render"));
  assert(pushed.includes("a=file-range:1-32349"));
});
