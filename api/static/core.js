// WSIS Lens web page: plain DOM code over the /v1 API. Every piece of text that comes from a
// document or a user is inserted with textContent (never as HTML).

export const TOKEN_KEY = "wsis-lens-token";

export const KEYS = {
  action_lines: { name: "WSIS Action Lines", cls: "al", scheme: "action-lines" },
  sdgs: { name: "Sustainable Development Goals", cls: "sdg", scheme: "sdgs" },
  sdg_targets: { name: "SDG targets", cls: "sdg", scheme: "sdgs" },
  gdc: { name: "Global Digital Compact objectives", cls: "gdc", scheme: "gdc" },
  gdc_sections: { name: "GDC sections", cls: "gdc", scheme: "gdc" },
  gdc_commitments: { name: "GDC commitments", cls: "gdc", scheme: "gdc" },
  gdc_principles: { name: "GDC principles", cls: "gdc", scheme: "gdc" },
};
// Which keys the page shows, and in what order. GDC sections sit between objectives and
// commitments; one can be predicted with no commitment (it follows its Action Line).
export const SHOWN_KEYS = ["action_lines", "sdgs", "sdg_targets", "gdc", "gdc_sections",
  "gdc_commitments", "gdc_principles"];
export const SCHEME_CLASS = { "action-lines": "al", sdgs: "sdg", gdc: "gdc" };
export const STOPWORDS = new Set(("a an and are as at be by for from has have in is it its of on or " +
  "that the their this to was were will with we our us all any can not into more").split(" "));

export const state = { taxonomy: null, titles: new Map(), schemeOf: new Map(), documents: [] };

// --------------------------------------------------------------------------- small helpers

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector) => document.querySelector(selector);
export const fmt = (score) => (Math.round(score * 100) / 100).toFixed(2);
export const pct = (share) => `${Math.round(share * 100)}%`;
export const titleOf = (label) => state.titles.get(label) || label;

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

export let toastTimer = null;
export function toast(message, isError = false) {
  const el = $("#toast");
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 7000 : 3500);
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, { method = "GET", json, form, write = false, raw = false } = {}) {
  const headers = {};
  const stored = token();
  if (stored) headers.Authorization = `Bearer ${stored}`;
  else if (write) {
    openTokenDialog("This action needs the access token.");
    throw new ApiError(401, "Paste the access token first (button at the top right).");
  }
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === "string" ? data.detail
        : (data.detail || []).map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    } catch { /* not JSON */ }
    if (response.status === 401 || response.status === 403) {
      openTokenDialog(response.status === 403 ? "The saved token was refused." : "This needs the access token.");
    }
    throw new ApiError(response.status, detail || `HTTP ${response.status}`);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export function chip(label, score, cls) {
  return h("li", { class: `chip ${cls}`, title: titleOf(label) },
    label, score !== undefined ? h("span", { class: "chip-score", text: fmt(score) }) : null);
}

export function tagChips(tags, perKey = 3) {
  if (!tags) return null;
  const list = h("ul", { class: "chips", "aria-label": "Tags" });
  for (const key of ["action_lines", "sdgs", "gdc_commitments", "gdc"]) {
    for (const t of (tags[key] || []).slice(0, perKey)) list.append(chip(t.label, t.score, KEYS[key].cls));
  }
  return list.children.length ? list : null;
}

export function queryTerms(query) {
  const words = (query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])
    .filter((w) => w.length > 2 && !STOPWORDS.has(w));
  return [...new Set(words)].sort((a, b) => b.length - a.length);
}

// Text with the query words marked; matching is case-insensitive on word starts.
export function highlighted(text, terms) {
  const out = document.createDocumentFragment();
  if (!terms.length) { out.append(text); return out; }
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join("|")})`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const end = match.index + match[0].length;
    // extend to the end of the word so "school" marks "schools"
    let stop = end;
    while (stop < text.length && /[\p{L}\p{N}]/u.test(text[stop])) stop++;
    out.append(text.slice(last, match.index), h("mark", { text: text.slice(match.index, stop) }));
    last = stop;
  }
  out.append(text.slice(last));
  return out;
}

// Text with the given [start, end) spans marked as evidence.
export function withSpans(text, spans) {
  const out = document.createDocumentFragment();
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let last = 0;
  for (const span of sorted) {
    if (span.start < last) continue;
    out.append(text.slice(last, span.start),
      h("mark", { class: "evidence", title: `evidence, score ${fmt(span.score)}`, text: text.slice(span.start, span.end) }));
    last = span.end;
  }
  out.append(text.slice(last));
  return out;
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function busy(button, on, label) {
  if (on) { button.dataset.label = button.textContent; button.textContent = label; button.disabled = true; }
  else { button.textContent = button.dataset.label || button.textContent; button.disabled = false; }
}

// --------------------------------------------------------------------------- tabs, token

// What a tab loads when it is opened (the page's start-up code fills this in).
export const onTabOpen = {};

export function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  }
  onTabOpen[name]?.();
  history.replaceState(null, "", `#${name}`);
}

export function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next.id.slice(4));
    });
  });
  const wanted = location.hash.slice(1);
  if (["search", "tag", "documents"].includes(wanted)) selectTab(wanted);
}

export function openTokenDialog(reason) {
  const dialog = $("#token-dialog");
  if (dialog.open) return;
  $("#token-input").value = token();
  const note = dialog.querySelector(".reason");
  if (note) note.remove();
  if (reason) dialog.querySelector("h2").after(h("p", { class: "reason status error", text: reason }));
  dialog.showModal();
  $("#token-input").focus();
}

export function setupToken() {
  $("#token-button").addEventListener("click", () => openTokenDialog());
  $("#token-form").addEventListener("submit", () => {
    const value = $("#token-input").value.trim();
    if (value) localStorage.setItem(TOKEN_KEY, value);
    updateTokenButton();
    toast(value ? "Token saved in this browser." : "No token entered.");
  });
  $("#token-clear").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    $("#token-input").value = "";
    updateTokenButton();
    $("#token-dialog").close();
    toast("Token removed from this browser.");
  });
  updateTokenButton();
}

export function updateTokenButton() {
  $("#token-button").textContent = token() ? "Access token ✓" : "Access token";
}

export async function loadStatus() {
  try {
    const health = await api("/health");
    const status = $("#status");
    status.textContent = `${health.index.document_count} documents · ${health.index.passage_count} passages` +
      (health.taggers.available ? "" : " · tagging unavailable");
    status.classList.remove("error");
    if (!health.taggers.available) status.title = health.taggers.reason;
    return health;
  } catch (error) {
    $("#status").textContent = `Cannot reach the server: ${error.message}`;
    $("#status").classList.add("error");
    return null;
  }
}

export function shownText(hit) { return hit.clean_text || hit.text; }
