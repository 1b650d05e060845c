import { $, h, pct } from "./core.js";

// WSIS Lens review insights: plain DOM code over /v1/insights. Text from documents is inserted
// with textContent only (never as HTML).

const TOKEN_KEY = "wsis-lens-token";
const VIEWS = ["matrix", "gaps", "themes", "compare", "crosswalk"];
const state = { view: "matrix", documents: [], titles: new Map(), matrix: null,
  sort: { column: null, descending: true }, loaded: new Set() };

const short = (text, n = 320) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

let toastTimer = null;
function toast(message) {
  const el = $("#toast");
  el.textContent = message;
  el.classList.add("error");
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 7000);
}

async function api(path, params = {}, raw = false) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of [].concat(value)) if (item !== "" && item !== null && item !== undefined) query.append(key, item);
  }
  const headers = {};
  const stored = localStorage.getItem(TOKEN_KEY);
  if (stored) headers.Authorization = `Bearer ${stored}`;
  const response = await fetch(`${path}${query.size ? `?${query}` : ""}`, { headers });
  if (!response.ok) {
    let detail = response.statusText;
    try { const data = await response.json(); detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail); } catch { /* not JSON */ }
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return raw ? response : response.json();
}

function filters() {
  return { organization: $("#i-organization").value, kind: $("#i-kind").value,
    date_from: $("#i-from").value.trim(), date_to: $("#i-to").value.trim() };
}

function passageItem(p, extra) {
  const where = [p.organization, p.title, p.date].filter(Boolean).join(" · ");
  return h("li", { class: "passage", "data-passage": p.passage_id },
    h("p", { class: "meta" }, where, extra ? h("span", { class: "score", text: ` ${extra}` }) : null),
    h("p", { class: "text", text: short(p.clean_text || p.text) }));
}

// --------------------------------------------------------------------------- matrix

function heat(share) {
  // 0 -> white, 1 -> the accent blue; CSSOM styles are allowed by the page's CSP.
  const light = Math.round(97 - share * 55);
  return `hsl(211 70% ${light}%)`;
}

async function loadMatrix() {
  const body = await api("/v1/insights/matrix", { key: $("#i-key").value, group_by: $("#i-group").value, ...filters() });
  state.matrix = body;
  renderMatrix();
}

function sortedRows(body) {
  const rows = [...body.rows];
  const { column, descending } = state.sort;
  if (column === null) return rows;
  const value = (row) => (typeof column === "number" ? row.shares[column] : (row[column] || ""));
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  return rows;
}

function sortButton(text, column, title) {
  const on = state.sort.column === column;
  return h("button", { type: "button", class: "sort", title: title || `Sort by ${text}`, "aria-pressed": String(on),
    onclick: () => {
      state.sort = { column, descending: on ? !state.sort.descending : typeof column === "number" };
      renderMatrix();
    } }, text, on ? (state.sort.descending ? " ↓" : " ↑") : "");
}

function renderMatrix() {
  const body = state.matrix;
  const grouped = body.group_by !== "document";
  const rowName = { document: "Document", organization: "Organisation", kind: "Kind" }[body.group_by];
  const head = h("tr", {}, h("th", { scope: "col", class: "row-head" }, sortButton(rowName, "title")),
    h("th", { scope: "col" }, sortButton("Date", "date")),
    h("th", { scope: "col", class: "num" }, "Passages"),
    body.labels.map((label, j) => h("th", { scope: "col", class: "label-head", "data-label": label.id },
      sortButton(label.id, j, `${label.id} — ${label.title}: sort by share`))));
  const rows = sortedRows(body).map((row) => h("tr", { "data-row": row.id },
    h("th", { scope: "row", class: "row-head" }, h("span", { class: "row-title", text: short(row.title, 70) }),
      grouped ? h("span", { class: "meta", text: `${row.documents} document(s)` })
        : h("span", { class: "meta", text: [row.organization, row.kind].filter(Boolean).join(" · ") })),
    h("td", { class: "date", text: row.date }),
    h("td", { class: "num", text: row.passages }),
    body.labels.map((label, j) => {
      const share = row.shares[j];
      const cell = h("td", { class: `cell${share ? " some" : ""}`, "data-label": label.id, tabindex: share ? "0" : null,
        title: `${row.title} — ${label.id} ${label.title}: ${row.counts[j]} of ${row.passages} passages`,
        text: share ? pct(share) : "" });
      cell.style.background = heat(share);
      if (share > 0.45) cell.classList.add("dark");
      if (share) {
        const open = () => showCell(row, label);
        cell.addEventListener("click", open);
        cell.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
      }
      return cell;
    })));
  $("#matrix").replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
  const covered = body.labels.filter((l) => l.rows > 0).length;
  $("#matrix-summary").textContent = `${body.rows.length} ${rowName.toLowerCase()} row(s) × ${body.labels.length} ${body.key_name}; ` +
    `${covered} label(s) addressed. Each cell: the share of the row's passages tagged. Click a cell for its passages; click a heading to sort.`;
  $("#matrix").dataset.loaded = "true";
}

