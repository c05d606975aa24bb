/**
 * Digest authentication of MSRP relays (RFC 4976 §5): the HTTP digest scheme of
 * RFC 2617 with MD5 and `qop=auth`, over `WWW-Authenticate` and
 * `Authorization` header values.
 *
 * @module
 */

import { md5Hex } from "./_md5.ts";
import { MsrpError, Status } from "./status.ts";

/** A `WWW-Authenticate: Digest …` challenge (RFC 2617 §3.2.1). */
export interface DigestChallenge {
  /** The protection space, shown to users and hashed into the response. */
  realm: string;
  /** Server-chosen value the response must be computed over. */
  nonce: string;
  /** Offered qualities of protection, comma-separated, e.g. `auth`. */
  qop?: string;
  /** Value to be returned unchanged in the `Authorization` header. */
  opaque?: string;
  /** The hash algorithm; `MD5` when absent. */
  algorithm?: string;
  /** True when the nonce expired but the previous credentials were valid. */
  stale?: boolean;
}

/** An `Authorization: Digest …` answer (RFC 2617 §3.2.2). */
export interface DigestCredentials {
  /** The user name. */
  username: string;
  /** The realm of the challenge. */
  realm: string;
  /** The nonce of the challenge. */
  nonce: string;
  /** The digest-uri: for MSRP the relay URI in `To-Path` (RFC 4976 §5.1). */
  uri: string;
  /** The request-digest: 32 hex digits. */
  response: string;
  /** The quality of protection chosen: `auth`, or absent for RFC 2069 style. */
  qop?: string;
  /** Nonce count, 8 hex digits; present with `qop`. */
  nc?: string;
  /** Client nonce; present with `qop`. */
  cnonce?: string;
  /** The `opaque` value of the challenge, returned unchanged. */
  opaque?: string;
  /** The algorithm of the challenge, echoed. */
  algorithm?: string;
}

/** Inputs of {@linkcode computeResponse}. */
export interface DigestResponseParams {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
  /** The realm. */
  realm: string;
  /** The server nonce. */
  nonce: string;
  /** The request method, `AUTH` for MSRP relays (RFC 4976 §5.1). */
  method: string;
  /** The digest-uri. */
  uri: string;
  /** `auth`, or absent for the RFC 2069 form without `nc` and `cnonce`. */
  qop?: string;
  /** Nonce count as sent: 8 hex digits. Required with `qop`. */
  nc?: string;
  /** Client nonce. Required with `qop`. */
  cnonce?: string;
}

/** Options of {@linkcode answerChallenge}. */
export interface AnswerChallengeOptions {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
  /** The digest-uri: the relay URI the request is sent to. */
  uri: string;
  /** The request method; `AUTH` when omitted. */
  method?: string;
  /** How many requests this nonce has been used for, this one included; 1 when omitted. */
  nc?: number;
  /** The client nonce; 16 random hex digits when omitted. */
  cnonce?: string;
}

/** Options of {@linkcode newChallenge}. */
export interface NewChallengeOptions {
  /** The nonce; 32 random hex digits when omitted. */
  nonce?: string;
  /** An opaque value for the client to return. */
  opaque?: string;
}

/** Options of {@linkcode verifyAuthorization}. */
export interface VerifyAuthorizationOptions {
  /** The password stored for `credentials.username`. */
  password: string;
  /** The method of the request that carried the credentials, e.g. `AUTH`. */
  method: string;
  /** When set, the credentials must answer this nonce. */
  expectedNonce?: string;
  /** When set, the credentials must be for this realm. */
  realm?: string;
}

// RFC 2616 §2.2: token = 1*<any CHAR except CTLs or separators>.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const HEX32 = /^[0-9A-Fa-f]{32}$/;
const HEX8 = /^[0-9A-Fa-f]{8}$/;
const WHITESPACE = /[ \t]/;

function bad(message: string): MsrpError {
  return new MsrpError(Status.BadRequest, message);
}

/**
 * Splits `Digest name=value, name="quoted \" value", …` into lower-cased names
 * and unescaped values (RFC 2617 §1.2 auth-params, RFC 2616 §2.2 quoted-string).
 */
