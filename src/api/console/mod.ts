/**
 * `GET /console`: the operator console, a page from which PBX operators watch
 * live MSRP sessions, read and answer their chats and hang up. It is one HTML
 * page, one stylesheet and two script modules served from here (nothing
 * external, no inline script or style), under a strict Content-Security-Policy.
 * The page itself is public; everything it shows comes from `/v1` with the
 * token the operator types, which stays in the page's memory.
 *
 * @module
 */

import type { ApiApp } from "../types.ts";
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_ICON } from "./page.ts";
import { CONSOLE_LIB_JS } from "./lib.ts";
import { CONSOLE_JS } from "./script.ts";

/** The Content-Security-Policy of every `/console` response. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function file(body: string, type: string): Response {
  return new Response(body, {
    headers: {
      "content-type": type,
      "content-security-policy": CONSOLE_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}

/** Registers `GET /console` and its assets under `/console/`. */
export function consoleRoutes(app: ApiApp): void {
  app.get("/console", () => file(CONSOLE_HTML, "text/html; charset=utf-8"));
  app.get("/console/console.js", () => file(CONSOLE_JS, "text/javascript; charset=utf-8"));
  app.get("/console/lib.js", () => file(CONSOLE_LIB_JS, "text/javascript; charset=utf-8"));
  app.get("/console/console.css", () => file(CONSOLE_CSS, "text/css; charset=utf-8"));
  app.get("/console/icon.svg", () => file(CONSOLE_ICON, "image/svg+xml"));
}
