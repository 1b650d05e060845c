import { $, KEYS, api, busy, chip, fmt, h, highlighted, queryTerms, shownText, tagChips, titleOf, toast } from "./core.js";
import { addLabelControl, judgeButtons } from "./tagging.js";

// --------------------------------------------------------------------------- search

export function searchFilters() {
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

export async function runSearch(event) {
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

// "Also in N documents": near-duplicates the server collapsed into this result.
export function repeatedIn(hit) {
  const others = [...new Map((hit.also_in || []).filter((o) => o.doc_id !== hit.doc_id)
    .map((o) => [o.doc_id, o])).values()];
  if (!others.length) return null;
  const names = others.map((o) => o.organization || o.title).join(", ");
  return h("p", { class: "meta also-in", title: names,
    text: `Also in ${others.length} other document${others.length === 1 ? "" : "s"}: ${names}` });
}

export function resultCard(hit, terms, { similarButton = true } = {}) {
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

export function renderResults(body, query) {
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
export function toggleReview(card, hit, button) {
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

export async function showSimilar(card, hit, button) {
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