function parseDigestParams(headerValue: string, what: string): Map<string, string> {
  const text = headerValue.trim();
  const space = text.search(WHITESPACE);
  const scheme = space < 0 ? text : text.slice(0, space);
  if (scheme.toLowerCase() !== "digest") {
    throw bad(`${what} is not a Digest value: ${headerValue}`);
  }
  const params = new Map<string, string>();
  const n = text.length;
  let i = scheme.length;
  const skip = (chars: string): void => {
    while (i < n && chars.includes(text[i])) i++;
  };
  skip(" \t,");
  while (i < n) {
    const nameStart = i;
    while (i < n && text[i] !== "=" && text[i] !== "," && !WHITESPACE.test(text[i])) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (!TOKEN.test(name)) throw bad(`${what}: bad parameter name at offset ${nameStart}`);
    skip(" \t");
    if (text[i] !== "=") throw bad(`${what}: missing "=" after ${name}`);
    i++;
    skip(" \t");
    let value = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) throw bad(`${what}: unterminated quoted string in ${name}`);
        const char = text[i++];
        if (char === '"') break;
        if (char === "\\") {
          if (i >= n) throw bad(`${what}: unterminated quoted string in ${name}`);
          value += text[i++];
        } else {
          value += char;
        }
      }
    } else {
      const valueStart = i;
      while (i < n && text[i] !== "," && !WHITESPACE.test(text[i])) i++;
      value = text.slice(valueStart, i);
      if (value === "") throw bad(`${what}: empty value for ${name}`);
    }
    if (params.has(name)) throw bad(`${what}: duplicate parameter ${name}`);
    params.set(name, value);
    skip(" \t");
    if (i < n && text[i] !== ",") throw bad(`${what}: expected "," after ${name}`);
    skip(" \t,");
  }
  return params;
}

function required(params: Map<string, string>, name: string, what: string): string {
  const value = params.get(name);
  if (value === undefined) throw bad(`${what} has no ${name}`);
  return value;
}

function quoted(name: string, value: string): string {
  if (CONTROL.test(value)) throw bad(`digest ${name} contains a control character`);
  return `${name}="${value.replace(/["\\]/g, "\\$&")}"`;
}

function unquoted(name: string, value: string): string {
  if (!TOKEN.test(value)) throw bad(`digest ${name} is not a token: ${JSON.stringify(value)}`);
  return `${name}=${value}`;
}

