// WSIS Lens web page: plain DOM code over the /v1 API. Every piece of text that comes from a
// document or a user is inserted with textContent (never as HTML).

const TOKEN_KEY = "wsis-lens-token";

const KEYS = {
  action_lines: { name: "WSIS Action Lines", cls: "al", scheme: "action-lines" },
  sdgs: { name: "Sustainable Development Goals", cls: "sdg", scheme: "sdgs" },
  sdg_targets: { name: "SDG targets", cls: "sdg", scheme: "sdgs" },
  gdc: { name: "Global Digital Compact objectives", cls: "gdc", scheme: "gdc" },
  gdc_sections: { name: "GDC sections", cls: "gdc", scheme: "gdc" },
  gdc_commitments: { name: "GDC commitments", cls: "gdc", scheme: "gdc" },
  gdc_principles: { name: "GDC principles", cls: "gdc", scheme: "gdc" },
};
// Which keys the page shows, and in what order (sections are the in-between level of the GDC).
const SHOWN_KEYS = ["action_lines", "sdgs", "sdg_targets", "gdc", "gdc_commitments",
  "gdc_principles"];
const SCHEME_CLASS = { "action-lines": "al", sdgs: "sdg", gdc: "gdc" };
const STOPWORDS = new Set(("a an and are as at be by for from has have in is it its of on or " +
  "that the their this to was were will with we our us all any can not into more").split(" "));

const state = { taxonomy: null, titles: new Map(), schemeOf: new Map(), documents: [] };

// --------------------------------------------------------------------------- small helpers

function h(tag, attrs = {}, ...children) {
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

const $ = (selector) => document.querySelector(selector);
const fmt = (score) => (Math.round(score * 100) / 100).toFixed(2);
const pct = (share) => `${Math.round(share * 100)}%`;
const titleOf = (label) => state.titles.get(label) || label;

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

let toastTimer = null;
function toast(message, isError = false) {
  const el = $("#toast");
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 7000 : 3500);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = "GET", json, form, write = false, raw = false } = {}) {
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

function chip(label, score, cls) {
  return h("li", { class: `chip ${cls}`, title: titleOf(label) },
    label, score !== undefined ? h("span", { class: "chip-score", text: fmt(score) }) : null);
}

function tagChips(tags, perKey = 3) {
  if (!tags) return null;
  const list = h("ul", { class: "chips", "aria-label": "Tags" });
  for (const key of ["action_lines", "sdgs", "gdc_commitments", "gdc"]) {
    for (const t of (tags[key] || []).slice(0, perKey)) list.append(chip(t.label, t.score, KEYS[key].cls));
  }
  return list.children.length ? list : null;
}

function queryTerms(query) {
  const words = (query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])
    .filter((w) => w.length > 2 && !STOPWORDS.has(w));
  return [...new Set(words)].sort((a, b) => b.length - a.length);
}

// Text with the query words marked; matching is case-insensitive on word starts.
function highlighted(text, terms) {
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
function withSpans(text, spans) {
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

function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function busy(button, on, label) {
  if (on) { button.dataset.label = button.textContent; button.textContent = label; button.disabled = true; }
  else { button.textContent = button.dataset.label || button.textContent; button.disabled = false; }
}

// --------------------------------------------------------------------------- tabs, token

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  }
  if (name === "documents") { loadDocuments(); loadModels(); }
  history.replaceState(null, "", `#${name}`);
}