async function showCell(row, label) {
  const box = $("#cell");
  box.hidden = false;
  box.replaceChildren(h("p", { class: "hint", text: "Loading…" }));
  try {
    const cell = await api("/v1/insights/matrix/cell", { key: state.matrix.key, group_by: state.matrix.group_by,
      label: label.id, row: row.id, ...filters() });
    box.replaceChildren(
      h("h2", { text: `${label.id} — ${label.title}` }),
      h("p", { class: "hint", text: `${row.title}: ${cell.total} of ${cell.passages_in_row} passages tagged` }),
      h("ol", { class: "passages" }, cell.passages.map((p) => passageItem(p, `score ${p.score.toFixed(2)}`))));
    box.focus();
  } catch (error) {
    box.replaceChildren(h("p", { class: "status error", text: error.message }));
  }
}

// --------------------------------------------------------------------------- gaps

async function loadGaps() {
  const body = await api("/v1/insights/gaps", { key: $("#i-key").value, by: $("#gap-by").value, ...filters() });
  const who = body.by === "organization" ? "organisations" : "documents";
  $("#gaps-summary").textContent = `${body.gaps.length} of ${body.labels} ${body.key_name} are addressed by at most one of ` +
    `${body.by === "organization" ? body.organizations : body.documents} ${who}.`;
  $("#gaps").replaceChildren(
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Label" }), h("th", { scope: "col", text: "Title" }),
      h("th", { scope: "col", class: "num", text: who[0].toUpperCase() + who.slice(1) }),
      h("th", { scope: "col", class: "num", text: "Passages" }), h("th", { scope: "col", text: "Addressed by" }))),
    h("tbody", {}, body.gaps.map((g) => h("tr", { class: g.addressed ? "one" : "none", "data-label": g.label },
      h("th", { scope: "row", text: g.label }), h("td", { text: short(g.title, 140) }),
      h("td", { class: "num", text: g.addressed }), h("td", { class: "num", text: g.passages }),
      h("td", { text: g.addressed_by.join("; ") || "—" })))));
  $("#gaps").dataset.loaded = "true";
}

// --------------------------------------------------------------------------- themes