function randomHex(bytes: number): string {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function isMd5(algorithm: string | undefined): boolean {
  return algorithm === undefined || algorithm.toLowerCase() === "md5";
}

/** True when a `qop` option list such as `auth,auth-int` offers `auth`. */
function offersAuth(qop: string): boolean {
  return qop.split(",").some((option) => option.trim().toLowerCase() === "auth");
}

/**
 * Parses a `WWW-Authenticate` value such as
 * `Digest realm="relay", nonce="abc", qop="auth"`. Parameter names are
 * case-insensitive and may come in any order; values may be quoted strings
 * (with `\` escapes) or tokens; unknown parameters are ignored.
 *
 * @throws {MsrpError} 400 when the scheme is not `Digest`, the syntax is
 * broken, a parameter repeats, `stale` is not `true`/`false`, or `realm` or
 * `nonce` is missing.
 */
export function parseChallenge(headerValue: string): DigestChallenge {
  const what = "WWW-Authenticate";
  const params = parseDigestParams(headerValue, what);
  const challenge: DigestChallenge = {
    realm: required(params, "realm", what),
    nonce: required(params, "nonce", what),
  };
  const qop = params.get("qop");
  if (qop !== undefined) challenge.qop = qop;
  const opaque = params.get("opaque");
  if (opaque !== undefined) challenge.opaque = opaque;
  const algorithm = params.get("algorithm");
  if (algorithm !== undefined) challenge.algorithm = algorithm;
  const stale = params.get("stale")?.toLowerCase();
  if (stale !== undefined) {
    if (stale !== "true" && stale !== "false") throw bad(`${what}: bad stale value ${stale}`);
    challenge.stale = stale === "true";
  }
  return challenge;
}

/**
 * Formats a challenge as a `WWW-Authenticate` value:
 * `Digest realm="…", nonce="…", qop="auth", opaque="…", algorithm=MD5, stale=true`,
 * each optional part only when set.
 *
 * @throws {MsrpError} 400 when a value contains a control character, or
 * `algorithm` is not a token.
 */
export function formatChallenge(c: DigestChallenge): string {
  const parts = [quoted("realm", c.realm), quoted("nonce", c.nonce)];
  if (c.qop !== undefined) parts.push(quoted("qop", c.qop));
  if (c.opaque !== undefined) parts.push(quoted("opaque", c.opaque));
  if (c.algorithm !== undefined) parts.push(unquoted("algorithm", c.algorithm));
  if (c.stale !== undefined) parts.push(`stale=${c.stale}`);
  return `Digest ${parts.join(", ")}`;
}

/**
 * Parses an `Authorization` value. Like {@linkcode parseChallenge} it accepts
 * any order, case-insensitive names, and quoted or token values (`qop` and `nc`
 * are read either way).
 *
 * @throws {MsrpError} 400 when the scheme is not `Digest`, the syntax is
 * broken, `username`, `realm`, `nonce`, `uri` or `response` is missing,
 * `response` is not 32 hex digits, or `qop` comes without `nc` (8 hex digits)
 * and `cnonce`.
 */
export function parseAuthorization(headerValue: string): DigestCredentials {
  const what = "Authorization";
  const params = parseDigestParams(headerValue, what);
  const credentials: DigestCredentials = {
    username: required(params, "username", what),
    realm: required(params, "realm", what),
    nonce: required(params, "nonce", what),
    uri: required(params, "uri", what),
    response: required(params, "response", what),
  };
  if (!HEX32.test(credentials.response)) {
    throw bad(`${what}: response is not 32 hex digits: ${credentials.response}`);
  }
  const qop = params.get("qop");
  if (qop !== undefined) {
    // RFC 2617 §3.2.2: nc and cnonce must be sent with qop.
    credentials.qop = qop;
    credentials.nc = required(params, "nc", what);
    credentials.cnonce = required(params, "cnonce", what);
    if (!HEX8.test(credentials.nc)) throw bad(`${what}: nc is not 8 hex digits: ${credentials.nc}`);
  }
  const opaque = params.get("opaque");
  if (opaque !== undefined) credentials.opaque = opaque;
  const algorithm = params.get("algorithm");
  if (algorithm !== undefined) credentials.algorithm = algorithm;
  return credentials;
}

/**
 * Formats credentials as an `Authorization` value, `qop`, `nc` and `algorithm`
 * unquoted, the rest quoted:
 * `Digest username="…", realm="…", nonce="…", uri="…", response="…", qop=auth, nc=00000001, cnonce="…"`
 * followed by `opaque` and `algorithm` when set.
 *
 * @throws {MsrpError} 400 when a value contains a control character, or an
 * unquoted value is not a token.
 */
export function formatAuthorization(c: DigestCredentials): string {
  const parts = [
    quoted("username", c.username),
    quoted("realm", c.realm),
    quoted("nonce", c.nonce),
    quoted("uri", c.uri),
    quoted("response", c.response),
  ];
  if (c.qop !== undefined) parts.push(unquoted("qop", c.qop));
  if (c.nc !== undefined) parts.push(unquoted("nc", c.nc));
  if (c.cnonce !== undefined) parts.push(quoted("cnonce", c.cnonce));
  if (c.opaque !== undefined) parts.push(quoted("opaque", c.opaque));
  if (c.algorithm !== undefined) parts.push(unquoted("algorithm", c.algorithm));
  return `Digest ${parts.join(", ")}`;
}

/**
 * The request-digest of RFC 2617 §3.2.2.1 with MD5: HA1 = MD5(user:realm:password),
 * HA2 = MD5(method:uri); MD5(HA1:nonce:nc:cnonce:qop:HA2) with `qop=auth`
 * (the qop as sent), MD5(HA1:nonce:HA2) without `qop`. Strings are hashed as
 * UTF-8.
 *
 * @throws {MsrpError} 400 when `qop` is other than `auth` (`auth-int` is not
 * supported), or `qop` is set without `nc` and `cnonce`.
 */
export function computeResponse(p: DigestResponseParams): string {
  const ha1 = md5Hex(`${p.username}:${p.realm}:${p.password}`);
  const ha2 = md5Hex(`${p.method}:${p.uri}`);
  if (p.qop === undefined) return md5Hex(`${ha1}:${p.nonce}:${ha2}`);
  if (p.qop.toLowerCase() !== "auth") throw bad(`unsupported digest qop: ${p.qop}`);
  if (p.nc === undefined || p.cnonce === undefined) {
    throw bad("digest qop=auth needs nc and cnonce");
  }
  return md5Hex(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

/**
 * Answers a challenge (RFC 4976 §5.1): with `qop=auth` when the challenge
 * offers it, with `nc` as 8 hex digits and a random `cnonce` unless given;
 * without `qop`, `nc` and `cnonce` when the challenge has no `qop`. `opaque`
 * and `algorithm` are echoed.
 *
 * @throws {MsrpError} 400 when the challenge's algorithm is not MD5, its `qop`
 * does not offer `auth`, or `nc` is not an integer in 1..0xffffffff.
 */
export function answerChallenge(
  challenge: DigestChallenge,
  p: AnswerChallengeOptions,
): DigestCredentials {
  if (!isMd5(challenge.algorithm)) {
    throw bad(`unsupported digest algorithm: ${challenge.algorithm}`);
  }
  let auth: { qop: string; nc: string; cnonce: string } | undefined;
  if (challenge.qop !== undefined) {
    if (!offersAuth(challenge.qop)) {
      throw bad(`digest challenge offers no qop=auth: ${challenge.qop}`);
    }
    const count = p.nc ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 0xffffffff) {
      throw bad(`digest nc out of range: ${count}`);
    }
    auth = {
      qop: "auth",
      nc: count.toString(16).padStart(8, "0"),
      cnonce: p.cnonce ?? randomHex(8),
    };
  }
  const response = computeResponse({
    username: p.username,
    password: p.password,
    realm: challenge.realm,
    nonce: challenge.nonce,
    method: p.method ?? "AUTH",
    uri: p.uri,
    ...auth,
  });
  const credentials: DigestCredentials = {
    username: p.username,
    realm: challenge.realm,
    nonce: challenge.nonce,
    uri: p.uri,
    response,
    ...auth,
  };
  if (challenge.opaque !== undefined) credentials.opaque = challenge.opaque;
  if (challenge.algorithm !== undefined) credentials.algorithm = challenge.algorithm;
  return credentials;
}

/** A fresh challenge for `realm` with `qop="auth"` and, unless given, a random 128-bit nonce. */
export function newChallenge(realm: string, options: NewChallengeOptions = {}): DigestChallenge {
  const challenge: DigestChallenge = {
    realm,
    nonce: options.nonce ?? randomHex(16),
    qop: "auth",
  };
  if (options.opaque !== undefined) challenge.opaque = options.opaque;
  return challenge;
}

/** Compares two equal-length strings in time independent of where they differ. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * True when credentials carry the right response for `password` and `method`,
 * comparing the digest in constant time; false as well when the nonce or realm
 * differs from the expected one, or the algorithm or `qop` is unsupported.
 * Checking that `uri` names this relay and that `nc` grows is left to the
 * caller.
 */
export function verifyAuthorization(
  credentials: DigestCredentials,
  p: VerifyAuthorizationOptions,
): boolean {
  if (p.expectedNonce !== undefined && credentials.nonce !== p.expectedNonce) return false;
  if (p.realm !== undefined && credentials.realm !== p.realm) return false;
  if (!isMd5(credentials.algorithm)) return false;
  const qop = credentials.qop;
  if (
    qop !== undefined &&
    (qop.toLowerCase() !== "auth" || credentials.nc === undefined ||
      credentials.cnonce === undefined)
  ) {
    return false;
  }
  const expected = computeResponse({
    username: credentials.username,
    password: p.password,
    realm: credentials.realm,
    nonce: credentials.nonce,
    method: p.method,
    uri: credentials.uri,
    qop,
    nc: credentials.nc,
    cnonce: credentials.cnonce,
  });
  return constantTimeEqual(expected, credentials.response.toLowerCase());
}
