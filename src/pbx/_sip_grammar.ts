/**
 * The RFC 3261 §25.1 grammar of what the user agent reads in a received SIP
 * message: the start line, and the header fields Via, From, To, Contact,
 * Call-ID, CSeq and Max-Forwards. A message that breaks it is refused (RFC
 * 3261 §8.2.2, §16.3; the invalid messages of RFC 4475 §3.1.2). Header
 * fields the user agent does not read pass as they are. Pure code, no I/O.
 *
 * @module
 */

import { parseSipUri, SipUriError } from "./sip_uri.ts";

// RFC 3261 §25.1: token; quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE, where qdtext
// is any character but CTLs (HTAB is LWS), DQUOTE and "\", and quoted-pair is "\" and one
// character of %x00-09 / %x0B-0C / %x0E-7F.
const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+";
const QUOTED = '"(?:[^"\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]|\\\\[\\x00-\\x09\\x0b\\x0c\\x0e-\\x7f])*"';
// generic-param = token [ EQUAL gen-value ], gen-value = token / host / quoted-string;
// SEMI and EQUAL allow whitespace on both sides.
const PARAMS = `(?:\\s*;\\s*${TOKEN}(?:\\s*=\\s*(?:[A-Za-z0-9\\-.!%*_+\`'~:\\[\\]]+|${QUOTED}))?)*`;
// name-addr = [ display-name ] LAQUOT addr-spec RAQUOT, display-name = *(token LWS) /
// quoted-string (RFC 4475 §3.1.1.6: no LWS before "<" is valid); an addr-spec outside angle
// brackets holds none of "," ";" "?" (RFC 3261 §20.10).
const NAME_ADDR = `(?:(?:${TOKEN}(?:\\s+${TOKEN})*|${QUOTED})\\s*)?<[^\\s<>"]+>`;
const ADDR_SPEC = `[A-Za-z][A-Za-z0-9+\\-.]*:[^\\s<>";,?]+`;
const ADDRESS = new RegExp(`^(?:${NAME_ADDR}|${ADDR_SPEC})${PARAMS}$`);
// via-parm = sent-protocol LWS sent-by *( SEMI via-params ); SLASH and COLON allow whitespace.
const SENT_BY = "(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9\\-.]+)(?:\\s*:\\s*[0-9]{1,5})?";
const VIA_PARM = new RegExp(
  `^${TOKEN}\\s*/\\s*${TOKEN}\\s*/\\s*${TOKEN}\\s+${SENT_BY}${PARAMS}$`,
);
const REQUEST_LINE = new RegExp(`^(${TOKEN}) (\\S+) (\\S+)$`);
const STATUS_LINE = /^(\S+) ([1-6][0-9]{2})(?: [^\r\n]*)?$/;
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>"]+$/;
const CSEQ = new RegExp(`^([0-9]+)\\s+(${TOKEN})$`);
/** Header fields a message holds at most once (RFC 3261 §7.3.1: only lists may repeat). */
const SINGLE = ["from", "to", "call-id", "cseq", "max-forwards"];

/**
 * What is wrong with a received message under RFC 3261 §25.1, or `undefined`
 * when nothing is. `headers` are as a parsed `SipMessage` holds them: names
 * lower-cased, compact forms expanded, folded lines unfolded.
 */
export function sipSyntaxError(
  startLine: string,
  headers: readonly (readonly [string, string])[],
): string | undefined {
  let method: string | undefined;
  if (/^SIP\//i.test(startLine)) {
    const status = STATUS_LINE.exec(startLine);
    if (!status) return "bad Status-Line";
    if (status[1].toUpperCase() !== "SIP/2.0") return `unknown SIP version ${status[1]}`;
  } else {
    const request = REQUEST_LINE.exec(startLine);
    if (!request) return "bad Request-Line";
    if (request[3].toUpperCase() !== "SIP/2.0") return `unknown SIP version ${request[3]}`;
    const uriError = requestUriError(request[2]);
    if (uriError) return uriError;
    method = request[1];
  }
  for (const name of SINGLE) {
    if (headers.filter(([n]) => n === name).length > 1) return `more than one ${name}`;
  }
  for (const [name, value] of headers) {
    const error = fieldError(name, value, method);
    if (error) return `bad ${name}: ${error}`;
  }
  return undefined;
}

// RFC 3261 §19.1.1 Table 1: a SIP Request-URI carries no headers (RFC 4475 §3.1.2.11).
function requestUriError(uri: string): string | undefined {
  if (!/^sips?:/i.test(uri)) return ABSOLUTE_URI.test(uri) ? undefined : "bad Request-URI";
  try {
    return parseSipUri(uri).headers.length > 0 ? "headers in the Request-URI" : undefined;
  } catch (e) {
    if (e instanceof SipUriError) return `bad Request-URI: ${e.message}`;
    throw e;
  }
}

function fieldError(name: string, value: string, method: string | undefined): string | undefined {
  switch (name) {
    case "via":
      return splitList(value).every((parm) => VIA_PARM.test(parm)) ? undefined : "not via-parms";
    case "from":
    case "to":
      return ADDRESS.test(value) ? undefined : "not an address";
    case "contact":
      return value === "*" || splitList(value).every((address) => ADDRESS.test(address))
        ? undefined
        : "not addresses";
    case "call-id":
      return /^\S+$/.test(value) ? undefined : "not a word";
    case "cseq": {
      const cseq = CSEQ.exec(value);
      if (!cseq) return "not a number and a method";
      // RFC 3261 §8.1.1.5: less than 2**31; RFC 4475 §3.1.2.17: the request's own method.
      if (!isBelow(cseq[1], 2 ** 31)) return "number too large";
      if (method !== undefined && cseq[2] !== method) return "method differs from the Request-Line";
      return undefined;
    }
    case "max-forwards":
      // RFC 3261 §20.22: 0 to 255.
      return /^[0-9]+$/.test(value) && isBelow(value, 256) ? undefined : "not 0 to 255";
    default:
      return undefined;
  }
}

function isBelow(digits: string, limit: number): boolean {
  const significant = digits.replace(/^0+/, "");
  return significant.length <= 15 && Number(significant) < limit;
}

// The elements of a comma-separated header value; commas inside quotes or angle brackets
// do not separate. Elements are trimmed; an empty one stays (and fails the grammar).
function splitList(value: string): string[] {
  const out: string[] = [];
  let from = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "<") angle = true;
    else if (c === ">") angle = false;
    else if (c === "," && !angle) {
      out.push(value.slice(from, i).trim());
      from = i + 1;
    }
  }
  out.push(value.slice(from).trim());
  return out;
}
