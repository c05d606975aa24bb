/**
 * SDP offers in the styles of real MSRP clients, and local endpoints to
 * answer them with.
 *
 * @module
 */

import type { LocalMsrpEndpoint } from "../../src/sdp/mod.ts";

/** Joins lines with CRLF, ending with CRLF, as SIP bodies carry SDP. */
export function sdp(...lines: string[]): string {
  return lines.map((line) => `${line}\r\n`).join("");
}

/** A real offer from a FreeSWITCH wire capture (LF line endings, as captured). */
export const FREESWITCH = `v=0
o=FreeSWITCH 1764070000 1764070001 IN IP4 127.0.0.1
s=FreeSWITCH
c=IN IP4 127.0.0.1
t=0 0
m=message 2855 TCP/MSRP *
a=path:msrp://127.0.0.1:2855/caller123;tcp
a=accept-types:text/plain
a=setup:active
`;

/** Linphone style: CPIM and is-composing, `actpass`. */
export const LINPHONE = sdp(
  "v=0",
  "o=alice 3841 1246 IN IP4 192.168.1.20",
  "s=Talk",
  "c=IN IP4 192.168.1.20",
  "t=0 0",
  "m=message 34567 TCP/MSRP *",
  "a=accept-types:text/plain message/cpim application/im-iscomposing+xml",
  "a=path:msrp://192.168.1.20:34567/Lk3dF9a0;tcp",
  "a=setup:actpass",
  "a=sendrecv",
);

/** baresip style: no `a=setup` at all (the RFC 4975 connection model). */
export const BARESIP = sdp(
  "v=0",
  "o=- 1204215306 2372536281 IN IP4 10.0.0.5",
  "s=-",
  "c=IN IP4 10.0.0.5",
  "t=0 0",
  "m=message 40001 TCP/MSRP *",
  "a=path:msrp://10.0.0.5:40001/4a1b2c3d;tcp",
  "a=accept-types:text/plain",
);

/** Jitsi style: host names instead of addresses, `passive` offerer, HTML. */
export const JITSI = sdp(
  "v=0",
  "o=jitsi 0 0 IN IP4 jitsi.example.org",
  "s=-",
  "c=IN IP4 jitsi.example.org",
  "t=0 0",
  "m=message 5060 TCP/MSRP *",
  "a=accept-types:text/plain text/html",
  "a=path:msrp://jitsi.example.org:5060/jshA7weztas;tcp",
  "a=setup:passive",
);

/** sipsimple / Blink style: TLS, media-level `c=`, wildcards, fingerprint. */
export const BLINK = sdp(
  "v=0",
  "o=- 3811563421 3811563421 IN IP4 192.0.2.33",
  "s=Blink 5.1.7 (MacOSX)",
  "t=0 0",
  "m=message 2855 TCP/TLS/MSRP *",
  "c=IN IP4 192.0.2.33",
  "a=path:msrps://192.0.2.33:2855/3a0f7e9b21c5d4e8;tcp",
  "a=accept-types:message/cpim text/* image/* application/*",
  "a=accept-wrapped-types:*",
  "a=setup:active",
  "a=fingerprint:SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
);

/** IPv6 loopback with a bracketed `a=path` host. */
export const IPV6 = sdp(
  "v=0",
  "o=- 1 1 IN IP6 ::1",
  "s=-",
  "c=IN IP6 ::1",
  "t=0 0",
  "m=message 2855 TCP/MSRP *",
  "a=path:msrp://[::1]:2855/v6sess;tcp",
  "a=accept-types:text/plain",
  "a=setup:actpass",
);

/** Audio first, then a message line: only the message line can be served. */
export const AUDIO_AND_MESSAGE = sdp(
  "v=0",
  "o=- 77 1 IN IP4 198.51.100.7",
  "s=-",
  "c=IN IP4 198.51.100.7",
  "t=0 0",
  "m=audio 49170 RTP/AVP 0 8 101",
  "a=rtpmap:101 telephone-event/8000",
  "m=message 2855 TCP/MSRP *",
  "a=accept-types:text/plain",
  "a=path:msrp://198.51.100.7:2855/am1;tcp",
);

/** Two message lines: the second is rejected once the first is accepted. */
export const TWO_MESSAGES = sdp(
  "v=0",
  "o=- 78 1 IN IP4 198.51.100.8",
  "s=-",
  "c=IN IP4 198.51.100.8",
  "t=0 0",
  "m=message 2855 TCP/MSRP *",
  "a=accept-types:text/plain",
  "a=path:msrp://198.51.100.8:2855/first;tcp",
  "m=message 2856 TCP/MSRP *",
  "a=accept-types:text/plain",
  "a=path:msrp://198.51.100.8:2856/second;tcp",
);

/** An RFC 7977 WebSocket client: `*.invalid` host, `;ws`, always active. */
export const WSS = sdp(
  "v=0",
  "o=- 2890844526 2890844527 IN IP4 192.0.2.40",
  "s=-",
  "c=IN IP4 192.0.2.40",
  "t=0 0",
  "m=message 9 TCP/WSS/MSRP *",
  "a=accept-types:text/plain",
  "a=path:msrps://dv7gk3q2m1xx.invalid:2855/9di4ea;ws",
  "a=setup:active",
);

/** The file push offer of RFC 5547, with every file attribute. */
export const FILE_PUSH = sdp(
  "v=0",
  "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com",
  "s=",
  "c=IN IP4 host.atlanta.example.com",
  "t=0 0",
  "m=message 7654 TCP/MSRP *",
  "i=This is my latest picture",
  "a=sendonly",
  "a=accept-types:message/cpim",
  "a=accept-wrapped-types:*",
  "a=path:msrp://atlanta.example.com:7654/jshA7weztas;tcp",
  'a=file-selector:name:"report.pdf" type:application/pdf size:32349 ' +
    "hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
  "a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd",
  "a=file-disposition:attachment",
  'a=file-date:creation:"Mon, 15 May 2006 15:01:31 +0300"',
  "a=file-icon:cid:id2@alicepc.example.com",
  "a=file-range:1-32349",
);

/** Our plain TCP endpoint on IPv4. */
export const LOCAL_TCP: LocalMsrpEndpoint = {
  path: ["msrp://192.0.2.10:2855/bridge01;tcp"],
  address: "192.0.2.10",
  port: 2855,
  acceptTypes: ["text/plain", "message/cpim"],
  originSessionId: "1000",
};

/** Our TLS endpoint, with the fingerprint of our certificate. */
export const LOCAL_TLS: LocalMsrpEndpoint = {
  path: ["msrps://192.0.2.10:2856/bridge02;tcp"],
  address: "192.0.2.10",
  port: 2856,
  acceptTypes: ["text/plain", "message/cpim"],
  acceptWrappedTypes: ["text/plain"],
  fingerprint: {
    hash: "SHA-256",
    value:
      "3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1",
  },
};

/** Our WebSocket endpoint on the HTTP port (RFC 7977). */
export const LOCAL_WSS: LocalMsrpEndpoint = {
  path: ["msrps://bridge.example.com:8443/bridge03;ws"],
  address: "bridge.example.com",
  port: 8443,
  acceptTypes: ["text/plain"],
};

/** Our endpoint on IPv6 loopback. */
export const LOCAL_V6: LocalMsrpEndpoint = {
  path: ["msrp://[::1]:2860/bridge06;tcp"],
  address: "::1",
  port: 2860,
  acceptTypes: ["text/plain"],
};
