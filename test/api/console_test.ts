/**
 * The operator console in a real browser: Debian's Chromium (installed by
 * `.ci/chromium.sh`) driven by playwright-core against a bridge and its API on
 * 127.0.0.1, with an MSRP peer on the other end of a live session.
 */

import fs from "node:fs";
import { assert, assertEquals } from "../_assert.ts";
import { buildOffer, type LocalMsrpOffer, parseAnswer } from "../../src/sdp/mod.ts";
import type { IncomingMessage, MessageEvent } from "../../src/session/mod.ts";
import { CONSOLE_CSP } from "../../src/api/console/mod.ts";
import { peerEndpoint, startHarness, TOKEN, waitUntil } from "./_harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.log(`console_test: ${CHROMIUM} is missing (bash .ci/chromium.sh installs it): skipped`);
}

/**
 * playwright-core probes `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads, which Deno
 * allows only under --allow-all ("NotCapable"); the test task grants less, so such probes
 * answer "missing" (they are, off WSL) before the module is imported.
 */
async function loadChromium(): Promise<typeof import("npm:playwright-core@1.65").chromium> {
  const existsSync = fs.existsSync;
  fs.existsSync = (path: fs.PathLike) => {
    try {
      return existsSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) return false;
      throw error;
    }
  };
  // Pinned here rather than in deno.json: only this test uses it.
  // deno-lint-ignore no-import-prefix
  return (await import("npm:playwright-core@1.65")).chromium;
}

const XSS = "<script>alert(1)</script><b>x</b>";

Deno.test("api: /console is served with a strict Content-Security-Policy", async () => {
  await using h = await startHarness();
  for (const path of ["/console", "/console/console.js", "/console/console.css"]) {
    const res = await fetch(`${h.url}${path}`);
    assertEquals(res.status, 200, path);
    assertEquals(res.headers.get("content-security-policy"), CONSOLE_CSP);
    const body = await res.text();
    if (path === "/console") {
      assert(!/<script>|<style>|\son\w+=/i.test(body), "no inline script, style or handlers");
      assert(!/https?:\/\//.test(body.replace(/xmlns="[^"]*"/g, "")), "nothing external");
    }
    if (path.endsWith(".js")) assert(!body.includes("innerHTML"), "no innerHTML in the script");
  }
  assert(CONSOLE_CSP.includes("default-src 'self'"));
  assert(!CONSOLE_CSP.includes("unsafe-inline"));
});

Deno.test({
  name: "api: operator console in Chromium: log in, live session and transcript, reply, no HTML",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-console-" });
    await using h = await startHarness();
    await using peer = peerEndpoint();
    const chromium = await loadChromium();
    const browser = await chromium.launch({
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
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

      const res = await page.goto(`${h.url}/console`);
      assertEquals(res?.status(), 200);
      await page.getByLabel("API token").fill(TOKEN);
      await page.getByLabel("API token").press("Enter");
      await page.locator("#app").waitFor({ state: "visible" });
      assert(!await page.locator("#login").isVisible(), "the login form is hidden");
      assertEquals(await page.getByLabel("API token").inputValue(), "");
      assert(!page.url().includes(TOKEN), "the token is not in the URL");
      const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
      assertEquals(stored, 0);

      // A session is created through the API (peer offer, peer connects) after log-in:
      // the list learns of it from the event stream.
      const peerSession = peer.createSession();
      const received: IncomingMessage[] = [];
      peerSession.addEventListener(
        "message",
        (e) => received.push((e as MessageEvent).message),
      );
      const local: LocalMsrpOffer = {
        path: peerSession.localPath,
        address: "127.0.0.1",
        port: peer.port,
        acceptTypes: ["*"],
        setup: "active",
      };
      const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
      assertEquals(created.status, 201);
      const { id, answer } = await created.json();
      await peer.connectSession(peerSession, parseAnswer(answer, local).remotePath);

      const item = page.locator(`#sessions button[data-id="${id}"]`);
      await item.locator(".state-active").waitFor({ timeout: 30_000 });
      await item.click();
      await page.locator("#chat").waitFor({ state: "visible" });

      // A message from the peer shows up live.
      await peerSession.send("hello operator").done;
      await page.locator("#transcript li.in .body", { hasText: "hello operator" })
        .waitFor({ timeout: 30_000 });

      // A reply typed in the page reaches the peer.
      await page.getByLabel("Message").fill("hello peer");
      await page.getByLabel("Message").press("Enter");
      await waitUntil(() => received.length === 1, "the reply at the peer");
      assertEquals(received[0].text(), "hello peer");
      await page.locator("#transcript li.out .body", { hasText: "hello peer" }).waitFor();

      // Markup from the network is text, not HTML.
      await peerSession.send(XSS).done;
      const xss = page.locator("#transcript li.in .body", { hasText: "alert(1)" });
      await xss.waitFor({ timeout: 30_000 });
      assertEquals(await xss.textContent(), XSS);
      assert(await xss.isVisible());
      assertEquals(await page.locator("#transcript b, #transcript script").count(), 0);

      const shot = `${dir}/console.png`;
      await page.screenshot({ path: shot, fullPage: true });
      const png = await Deno.readFile(shot);
      assert(png.length > 1000, "the screenshot has content");
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      const keep = Deno.env.get("CONSOLE_SCREENSHOT");
      if (keep) await Deno.copyFile(shot, keep);
      // Readable on a phone: one column, nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
      );
      assertEquals(overflow, 0);
      if (keep) await page.screenshot({ path: keep.replace(/\.png$/, "-phone.png") });

      // Hang up from the page ends the session.
      await page.getByRole("button", { name: "Hang up" }).click();
      await item.locator(".state-ended").waitFor({ timeout: 30_000 });

      assertEquals(problems, []);

      // Calling a SIP URI and sending a pager message go to the API; without a PBX
      // (ESL_MODE=off here) the page shows the API's problem instead.
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.fill("#call-to", "sip:1000@127.0.0.1");
      await page.getByRole("button", { name: "Call", exact: true }).click();
      await page.locator("#status", { hasText: "Call: " }).waitFor({ timeout: 30_000 });
      await page.fill("#pager-to", "sip:1000@127.0.0.1");
      await page.fill("#pager-from", "sip:operator@127.0.0.1");
      await page.fill("#pager-text", "hello by pager");
      await page.getByRole("button", { name: "Page", exact: true }).click();
      await page.locator("#status", { hasText: "Pager: " }).waitFor({ timeout: 30_000 });
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
