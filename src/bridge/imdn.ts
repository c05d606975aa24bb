/**
 * Disposition notifications (IMDN, RFC 5438) for CPIM messages of the
 * bridge's sessions: a received CPIM message asking for notifications gets
 * `delivered` once stored (`positive-delivery`), `failed` when it ended
 * failed or partial (`negative-delivery`), and `displayed` when the
 * application says so (`display`), each sent back on the same session; a
 * received notification about one of our messages updates its row and is
 * published as `message.delivered`, `message.failed` or `message.displayed`;
 * our own messages can ask for notifications.
 *
 * @module
 */

import {
  type CpimAddress,
  CpimError,
  type CpimMessage,
  type DeliveryStatus,
  type ImdnDisposition,
  type ImdnNotification,
  imdnRequestOf,
  isImdnNotification,
  MAX_CPIM_HEAD_BYTES,
  MAX_IMDN_BYTES,
  newImdnMessageId,
  parseCpim,
  parseImdn,
  wrapImdnNotification,
  wrapWithImdnRequest,
} from "../cpim/mod.ts";
import { mediaType } from "../msrp/mod.ts";
import type { MessageImdn, MessageRecord, SessionRecord } from "../store/mod.ts";
import { createEvent, messageEventData } from "../webhooks/mod.ts";
import type { Runtime } from "./_runtime.ts";
import type { Sessions } from "./_sessions.ts";
import { BridgeError } from "./errors.ts";
import type { EventLog } from "./events.ts";

/** Who a CPIM address stands for when the session names nobody (RFC 3862 §3.3.1). */
const ANONYMOUS = "im:anonymous@anonymous.invalid";
/** What of a received CPIM message is read: its headers and, for a notification, its document. */
const HEAD_BYTES = MAX_CPIM_HEAD_BYTES + MAX_IMDN_BYTES;

/** A message we sent asking for notifications, awaiting them. */
interface Awaited {
  /** Its row id. */
  readonly rowId: string;
  /** Settles once its own outcome is stored, so notifications apply after it. */
  readonly settled: Promise<unknown>;
}

/** A CPIM-wrapped text asking for notifications, and its row's IMDN state. */
export interface ImdnWrapped {
  /** The CPIM body. */
  readonly body: Uint8Array;
  /** `message/cpim`. */
  readonly contentType: string;
  /** What the row records. */
  readonly imdn: MessageImdn;
}

/** The first `limit` bytes of file `path`, or `undefined` when it cannot be read. */
async function readHead(path: string, limit: number): Promise<Uint8Array | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    return undefined;
  }
  try {
    const buffer = new Uint8Array(limit);
    let filled = 0;
    while (filled < limit) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return buffer.subarray(0, filled);
  } finally {
    file.close();
  }
}

/** Our CPIM address and the peer's in session `row`, from the call's SIP identity. */
function addresses(row: SessionRecord | undefined): { local: string; peer: string } {
  const caller = row?.fromUri ?? ANONYMOUS;
  const callee = row?.toUri ?? ANONYMOUS;
  return row?.direction === "out"
    ? { local: caller, peer: callee }
    : { local: callee, peer: caller };
}

/** IMDN for the bridge's messages. */
export class Imdn {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sessions: Sessions;
  /** Our messages awaiting notifications, by session id, then `imdn.Message-ID`. */
  readonly #awaited = new Map<string, Map<string, Awaited>>();
  /** Display notifications being sent, by row id (concurrent calls share one). */
  readonly #displaying = new Map<string, Promise<void>>();

  /** Sends and receives notifications in `sessions`, publishing to `events`. */
  constructor(rt: Runtime, events: EventLog, sessions: Sessions) {
    this.#rt = rt;
    this.#events = events;
    this.#sessions = sessions;
  }

