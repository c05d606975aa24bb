/**
 * AUTH at the WebSocket relay (RFC 4976 §5.1, §5.2; RFC 7977 §5): digest
 * challenge and check with failures throttled per client address, Expires
 * within bounds, and a Use-Path grant from the grant table.
 *
 * @module
 */

import {
  formatChallenge,
  MsrpError,
  newChallenge,
  type OutgoingResponse,
  parseAuthorization,
  reasonPhrase,
  refusalOf,
  type RequestHead,
  sessionIdOf,
  Status,
  verifyAuthorization,
} from "../msrp/mod.ts";
import type { RouterLink } from "../session/mod.ts";
import type { GrantTable, Served } from "./grants.ts";
import type { Policy } from "./policy.ts";

const DIGITS = /^\d{1,10}$/;

/**
 * The response to an AUTH received on `link`, a WebSocket the relay serves
 * as `served`, or `undefined` when none is due (`Failure-Report: no` on a
 * malformed AUTH). A 200 carries the client's Use-Path and Expires (a
 * refresh keeps the Use-Path); a password makes AUTH need digest
 * credentials; outside the Expires bounds is 423 naming the bound crossed.
 */
export function answerAuth(
  link: RouterLink,
  served: Served,
  head: RequestHead,
  policy: Policy,
  grants: GrantTable,
  ownUri: string,
): OutgoingResponse | undefined {
  if (head.toPath.length !== 1 || sessionIdOf(head.toPath[0]) !== undefined) {
    return refusalOf(head, Status.Forbidden, ownUri, "AUTH is answered by the first hop only");
  }
  if (head.fromPath.length !== 1) {
    return refusalOf(head, Status.BadRequest, ownUri, "AUTH needs one From-Path URI");
  }
  const headers: [string, string][] = [];
  const reply = (status: number, comment?: string): OutgoingResponse => ({
    transactionId: head.transactionId,
    status,
    comment: comment ?? reasonPhrase(status),
    toPath: head.fromPath,
    fromPath: head.toPath,
    headers,
  });
  if (policy.password === undefined && policy.refuseAuth !== undefined) {
    return reply(Status.Forbidden, policy.refuseAuth);
  }
  if (policy.password !== undefined) {
    const refusal = checkCredentials(policy.password, served, head, policy, headers);
    if (refusal !== undefined) return reply(refusal.status, refusal.comment);
  }
  const asked = head.headers.get("expires")?.trim();
  let expires = policy.defaultExpires;
  if (asked !== undefined) {
    if (!DIGITS.test(asked)) return reply(Status.BadRequest, "bad Expires");
    expires = Number(asked);
    // RFC 4976 §5.2: outside our bounds is 423 naming the bound that was crossed.
    if (expires < policy.minExpires) {
      headers.push(["Min-Expires", String(policy.minExpires)]);
      return reply(Status.IntervalOutOfBounds);
    }
    if (expires > policy.maxExpires) {
      headers.push(["Max-Expires", String(policy.maxExpires)]);
      return reply(Status.IntervalOutOfBounds);
    }
  }
  const grant = grants.grantFor(link, head.fromPath[0]);
  if (!grant) {
    return reply(
      Status.Forbidden,
      `this WebSocket holds the most relay grants allowed (${policy.maxGrants})`,
    );
  }
  // RFC 4976 §6.3: the URI is invalidated after the expiry time.
  grants.renew(grant, expires);
  headers.push(["Use-Path", grant.uri], ["Expires", String(expires)]);
  return reply(Status.OK);
}

/**
 * Digest credentials for `password`, the relay's (RFC 4976 §5.1): `undefined`
 * when they are right, else the refusal (a 401 challenge added to
 * `headers`). A blocked client address is refused without its credentials
 * being looked at.
 */
function checkCredentials(
  password: string,
  served: Served,
  head: RequestHead,
  policy: Policy,
  headers: [string, string][],
): { status: number; comment?: string } | undefined {
  const throttle = policy.throttle;
  if (throttle && throttle.blocked(served.clientIp) > 0) {
    return { status: Status.Forbidden, comment: "too many failed attempts" };
  }
  const realm = policy.realm;
  const authorization = head.headers.get("authorization");
  if (authorization === undefined || served.nonce === undefined) {
    served.nonce = newChallenge(realm).nonce;
    headers.push([
      "WWW-Authenticate",
      formatChallenge({ realm, nonce: served.nonce, qop: "auth" }),
    ]);
    return { status: Status.Unauthorized };
  }
  let valid = false;
  try {
    const credentials = parseAuthorization(authorization);
    valid = credentials.uri === head.toPath[0] &&
      verifyAuthorization(credentials, {
        password,
        method: "AUTH",
        expectedNonce: served.nonce,
        realm,
      });
  } catch (e) {
    throttle?.failed(served.clientIp);
    return {
      status: e instanceof MsrpError ? e.status : Status.BadRequest,
      comment: "bad Authorization",
    };
  }
  if (!valid) {
    throttle?.failed(served.clientIp);
    return { status: Status.Forbidden, comment: "wrong credentials" };
  }
  throttle?.succeeded(served.clientIp);
  return undefined;
}
