import { $, KEYS, SHOWN_KEYS, api, busy, chip, fmt, h, highlighted, shownText, state, titleOf, toast, withSpans } from "./core.js";

// --------------------------------------------------------------------------- tag my text

export async function runTagging(event) {
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
export async function sendFeedback(target, label, action, score) {
  return api("/v1/feedback", { method: "POST", write: true, json: {
    ...target, label, action, scheme: state.schemeOf.get(label) || undefined, score } });
}

// Accept and Reject buttons for one suggested label; they show which answer was saved.
export function judgeButtons(target, entry) {
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

export function renderTags(text, result) {
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
export function suggestionRow(text, entry, info, select, linkedGoals) {
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
  if ((entry.follows || []).length) {
    row.append(h("p", { class: "matrix", text: `Follows ${entry.follows.map((l) => `Action Line ${l}`).join(", ")}: the same subject.` }));
  }
  if (linkedGoals && linkedGoals.length) {
    row.append(h("p", { class: "matrix", text: `Consistent with the WSIS–SDG Matrix: also suggested ${linkedGoals.map((g) => `SDG ${g}`).join(", ")}.` }));
  }
  row.addEventListener("click", (event) => { if (!event.target.closest("button")) select(entry, row); });
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target === row) select(entry, row); });
  return row;
}

export async function similarToText(text, box, button) {
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

export async function addLabel(target, label, button, score) {
  try {
    await sendFeedback(target, label, "add", score);
    if (button) { button.disabled = true; button.textContent = `${label} added`; }
    toast(`Added ${label}. Thank you!`);
  } catch (error) {
    toast(`Not saved: ${error.message}`, true);
  }
}

export function addLabelControl(target, id) {
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
