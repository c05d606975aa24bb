/**
 * SDP offer/answer for the bridge's sessions (RFC 3264, RFC 4975 §8): answer
 * an offer, make one and apply its answer, then connect by the one rule of
 * `session/negotiated.ts` — the active side dials and pins the peer's
 * `a=fingerprint`, the passive side waits for the peer its SDP named. Our
 * SDP carries `a=max-size` (MAX_MESSAGE_BYTES) and, on our `msrps`
 * listener, the fingerprint of our certificate (RFC 8122).
 *
 * @module
 */

import { effectivePort, parseMsrpUri } from "../msrp/mod.ts";
import {
  type AcceptedMedia,
  buildAnswer,
  buildOffer,
  type FileRange,
  isWebSocketProtocol,
  type LocalMsrpEndpoint,
  type LocalMsrpOffer,
  parseAnswer,
  parseSessionDescription,
  type SessionDescription,
} from "../sdp/mod.ts";
import { connectNegotiated, expectNegotiatedPeer, type MsrpSession } from "../session/mod.ts";
import type { SessionFile, SessionRecord } from "../store/mod.ts";
import { PartialFiles, type Resumption } from "./_resume.ts";
import type { PublishedFiles, PulledFile } from "./published.ts";
import type { Runtime } from "./_runtime.ts";
import { fileOffer, pushedFile, type Sessions } from "./_sessions.ts";
import { BridgeError, errorText, sdpFailure } from "./errors.ts";

/** How long a negotiated session may wait for its connection (and a call for its answer). */
export const CONNECT_WAIT_MS = 60_000;

/** A session created from an offer, with our answer. */
export interface AnsweredSession {
  /** The session id (also the session part of our MSRP URI). */
  readonly id: string;
  /** Our answer SDP. */
  readonly answer: string;
}

/** A session created with our offer, waiting for the answer. */
export interface OfferedSession {
  /** The session id (also the session part of our MSRP URI). */
  readonly id: string;
  /** Our offer SDP. */
  readonly offer: string;
}

/**
 * An offer of ours that pushes a file (RFC 5547): what it offers, and what
 * becomes of its answer (see {@linkcode Media.offer}).
 */
export interface PushOffer {
  /** The file offered; the session is recorded of kind `file-transfer`. */
  readonly file: SessionFile;
  /** The `a=file-range` offered (RFC 5547 §8, resuming); the whole file when absent. */
  readonly range?: FileRange;
  /**
   * The 1-based byte of the file the push starts at, as the answer took it;
   * throws a `BridgeError` to refuse the answer (the offer then waits for another).
   */
  start(accepted: AcceptedMedia): number;
  /** Sends the file from byte `start` once the answer is applied and the session connects. */
  send(sessionId: string, start: number): Promise<void>;
  /** The session ended before the file was handed to {@linkcode send} (e.g. never answered). */
  unsent(sessionId: string): void;
}

/** Sends a published file a pull asked for, once its session is recorded (see `Files.sendPulled`). */
export type PulledFileSender = (sessionId: string, pulled: PulledFile) => Promise<void>;

/** An offer of ours waiting for its answer. */
interface PendingOffer {
  readonly local: LocalMsrpOffer;
  readonly push: PushOffer | undefined;
  /** Ends the session when no answer comes within `OFFER_TIMEOUT_MS`. */
  readonly timer: ReturnType<typeof setTimeout>;
  /** Set once the answer was applied and the push handed to `push.send`. */
  sending: boolean;
}

/** Offer/answer and connecting, for the API and for calls we place. */
export class Media {
  readonly #rt: Runtime;
  readonly #sessions: Sessions;
  /** Our unanswered offers, by session id. */
  readonly #offers = new Map<string, PendingOffer>();
  /**
   * Files received in part, which a push offered again continues: offers
   * through the API here, calls through the PBX in `calls.ts`.
   */
  readonly partials: PartialFiles;
  /** The files peers may pull, and the pulls reading them. */
  readonly #published: PublishedFiles;
  readonly #sendPulled: PulledFileSender;

  /**
   * Negotiates sessions of `sessions` on `rt`'s endpoint; a pull of a file
   * of `published` is sent by `sendPulled`.
   */
  constructor(
    rt: Runtime,
    sessions: Sessions,
    published: PublishedFiles,
    sendPulled: PulledFileSender,
  ) {
    this.#rt = rt;
    this.#sessions = sessions;
    this.partials = new PartialFiles(rt);
    this.#published = published;
    this.#sendPulled = sendPulled;
  }

