/**
 * Disposition notifications (IMDN, RFC 5438) in the operator console, in
 * headless Chromium against a bridge and a library MSRP peer: the
 * operator's reply asking for read receipts gets ✓✓ and then "read" as the
 * peer's notifications come; a CPIM message from the peer asking for
 * `display` shows its inner text and makes the page send exactly one
 * display notification, once the operator opens the transcript.
 */

import { assertEquals } from "../_assert.ts";
import { imdnRequestOf, parseCpim, wrapWithImdnRequest } from "../../src/cpim/mod.ts";
import { launchChromium, openConsole } from "./_browser.ts";
import { openPeerSession, peerEndpoint, startHarness, TOKEN, waitUntil } from "./_harness.ts";
import { skipUnlessChromium } from "../_services.ts";
import { notificationsOf, notify } from "../_imdn.ts";

const skip = await skipUnlessChromium("console_imdn_test");

Deno.test({
  name: "api: console in Chromium: read receipts on the operator's reply (✓✓, then read), " +
    "one display notification for a peer's message once its transcript is open, and both " +
    "texts and marks still there after a reload",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using h = await startHarness();
    await using peer = peerEndpoint();
    const browser = await launchChromium();
    try {
      const { page, problems } = await openConsole(browser, h.url, TOKEN);
      const displayedRequests: string[] = [];
      const sendRequests: string[] = [];
      page.on("request", (r) => {
        if (r.method() !== "POST") return;
        if (r.url().endsWith("/displayed")) displayedRequests.push(r.url());
        else if (r.url().includes("/v1/sessions/")) sendRequests.push(r.url());
      });
      const p = await openPeerSession(h, peer);
      const item = page.locator(`#sessions button[data-id="${p.id}"]`);
      await item.locator(".state-active").waitFor({ timeout: 30_000 });

      // The peer's message asks for delivery and display notifications; the transcript is
      // not open: the bridge confirms delivery, nothing says it was displayed.
      const asked = wrapWithImdnRequest({
        from: { uri: "im:bob@example.com" },
        to: { uri: "im:operator@example.com" },
        messageId: "bob-1",
        dateTime: new Date(),
        dispositions: ["positive-delivery", "display"],
        contentType: "text/plain",
        body: "<b>Please read</b>",
      });
      await p.session.send(asked.body, { contentType: asked.contentType }).done;
      await waitUntil(() => notificationsOf(p.received).length === 1, "the delivery notification");
      assertEquals(notificationsOf(p.received)[0].status, "delivered");
      await item.locator('.counts[data-messages-in="1"]').waitFor({ timeout: 30_000 });
      assertEquals(displayedRequests, [], "not displayed before the transcript opens");

      // Opening the transcript shows its inner text (as text) and sends `displayed`.
      await item.click();
      const incoming = page.locator("#transcript li.in .body", { hasText: "Please read" });
      await incoming.waitFor({ timeout: 30_000 });
      assertEquals(await incoming.textContent(), "<b>Please read</b>");
      assertEquals(await page.locator("#transcript b").count(), 0);
      await waitUntil(() => notificationsOf(p.received).length === 2, "the display notification");
      const shown = notificationsOf(p.received)[1];
      assertEquals([shown.kind, shown.status, shown.messageId], ["display", "displayed", "bob-1"]);

      // The operator asks for read receipts: the reply goes as CPIM asking for them.
      await page.getByLabel("Ask for read receipts").check();
      await page.getByLabel("Message").fill("Read this");
      await page.getByLabel("Message").press("Enter");
      await waitUntil(() => p.received.length === 3, "the reply at the peer");
      const reply = parseCpim(p.received[2].body());
      const request = imdnRequestOf(reply)!;
      assertEquals(request.dispositions, ["positive-delivery", "display"]);
      assertEquals(new TextDecoder().decode(reply.body), "Read this");
      const row = page.locator("#transcript li.out", { hasText: "Read this" });
      await page.locator('#transcript li.out[data-status="sent"]', { hasText: "Read this" })
        .waitFor({ timeout: 30_000 });
      assertEquals(await row.locator(".tick").textContent(), "✓");
      assertEquals(await row.locator(".read").count(), 0);

      await notify(
        p.session,
        request.messageId,
        { kind: "delivery", status: "delivered" },
        "im:operator@example.com",
      );
      await page.locator('#transcript li.out[data-status="delivered"]', { hasText: "Read this" })
        .waitFor({ timeout: 30_000 });
      assertEquals(await row.locator(".tick").textContent(), "✓✓");
      assertEquals(await row.locator(".read").count(), 0);
      await notify(
        p.session,
        request.messageId,
        { kind: "display", status: "displayed" },
        "im:operator@example.com",
      );
      await row.locator(".read", { hasText: "read" }).waitFor({ timeout: 30_000 });

      // Reloaded, the transcript has the same marks and texts from the API (the reply's text
      // unwrapped from the CPIM document the bridge kept), shows no notifications, and sends
      // nothing again.
      const replyId = await row.getAttribute("data-id");
      await page.reload();
      await page.getByLabel("API token").fill(TOKEN);
      await page.getByLabel("API token").press("Enter");
      await item.click();
      const reopened = page.locator(`#transcript li.out[data-id="${replyId}"]`);
      await reopened.locator(".read").waitFor({ timeout: 30_000 });
      assertEquals(await reopened.locator(".tick").textContent(), "✓✓");
      await reopened.locator(".body", { hasText: "Read this" }).waitFor({ timeout: 30_000 });
      assertEquals(await reopened.locator(".body").textContent(), "Read this");
      await incoming.waitFor({ timeout: 30_000 });
      await page.locator("#transcript li.in").nth(1).waitFor({ state: "detached" });
      // A later message goes after any notification the renders so far would have sent.
      await page.getByLabel("Message").fill("last");
      await page.getByLabel("Message").press("Enter");
      await waitUntil(() => p.received.length === 4, "the last message at the peer");
      await waitUntil(() => sendRequests.length === 2, "the page's request for it");
      assertEquals(displayedRequests.length, 1, "one display request from the page");
      assertEquals(notificationsOf(p.received).length, 2, "one display notification");
      assertEquals(problems, []);
    } finally {
      await browser.close();
    }
  },
});
