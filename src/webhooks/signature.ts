/**
 * Webhook signatures: HMAC-SHA256 over `timestamp + "." + body`, sent as
 * `X-Msrp-Bridge-Signature: sha256=<hex>` with the Unix time in seconds in
 * `X-Msrp-Bridge-Timestamp`.
 *
 * @example Verifying a delivery in a receiver
 * ```ts
 * import { verifyWebhook } from "./signature.ts";
 *
 * Deno.serve(async (req) => {
 *   const body = await req.text();
 *   const ok = await verifyWebhook(
 *     Deno.env.get("WEBHOOK_SECRET")!,
 *     req.headers.get("x-msrp-bridge-timestamp") ?? "",
 *     body,
 *     req.headers.get("x-msrp-bridge-signature") ?? "",
 *   );
 *   if (!ok) return new Response("bad signature", { status: 401 });
 *   const event = JSON.parse(body);
 *   return Response.json({ received: event.id });
 * });
 * ```
 *
 * @module
 */

import { WebhookError } from "./error.ts";

const encoder = new TextEncoder();

async function hmacSha256Hex(secret: string, data: string): Promise<string> {
  if (secret === "") throw new WebhookError("invalid-config", "the webhook secret is empty");
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(data)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two byte strings in time that depends only on their lengths. */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * The signature header value of a delivery: `sha256=` and the hex
 * HMAC-SHA256 of `timestamp + "." + body` keyed with `secret`.
 */
export async function signWebhook(
  secret: string,
  timestamp: string,
  body: string,
): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

/** Options of {@linkcode verifyWebhook}. */
export interface VerifyWebhookOptions {
  /**
   * Largest difference between the timestamp and now, in seconds, that is
   * accepted (replay protection); 300 when omitted, `Infinity` to skip.
   */
  readonly toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch; `Date.now()` when omitted. */
  readonly now?: number;
}

/**
 * Checks a delivery: `signature` must be the {@linkcode signWebhook} value of
 * the raw `body` and `timestamp` (compared in constant time), and the
 * timestamp recent. Pass the body exactly as received, before parsing.
 */
export async function verifyWebhook(
  secret: string,
  timestamp: string,
  body: string,
  signature: string,
  options: VerifyWebhookOptions = {},
): Promise<boolean> {
  if (!/^[0-9]{1,12}$/.test(timestamp)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const now = (options.now ?? Date.now()) / 1000;
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = await signWebhook(secret, timestamp, body);
  return timingSafeEqual(encoder.encode(expected), encoder.encode(signature));
}