  /**
   * The published file a pull offered to `session` asks for (see
   * `PublishedFiles.pull`), its handle released when the session closes;
   * `undefined` when `offered` is no pull.
   *
   * @throws {BridgeError} `sdp-not-acceptable` for a pull we do not serve.
   */
  async pull(session: MsrpSession, offered: AcceptedMedia): Promise<PulledFile | undefined> {
    const pulled = await this.#published.pull(offered);
    if (!pulled) return undefined;
    if (session.closed) pulled.release();
    else session.addEventListener("close", () => pulled.release(), { once: true });
    this.#rt.log.info("file pulled", { sessionId: session.id, published: pulled.published.id });
    return pulled;
  }

  /** Sends `pulled` in session `sessionId`, recorded for it (see {@linkcode pull}). */
  sendPulled(sessionId: string, pulled: PulledFile): void {
    this.#rt.track(
      this.#sendPulled(sessionId, pulled).catch((e) =>
        this.#rt.log.warn("pulled file not sent", { sessionId, error: errorText(e) })
      ),
    );
  }

  /**
   * Answers an SDP offer: creates a session (WebSocket when the offer's MSRP
   * line is, else TCP), records it (of kind `file-transfer` for an RFC 5547
   * push) and connects to the peer when our
   * negotiated role is active; otherwise the peer connects to us.
   *
   * A push of a file received in part before (same selector, see
   * `PartialFiles.resume`, the decision calls through the PBX share)
   * continues it (RFC 5547 §8): our answer's `a=file-range` asks for the
   * bytes after those held, and the file's `resumes` names the earlier
   * message. A push whose `a=file-range` we cannot serve is refused.
   *
   * A pull (RFC 5547 §6: `a=recvonly` with an `a=file-selector`) of a
   * published file (see {@linkcode pull}) is answered `a=sendonly` with
   * that file's selector, the offer's transfer id and the file's
   * disposition; the session, of kind `file-transfer` and direction `out`,
   * sends it once connected (see `Files.sendPulled`). A pull of no single
   * published file is refused.
   *
   * @throws {BridgeError} `invalid-sdp`, `sdp-not-acceptable`, `session-limit`,
   * `shutting-down`.
   */
  async answer(sdp: string): Promise<AnsweredSession> {
    this.#rt.checkRunning();
    let description: SessionDescription;
    try {
      description = parseSessionDescription(sdp);
    } catch (e) {
      throw sdpFailure(e, "offer");
    }
    const line = description.media.find((m) => m.kind === "msrp" && m.port !== 0);
    const transport = line?.kind === "msrp" && isWebSocketProtocol(line.protocol) ? "ws" : "tcp";
    const session = this.#sessions.create(transport);
    let accepted: AcceptedMedia;
    let answer: string;
    try {
      ({ sdp: answer, accepted } = buildAnswer(description, this.#local(session)));
    } catch (e) {
      session.close("offer not acceptable");
      throw sdpFailure(e, "offer");
    }
    let pulled: PulledFile | undefined;
    try {
      pulled = await this.pull(session, accepted);
      if (pulled) {
        const local = { ...this.#local(session), sentFile: fileOffer(pulled.file, pulled.range) };
        ({ sdp: answer, accepted } = buildAnswer(description, local));
      }
    } catch (e) {
      session.close("offer not acceptable");
      throw e;
    }
    const file = pushedFile(accepted);
    let resumption: Resumption | undefined;
    if (file) {
      try {
        resumption = await this.partials.resume(session, file, accepted.fileTransfer?.range, null);
        if (resumption.range) {
          const local = { ...this.#local(session), fileRange: resumption.range };
          ({ sdp: answer, accepted } = buildAnswer(description, local));
        }
      } catch (e) {
        session.close("offer not acceptable");
        throw e;
      }
    }
    await this.#sessions.record(session, pulled ? "out" : "in", accepted.remotePath, {
      file: pulled?.file ?? resumption?.file,
      resume: resumption?.partial,
    });
    const connected = this.connect(session, accepted);
    if (accepted.setup === "active") this.#rt.track(connected.catch(() => {}));
    if (pulled) this.sendPulled(session.id, pulled);
    this.#rt.log.info("session answered", { sessionId: session.id, role: accepted.setup });
    return { id: session.id, answer };
  }

  /**
   * Creates a session with our offer (`a=setup:actpass`); see
   * {@linkcode applyAnswer}. With `push`, the offer pushes its file (RFC
   * 5547 §6: `a=sendonly`, `a=file-selector`, `a=file-transfer-id`, …, and
   * `a=file-range` when resuming) and the session is recorded of kind
   * `file-transfer`. An offer not answered within `OFFER_TIMEOUT_MS` ends
   * its session ("offer not answered"); `push.unsent` then hears of it.
   *
   * @throws {BridgeError} `session-limit`, `shutting-down`.
   */
  async offer(push?: PushOffer): Promise<OfferedSession> {
    this.#rt.checkRunning();
    const session = this.#sessions.create("tcp");
    const local: LocalMsrpOffer = {
      ...this.localOffer(session),
      ...(push ? { fileTransfer: fileOffer(push.file, push.range) } : {}),
    };
    const offer = buildOffer(local);
    await this.#sessions.record(session, "out", [], push ? { file: push.file } : {});
    const timer = setTimeout(
      () => session.close("offer not answered"),
      this.#rt.config.offerTimeoutMs,
    );
    const pending: PendingOffer = { local, push, timer, sending: false };
    this.#offers.set(session.id, pending);
    const ended = () => {
      clearTimeout(timer);
      this.#offers.delete(session.id);
      if (!pending.sending) push?.unsent(session.id);
    };
    // Closed while it was being recorded (e.g. a shutdown): nothing waits for an answer.
    if (session.closed) ended();
    else session.addEventListener("close", ended, { once: true });
    this.#rt.log.info("session offered", { sessionId: session.id, file: push !== undefined });
    return { id: session.id, offer };
  }

  /**
   * Applies the answer to our offer: when we are the active side, connects
   * and resolves once the connection is bound; otherwise waits for the peer.
   * The answer to an offer pushing a file must take it (`PushOffer.start`);
   * then the file is sent. An answer that is refused leaves the offer
   * waiting for another.
   *
   * @throws {BridgeError} `not-found`, `not-awaiting-answer`, `invalid-sdp`,
   * `sdp-not-acceptable`, `connect-failed`, `shutting-down`; what
   * `PushOffer.send` throws.
   */
  async applyAnswer(id: string, sdp: string): Promise<SessionRecord> {
    this.#rt.checkRunning();
    const pending = this.#offers.get(id);
    const session = this.#sessions.live(id);
    if (!pending || !session) {
      if (!await this.#sessions.get(id)) {
        throw new BridgeError("not-found", `no session ${id}`, "id");
      }
      throw new BridgeError("not-awaiting-answer", `session ${id} is not waiting for an answer`);
    }
    let accepted: AcceptedMedia;
    try {
      accepted = parseAnswer(sdp, pending.local);
    } catch (e) {
      throw sdpFailure(e, "answer");
    }
    const start = pending.push?.start(accepted);
    this.#offers.delete(id);
    clearTimeout(pending.timer);
    await this.#rt.store.updateSession(id, { remotePath: accepted.remotePath });
    await this.connect(session, accepted);
    if (pending.push && start !== undefined) {
      pending.sending = true;
      await pending.push.send(id, start);
    }
    return (await this.#sessions.get(id))!;
  }

  /** Our offer (`a=setup:actpass`) for `session`. */
  localOffer(session: MsrpSession): LocalMsrpOffer {
    return { ...this.#local(session), setup: "actpass" };
  }

  /**
   * The one rule once offer and answer are done. Active: dials the peer (an
   * `msrps` peer must present the certificate of its `a=fingerprint`) and
   * resolves once bound; a failure closes the session and rejects with
   * `connect-failed`. Passive: lets only the peer the SDP named bind the
   * session (see `expectNegotiatedPeer`), resolves at once, and ends the
   * session when no peer connects within {@linkcode CONNECT_WAIT_MS}.
   */
  connect(session: MsrpSession, accepted: AcceptedMedia): Promise<void> {
    this.#sessions.negotiated(session.id, accepted);
    if (accepted.setup === "active") return this.#dial(session, accepted);
    expectNegotiatedPeer(this.#rt.endpoint, session, accepted);
    const timer = setTimeout(() => session.close("no connection from the peer"), CONNECT_WAIT_MS);
    session.ready.finally(() => clearTimeout(timer)).catch(() => {});
    return Promise.resolve();
  }

  async #dial(session: MsrpSession, accepted: AcceptedMedia): Promise<void> {
    try {
      await connectNegotiated(this.#rt.endpoint, session, accepted);
    } catch (e) {
      const reason = `connection failed: ${errorText(e)}`;
      await this.#sessions.close(session.id, reason).catch(() => {});
      this.#rt.log.warn("msrp connect failed", { sessionId: session.id, error: errorText(e) });
      throw new BridgeError("connect-failed", reason);
    }
  }

  /**
   * Our side for SDP: the session's path, host and port from its URI,
   * `a=max-size`, and for a session on our `msrps` listener the fingerprint
   * of its certificate.
   */
  #local(session: MsrpSession): LocalMsrpEndpoint {
    const { config, msrpTls } = this.#rt;
    const uri = parseMsrpUri(session.localUri);
    const tls = uri.transport === "tcp" ? msrpTls : undefined;
    return {
      path: session.localPath,
      address: uri.host,
      port: effectivePort(uri),
      acceptTypes: config.acceptTypes,
      maxSize: config.maxMessageBytes,
      fingerprint: tls && { hash: "sha-256", value: tls.fingerprint },
    };
  }
}
