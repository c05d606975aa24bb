/**
 * The operator console's script module (`GET /console/console.js`). Plain
 * browser JavaScript: the token lives only in a variable, events come from
 * `GET /v1/events` read with fetch() streaming (EventSource cannot send the
 * Authorization header), and everything from the network is put in the page
 * with textContent, never as HTML.
 *
 * @module
 */

/** The script's source. */
export const CONSOLE_JS = String.raw`
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
let listTimer = null;
let listLoads = 0; // the latest list request; older answers are dropped
// Delivery ticks of outgoing messages: pending, accepted by the next hop, confirmed by a REPORT.
const TICKS = { queued: "◷", sending: "◷", sent: "✓", delivered: "✓✓", failed: "✗" };
// RFC 3994 §3.3: an "active" indication without refresh lapses after 120 s.
const COMPOSING_DEFAULT_S = 120;
const COMPOSING_TYPE = /^application\/im-iscomposing\+xml\b/i;
// The messages route reads an application/json body as {text}; such files go as octet-stream.
const JSON_TYPE = /^application\/json\s*(;|$)/i;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}
function status(text) { $("status").textContent = text; }
function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString();
}
function size(n) {
  if (n === null || n === undefined) return "?";
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
function isText(type) { return /^text\/plain\b/i.test(type || ""); }

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
/** A file's name (when known) and size, as text. */
function fileLabel(name, bytes) {
  return (name ? name + " · " : "") + size(bytes);
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
    li.append(meta);
    // A file sent from here, or the one file of a file-transfer session (named by its offer).
    const name = view.fileName || (sessionFile ? sessionFile.name : undefined);
    const chat = name === undefined;
    if (chat && text !== undefined) {
      li.append(el("div", "body", text));
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
  }
  if (atEnd) list.scrollTop = list.scrollHeight;
}
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

// ---- send / hang up ----
$("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const box = $("text");
  const text = box.value;
  if (!selected || text.trim() === "") return;
  const id = selected;
  const res = await api("/v1/sessions/" + encodeURIComponent(id) + "/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text, report: true }),
  });
  if (!res.ok) { status("Send: " + await problem(res)); return; }
  const { messageId, status: st } = await res.json();
  box.value = "";
  sentTexts.set(messageId, text);
  const known = messages.get(messageId); // its event may have come first
  if (selected === id && known) {
    if (known.text === undefined) known.text = text;
    renderTranscript();
  } else if (selected === id) {
    upsert({ id: messageId, direction: "out", status: st, contentType: "text/plain",
      bytes: new TextEncoder().encode(text).length, createdAt: new Date().toISOString() }, text);
    renderTranscript();
  }
  box.focus();
});
/** The Content-Type a file is sent with: its own, unless unknown or JSON (see JSON_TYPE). */
function fileType(f) {
  return f.type && !JSON_TYPE.test(f.type) ? f.type : "application/octet-stream";
}
// A file into the open session: the raw body (a File has a Content-Length), with a REPORT.
$("send-file").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("file");
  const f = input.files && input.files[0];
  if (!selected || !f) return;
  const id = selected;
  const type = fileType(f);
  status("Sending " + f.name + "…");
  const res = await api("/v1/sessions/" + encodeURIComponent(id) + "/messages?report=true", {
    method: "POST",
    headers: { "content-type": type },
    body: f,
  });
  if (!res.ok) { status("Send file: " + await problem(res)); return; }
  const { messageId, status: st } = await res.json();
  input.value = "";
  sentFiles.set(messageId, f.name);
  status("Sent " + f.name + ".");
  if (selected !== id) return;
  const known = messages.get(messageId); // its events may have come first
  if (known) known.view.fileName = f.name;
  else {
    upsert({ id: messageId, direction: "out", status: st, contentType: type, size: f.size,
      bytes: f.size, createdAt: new Date().toISOString() });
  }
  renderTranscript();
});
// A file to a SIP URI: POST /v1/files calls it through the PBX (RFC 5547) and pushes the file.
$("file-call").addEventListener("submit", async (e) => {
  e.preventDefault();
  const to = $("file-to").value.trim();
  const input = $("file-to-file");
  const f = input.files && input.files[0];
  if (to === "" || !f) { status("File: a SIP URI and a file are needed."); return; }
  const type = fileType(f);
  const query = new URLSearchParams({ to, name: f.name, type });
  status("Sending " + f.name + " to " + to + "…");
  const res = await api("/v1/files?" + query, {
    method: "POST",
    headers: { "content-type": type },
    body: f,
  });
  if (!res.ok) { status("File: " + await problem(res)); return; }
  const { id } = await res.json();
  $("file-to").value = "";
  input.value = "";
  status("Call answered; sending " + f.name + ".");
  scheduleSessions();
  select(id);
});
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("send").requestSubmit();
  }
});
$("call").addEventListener("submit", async (e) => {
  e.preventDefault();
  const to = $("call-to").value.trim();
  if (to === "") return;
  status("Calling " + to + "…");
  const res = await api("/v1/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ to }),
  });
  if (!res.ok) { status("Call: " + await problem(res)); return; }
  const { id } = await res.json();
  $("call-to").value = "";
  status("Call answered.");
  scheduleSessions();
  select(id);
});
$("pager").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { to: $("pager-to").value.trim(), from: $("pager-from").value.trim(), text: $("pager-text").value };
  if (!body.to || !body.from || !body.text) { status("Pager: to, from and text are needed."); return; }
  const res = await api("/v1/pager", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) { status("Pager: " + await problem(res)); return; }
  $("pager-text").value = "";
  status("Pager message sent to " + body.to + ".");
});
$("hangup").addEventListener("click", async () => {
  if (!selected) return;
  const res = await api("/v1/sessions/" + encodeURIComponent(selected), { method: "DELETE" });
  if (!res.ok && res.status !== 404) { status("Hang up: " + await problem(res)); return; }
  status("Hung up.");
  scheduleSessions();
});

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
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message", data = [], id = null;
          for (const line of block.split("\n")) {
            const colon = line.indexOf(":");
            if (colon <= 0) continue;
            const name = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, "");
            if (name === "event") type = value;
            else if (name === "data") data.push(value);
            else if (name === "id") id = value;
          }
          if (id) lastEventId = id;
          if (data.length === 0) continue;
          let payload;
          try { payload = JSON.parse(data.join("\n")); } catch { continue; }
          onEvent(type, payload.data);
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    if (abort.signal.aborted || !token) return;
    status("Reconnecting…");
    await new Promise((r) => setTimeout(r, 3000));
  }
}
`;
