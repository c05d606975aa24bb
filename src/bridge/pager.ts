/**
 * Pager mode (SIP MESSAGE outside a session) through FreeSWITCH's inbound
 * event socket: sending with the `chat` API (§5.2 of the ESL reference),
 * receiving `MESSAGE` events as `pager.received` (§5.1).
 *
 * @module
 */

import { chatCommand, type EslClient, type EslEvent } from "../pbx/mod.ts";
import { createEvent } from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";
import type { EslState } from "./calls.ts";
import { BridgeError, dialTarget } from "./errors.ts";
import type { EventLog } from "./events.ts";

/** A pager-mode message (SIP MESSAGE outside a session). */
export interface PagerMessage {
  /** SIP URI of the recipient. */
  readonly to: string;
  /** SIP URI of the sender. */
  readonly from: string;
  /** The text. */
  readonly text: string;
}

/** The event socket pager mode goes through (the calls use case has it). */
export interface PagerLink {
  /** The inbound event-socket connection, when there is one. */
  readonly esl: EslClient | undefined;
  /** The state of the PBX connection, for error messages. */
  readonly eslState: EslState;
}

/** Sends and receives pager-mode messages. */
export class Pager {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #link: PagerLink;

  /** Pager mode over `link`, publishing to `events`. */
  constructor(rt: Runtime, events: EventLog, link: PagerLink) {
    this.#rt = rt;
    this.#events = events;
    this.#link = link;
  }

  /**
   * Sends a pager-mode SIP MESSAGE through FreeSWITCH (`chat` API run as a
   * background job, so the event connection is never blocked). Rejects when
   * the PBX is not connected or the MESSAGE failed.
   *
   * @throws {BridgeError} `invalid-sip-uri` when `to` or `from` is not a
   * dialable SIP URI, `validation` when `text` holds `|` or a line break
   * (the `chat` API's separators), both checked before anything else;
   * `pbx-unavailable` when the event socket is not connected or the PBX did
   * not send the MESSAGE.
   */
  async send(message: PagerMessage): Promise<void> {
    const to = dialTarget(message.to, "to");
    const from = dialTarget(message.from, "from").replace(/^sips?:/, "");
    if (/[|\r\n]/.test(message.text)) {
      throw new BridgeError("validation", 'text must not contain "|" or line breaks', "text");
    }
    this.#rt.checkRunning();
    const esl = this.#link.esl;
    if (!esl || esl.state !== "connected") {
      throw new BridgeError("pbx-unavailable", `the PBX event socket is ${this.#link.eslState}`);
    }
    const result = await esl.bgapi(chatCommand({
      from,
      to: `${this.#rt.config.sipProfile}/${to}`,
      text: message.text,
      contentType: "text/plain",
    }));
    if (!/^\+?OK|^Sent/m.test(result.trim())) {
      throw new BridgeError(
        "pbx-unavailable",
        `the PBX did not send the MESSAGE: ${result.trim()}`,
      );
    }
    this.#rt.log.info("pager sent", { to: message.to });
  }

  /**
   * An event of the inbound event socket: an inbound SIP MESSAGE becomes
   * `pager.received` and goes to the plugins; our own sends come back with
   * `Delivery-Failure` and are left alone, as is every other event. Bridges
   * sharing a FreeSWITCH all see the event: only the one that claims it
   * (its `Core-UUID` and `Event-Sequence`) handles it.
   */
  received(event: EslEvent): void {
    if (event.name !== "MESSAGE" || event.get("Delivery-Failure") !== undefined) return;
    this.#rt.track(this.#claimed(event).then((ours) => ours ? this.#handle(event) : undefined));
  }

  /** Whether this instance handles `event`; an event without its sequence is handled. */
  async #claimed(event: EslEvent): Promise<boolean> {
    const core = event.get("Core-UUID");
    const sequence = event.get("Event-Sequence");
    if (core === undefined || sequence === undefined) return true;
    return await this.#rt.store.claim(`pager:${core}:${sequence}`);
  }

  async #handle(event: EslEvent): Promise<void> {
    const data = {
      from: `sip:${event.get("from") ?? ""}`,
      to: `sip:${event.get("to") ?? ""}`,
      fromDisplay: /^"?([^"<]*?)"?\s*</.exec(event.get("from_full") ?? "")?.[1] || null,
      callId: event.get("Call-ID") ?? event.get("sip_call_id") ?? null,
      contentType: event.get("type") ?? "text/plain",
      text: event.bodyText ?? "",
    };
    this.#rt.log.info("pager received", { from: data.from, to: data.to });
    const plugins = this.#rt.plugins;
    if (plugins) {
      this.#rt.track(plugins.pager({
        from: data.from,
        to: data.to,
        fromDisplay: data.fromDisplay ?? undefined,
        callId: data.callId ?? undefined,
        contentType: data.contentType,
        text: data.text,
      }));
    }
    await this.#events.publish(createEvent("pager.received", data));
  }
}
