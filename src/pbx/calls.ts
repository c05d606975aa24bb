/**
 * Inbound MSRP calls through FreeSWITCH's inbound event socket
 * (freeswitch-esl.md §4.2): a call parked on a bypass profile whose offer has
 * an `m=message` line gets an MSRP session on our endpoint, FreeSWITCH
 * answers it with our SDP, and the session then connects to the caller (or
 * waits for it). A hangup closes the session; a session closed by the
 * application hangs the call up. The sequence itself is in
 * `_call_answerer.ts`, shared with the outbound-socket mode.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { CallAnswerer, type ChannelControl } from "./_call_answerer.ts";
import type { EslEvent } from "./esl_codec.ts";
import type { EslClient, EslEventReceived, EslStateChange } from "./esl_client.ts";
import { parseJsonEvent } from "./esl_event.ts";
import { callNotices, type CallServingOptions, type InboundCall } from "./inbound_call.ts";

export {
  type CallAnswerChanges,
  type CallInfo,
  type CallServingOptions,
  InboundCall,
  InboundCallEvent,
  type InboundCallState,
} from "./inbound_call.ts";

/** Options of {@linkcode InboundCalls}. */
export interface InboundCallsOptions extends CallServingOptions {
  /** The ESL client; it must receive `CHANNEL_PARK`, `CHANNEL_ANSWER` and `CHANNEL_HANGUP_COMPLETE`. */
  readonly esl: EslClient;
}

/** A row of `show channels as json` (the fields used here). */
interface _ChannelRow {
  readonly uuid?: string;
  readonly direction?: string;
  readonly application?: string;
  readonly callstate?: string;
}

const _encoder = new TextEncoder();

/**
 * Serves inbound MSRP calls. Parked calls without an `m=message` line (audio
 * calls) and channels not in bypass mode are left alone; an offer that
 * cannot be served, or one beyond the endpoint's session limit, is answered
 * `respond 488`. On every (re)connect, calls that ended meanwhile end their
 * sessions, and calls parked while the connection was down are answered.
 * Listen for `"answering"` and `"call"` ({@linkcode InboundCallEvent}).
 */
export class InboundCalls extends EventTarget {
  readonly #esl: EslClient;
  readonly #answerer: CallAnswerer;
  readonly #log: Logger | undefined;
  readonly #onEvent = (e: Event) => this.#handle((e as EslEventReceived).event);
  readonly #onState = (e: Event) => {
    if ((e as EslStateChange).state === "connected") this.#answerer.track(this.#resync());
  };
  #closed = false;

  /** Starts serving the calls the ESL client reports. */
  constructor(options: InboundCallsOptions) {
    super();
    this.#esl = options.esl;
    this.#log = options.logger?.with({ component: "inbound-calls" });
    this.#answerer = new CallAnswerer(options, this.#log, callNotices(this));
    this.#esl.addEventListener("event", this.#onEvent);
    this.#esl.addEventListener("state", this.#onState);
    if (this.#esl.state === "connected") this.#answerer.track(this.#resync());
  }

  /** The calls whose channel is up, by channel UUID. */
  get calls(): ReadonlyMap<string, InboundCall> {
    return this.#answerer.calls;
  }

  /**
   * Stops serving: every call's session is closed, which hangs its channel
   * up, and pending work is awaited. The ESL client is left open.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#esl.removeEventListener("event", this.#onEvent);
    this.#esl.removeEventListener("state", this.#onState);
    await this.#answerer.close();
  }

  #handle(event: EslEvent): void {
    const uuid = event.uniqueId;
    if (uuid === undefined || this.#closed) return;
    try {
      if (event.name === "CHANNEL_PARK") {
        this.#answerer.track(this.#answerer.offer(uuid, event, this.#control(uuid)));
      }
      if (event.name === "CHANNEL_ANSWER") {
        this.#answerer.answered(uuid, event.get("variable_rtp_local_sdp_str") ?? "");
      }
      if (event.name === "CHANNEL_HANGUP_COMPLETE") {
        this.#answerer.hungUp(uuid, event.get("Hangup-Cause") ?? "UNKNOWN");
      }
    } catch (error) {
      this.#log?.error("inbound call event failed", {
        uuid,
        event: event.name,
        error: String(error),
      });
    }
  }

  /** The channel driven through the inbound client: `sendmsg <uuid>` and `api uuid_kill`. */
  #control(uuid: string): ChannelControl {
    const esl = this.#esl;
    return {
      execute: (app, arg) => esl.sendmsg(uuid, app, arg),
      hangup: async () => !(await esl.api(`uuid_kill ${uuid}`)).startsWith("-ERR"),
    };
  }

  /**
   * After a (re)connect: calls whose channel went away meanwhile end,
   * channels whose session closed meanwhile are hung up, and channels parked
   * meanwhile are served (their `uuid_dump` stands in for `CHANNEL_PARK`).
   */
  async #resync(): Promise<void> {
    const answerer = this.#answerer;
    for (const [uuid, call] of answerer.calls) {
      const exists = (await answerer.quietly("uuid_exists", this.#esl.api(`uuid_exists ${uuid}`)))
        ?.trim();
      if (exists === "false") answerer.hungUp(uuid, undefined);
      else if (exists === "true" && call.session.closed) await answerer.hangUp(call);
    }
    const listing = await answerer.quietly("show channels", this.#esl.api("show channels as json"));
    for (const row of _parkedRows(listing)) {
      if (this.#closed || answerer.calls.has(row)) continue;
      const dump = await answerer.quietly("uuid_dump", this.#esl.api(`uuid_dump ${row} json`));
      if (dump === undefined || !dump.startsWith("{") || this.#closed) continue;
      let event: EslEvent;
      try {
        event = parseJsonEvent(_encoder.encode(dump));
      } catch {
        continue;
      }
      if (event.get("Answer-State") !== "ringing") continue;
      await answerer.offer(row, event, this.#control(row));
    }
  }
}

/** UUIDs of inbound channels still ringing in `park`, from `show channels as json`. */
function _parkedRows(listing: string | undefined): string[] {
  let rows: unknown;
  try {
    rows = (JSON.parse(listing ?? "") as { rows?: unknown }).rows;
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  return (rows as _ChannelRow[])
    .filter((r) => r.direction === "inbound" && r.application === "park")
    .filter((r) => r.callstate === "RINGING" && typeof r.uuid === "string")
    .map((r) => r.uuid as string);
}