function setupTabs() {
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

function openTokenDialog(reason) {
  const dialog = $("#token-dialog");
  if (dialog.open) return;
  $("#token-input").value = token();
  const note = dialog.querySelector(".reason");
  if (note) note.remove();
  if (reason) dialog.querySelector("h2").after(h("p", { class: "reason status error", text: reason }));
  dialog.showModal();
  $("#token-input").focus();
}

function setupToken() {
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

function updateTokenButton() {
  $("#token-button").textContent = token() ? "Access token ✓" : "Access token";
}

// --------------------------------------------------------------------------- start-up data

async function loadStatus() {
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

async function loadTaxonomy() {
  state.taxonomy = await api("/v1/taxonomy");
  const select = $("#f-label");
  const names = { "action-lines": "WSIS Action Lines", sdgs: "SDGs", gdc: "Global Digital Compact" };
  for (const [scheme, info] of Object.entries(state.taxonomy.schemes)) {
    const group = h("optgroup", { label: names[scheme] || scheme });
    for (const label of info.labels) {
      state.titles.set(label.id, label.title);
      state.schemeOf.set(label.id, scheme);
      if (label.level === "section") continue;
      group.append(h("option", { value: label.id, text: `${label.id} — ${label.title}`.slice(0, 110) }));
    }
    select.append(group);
  }
}

async function loadDocuments() {
  const { documents } = await api("/v1/documents");
  state.documents = documents;
  const tbody = $("#documents tbody");
  tbody.replaceChildren(...documents.map((doc) => h("tr", { "data-doc": doc.id },
    h("td", {}, h("button", { class: "link", type: "button", text: doc.title || doc.source, onclick: () => showReport(doc.id) })),
    h("td", { text: doc.organization }), h("td", { text: doc.kind }), h("td", { text: doc.date }),
    h("td", { class: "num", text: doc.passages }),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small", text: "Report", "aria-label": `Report for ${doc.title}`, onclick: () => showReport(doc.id) }),
      h("button", { type: "button", class: "small danger", text: "Delete", "aria-label": `Delete ${doc.title}`, onclick: () => deleteDocument(doc) })))));
  if (!documents.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty", text: "No documents yet." })));
  fillFilterOptions(documents);
}

function fillFilterOptions(documents) {
  const fill = (select, values) => {
    const current = select.value;
    select.replaceChildren(h("option", { value: "", text: "Any" }),
      ...values.map(([value, text]) => h("option", { value, text })));
    select.value = current;
  };
  const uniq = (field) => [...new Set(documents.map((d) => d[field]).filter(Boolean))].sort()
    .map((v) => [v, v]);
  fill($("#f-organization"), uniq("organization"));
  fill($("#f-kind"), uniq("kind"));
  fill($("#f-document"), documents.map((d) => [d.id, (d.title || d.source).slice(0, 80)]));
  $("#kinds").replaceChildren(...uniq("kind").map(([v]) => h("option", { value: v })));
}

// --------------------------------------------------------------------------- search

function searchFilters() {
  const filters = {};
  const pick = (id, key) => { const v = $(id).value.trim(); if (v) filters[key] = key.startsWith("date") ? v : [v]; };
  pick("#f-organization", "organization");
  pick("#f-kind", "kind");
  pick("#f-document", "document");
  pick("#f-label", "label");
  pick("#f-from", "date_from");
  pick("#f-to", "date_to");
  return filters;
}

async function runSearch(event) {
  event.preventDefault();
  const query = $("#q").value.trim();
  if (!query) return;
  const button = $("#search-button");
  busy(button, true, "Searching…");
  $("#search-summary").textContent = "";
  try {
    const body = await api("/v1/search", { method: "POST", json: {
      query, mode: $("#mode").value, k: Number($("#f-k").value), filters: searchFilters() } });
    renderResults(body, query);
  } catch (error) {
    $("#results").replaceChildren();
    $("#search-summary").textContent = `Search failed: ${error.message}`;
  } finally {
    busy(button, false);
  }
}

// What a card shows: the passage without Markdown/HTML marks (older servers send only text).
function shownText(hit) { return hit.clean_text || hit.text; }

// "Also in N documents": near-duplicates the server collapsed into this result.
function repeatedIn(hit) {
  const others = [...new Map((hit.also_in || []).filter((o) => o.doc_id !== hit.doc_id)
    .map((o) => [o.doc_id, o])).values()];
  if (!others.length) return null;
  const names = others.map((o) => o.organization || o.title).join(", ");
  return h("p", { class: "meta also-in", title: names,
    text: `Also in ${others.length} other document${others.length === 1 ? "" : "s"}: ${names}` });
}

function resultCard(hit, terms, { similarButton = true } = {}) {
  const passage = h("p", { class: "passage clamped" }, highlighted(shownText(hit), terms));
  const more = shownText(hit).length > 600
    ? h("button", { type: "button", class: "link", text: "Show all", onclick: (e) => {
      passage.classList.toggle("clamped");
      e.target.textContent = passage.classList.contains("clamped") ? "Show all" : "Show less";
    } })
    : null;
  const card = h("li", { class: "result", "data-passage": hit.passage_id },
    h("div", { class: "result-head" },
      h("div", {},
        h("div", { class: "result-title", text: hit.title }),
        h("div", { class: "meta", text: [hit.organization, hit.kind, hit.date].filter(Boolean).join(" · ") })),
      h("span", { class: "score", title: `score ${hit.score.toFixed(4)}`, text: `#${hit.rank}` })),
    passage, more, repeatedIn(hit), tagChips(hit.tags));
  if (similarButton) {
    const button = h("button", { type: "button", class: "small similar-button", text: "Similar commitments in other documents" });
    button.addEventListener("click", () => showSimilar(card, hit, button));
    const row = h("div", { class: "row" }, button);
    if (hit.tags) {
      const review = h("button", { type: "button", class: "small review-button", "aria-expanded": "false", text: "Review tags" });
      review.addEventListener("click", () => toggleReview(card, hit, review));
      row.append(review);
    }
    card.append(row);
  }
  return card;
}

function renderResults(body, query) {
  const terms = queryTerms(query);
  const list = $("#results");
  list.replaceChildren(...body.results.map((hit) => resultCard(hit, terms)));
  $("#examples").hidden = true;
  const n = body.results.length;
  $("#search-summary").textContent = n
    ? `${n} passage${n === 1 ? "" : "s"} for “${query}”.`
    : `Nothing matched “${query}”. Try other words or fewer filters.`;
}

// Accept or reject a stored passage's tags, or add one it lacks.
function toggleReview(card, hit, button) {
  const open = card.querySelector(".review");
  button.setAttribute("aria-expanded", String(!open));
  if (open) { open.remove(); return; }
  const target = { passage_id: hit.passage_id };
  const rows = [];
  for (const key of ["action_lines", "sdgs", "gdc", "gdc_commitments"]) {
    for (const entry of hit.tags[key] || []) {
      rows.push(h("li", { class: "suggestion", "data-label": entry.label },
        h("div", { class: "what" }, h("span", { class: `chip ${KEYS[key].cls}`, text: entry.label }),
          h("span", { class: "label-title", text: titleOf(entry.label) }),
          h("span", { class: "score", text: fmt(entry.score) })),
        h("div", { class: "actions" }, ...judgeButtons(target, entry))));
    }
  }
  card.append(h("div", { class: "review" },
    h("h3", { text: "Are these tags right for this passage?" }),
    rows.length ? h("ul", { class: "suggestions" }, ...rows) : h("p", { class: "empty", text: "No tags on this passage." }),
    addLabelControl(target)));
}

async function showSimilar(card, hit, button) {
  const existing = card.querySelector(".similar");
  if (existing) { existing.remove(); button.textContent = "Similar commitments in other documents"; return; }
  busy(button, true, "Looking…");
  try {
    const body = await api("/v1/similar", { method: "POST", json: { passage_id: hit.passage_id, k: 5, per_document: 2 } });
    const terms = [];  // a whole passage has too many words to mark usefully
    const block = h("div", { class: "similar", "aria-live": "polite" },
      h("h3", { text: body.groups.length ? "Who else committed to this?" : "No similar passages in other documents." }),
      ...body.groups.map((group) => h("div", { class: "similar-group" },
        h("div", { class: "result-title", text: group.title }),
        h("div", { class: "meta", text: [group.organization, group.kind, group.date, `similarity ${group.best_score.toFixed(2)}`].filter(Boolean).join(" · ") }),
        ...group.passages.map((p) => h("p", { class: "passage clamped" }, highlighted(shownText(p), terms))),
        tagChips(group.passages[0].tags, 2))));
    card.append(block);
    busy(button, false);
    button.textContent = "Hide similar commitments";
  } catch (error) {
    busy(button, false);
    toast(`Could not find similar passages: ${error.message}`, true);
  }
}

// --------------------------------------------------------------------------- tag my text

async function runTagging(event) {
  event.preventDefault();
  const text = $("#tag-text").value;
  if (!text.trim()) return;
  const button = $("#tag-button");
  busy(button, true, "Reading…");
  try {
    const body = await api("/v1/tag", { method: "POST", json: { texts: [text], explain: true } });
    renderTags(text, body.results[0]);
  } catch (error) {
    $("#tag-output").replaceChildren(h("p", { class: "card status error", text: `Tagging failed: ${error.message}` }));
  } finally {
    busy(button, false);
  }
}

// target: { text } for pasted text, { passage_id } for a stored passage.
async function sendFeedback(target, label, action, score) {
  return api("/v1/feedback", { method: "POST", write: true, json: {
    ...target, label, action, scheme: state.schemeOf.get(label) || undefined, score } });
}

// Accept and Reject buttons for one suggested label; they show which answer was saved.
function judgeButtons(target, entry) {
  const accept = h("button", { type: "button", class: "small accept", "aria-pressed": "false", text: "Accept", "aria-label": `Accept ${entry.label}` });
  const reject = h("button", { type: "button", class: "small reject", "aria-pressed": "false", text: "Reject", "aria-label": `Reject ${entry.label}` });
  const judge = async (action, button, other) => {
    try {
      await sendFeedback(target, entry.label, action, entry.score);
      button.setAttribute("aria-pressed", "true");
      other.setAttribute("aria-pressed", "false");
      button.textContent = action === "accept" ? "Accepted" : "Rejected";
      other.textContent = action === "accept" ? "Reject" : "Accept";
      toast(`${action === "accept" ? "Accepted" : "Rejected"} ${entry.label}. Thank you!`);
    } catch (error) {
      toast(`Not saved: ${error.message}`, true);
    }
  };
  accept.addEventListener("click", () => judge("accept", accept, reject));
  reject.addEventListener("click", () => judge("reject", reject, accept));
  return [accept, reject];
}

function renderTags(text, result) {
  const preview = h("p", { class: "your-text", id: "your-text" }, text);
  const output = $("#tag-output");
  const select = (entry, row) => {
    for (const el of output.querySelectorAll(".suggestion.selected")) el.classList.remove("selected");
    if (row) row.classList.add("selected");
    preview.replaceChildren(withSpans(text, entry ? entry.sentences || [] : []));
  };
  const sections = SHOWN_KEYS.filter((key) => result[key] && result[key].length).map((key) => {
    const info = KEYS[key];
    const predicted = result[key].filter((t) => t.predicted);
    const close = result[key].filter((t) => !t.predicted).slice(0, 3);
    const list = h("ul", { class: "suggestions" }, ...predicted.map((entry) => suggestionRow(text, entry, info, select,
      key === "action_lines" ? (result.matrix_consistency || {})[entry.label] : undefined)));
    const section = h("section", { class: `scheme ${info.cls}`, "data-key": key },
      h("h2", {}, h("span", { class: "dot", "aria-hidden": "true" }), info.name),
      predicted.length ? list : h("p", { class: "empty", text: "No suggestion above the threshold." }));
    if (close.length) {
      section.append(h("p", { class: "close-calls" }, "Close calls: ",
        ...close.flatMap((t, i) => [i ? ", " : "", h("button", { type: "button", class: "link add-close", title: `Add ${t.label}: ${titleOf(t.label)}`,
          text: `${t.label} (${fmt(t.score)})`, onclick: (e) => addLabel({ text }, t.label, e.target, t.score) })])));
    }
    return section;
  });
  const adder = addLabelControl({ text }, "add-label");
  const similarBox = h("div", { class: "similar-text" });
  const similarButton = h("button", { type: "button", class: "small", id: "tag-similar-button", text: "Who else committed to this?" });
  similarButton.addEventListener("click", () => similarToText(text, similarBox, similarButton));
  output.replaceChildren(
    h("div", { class: "card" }, h("h2", { text: "Your text" }),
      h("p", { class: "hint", text: "Select a suggestion to mark the sentences that support it." }), preview, adder,
      h("div", { class: "row" }, similarButton), similarBox),
    ...sections);
  const first = output.querySelector(".suggestion");
  if (first) first.click();
}

// linkedGoals: for an Action Line, the predicted SDGs the WSIS-SDG Matrix links it to.
function suggestionRow(text, entry, info, select, linkedGoals) {
  const bar = h("span", { class: "bar", title: `score ${fmt(entry.score)}, threshold ${fmt(entry.threshold)}` },
    h("span"), h("i"));
  bar.firstChild.style.width = `${Math.round(entry.score * 100)}%`;
  bar.lastChild.style.left = `${Math.round(entry.threshold * 100)}%`;
  const [accept, reject] = judgeButtons({ text }, entry);
  const row = h("li", { class: "suggestion", "data-label": entry.label, tabindex: "0" },
    h("div", { class: "what" },
      h("span", { class: `chip ${info.cls}`, text: entry.label }),
      h("span", { class: "label-title", text: titleOf(entry.label) }),
      bar, h("span", { class: "score", text: fmt(entry.score) })),
    h("div", { class: "actions" }, accept, reject));
  const evidence = (entry.sentences || []).slice(0, 2);
  if (evidence.length || (entry.keywords || []).length) {
    row.append(h("ul", { class: "evidence" },
      ...evidence.map((s) => h("li", {}, `“${s.text.length > 220 ? s.text.slice(0, 220) + "…" : s.text}” `, h("span", { class: "score", text: fmt(s.score) }))),
      (entry.keywords || []).length ? h("li", { text: `keywords: ${[...new Set(entry.keywords.map((k) => k.keyword))].join(", ")}` }) : null));
  }
  if (linkedGoals && linkedGoals.length) {
    row.append(h("p", { class: "matrix", text: `Consistent with the WSIS–SDG Matrix: also suggested ${linkedGoals.map((g) => `SDG ${g}`).join(", ")}.` }));
  }
  row.addEventListener("click", (event) => { if (!event.target.closest("button")) select(entry, row); });
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target === row) select(entry, row); });
  return row;
}

