import { $, api, download, h, loadStatus, onTabOpen, setupTabs, setupToken, state, toast } from "./core.js";
import { loadDocuments, uploadDocument } from "./documents.js";
import { runSearch } from "./search.js";
import { runTagging } from "./tagging.js";

// --------------------------------------------------------------------------- start-up data


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
  onTabOpen.documents = () => { loadDocuments(); loadModels(); };
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