async function loadThemes() {
  const button = $("#themes-button");
  const status = $("#themes-status");
  button.disabled = true;
  status.textContent = "Clustering the stored passage vectors…";
  const started = performance.now();
  try {
    const body = await api("/v1/insights/themes", { similarity: $("#theme-similarity").value, ...filters() });
    status.textContent = `${body.total_themes} theme(s) across documents from ${body.passages} passages ` +
      `(${body.method}, ${((performance.now() - started) / 1000).toFixed(1)} s).`;
    $("#themes").replaceChildren(...body.themes.map((theme) => h("li", { class: "card theme", "data-theme": theme.id },
      h("h2", { text: theme.label }),
      h("p", { class: "meta", text: `${theme.size} passages from ${theme.documents.length} documents · ` +
        `${theme.organizations.join(", ") || "no organisation"} · cohesion ${theme.cohesion.toFixed(2)}` }),
      theme.tags.length ? h("ul", { class: "chips" }, theme.tags.map((t) => h("li", { class: `chip ${chipClass(t.key)}`, title: t.title },
        `${t.label} `, h("span", { class: "chip-score", text: pct(t.share) })))) : null,
      h("details", {}, h("summary", { text: "Passages" }),
        h("ol", { class: "passages" }, theme.passages.map((p) => passageItem(p)))))));
    $("#themes").dataset.loaded = "true";
  } catch (error) {
    status.textContent = `Could not find themes: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function chipClass(key) {
  return key.startsWith("sdg") ? "sdg" : key.startsWith("gdc") ? "gdc" : "al";
}

// --------------------------------------------------------------------------- compare

async function loadCompare() {
  const a = $("#compare-a").value, b = $("#compare-b").value;
  const box = $("#compare");
  if (a === b) { box.replaceChildren(h("p", { class: "status error", text: "Pick two different documents." })); return; }
  const body = await api("/v1/insights/compare", { a, b, key: $("#i-key").value });
  const bar = (share, cls) => { const el = h("span", { class: `bar ${cls}` }); el.style.width = `${Math.round(share * 100)}%`; return el; };
  const profile = h("table", { class: "profile" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Label" }), h("th", { scope: "col", text: short(body.a.title, 50) }),
      h("th", { scope: "col", text: short(body.b.title, 50) }), h("th", { scope: "col", class: "num", text: "A − B" }))),
    h("tbody", {}, body.profile.map((p) => h("tr", { "data-label": p.label },
      h("th", { scope: "row", title: p.title, text: p.label }),
      h("td", {}, h("span", { class: "track" }, bar(p.share_a, "a")), ` ${pct(p.share_a)}`),
      h("td", {}, h("span", { class: "track" }, bar(p.share_b, "b")), ` ${pct(p.share_b)}`),
      h("td", { class: "num", text: `${p.difference > 0 ? "+" : ""}${Math.round(p.difference * 100)}` })))));
  box.replaceChildren(
    h("div", { class: "card" }, h("h2", { text: `${body.key_name}: profiles side by side` }),
      h("p", { class: "hint", text: `Profile similarity ${body.profile_similarity.toFixed(2)} (cosine of the share vectors). ` +
        `Largest differences: ${body.differences.slice(0, 5).map((d) => d.label).join(", ") || "none"}.` }),
      h("div", { class: "table-wrap" }, profile)),
    h("div", { class: "card" }, h("h2", { text: "Closest passage pairs" }),
      h("ol", { class: "pairs" }, body.pairs.map((pair) => h("li", { class: "pair" },
        h("p", { class: "meta", text: `similarity ${pair.similarity.toFixed(2)}` }),
        h("div", { class: "pair-sides" }, h("ul", { class: "passages" }, passageItem(pair.a)),
          h("ul", { class: "passages" }, passageItem(pair.b))))))));
  box.dataset.loaded = "true";
}

// --------------------------------------------------------------------------- cross-walk

function walkNode(node, what) {
  return h("li", { class: "node", "data-label": node.id },
    h("details", {}, h("summary", {}, h("strong", { text: node.id }), ` ${short(node.title, 150)} `,
      h("span", { class: `count${node.passages ? "" : " zero"}`, text: `${node.passages} passage(s), ${node.documents} document(s)` })),
    node.top.length ? h("ol", { class: "passages" }, node.top.map((p) => passageItem(p, `score ${p.score.toFixed(2)}`)))
      : h("p", { class: "hint", text: `No passage is tagged with this ${what}.` })));
}

async function loadCrosswalk() {
  const body = await api("/v1/insights/crosswalk", { action_line: $("#crosswalk-line").value, ...filters() });
  const column = (title, nodes, what) => {
    // Labels no passage carries are folded away, so long lists stay readable.
    const found = nodes.filter((n) => n.passages > 0), silent = nodes.filter((n) => !n.passages);
    return h("div", { class: "card walk-step" }, h("h2", { text: title }),
      nodes.length ? null : h("p", { class: "hint", text: "None." }),
      found.length ? h("ul", { class: "nodes" }, found.map((n) => walkNode(n, what))) : null,
      silent.length ? h("details", { class: "silent" }, h("summary", { text: `${silent.length} without tagged passages` }),
        h("ul", { class: "nodes" }, silent.map((n) => walkNode(n, what)))) : null);
  };
  // The GDC section on the line's own subject sits under the line: it is a direct link.
  const line = h("div", { class: "walk-stack" }, column("Action Line", [body.action_line], "Action Line"),
    column("GDC section on the same subject", body.sections, "section"));
  $("#crosswalk").replaceChildren(line,
    column(`SDG targets (${body.targets.length}, WSIS–SDG Matrix)`, body.targets, "target"),
    column(`GDC commitments sharing their goals (${body.commitments.length})`, body.commitments, "commitment"));
  $("#crosswalk").dataset.loaded = "true";
}

// --------------------------------------------------------------------------- page

const LOADERS = { matrix: loadMatrix, gaps: loadGaps, themes: loadThemes, compare: loadCompare, crosswalk: loadCrosswalk };

async function refresh(view = state.view) {
  try { await LOADERS[view](); } catch (error) { toast(`Could not load the ${view} view: ${error.message}`); }
}

function selectView(name) {
  state.view = name;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  }
  history.replaceState(null, "", `#${name}`);
  if (!state.loaded.has(name)) { state.loaded.add(name); refresh(name); }
}

async function download(path, params, filename) {
  try {
    const response = await api(path, params, true);
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (error) {
    toast(`Download failed: ${error.message}`);
  }
}

function exportParams() {
  return { key: $("#i-key").value, group_by: $("#i-group").value, gap_by: $("#gap-by").value,
    similarity: $("#theme-similarity").value, ...filters() };
}

async function start() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectView(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      selectView(next.id.slice(4));
    });
  });
  try {
    const [health, docs, taxonomy] = await Promise.all([api("/health"), api("/v1/documents"), api("/v1/taxonomy")]);
    $("#status").textContent = `${health.index.document_count} documents · ${health.index.passage_count} passages`;
    state.documents = docs.documents;
    const options = (values) => [...new Set(values.filter(Boolean))].sort().map((v) => h("option", { value: v, text: v }));
    $("#i-organization").append(...options(docs.documents.map((d) => d.organization)));
    $("#i-kind").append(...options(docs.documents.map((d) => d.kind)));
    const docOptions = () => docs.documents.map((d) => h("option", { value: d.id, text: short(`${d.organization} — ${d.title}`, 90) }));
    $("#compare-a").append(...docOptions());
    $("#compare-b").append(...docOptions());
    if (docs.documents.length > 1) $("#compare-b").selectedIndex = 1;
    for (const label of taxonomy.schemes["action-lines"].labels) {
      $("#crosswalk-line").append(h("option", { value: label.id, text: short(`${label.id} — ${label.title}`, 90) }));
    }
  } catch (error) {
    $("#status").textContent = `Cannot reach the server: ${error.message}`;
    $("#status").classList.add("error");
    return;
  }
  const reloadAll = () => { state.loaded = new Set([state.view]); $("#cell").hidden = true; refresh(); };
  for (const id of ["#i-key", "#i-group", "#i-organization", "#i-kind", "#i-from", "#i-to"]) {
    $(id).addEventListener("change", () => { if ($(id).checkValidity()) reloadAll(); });
  }
  $("#controls").addEventListener("submit", (e) => { e.preventDefault(); reloadAll(); });
  $("#gap-by").addEventListener("change", () => refresh("gaps"));
  $("#themes-button").addEventListener("click", () => refresh("themes"));
  $("#compare-button").addEventListener("click", () => refresh("compare"));
  $("#crosswalk-line").addEventListener("change", () => refresh("crosswalk"));
  $("#export-xlsx").addEventListener("click", () => download("/v1/insights/export.xlsx", exportParams(), "wsis-insights.xlsx"));
  $("#export-csv").addEventListener("click", () => download("/v1/insights/export.csv", { ...exportParams(), view: state.view }, `wsis-insights-${state.view}.csv`));
  $("#export-jsonl").addEventListener("click", () => download("/v1/insights/tags.jsonl", filters(), "wsis-corpus-tags.jsonl"));
  const wanted = location.hash.slice(1);
  selectView(VIEWS.includes(wanted) ? wanted : "matrix");
  window.addEventListener("hashchange", () => {
    const view = location.hash.slice(1);
    if (VIEWS.includes(view) && view !== state.view) selectView(view);
  });
  document.body.dataset.ready = "true";
}

start();