async function similarToText(text, box, button) {
  busy(button, true, "Looking…");
  try {
    const body = await api("/v1/similar", { method: "POST", json: { text, k: 5, per_document: 1 } });
    const terms = [];
    box.replaceChildren(h("div", { class: "similar" },
      h("h3", { text: body.groups.length ? "The closest passages in the documents" : "No similar passages found." }),
      ...body.groups.map((group) => h("div", { class: "similar-group" },
        h("div", { class: "result-title", text: group.title }),
        h("div", { class: "meta", text: [group.organization, group.kind, group.date, `similarity ${group.best_score.toFixed(2)}`].filter(Boolean).join(" · ") }),
        h("p", { class: "passage clamped" }, highlighted(shownText(group.passages[0]), terms))))));
  } catch (error) {
    toast(`Could not find similar passages: ${error.message}`, true);
  } finally {
    busy(button, false);
  }
}

async function addLabel(target, label, button, score) {
  try {
    await sendFeedback(target, label, "add", score);
    if (button) { button.disabled = true; button.textContent = `${label} added`; }
    toast(`Added ${label}. Thank you!`);
  } catch (error) {
    toast(`Not saved: ${error.message}`, true);
  }
}

function addLabelControl(target, id) {
  const select = h("select", { id: id ? `${id}-select` : null, class: "add-label-select", "aria-label": "A label the text should have" },
    h("option", { value: "", text: "Add a missing label…" }));
  for (const [scheme, info] of Object.entries(state.taxonomy ? state.taxonomy.schemes : {})) {
    const group = h("optgroup", { label: { "action-lines": "WSIS Action Lines", sdgs: "SDGs", gdc: "Global Digital Compact" }[scheme] || scheme });
    for (const label of info.labels) {
      if (label.level === "section") continue;
      group.append(h("option", { value: label.id, text: `${label.id} — ${label.title}`.slice(0, 110) }));
    }
    select.append(group);
  }
  const button = h("button", { type: "button", class: "small add-label-button", id: id ? `${id}-button` : null, text: "Add label" });
  button.addEventListener("click", async () => {
    if (!select.value) { select.focus(); return; }
    await addLabel(target, select.value, null);
    select.value = "";
  });
  return h("div", { class: "add-label" }, select, button);
}

