/**
 * The live sessions of the bridge and their rows (internal): every session
 * has a row in the store with the MSRP session id as its id, kept up to
 * date as it starts and ends (`session.started`, `session.ended`), and the
 * plugins hear of both.
 *
 * @module
 */

import { isAcceptedType, mediaType } from "../msrp/mod.ts";
import { type PluginSession, pluginSession } from "../plugins/mod.ts";
import type {
  IncomingMessageInfo,
  IncomingMessageSink,
  MsrpSession,
  SessionCloseEvent,
} from "../session/mod.ts";
import type { AcceptedMedia, FileRange, FileTransfer } from "../sdp/mod.ts";
import type {
  CallIdentity,
  ListOptions,
  Page,
  ResumedContent,
  SessionFile,
  SessionRecord,
  SessionState,
} from "../store/mod.ts";
import { createEvent, sessionEventData } from "../webhooks/mod.ts";
import type { PartialFile } from "./_resume.ts";
import type { Runtime } from "./_runtime.ts";
import { BridgeError } from "./errors.ts";
import type { EventLog } from "./events.ts";

/** Makes the sink that stores a message received in session `sessionId`. */
export type SinkFactory = (sessionId: string, info: IncomingMessageInfo) => IncomingMessageSink;

/** What {@linkcode Sessions.list} filters and pages by. */
export interface SessionQuery extends ListOptions {
  /** Only sessions in this state. */
  readonly state?: SessionState;
}

/** What a session row records besides its path: the call's identity, and the file of a transfer. */
export interface SessionDetails extends Partial<CallIdentity> {
  /** The file pushed to us; the session is then of kind `file-transfer`. */
  readonly file?: SessionFile;
  /** The file received in part that this push continues (RFC 5547 §8); needs `file`. */
  readonly resume?: PartialFile;
}

/**
 * The file of a negotiated RFC 5547 push (the peer sends, we receive, and
 * its `a=file-selector` describes the file), or `undefined` for a chat.
 */
export function pushedFile(accepted: AcceptedMedia): SessionFile | undefined {
  const transfer = accepted.fileTransfer;
  if (transfer?.selector === undefined || accepted.direction !== "recvonly") return undefined;
  const { name, type, size, hash } = transfer.selector;
  return {
    name: name ?? null,
    type: type ?? null,
    size: size ?? null,
    hash: hash ? { algorithm: hash.algorithm, value: hash.value } : null,
    transferId: transfer.transferId ?? null,
    disposition: transfer.disposition ?? null,
    date: transfer.date ? { ...transfer.date } : null,
  };
}

/**
 * The RFC 5547 attributes of our offer to push `file` (what is `null` is
 * left out), with `range` as its `a=file-range` when given (§8, resuming).
 */
export function fileOffer(file: SessionFile, range?: FileRange): FileTransfer {
  const { name, type, size, hash, transferId, disposition, date } = file;
  return {
    ...(range ? { range } : {}),
    selector: {
      ...(name === null ? {} : { name }),
      ...(type === null ? {} : { type }),
      ...(size === null ? {} : { size }),
      ...(hash === null ? {} : { hash }),
    },
    ...(transferId === null ? {} : { transferId }),
    ...(disposition === null ? {} : { disposition }),
    ...(date === null ? {} : { date }),
  };
}

/** The open sessions, by id, with their rows and plugin views. */
export class Sessions {
  readonly #rt: Runtime;
  readonly #events: EventLog;
  readonly #sink: SinkFactory;
  readonly #live = new Map<string, MsrpSession>();
  readonly #pluginViews = new Map<string, PluginSession>();
  readonly #files = new Map<string, SessionFile>();
  /** Partial files that the first message of a session continues, by session id. */
  readonly #resumes = new Map<string, PartialFile>();
  /** The peer's `a=accept-types` and `a=accept-wrapped-types`, once negotiated. */
  readonly #peerTypes = new Map<string, { types: string[]; wrapped: string[] }>();
  /** Sessions closed whose rows are being ended. */
  readonly #ending = new Map<string, Promise<void>>();
  /** Work that ends before its session's row does, by session id (see {@linkcode hold}). */
  readonly #holds = new Map<string, Set<Promise<unknown>>>();