  /**
   * Wraps `text` in CPIM asking for `dispositions` (RFC 5438 §6.3), from our
   * address to the peer's in open session `sessionId`.
   *
   * @throws {BridgeError} `validation` (field `imdn`) when `text` is not a
   * string or the peer did not negotiate `message/cpim` around `contentType`.
   */
  async wrap(
    sessionId: string,
    text: unknown,
    contentType: string,
    dispositions: readonly ImdnDisposition[],
  ): Promise<ImdnWrapped> {
    if (typeof text !== "string") {
      throw new BridgeError("validation", "imdn: only text can ask for notifications", "imdn");
    }
    if (!this.#sessions.acceptsCpim(sessionId, contentType)) {
      throw new BridgeError(
        "validation",
        `imdn: the peer of session ${sessionId} did not accept message/cpim wrapping ` +
          `${mediaType(contentType)} (its SDP a=accept-types / a=accept-wrapped-types)`,
        "imdn",
      );
    }
    const { local, peer } = addresses(await this.#sessions.get(sessionId));
    const messageId = newImdnMessageId();
    const dateTime = new Date();
    let wrapped: { body: Uint8Array; contentType: string };
    try {
      wrapped = wrapWithImdnRequest({
        from: { uri: local },
        to: { uri: peer },
        messageId,
        dateTime,
        dispositions,
        contentType,
        body: text,
      });
    } catch (e) {
      if (!(e instanceof CpimError)) throw e;
      throw new BridgeError("validation", `contentType: ${e.message}`, "contentType");
    }
    const imdn: MessageImdn = {
      messageId,
      dateTime: dateTime.toISOString(),
      requested: [...dispositions],
      delivery: null,
      display: null,
      peer,
      local,
    };
    return { ...wrapped, imdn };
  }

  /**
   * Notes that our message `rowId` in session `sessionId` awaits
   * notifications about `imdnId`; they apply once `settled` settles. The
   * note lasts as long as the session (notifications come on it).
   */
  await(sessionId: string, imdnId: string, rowId: string, settled: Promise<unknown>): void {
    const session = this.#sessions.live(sessionId);
    if (!session) return;
    let awaited = this.#awaited.get(sessionId);
    if (!awaited) {
      this.#awaited.set(sessionId, awaited = new Map());
      session.addEventListener("close", () => this.#awaited.delete(sessionId), { once: true });
    }
    awaited.set(imdnId, { rowId, settled: settled.catch(() => {}) });
  }

  /**
   * Looks at a received message once its outcome is stored. A CPIM
   * notification is applied and `undefined` returned: it is not published as
   * `message.received`. A CPIM message asking for notifications has them
   * recorded on its row (returned as changed) and gets `delivered`
   * (received) or `failed` (failed or partial) when asked for. Anything
   * else, or unreadable, is returned as it is.
   */
  async received(row: MessageRecord): Promise<MessageRecord | undefined> {
    if (mediaType(row.contentType) !== "message/cpim" || !row.contentPath) return row;
    const head = await readHead(row.contentPath, HEAD_BYTES);
    let cpim: CpimMessage;
    try {
      if (!head) return row;
      cpim = parseCpim(head);
    } catch (e) {
      if (!(e instanceof CpimError)) throw e;
      this.#rt.log.info("cpim not read for imdn", { messageId: row.id, error: e.message });
      return row;
    }
    if (isImdnNotification(cpim)) {
      if (row.status === "received") await this.#notified(row, cpim, head.length >= row.bytes);
      return undefined;
    }
    return await this.#requested(row, cpim);
  }

  /**
   * Sends the display notification of received message `id` (RFC 5438
   * §7.1.2) and records it; does nothing when it was sent already.
   *
   * @throws {BridgeError} `not-found`; `imdn-not-requested` unless it is a
   * received CPIM message asking for `display`; `session-closed` when its
   * session ended or the notification could not be sent.
   */
  displayed(id: string): Promise<void> {
    this.#rt.checkRunning();
    const pending = this.#displaying.get(id);
    if (pending) return pending;
    const sending = this.#display(id).finally(() => this.#displaying.delete(id));
    this.#displaying.set(id, sending);
    return sending;
  }

  async #display(id: string): Promise<void> {
    const row = await this.#rt.store.getMessage(id);
    if (!row) throw new BridgeError("not-found", `no message ${id}`, "id");
    if (row.direction !== "in" || !row.imdn?.requested.includes("display")) {
      throw new BridgeError(
        "imdn-not-requested",
        `id: message ${id} is not a received CPIM message asking for display notifications`,
        "id",
      );
    }
    if (row.imdn.display !== null) return;
    const error = await this.#notify(row, row.imdn, { kind: "display", status: "displayed" });
    if (error !== undefined) {
      throw new BridgeError("session-closed", `id: display notification not sent: ${error}`, "id");
    }
  }

  /**
   * Records what `cpim` asks for on `row`, and starts sending the delivery
   * notification asked for (the session's end waits for it).
   */
  async #requested(row: MessageRecord, cpim: CpimMessage): Promise<MessageRecord> {
    const request = imdnRequestOf(cpim);
    if (!request) return row;
    const imdn: MessageImdn = {
      messageId: request.messageId,
      dateTime: request.dateTime ?? null,
      requested: request.dispositions,
      delivery: null,
      display: null,
      peer: cpim.from?.uri ?? null,
      local: cpim.to[0]?.uri ?? null,
    };
    const changed = await this.#rt.store.updateMessage(row.id, { imdn });
    // RFC 5438 §7.1.1: delivered once stored for positive-delivery, failed for negative-delivery.
    const ok = row.status === "received";
    const asked: ImdnDisposition = ok ? "positive-delivery" : "negative-delivery";
    if (request.dispositions.includes(asked)) {
      const status: DeliveryStatus = ok ? "delivered" : "failed";
      const work = this.#rt.track(this.#notify(changed, imdn, { kind: "delivery", status }));
      this.#sessions.hold(row.sessionId, work);
    }
    return changed;
  }