// --------------------------------------------------------------------------- documents

async function uploadDocument(event) {
  event.preventDefault();
  const file = $("#u-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  for (const field of ["title", "organization", "kind", "date"]) {
    const value = $(`#u-${field}`).value.trim();
    if (value) form.append(field, value);
  }
  const button = $("#upload-button");
  const status = $("#upload-status");
  busy(button, true, "Reading and tagging…");
  status.textContent = "";
  try {
    const body = await api("/v1/documents", { method: "POST", form, write: true });
    status.textContent = body.created
      ? `Added “${body.document.title}” (${body.document.passages} passage${body.document.passages === 1 ? "" : "s"}).`
      : `“${body.document.title}” was already here.`;
    $("#upload-form").reset();
    await loadDocuments();
    await loadStatus();
    showReport(body.document.id, body.document);
  } catch (error) {
    status.textContent = `Not added: ${error.message}`;
    status.classList.add("error");
    setTimeout(() => status.classList.remove("error"), 7000);
  } finally {
    busy(button, false);
  }
}

async function deleteDocument(doc) {
  if (!confirm(`Delete “${doc.title}” and its passages? Feedback given on it is kept.`)) return;
  try {
    await api(`/v1/documents/${doc.id}`, { method: "DELETE", write: true });
    toast(`Deleted “${doc.title}”.`);
    if ($("#report").dataset.doc === doc.id) $("#report").hidden = true;
    await loadDocuments();
    await loadStatus();
  } catch (error) {
    toast(`Not deleted: ${error.message}`, true);
  }
}

