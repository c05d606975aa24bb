/**
 * `/docs`: a self-contained page that renders `/openapi.json` and can send
 * requests. No CDN and nothing external: the script and style are inline and
 * allowed by their hashes in the Content-Security-Policy.
 *
 * @module
 */

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem 2rem;
  color: #1d2330; }
h1 { margin-bottom: 0; } .muted { color: #5b6474; }
details.op { border: 1px solid #d5d9e0; border-radius: 6px; margin: .5rem 0; }
details.op > summary { cursor: pointer; padding: .5rem .75rem; list-style: none; }
details.op[open] > summary { border-bottom: 1px solid #d5d9e0; }
.op-body { padding: .5rem .75rem 1rem; }
.method { display: inline-block; min-width: 4.5rem; font-weight: 700; text-transform: uppercase; }
.get { color: #0a6b2d; } .post { color: #0b4fa8; } .put { color: #8a5300; } .delete { color: #a31919; }
code, pre, textarea, input { font: 13px ui-monospace, monospace; }
pre { background: #f4f6f9; padding: .5rem; overflow: auto; max-height: 24rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #d5d9e0; padding: .25rem .5rem;
  text-align: left; vertical-align: top; }
textarea { width: 100%; min-height: 6rem; } label { display: block; margin: .25rem 0; }
.auth { background: #f4f6f9; padding: .5rem .75rem; border-radius: 6px; }
`;

const SCRIPT = `
"use strict";
const token = document.getElementById("token");
const main = document.getElementById("main");
function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children || []) if (c) node.append(c);
  return node;
}
function resolve(doc, schema, seen) {
  if (!schema || typeof schema !== "object") return schema;
  if (Array.isArray(schema)) return schema.map((s) => resolve(doc, s, seen));
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    if (seen.includes(name)) return { $ref: schema.$ref };
    return resolve(doc, (doc.components.schemas || {})[name], seen.concat([name]));
  }
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = resolve(doc, v, seen);
  return out;
}
function example(schema) {
  if (!schema) return null;
  if (schema.example !== undefined) return schema.example;
  if (schema.type === "object") {
    const o = {};
    for (const [k, v] of Object.entries(schema.properties || {})) {
      if ((schema.required || []).includes(k)) o[k] = example(v);
    }
    return o;
  }
  if (schema.type === "boolean") return true;
  if (schema.type === "integer" || schema.type === "number") return 0;
  if (schema.type === "array") return [];
  return "";
}
function operation(doc, path, method, op) {
  const body = el("div", { class: "op-body" });
  if (op.description) body.append(el("p", { text: op.description }));
  const params = (op.parameters || []);
  const inputs = {};
  if (params.length > 0) {
    const rows = params.map((p) => {
      const input = el("input", { "aria-label": p.name, placeholder: p.name });
      inputs[p.in + ":" + p.name] = input;
      return el("tr", {}, [el("td", {}, [el("code", { text: p.name })]), el("td", { text: p.in }),
        el("td", { text: p.required ? "required" : "optional" }),
        el("td", { text: (p.schema && p.schema.type) || "" }),
        el("td", { text: p.description || (p.schema && p.schema.description) || "" }),
        el("td", {}, [input])]);
    });
    body.append(el("h4", { text: "Parameters" }),
      el("table", {}, [el("tr", {}, ["name", "in", "", "type", "description", "value"]
        .map((h) => el("th", { text: h })))].concat(rows)));
  }
  let bodyInput = null;
  let bodyType = null;
  if (op.requestBody) {
    body.append(el("h4", { text: "Request body" }));
    for (const [type, media] of Object.entries(op.requestBody.content || {})) {
      const schema = resolve(doc, media.schema, []);
      body.append(el("p", {}, [el("code", { text: type })]),
        el("pre", { text: JSON.stringify(schema, null, 2) }));
      if (!bodyType) {
        bodyType = type === "*/*" ? "application/octet-stream" : type;
        bodyInput = el("textarea", { "aria-label": "request body" });
        bodyInput.value = type.includes("json") ? JSON.stringify(example(schema), null, 2) : "";
      }
    }
  }
  body.append(el("h4", { text: "Responses" }));
  for (const [status, r] of Object.entries(op.responses || {})) {
    const types = Object.keys(r.content || {}).join(", ");
    body.append(el("p", {}, [el("strong", { text: status }), " " + (r.description || ""),
      types ? el("span", { class: "muted", text: " (" + types + ")" }) : null]));
  }
  const streaming = Object.values(op.responses || {})
    .some((r) => Object.keys(r.content || {}).includes("text/event-stream"));
  if (!streaming) {
    const result = el("pre", { text: "" });
    const send = el("button", { type: "button", text: "Send" });
    send.addEventListener("click", async () => {
      let url = path;
      const query = new URLSearchParams();
      const headers = {};
      for (const p of params) {
        const v = inputs[p.in + ":" + p.name].value;
        if (v === "") continue;
        if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(v));
        else if (p.in === "query") query.set(p.name, v);
        else if (p.in === "header") headers[p.name] = v;
      }
      if (token.value) headers.authorization = "Bearer " + token.value;
      const init = { method: method.toUpperCase(), headers };
      if (bodyInput) {
        headers["content-type"] = bodyType;
        init.body = bodyInput.value;
      }
      result.textContent = "…";
      try {
        const q = query.toString();
        const res = await fetch(url + (q ? "?" + q : ""), init);
        const text = await res.text();
        result.textContent = res.status + " " + res.statusText + "\\n" +
          (res.headers.get("content-type") || "") + "\\n\\n" + text.slice(0, 65536);
      } catch (e) {
        result.textContent = String(e);
      }
    });
    body.append(el("h4", { text: "Try it" }));
    if (bodyInput) body.append(el("label", { text: "Body (" + bodyType + ")" }), bodyInput);
    body.append(send, result);
  }
  return el("details", { class: "op" }, [el("summary", {}, [
    el("span", { class: "method " + method, text: method }), el("code", { text: path }),
    el("span", { class: "muted", text: "  " + (op.summary || "") })]), body]);
}
async function render() {
  const doc = await (await fetch("openapi.json")).json();
  document.title = doc.info.title + " API";
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("description").textContent = doc.info.description || "";
  main.textContent = "";
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      if (item[method]) main.append(operation(doc, path, method, item[method]));
    }
  }
  main.append(el("h2", { text: "Schemas" }));
  for (const [name, schema] of Object.entries((doc.components || {}).schemas || {})) {
    main.append(el("details", { class: "op" }, [el("summary", {}, [el("code", { text: name })]),
      el("pre", { text: JSON.stringify(schema, null, 2) })]));
  }
}
render().catch((e) => { main.textContent = "Cannot load openapi.json: " + e; });
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API</title>
<style>${STYLE}</style>
</head>
<body>
<h1 id="title">API</h1>
<p id="description" class="muted"></p>
<p class="auth"><label>Bearer token for /v1 (API_TOKEN; kept in this page only)
<input id="token" type="password" autocomplete="off" size="40"></label></p>
<main id="main">Loading openapi.json …</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

let policy: Promise<string> | undefined;

/**
 * The Content-Security-Policy of the page: only its own inline script and
 * style (by hash) and requests to the same origin.
 */
function contentSecurityPolicy(): Promise<string> {
  policy ??= Promise.all([sha256Base64(SCRIPT), sha256Base64(STYLE)]).then(([script, style]) =>
    [
      "default-src 'none'",
      `script-src 'sha256-${script}'`,
      `style-src 'sha256-${style}'`,
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; ")
  );
  return policy;
}

/** The docs page, with its Content-Security-Policy. */
export async function docsPage(): Promise<Response> {
  return new Response(HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": await contentSecurityPolicy(),
      "x-content-type-options": "nosniff",
    },
  });
}
