/**
 * Debian's Chromium (installed by `.ci/chromium.sh`) driven by
 * playwright-core, for the operator console's browser tests: launch it, open
 * `/console`, log in, and collect console errors. Tests gate on it with
 * `skipUnlessChromium` from `test/_services.ts`.
 *
 * @module
 */

import fs from "node:fs";
import { assert, assertEquals } from "../_assert.ts";
import { CHROMIUM } from "../_services.ts";

type Playwright = typeof import("npm:playwright-core@1.65");
/** A launched browser. */
export type Browser = Awaited<ReturnType<Playwright["chromium"]["launch"]>>;
/** A browser tab. */
export type Page = Awaited<ReturnType<Browser["newPage"]>>;

/**
 * playwright-core probes `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads, which Deno
 * allows only under --allow-all ("NotCapable"); the test task grants less, so such probes
 * answer "missing" (they are, off WSL) before the module is imported.
 */
async function loadChromium(): Promise<Playwright["chromium"]> {
  const existsSync = fs.existsSync;
  fs.existsSync = (path: fs.PathLike) => {
    try {
      return existsSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) return false;
      throw error;
    }
  };
  // Pinned here rather than in deno.json: only the console tests use it.
  // deno-lint-ignore no-import-prefix
  return (await import("npm:playwright-core@1.65")).chromium;
}

/** Launches headless Chromium; close it with `browser.close()`. */
export async function launchChromium(): Promise<Browser> {
  const chromium = await loadChromium();
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** A console page after log-in, with the errors it reported so far. */
export interface ConsolePage {
  /** The page. */
  readonly page: Page;
  /** Console errors and uncaught page errors, as they happen. */
  readonly problems: string[];
}

/** Opens `${url}/console` in a new page and logs in with `token`. */
export async function openConsole(
  browser: Browser,
  url: string,
  token: string,
): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const res = await page.goto(`${url}/console`);
  assertEquals(res?.status(), 200);
  await page.getByLabel("API token").fill(token);
  await page.getByLabel("API token").press("Enter");
  await page.locator("#app").waitFor({ state: "visible" });
  assert(!await page.locator("#login").isVisible(), "the login form is hidden");
  return { page, problems };
}
