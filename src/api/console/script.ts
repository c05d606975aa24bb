/**
 * The operator console's script module (`GET /console/console.js`). Plain
 * browser JavaScript: the token lives only in a variable, events come from
 * `GET /v1/events` read with fetch() streaming (EventSource cannot send the
 * Authorization header), and everything from the network is put in the page
 * with textContent, never as HTML. Its forms are in `forms.ts`.
 *
 * @module
 */

import { CONSOLE_FORMS_JS } from "./forms.ts";

/** The script's source: page state, log-in, sessions, transcript and events, then the forms. */
export const CONSOLE_JS = String.raw`
import { cpimInner, el, fileLabel, isText, readEvents, size, when } from "/console/lib.js";
const $ = (id) => document.getElementById(id);
let token = "";
let eventsAbort = null;
let lastEventId = null;
let selected = null;
let sessions = [];
let messages = new Map(); // message id -> { view, text }
const sentTexts = new Map(); // message id -> text typed here
const sentFiles = new Map(); // message id -> name of a file sent from here
const composing = new Map(); // session id -> timer ending the peer's "active" state
const displaySent = new Set(); // received messages whose display notification was sent from here
// Received CPIM message id -> "loading", "done", "opaque" or "notification" (not shown).
const cpimLoads = new Map();
const IMDN_TYPE = /^message\/imdn\+xml\s*(;|$)/i;
let listTimer = null;
let listLoads = 0; // the latest list request; older answers are dropped
// Delivery ticks of outgoing messages: pending, accepted by the next hop, confirmed by a REPORT.
const TICKS = { queued: "◷", sending: "◷", sent: "✓", delivered: "✓✓", failed: "✗" };
// RFC 3994 §3.3: an "active" indication without refresh lapses after 120 s.
const COMPOSING_DEFAULT_S = 120;
const COMPOSING_TYPE = /^application\/im-iscomposing\+xml\b/i;
const CPIM_TYPE = /^message\/cpim\s*(;|$)/i;
// JSON bodies are capped at 8 MiB by the API; larger JSON files go as octet-stream.
const JSON_TYPE = /^application\/json\s*(;|$)/i;
const MAX_JSON_BYTES = 8 * 1024 * 1024;
// Disposition notifications (RFC 5438) a reply asks for when "Ask for read receipts" is on.
const RECEIPTS = ["positive-delivery", "display"];
// Received CPIM messages up to this size are fetched to show their inner text.
const MAX_CPIM_TEXT_BYTES = 65536;

function status(text) { $("status").textContent = text; }

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", "Bearer " + token);
  const res = await fetch(path, { ...init, headers, cache: "no-store" });
  if (res.status === 401) { logout("The token was refused."); throw new Error("unauthorized"); }
  return res;
}
async function problem(res) {
  try { const p = await res.json(); return p.detail || p.title || res.statusText; }
  catch { return res.status + " " + res.statusText; }
}

// ---- login ----
$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("token");
  const given = input.value.trim();
  $("login-error").textContent = "";
  const res = await fetch("/v1/sessions?limit=1", {
    headers: given ? { authorization: "Bearer " + given } : {}, cache: "no-store",
  });
  if (!res.ok) {
    $("login-error").textContent = res.status === 401 ? "That token is not valid." : await problem(res);
    return;
  }
  token = given;
  input.value = "";
  $("login").hidden = true;
  $("app").hidden = false;
  await loadSessions();
  startEvents();
  const first = $("sessions").querySelector("button");
  (first || $("logout")).focus();
});
function logout(reason) {
  token = "";
  if (eventsAbort) eventsAbort.abort();
  eventsAbort = null;
  lastEventId = null;
  selected = null;
  sessions = [];
  messages = new Map();
  sentTexts.clear();
  sentFiles.clear();
  displaySent.clear();
  cpimLoads.clear();
  for (const timer of composing.values()) clearTimeout(timer);
  composing.clear();
  renderTyping();
  $("sessions").replaceChildren();
  $("transcript").replaceChildren();
  $("chat").hidden = true;
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = reason || "";
  status(reason ? "" : "Logged out.");
  $("token").focus();
}
$("logout").addEventListener("click", () => logout());

// ---- sessions ----
async function loadSessions() {
  const load = ++listLoads;
  const res = await api("/v1/sessions?limit=100");
  if (!res.ok) { status("Sessions: " + await problem(res)); return; }
  const items = (await res.json()).items;
  if (load !== listLoads) return;
  sessions = items;
  renderSessions();
  if (selected) {
    const s = sessions.find((x) => x.id === selected);
    if (s) renderChatMeta(s);
  }
}
/** Reloads the list soon: at most once per 150 ms, so steady traffic cannot postpone it. */
function scheduleSessions() {
  if (listTimer !== null) return;
  listTimer = setTimeout(() => {
    listTimer = null;
    if (token) loadSessions().catch(() => {});
  }, 150);
}
function renderSessions() {
  const list = $("sessions");
  const focusedId = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.id : undefined;
  list.replaceChildren();
  for (const s of sessions) {
    const li = el("li");
    const b = el("button");
    b.type = "button";
    b.dataset.id = s.id;
    b.setAttribute("aria-current", s.id === selected ? "true" : "false");
    b.append(
      el("span", "sid", s.id),
      el("span", "state-" + s.state, s.state),
      el("span", "muted who", (s.direction === "in" ? "incoming" : "outgoing") + who(s)),
      el("span", "muted", when(s.createdAt)),
      ...(s.file ? [el("span", "muted file", "file " + fileLabel(s.file.name, s.file.size))] : []),
      counts(s),
    );
    b.addEventListener("click", () => select(s.id));
    li.append(b);
    list.append(li);
    if (s.id === focusedId) b.focus();
  }
  $("no-sessions").hidden = sessions.length > 0;
}
/** Messages and body bytes each way, and failures, as the API counts them. */
function counts(s) {
  const span = el("span", "muted counts",
    "in " + s.messagesIn + " (" + size(s.bytesIn) + ") · out " + s.messagesOut + " (" +
    size(s.bytesOut) + ")");
  if (s.messagesFailed > 0) span.append(" · ", el("span", "fail", s.messagesFailed + " failed"));
  span.title = "received " + s.messagesIn + " messages, " + s.bytesIn + " bytes; sent " +
    s.messagesOut + " messages, " + s.bytesOut + " bytes; " + s.messagesFailed + " failed";
  span.dataset.messagesIn = s.messagesIn;
  span.dataset.bytesIn = s.bytesIn;
  span.dataset.messagesOut = s.messagesOut;
  span.dataset.bytesOut = s.bytesOut;
  span.dataset.messagesFailed = s.messagesFailed;
  return span;
}
/** Caller and callee of the call that carries a session, when it came through the PBX. */
function who(s) {
  const caller = s.fromDisplay ? s.fromDisplay + (s.from ? " <" + s.from + ">" : "") : s.from;
  return (caller ? " · from " + caller : "") + (s.to ? " · to " + s.to : "");
}
function renderChatMeta(s) {
  $("chat-meta").textContent = s.id + " · " + (s.direction === "in" ? "incoming" : "outgoing") +
    who(s) + (s.file ? " · file " + fileLabel(s.file.name, s.file.size) : "") +
    " · " + s.state + " · started " + when(s.createdAt) +
    (s.endReason ? " · ended: " + s.endReason : "");
  const open = s.state !== "ended";
  $("hangup").disabled = !open;
  $("text").disabled = !open;
  $("send").querySelector("button").disabled = !open;
  $("receipts").disabled = !open;
  $("file").disabled = !open;
  $("send-file").querySelector("button").disabled = !open;
}

// ---- transcript ----
async function select(id) {
  selected = id;
  messages = new Map();
  renderSessions();
  const s = sessions.find((x) => x.id === id);
  if (s) renderChatMeta(s);
  $("chat").hidden = false;
  $("transcript").replaceChildren();
  renderTyping();
  // Every message so far, both directions, with its status and short text inline.
  const res = await api("/v1/sessions/" + encodeURIComponent(id) + "/messages?limit=1000");
  if (selected !== id) return;
  if (!res.ok) { status("Messages: " + await problem(res)); return; }
  const early = messages;
  messages = new Map();
  for (const view of (await res.json()).items) upsert(view);
  for (const [k, v] of early) {
    if (!messages.has(k)) messages.set(k, v);
    else upsert(v.view, v.text);
  }
  renderTranscript();
}
function upsert(view, text) {
  const id = view.id || view.messageId;
  const old = messages.get(id);
  const merged = { ...(old ? old.view : {}), ...view, id };
  if (merged.contentUrl === undefined) merged.contentUrl = null;
  if (old && old.view.imdn && view.imdn) merged.imdn = { ...old.view.imdn, ...view.imdn };
  const given = text !== undefined ? text : view.text;
  const t = given !== undefined ? given : old ? old.text : sentTexts.get(id);
  if (merged.fileName === undefined && sentFiles.has(id)) merged.fileName = sentFiles.get(id);
  messages.set(id, { view: merged, text: t });
}
/** A message learnt from an event without its text: its row has it when it is short text. */
async function fetchText(sessionId, messageId) {
  const res = await api("/v1/messages/" + encodeURIComponent(messageId));
  if (!res.ok || selected !== sessionId) return;
  const view = await res.json();
  if (view.text === undefined) return;
  upsert(view);
  renderTranscript();
}
function renderTranscript() {
  const list = $("transcript");
  const current = sessions.find((x) => x.id === selected);
  const sessionFile = current && current.file ? current.file : null;
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren();
  for (const { view, text } of messages.values()) {
    if (COMPOSING_TYPE.test(view.contentType || "")) continue; // shown as "typing…", not as a message
    if (cpimLoads.get(view.id) === "notification") continue; // an IMDN, shown as a mark
    const failed = view.status === "failed" || view.status === "partial";
    const li = el("li", (view.direction === "out" ? "out" : "in") + (failed ? " failed" : ""));
    li.dataset.id = view.id;
    li.dataset.status = view.status;
    const meta = el("div", "meta", (view.direction === "out" ? "operator" : "peer") +
      (view.createdAt ? " · " + when(view.createdAt) : "") + " · " + view.status);
    if (view.direction === "out" && TICKS[view.status]) {
      const tick = el("span", "tick tick-" + view.status, TICKS[view.status]);
      tick.title = view.status;
      tick.setAttribute("aria-hidden", "true");
      meta.append(" ", tick);
    }
    if (view.direction === "out") receiptMarks(meta, view.imdn);
    li.append(meta);
    // A file sent from here, or the one file of a file-transfer session (named by its offer).
    const name = view.fileName || (sessionFile ? sessionFile.name : undefined);
    const chat = name === undefined;
    const cpim = CPIM_TYPE.test(view.contentType || "");
    if (chat && cpim && text === undefined) loadCpim(view);
    if (chat && text !== undefined) {
      li.append(el("div", "body", text));
    } else if (chat && cpim && (view.direction === "out" || cpimLoads.get(view.id) === "loading")) {
      li.append(el("div", "body muted", "message, " + size(view.bytes)));
    } else if (chat && isText(view.contentType) && view.direction === "out") {
      li.append(el("div", "body muted", "text, " + size(view.bytes)));
    } else if (chat && isText(view.contentType) && !view.contentUrl) {
      li.append(el("div", "body muted", "text, " + size(view.bytes)));
    } else {
      const label = "file · " + fileLabel(name, view.size ?? view.bytes) + " · " +
        (view.contentType || "?");
      if (view.contentUrl) {
        const a = el("a", "file", "Download " + label);
        a.href = view.contentUrl;
        a.addEventListener("click", (e) => { e.preventDefault(); download(view, name); });
        li.append(a);
      } else {
        li.append(el("div", "body muted file", label));
      }
      if (view.hashVerified === true) {
        const mark = el("span", "verified", " ✔ verified");
        mark.title = "the content matches the hash of the offer";
        li.append(mark);
      } else if (view.hashVerified === false) {
        li.append(el("span", "fail", " ✗ hash mismatch"));
      }
    }
    if (failed) {
      const why = view.error ? (view.error.code ? view.error.code + " " : "") + view.error.reason : "";
      li.append(el("div", "fail", (view.status === "partial" ? "incomplete" : "failed") +
        (why ? ": " + why : "")));
    }
    list.append(li);
    if (wantsDisplayed(view, text)) markDisplayed(view.id);
  }
  if (atEnd) list.scrollTop = list.scrollHeight;
}
/** What the peer's disposition notifications (RFC 5438) said of an outgoing message. */
function receiptMarks(meta, imdn) {
  if (!imdn) return;
  if (imdn.display === "displayed") {
    const read = el("span", "read", "read");
    read.title = "the peer displayed it (read receipt)";
    meta.append(" ", read);
  }
  if (imdn.delivery && imdn.delivery !== "delivered") {
    meta.append(" ", el("span", "fail", "not delivered: " + imdn.delivery));
  }
}
/**
 * A received message that asked for a display notification and is on screen now (its text
 * shown, the page visible), whose notification was not sent yet.
 */
function wantsDisplayed(view, text) {
  const imdn = view.imdn;
  return view.direction === "in" && view.status === "received" && !!imdn && !imdn.display &&
    Array.isArray(imdn.requested) && imdn.requested.includes("display") &&
    !displaySent.has(view.id) && document.visibilityState === "visible" &&
    !(text === undefined && cpimLoads.get(view.id) === "loading");
}
/** Sends the display notification of received message id, once (retried on a later render). */
async function markDisplayed(id) {
  displaySent.add(id);
  try {
    const res = await api("/v1/messages/" + encodeURIComponent(id) + "/displayed", {
      method: "POST",
    });
    // 404/409: gone, not asked for, or its session ended; nothing to try again.
    if (res.ok || res.status === 404 || res.status === 409) return;
    status("Read receipt: " + await problem(res));
  } catch {
    // logged out or offline: the next render tries again
  }
  displaySent.delete(id);
}
/**
 * Fetches a CPIM message (RFC 3862), received or sent asking for notifications, to show its
 * inner text, once.
 */
async function loadCpim(view) {
  if (cpimLoads.has(view.id) || (view.direction === "in" && view.status !== "received") ||
    !view.contentUrl || !(view.bytes <= MAX_CPIM_TEXT_BYTES)) return;
  const sessionId = selected;
  cpimLoads.set(view.id, "loading");
  let inner;
  try {
    const res = await api(view.contentUrl);
    if (res.ok) inner = cpimInner(new Uint8Array(await res.arrayBuffer()));
  } catch {
    // shown as a download instead
  }
  const text = inner && inner.text;
  cpimLoads.set(view.id, inner && IMDN_TYPE.test(inner.type) ? "notification"
    : text === undefined ? "opaque" : "done");
  const entry = messages.get(view.id);
  if (entry && text !== undefined) entry.text = text;
  if (selected === sessionId) renderTranscript();
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && selected) renderTranscript();
});
async function download(view, name) {
  const res = await api(view.contentUrl);
  if (!res.ok) { status("Download: " + await problem(res)); return; }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name || view.id;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// ---- events (fetch streaming, so the Authorization header can be sent) ----
function renderTyping() {
  $("typing").hidden = !(selected && composing.has(selected));
}
/** RFC 3994: the peer is composing until "idle", a message from it, or the refresh lapses. */
function setComposing(sessionId, active, refresh) {
  clearTimeout(composing.get(sessionId));
  composing.delete(sessionId);
  if (active) {
    const seconds = refresh > 0 ? refresh : COMPOSING_DEFAULT_S;
    composing.set(sessionId, setTimeout(() => setComposing(sessionId, false), seconds * 1000));
  }
  renderTyping();
}
function onEvent(type, data) {
  if (type === "session.composing" && data) {
    setComposing(data.sessionId, data.state === "active", data.refresh);
    return;
  }
  if (type.startsWith("session.")) { scheduleSessions(); return; }
  if ((type === "file.delivered" || type === "file.failed") && data && data.file) {
    status("File " + data.file.name + (type === "file.delivered"
      ? " delivered to " + data.to + "."
      : " failed: " + (data.error ? data.error.reason : "not delivered") + "."));
    scheduleSessions();
    return;
  }
  if (!type.startsWith("message.") || !data) return;
  scheduleSessions(); // the list's counts
  if (data.direction === "in" && composing.has(data.sessionId)) setComposing(data.sessionId, false);
  if (data.sessionId !== selected) return;
  const view = {
    id: data.messageId, direction: data.direction, status: data.status,
    contentType: data.contentType, size: data.size, bytes: data.bytes, error: data.error,
  };
  if (data.contentUrl) view.contentUrl = data.contentUrl;
  if (data.hashVerified !== undefined) view.hashVerified = data.hashVerified;
  if (data.file) view.fileName = data.file.name;
  if (data.imdnRequested) view.imdn = { requested: data.imdnRequested };
  if (data.imdn) {
    view.imdn = type === "message.displayed" ? { display: data.imdn } : { delivery: data.imdn };
  }
  if (!messages.has(data.messageId)) view.createdAt = new Date().toISOString();
  upsert(view, data.text);
  renderTranscript();
  if (messages.get(data.messageId).text === undefined && isText(data.contentType)) {
    fetchText(data.sessionId, data.messageId).catch(() => {});
  }
}
async function startEvents() {
  const abort = new AbortController();
  eventsAbort = abort;
  while (!abort.signal.aborted && token) {
    try {
      const headers = { accept: "text/event-stream" };
      if (lastEventId) headers["last-event-id"] = lastEventId;
      const res = await api("/v1/events", { headers, signal: abort.signal });
      if (!res.ok || !res.body) throw new Error("events: " + res.status);
      status("Live.");
      await readEvents(res.body, onEvent, (id) => { lastEventId = id; });
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    if (abort.signal.aborted || !token) return;
    status("Reconnecting…");
    await new Promise((r) => setTimeout(r, 3000));
  }
}
` + CONSOLE_FORMS_JS;
