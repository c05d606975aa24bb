/**
 * The operator console in a real browser: Debian's Chromium (installed by
 * `.ci/chromium.sh`) driven by playwright-core against a bridge and its API on
 * 127.0.0.1, with an MSRP peer on the other end of a live session.
 */

import { assert, assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { buildIsComposing, IS_COMPOSING_TYPE } from "../../plugins/is-composing.ts";
import { CONSOLE_CSP } from "../../src/api/console/mod.ts";
import { launchChromium, openConsole } from "./_browser.ts";
import {
  type Harness,
  openPeerSession,
  peerEndpoint,
  startHarness,
  TOKEN,
  waitUntil,
} from "./_harness.ts";
import { skipUnlessChromium } from "../_services.ts";

const skip = await skipUnlessChromium("console_test");

/** Sends `text` through the API asking for a REPORT and waits until its row says `delivered`. */
async function sendDelivered(h: Harness, sessionId: string, text: string): Promise<string> {
  const res = await h.json("POST", `/v1/sessions/${sessionId}/messages`, { text, report: true });
  assertEquals(res.status, 202);
  const { messageId } = await res.json();
  await until(
    async () =>
      (await (await h.request(`/v1/messages/${messageId}`)).json()).status === "delivered",
    `message ${messageId} to be delivered`,
  );
  return messageId;
}

const XSS = "<script>alert(1)</script><b>x</b>";

Deno.test("api: /console is served with a strict Content-Security-Policy", async () => {
  await using h = await startHarness();
  for (
    const path of ["/console", "/console/console.js", "/console/lib.js", "/console/console.css"]
  ) {
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
  name:
    "api: operator console in Chromium: log in, live session with message counts, transcript with delivery " +
    "ticks, typing indication, reply, no HTML",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-console-" });
    await using h = await startHarness({ PLUGINS: "is-composing" });
    await using peer = peerEndpoint();
    const browser = await launchChromium();
    try {
      const { page, problems } = await openConsole(browser, h.url, TOKEN);
      assertEquals(await page.getByLabel("API token").inputValue(), "");
      assert(!page.url().includes(TOKEN), "the token is not in the URL");
      const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
      assertEquals(stored, 0);

      // A session is created through the API (peer offer, peer connects) after log-in:
      // the list learns of it from the event stream.
      const p = await openPeerSession(h, peer);
      const item = page.locator(`#sessions button[data-id="${p.id}"]`);
      await item.locator(".state-active").waitFor({ timeout: 30_000 });
      const counts = item.locator(".counts");
      assertEquals(await counts.textContent(), "in 0 (0 B) · out 0 (0 B)");

      // A message sent through the API before the transcript is opened shows with its text
      // and its delivery tick (the peer's success REPORT).
      const early = await sendDelivered(h, p.id, "sent by the API earlier");
      // The list's counts follow the message events.
      await item.locator('.counts[data-messages-out="1"][data-bytes-out="23"]')
        .waitFor({ timeout: 30_000 });
      await item.click();
      await page.locator("#chat").waitFor({ state: "visible" });
      const earlyItem = page.locator(`#transcript li.out[data-id="${early}"]`);
      await earlyItem.locator(".body", { hasText: "sent by the API earlier" }).waitFor();
      assertEquals(await earlyItem.getAttribute("data-status"), "delivered");
      assertEquals(await earlyItem.locator(".tick").textContent(), "✓✓");

      // The peer types (RFC 3994): "typing…" shows until its message arrives.
      const typing = page.locator("#typing");
      assert(!await typing.isVisible(), "nobody is typing yet");
      await p.session.send(buildIsComposing({ state: "active", refresh: 60 }), {
        contentType: IS_COMPOSING_TYPE,
      }).done;
      await typing.waitFor({ state: "visible", timeout: 30_000 });
      await p.session.send("hello operator").done;
      await page.locator("#transcript li.in .body", { hasText: "hello operator" })
        .waitFor({ timeout: 30_000 });
      // The peer's message shows in the list's counts live (the indication counts nowhere).
      await item.locator('.counts[data-messages-in="1"][data-bytes-in="14"]')
        .waitFor({ timeout: 30_000 });
      assertEquals(await counts.textContent(), "in 1 (14 B) · out 1 (23 B)");
      await typing.waitFor({ state: "hidden" });
      await p.session.send(buildIsComposing({ state: "active" }), {
        contentType: IS_COMPOSING_TYPE,
      }).done;
      await typing.waitFor({ state: "visible", timeout: 30_000 });
      await p.session.send(buildIsComposing({ state: "idle" }), { contentType: IS_COMPOSING_TYPE })
        .done;
      await typing.waitFor({ state: "hidden", timeout: 30_000 });

      // A message another application sends while the transcript is open shows live, and
      // its tick follows the REPORT.
      const live = await sendDelivered(h, p.id, "sent by the API now");
      const liveItem = page.locator(`#transcript li.out[data-id="${live}"]`);
      await liveItem.locator(".body", { hasText: "sent by the API now" })
        .waitFor({ timeout: 30_000 });
      await page.locator(`#transcript li.out[data-id="${live}"][data-status="delivered"]`)
        .waitFor({ timeout: 30_000 });

      // A reply typed in the page reaches the peer and gets its delivery tick.
      await page.getByLabel("Message").fill("hello peer");
      await page.getByLabel("Message").press("Enter");
      await waitUntil(() => p.received.length === 3, "the reply at the peer");
      assertEquals(p.received[2].text(), "hello peer");
      const reply = page.locator("#transcript li.out", { hasText: "hello peer" });
      await reply.locator(".body").waitFor();
      await page.locator('#transcript li.out[data-status="delivered"]', { hasText: "hello peer" })
        .waitFor({ timeout: 30_000 });
      assertEquals(await reply.locator(".tick").textContent(), "✓✓");

      // Markup from the network is text, not HTML.
      await p.session.send(XSS).done;
      const xss = page.locator("#transcript li.in .body", { hasText: "alert(1)" });
      await xss.waitFor({ timeout: 30_000 });
      assertEquals(await xss.textContent(), XSS);
      assert(await xss.isVisible());
      assertEquals(await page.locator("#transcript b, #transcript script").count(), 0);

      // Reopening the transcript rebuilds it from the API: the same messages, ticks, no
      // is-composing documents.
      await page.reload();
      await page.getByLabel("API token").fill(TOKEN);
      await page.getByLabel("API token").press("Enter");
      await item.click();
      await page.locator("#transcript li.in .body", { hasText: "alert(1)" }).waitFor();
      const texts = await page.locator("#transcript li .body").allTextContents();
      assertEquals(texts, [
        "sent by the API earlier",
        "hello operator",
        "sent by the API now",
        "hello peer",
        XSS,
      ]);
      assertEquals(await page.locator('#transcript li.out[data-status="delivered"]').count(), 3);
      assertEquals(await counts.textContent(), `in 2 (${14 + XSS.length} B) · out 3 (52 B)`);

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