function barChart(entries, cls) {
  const ns = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  };
  const rows = entries.slice(0, 12);
  const rowH = 26, labelW = 300, barW = 360, width = labelW + barW + 60;
  const height = Math.max(rows.length, 1) * rowH + 8;
  const max = Math.max(1, ...rows.map((e) => e.passages));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  svg.append(svgEl("title", {}));
  svg.firstChild.textContent = `Passages per tag: ${rows.map((e) => `${e.label} ${e.passages}`).join(", ")}`;
  rows.forEach((entry, i) => {
    const y = i * rowH + 4;
    const label = svgEl("text", { x: labelW - 8, y: y + 16, "text-anchor": "end" });
    const name = `${entry.label} ${entry.title}`;
    label.textContent = name.length > 44 ? `${name.slice(0, 43)}…` : name;
    const rect = svgEl("rect", { x: labelW, y: y + 3, height: rowH - 8, rx: 3,
      width: Math.max(2, (entry.passages / max) * barW), class: `bar-rect ${cls}` });
    const tip = svgEl("title", {});
    tip.textContent = `${entry.label}: ${entry.passages} passages (${pct(entry.share)}), mean score ${fmt(entry.mean_score)}`;
    rect.append(tip);
    const value = svgEl("text", { x: labelW + (entry.passages / max) * barW + 6, y: y + 16, class: "value" });
    value.textContent = `${entry.passages} (${pct(entry.share)})`;
    svg.append(label, rect, value);
  });
  return svg;
}