  /** Creates sessions on `rt`'s endpoint whose received messages go to `sink`. */
  constructor(rt: Runtime, events: EventLog, sink: SinkFactory) {
    this.#rt = rt;
    this.#events = events;
    this.#sink = sink;
  }

  /** How many sessions are open. */
  get openCount(): number {
    return this.#live.size;
  }

  /** The open session `id`. */
  live(id: string): MsrpSession | undefined {
    return this.#live.get(id);
  }

  /**
   * The open session `id`.
   *
   * @throws {BridgeError} `not-found` without such a session, `session-closed` when it ended.
   */
  async open(id: string): Promise<MsrpSession> {
    const session = this.#live.get(id);
    if (session) return session;
    if (!await this.#rt.store.getSession(id)) {
      throw new BridgeError("not-found", `no session ${id}`, "id");
    }
    throw new BridgeError("session-closed", `session ${id} has ended`, "id");
  }

  /** The file of open file-transfer session `id`. */
  file(id: string): SessionFile | undefined {
    return this.#files.get(id);
  }

  /** Keeps what the peer of open session `id` accepts, from the negotiated SDP. */
  negotiated(id: string, accepted: AcceptedMedia): void {
    if (!this.#live.has(id)) return;
    const types = accepted.remoteAcceptTypes;
    this.#peerTypes.set(id, { types, wrapped: accepted.remoteAcceptWrappedTypes });
  }

  /**
   * Whether the peer of open session `id` accepts `inner` wrapped in
   * `message/cpim`: its `a=accept-types` covers `message/cpim` and its
   * accept-types or `a=accept-wrapped-types` cover `inner` (RFC 4975 §8.6);
   * false until the SDP was negotiated.
   */
  acceptsCpim(id: string, inner: string): boolean {
    const peer = this.#peerTypes.get(id);
    if (!peer || !isAcceptedType("message/cpim", peer.types)) return false;
    return isAcceptedType(inner, peer.wrapped) || isAcceptedType(inner, peer.types);
  }

  /**
   * The partial content that the message beginning in open session `id`
   * continues (RFC 5547 §8), once: the first message of a resumed push,
   * unless it is wrapped in `message/cpim` (whose headers the held bytes
   * lack). The earlier message's row no longer points at the content,
   * which moves to the new message.
   */
  resumed(id: string, contentType: string): ResumedContent | undefined {
    const partial = this.#resumes.get(id);
    this.#resumes.delete(id);
    if (!partial || mediaType(contentType) === "message/cpim") return undefined;
    this.#rt.track(
      this.#rt.store.updateMessage(partial.message.id, { contentPath: null }).catch((e) =>
        this.#rt.log.warn("resumed message row not updated", {
          messageId: partial.message.id,
          error: String(e),
        })
      ),
    );
    return { path: partial.path, held: partial.held };
  }

  /** Session `id` as plugins see it, while it is open. */
  pluginView(id: string): PluginSession | undefined {
    return this.#pluginViews.get(id);
  }

  /**
   * Creates a session on our endpoint, over WebSocket (`ws`) or TCP/TLS.
   *
   * @throws {BridgeError} `session-limit` when `MAX_SESSIONS` are open.
   */
  create(transport: "tcp" | "ws"): MsrpSession {
    try {
      const session: MsrpSession = this.#rt.endpoint.createSession({
        transport,
        sink: (info) => this.#sink(session.id, info),
      });
      return session;
    } catch (e) {
      if (e instanceof RangeError) throw new BridgeError("session-limit", e.message);
      throw e;
    }
  }

  /**
   * Records a new session, of kind `file-transfer` with `details.file`, and
   * follows its start and end; resolves once its row is stored (before the
   * peer learns where to connect, so that its messages find the row).
   */
  async record(
    session: MsrpSession,
    direction: "in" | "out",
    remotePath: readonly string[],
    details: SessionDetails = {},
  ): Promise<void> {
    const { store, log, plugins } = this.#rt;
    this.#live.set(session.id, session);
    // Only a file coming to us is checked on receipt; a send-only session of ours receives none.
    const { resume, ...recorded } = details;
    if (details.file && direction === "in") this.#files.set(session.id, details.file);
    if (resume && details.file && direction === "in") this.#resumes.set(session.id, resume);
    const view = pluginSession(session, { direction });
    this.#pluginViews.set(session.id, view);
    const inserted = store.insertSession({
      id: session.id,
      direction,
      localUri: session.localUri,
      remotePath,
      ...recorded,
    });
    // The row's changes follow one another: inserted, then started, then ended.
    const started = this.#rt.track(
      Promise.all([inserted, session.ready]).then(async () => {
        if (session.closed) return;
        const row = await store.updateSession(session.id, {
          state: "active",
          remotePath: session.remotePath ?? remotePath,
        });
        await this.#events.publish(createEvent("session.started", sessionEventData(row)));
        log.info("session started", { sessionId: session.id });
        if (plugins) this.#rt.track(plugins.sessionStarted(view));
      }, () => {}),
    );
    session.addEventListener("close", (e) => {
      const reason = (e as SessionCloseEvent).reason;
      const endedAt = Date.now();
      this.#live.delete(session.id);
      this.#files.delete(session.id);
      this.#resumes.delete(session.id);
      this.#peerTypes.delete(session.id);
      this.#pluginViews.delete(session.id);
      const ending = this.#rt.track((async () => {
        await inserted;
        await started;
        await this.#settle(session.id);
        // Already ended by an instance that took this one over: its end was published then.
        if ((await store.getSession(session.id))?.state !== "ended") {
          const row = await store.updateSession(session.id, {
            state: "ended",
            endedAt,
            endReason: reason,
          });
          await this.#events.publish(createEvent("session.ended", sessionEventData(row)));
        }
        log.info("session ended", { sessionId: session.id, reason });
        if (plugins) this.#rt.track(plugins.sessionEnded(view, reason));
      })()).finally(() => this.#ending.delete(session.id));
      this.#ending.set(session.id, ending.catch(() => {}));
    }, { once: true });
    try {
      await inserted;
    } catch (e) {
      session.close("session not recorded");
      throw e;
    }
  }

  /**
   * Ends session `id` (messages in flight fail with `reason`) and resolves
   * once its row says so; a no-op when it has ended.
   *
   * @throws {BridgeError} `not-found` without such a session.
   */
  async close(id: string, reason: string): Promise<void> {
    this.#live.get(id)?.close(reason);
    const ending = this.#ending.get(id);
    if (ending) return await ending;
    if (!await this.#rt.store.getSession(id)) {
      throw new BridgeError("not-found", `no session ${id}`, "id");
    }
  }

  /**
   * Makes the end of session `sessionId` wait for `work`: its row becomes
   * `ended`, and `session.ended` is published, once the outcomes of its
   * messages are stored and published.
   */
  hold(sessionId: string, work: Promise<unknown>): void {
    let holds = this.#holds.get(sessionId);
    if (!holds) this.#holds.set(sessionId, holds = new Set());
    const held = work.catch(() => {}).finally(() => holds.delete(held));
    holds.add(held);
  }

  /** Resolves once no work holds the end of session `id`. */
  async #settle(id: string): Promise<void> {
    const holds = this.#holds.get(id);
    while (holds && holds.size > 0) await Promise.allSettled([...holds]);
    this.#holds.delete(id);
  }

  /** Closes every open session with `reason`. */
  closeAll(reason: string): void {
    for (const session of [...this.#live.values()]) session.close(reason);
  }

  /** The row of session `id`. */
  get(id: string): Promise<SessionRecord | undefined> {
    return this.#rt.store.getSession(id);
  }

  /** A page of session rows, newest first. */
  list(query: SessionQuery = {}): Promise<Page<SessionRecord>> {
    return this.#rt.store.listSessions(query);
  }
}
