import { $, KEYS, SHOWN_KEYS, api, busy, chip, download, fmt, h, loadStatus, pct, state, toast } from "./core.js";

// --------------------------------------------------------------------------- documents

export async function uploadDocument(event) {
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

export async function deleteDocument(doc) {
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

export function barChart(entries, cls) {
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

export async function showReport(docId, preloaded) {
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

export async function downloadReport(doc, format) {
  try {
    const response = await api(`/v1/documents/${doc.id}/report.${format}`, { raw: true });
    download(`wsis-report-${doc.id}.${format}`, await response.blob());
  } catch (error) {
    toast(`Download failed: ${error.message}`, true);
  }
}

export async function loadDocuments() {
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

export function fillFilterOptions(documents) {
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