  /**
   * Sends a notification about received message `row` back on its session,
   * then records it on the row; resolves with why it was not sent, if it was not.
   */
  async #notify(
    row: MessageRecord,
    imdn: MessageImdn,
    what: Pick<ImdnNotification, "kind" | "status">,
  ): Promise<string | undefined> {
    const { store, log } = this.#rt;
    const session = this.#sessions.live(row.sessionId);
    if (!session) return `session ${row.sessionId} has ended`;
    const recipient: CpimAddress = { uri: imdn.local ?? ANONYMOUS };
    const dateTime = imdn.dateTime ?? new Date(row.createdAt).toISOString();
    const { body, contentType } = wrapImdnNotification({
      from: recipient,
      to: { uri: imdn.peer ?? ANONYMOUS },
      messageId: newImdnMessageId(),
      dateTime: new Date(),
      notification: {
        messageId: imdn.messageId,
        dateTime,
        recipientUri: recipient.uri,
        ...what,
      } as ImdnNotification,
    });
    const result = await this.#rt.track(session.send(body, { contentType }).done);
    if (result.status === "failed") {
      log.warn("imdn not sent", { messageId: row.id, kind: what.kind, reason: result.reason });
      return result.reason;
    }
    const current = (await store.getMessage(row.id))?.imdn ?? imdn;
    await store.updateMessage(row.id, { imdn: { ...current, [what.kind]: what.status } });
    log.info("imdn sent", { messageId: row.id, kind: what.kind, status: what.status });
    return undefined;
  }

  /** Applies a received notification to the message of ours it is about. */
  async #notified(row: MessageRecord, cpim: CpimMessage, complete: boolean): Promise<void> {
    const { store, log } = this.#rt;
    let notification: ImdnNotification;
    try {
      if (!complete) throw new CpimError("too-large", "IMDN document too large");
      notification = parseImdn(cpim.body);
    } catch (e) {
      if (!(e instanceof CpimError)) throw e;
      log.info("imdn dropped", { messageId: row.id, error: e.message });
      return;
    }
    const awaited = this.#awaited.get(row.sessionId)?.get(notification.messageId);
    if (!awaited || notification.kind === "processing") {
      log.info("imdn dropped: no message of ours awaits it", {
        sessionId: row.sessionId,
        imdnMessageId: notification.messageId,
        kind: notification.kind,
      });
      return;
    }
    await awaited.settled;
    const kind = notification.kind;
    const status = notification.status;
    const updated = await store.transaction(async (tx) => {
      const message = await tx.getMessage(awaited.rowId);
      if (!message?.imdn || message.imdn[kind] === status) return undefined;
      const delivered = kind === "delivery" && status === "delivered" && message.status === "sent";
      const changed = await tx.updateMessage(message.id, {
        imdn: { ...message.imdn, [kind]: status },
        ...(delivered ? { status: "delivered" as const } : {}),
      });
      const type = kind === "display"
        ? "message.displayed"
        : status === "delivered"
        ? "message.delivered"
        : "message.failed";
      const data = {
        ...messageEventData(changed, await tx.getSession(changed.sessionId)),
        imdn: status,
      };
      await this.#events.record(createEvent(type, data), tx);
      return changed;
    });
    if (!updated) return;
    this.#events.notify();
    log.info("imdn received", { messageId: updated.id, kind, status });
  }
}