async function showReport(docId, preloaded) {
  const box = $("#report");
  box.hidden = false;
  box.dataset.doc = docId;
  box.replaceChildren(h("p", { class: "hint", text: "Loading the report…" }));
  let doc = preloaded;
  try {
    if (!doc) doc = await api(`/v1/documents/${docId}`);
  } catch (error) {
    box.replaceChildren(h("p", { class: "status error", text: `Cannot load the report: ${error.message}` }));
    return;
  }
  const csvButton = h("button", { type: "button", class: "small", id: "csv-button", text: "Download CSV" });
  csvButton.addEventListener("click", () => downloadReport(doc, "csv"));
  const jsonButton = h("button", { type: "button", class: "small", text: "JSON" });
  jsonButton.addEventListener("click", () => downloadReport(doc, "json"));
  const head = h("div", { class: "report-head" },
    h("div", {}, h("h2", { text: doc.title }),
      h("p", { class: "meta", text: [doc.organization, doc.kind, doc.date, `${doc.passages} passage${doc.passages === 1 ? "" : "s"}`, doc.source].filter(Boolean).join(" · ") })),
    h("div", { class: "row" }, csvButton, jsonButton));
  if (!doc.tags_available || !doc.summary) {
    box.replaceChildren(head, h("p", { class: "empty", text: "Tagging is not available on this server, so there is no tag summary." }));
    box.focus();
    return;
  }
  const byId = new Map(doc.passage_list.map((p) => [p.id, p]));
  const chartBox = h("div", { class: "chart-box" });
  const strongest = h("div", { class: "strongest-box" });
  const keys = SHOWN_KEYS.filter((k) => doc.summary[k]);
  const tabs = h("div", { class: "chart-tabs", role: "group", "aria-label": "Label scheme" });
  const show = (key) => {
    for (const b of tabs.children) b.setAttribute("aria-pressed", String(b.dataset.key === key));
    const entries = doc.summary[key];
    chartBox.replaceChildren(entries.length
      ? barChart(entries, KEYS[key].cls)
      : h("p", { class: "empty", text: "No passage carries these tags." }));
    if (!entries.length) { strongest.replaceChildren(); return; }
    strongest.replaceChildren(h("h3", { text: `Strongest passages per tag — ${KEYS[key].name}` }),
      h("ul", { class: "strongest" }, ...entries.slice(0, 6).map((entry) => h("li", {},
        h("span", { class: `chip ${KEYS[key].cls}`, text: entry.label }), " ", h("strong", { text: entry.title }),
        ` — ${entry.passages} passage${entry.passages === 1 ? "" : "s"}`,
        ...entry.top_passages.slice(0, 2).map((tp) => {
          const p = byId.get(tp.passage_id);
          const text = p ? p.text : tp.passage_id;
          return h("blockquote", { title: `score ${fmt(tp.score)}` }, text.length > 500 ? `${text.slice(0, 500)}…` : text);
        })))));
  };
  for (const key of keys) {
    tabs.append(h("button", { type: "button", class: "small", "data-key": key, "aria-pressed": "false",
      text: `${KEYS[key].name} (${doc.summary[key].length})`, onclick: () => show(key) }));
  }
  box.replaceChildren(head, h("h3", { text: "Tag distribution (passages per tag)" }), tabs, chartBox, strongest);
  show(keys.find((key) => doc.summary[key].length) || keys[0]);
  box.focus();
  box.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function downloadReport(doc, format) {
  try {
    const response = await api(`/v1/documents/${doc.id}/report.${format}`, { raw: true });
    download(`wsis-report-${doc.id}.${format}`, await response.blob());
  } catch (error) {
    toast(`Download failed: ${error.message}`, true);
  }
}

// --------------------------------------------------------------------------- feedback, models

async function loadModels() {
  try {
    const info = await api("/v1/models");
    const versions = Object.entries(info.models).map(([scheme, m]) => `${scheme} ${m.version || "?"}`);
    $("#models-summary").textContent = info.available
      ? `${info.feedback_count} judgement${info.feedback_count === 1 ? "" : "s"} recorded. Models: ${versions.join(", ")}.`
      : `${info.feedback_count} judgements recorded. Tagging is not available: ${info.reason}`;
    const running = info.jobs.find((job) => job.status === "queued" || job.status === "running");
    if (running) watchJob(running.id);
    else if (info.jobs.length) showJob(info.jobs[0]);
  } catch (error) {
    $("#models-summary").textContent = `Cannot load the models: ${error.message}`;
  }
}

function showJob(job) {
  const when = (job.finished || job.started || job.created || "").replace("T", " ").slice(0, 16);
  const text = {
    queued: "Retraining is queued…",
    running: `Retraining… ${job.message}`,
    succeeded: `Last retrain (${when} UTC) succeeded: the new models are in use.`,
    failed: `Last retrain (${when} UTC) failed: ${job.message}`,
  }[job.status];
  $("#retrain-status").textContent = text;
  $("#retrain-button").disabled = job.status === "queued" || job.status === "running";
}

let jobTimer = null;
async function watchJob(jobId) {
  clearTimeout(jobTimer);
  try {
    const job = await api(`/v1/jobs/${jobId}`);
    showJob(job);
    if (job.status === "queued" || job.status === "running") {
      jobTimer = setTimeout(() => watchJob(jobId), 1500);
    } else {
      await loadModels();
      await loadStatus();
    }
  } catch (error) {
    $("#retrain-status").textContent = `Cannot follow the retrain: ${error.message}`;
    $("#retrain-button").disabled = false;
  }
}

async function retrain() {
  try {
    const job = await api("/v1/models/retrain", { method: "POST", write: true, json: { evaluate: false } });
    showJob(job);
    watchJob(job.id);
  } catch (error) {
    toast(`Retrain not started: ${error.message}`, true);
  }
}

async function exportFeedback(format) {
  try {
    const response = await api(`/v1/feedback/export?format=${format}`, { raw: true });
    download(`wsis-feedback.${format}`, await response.blob());
  } catch (error) {
    toast(`Download failed: ${error.message}`, true);
  }
}

// --------------------------------------------------------------------------- start

async function start() {
  setupTabs();
  setupToken();
  $("#search-form").addEventListener("submit", runSearch);
  for (const example of document.querySelectorAll(".example")) {
    example.addEventListener("click", () => {
      $("#q").value = example.textContent;
      $("#search-form").requestSubmit();
    });
  }
  $("#tag-form").addEventListener("submit", runTagging);
  $("#upload-form").addEventListener("submit", uploadDocument);
  $("#retrain-button").addEventListener("click", retrain);
  $("#export-csv").addEventListener("click", () => exportFeedback("csv"));
  $("#export-jsonl").addEventListener("click", () => exportFeedback("jsonl"));
  const health = await loadStatus();
  if (!health) return;
  try {
    await Promise.all([loadTaxonomy(), loadDocuments()]);
  } catch (error) {
    toast(`Could not load labels or documents: ${error.message}`, true);
  }
  document.body.dataset.ready = "true";
}

start();
