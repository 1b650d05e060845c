import { $, api, download, h, setupTabs, setupToken, state, toast } from "./core.js";
import { deleteDocument, showReport, uploadDocument } from "./documents.js";
import { runSearch } from "./search.js";
import { runTagging } from "./tagging.js";

// --------------------------------------------------------------------------- start-up data

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

export async function loadTaxonomy() {
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

// --------------------------------------------------------------------------- feedback, models

export async function loadModels() {
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

export function showJob(job) {
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

export let jobTimer = null;
export async function watchJob(jobId) {
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

export async function retrain() {
  try {
    const job = await api("/v1/models/retrain", { method: "POST", write: true, json: { evaluate: false } });
    showJob(job);
    watchJob(job.id);
  } catch (error) {
    toast(`Retrain not started: ${error.message}`, true);
  }
}

export async function exportFeedback(format) {
  try {
    const response = await api(`/v1/feedback/export?format=${format}`, { raw: true });
    download(`wsis-feedback.${format}`, await response.blob());
  } catch (error) {
    toast(`Download failed: ${error.message}`, true);
  }
}

// --------------------------------------------------------------------------- start

export async function start() {
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
