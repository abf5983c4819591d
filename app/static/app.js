// kgrel labelling page: plain JavaScript against the REST API, no build step.
// Text from the graph or the user is only ever inserted with textContent, never as HTML.
"use strict";

const state = { relations: [], relation: null, session: null, suggestions: [], focus: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function status(message, isError = false) {
  const s = $("status");
  s.textContent = message;
  s.className = isError ? "error" : "";
}

async function api(method, path, body, accept = "application/json") {
  const headers = { Accept: accept };
  const key = localStorage.getItem("kgrel-api-key");
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: keep the text */ }
  if (response.status === 401 || response.status === 403) {
    // Said for this page: the key goes in the field at the top, not in a header the user never sees.
    throw new Error(response.status === 401
      ? (key ? "This API key is not accepted: enter the right one in the API key field at the top."
             : "This server needs an API key: enter it in the API key field at the top.")
      : "This API key may read but not change the graph: enter the write key in the API key field at the top.");
  }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : text || response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

const enc = (s) => encodeURIComponent(s).replace(/%3A/gi, ":");

// Tabs -------------------------------------------------------------------------------------------
for (const button of document.querySelectorAll(".tab")) {
  button.addEventListener("click", () => {
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b === button);
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `tab-${button.dataset.tab}`;
    status("");  // a message belongs to the tab it came from
  });
}
$("api-key").value = localStorage.getItem("kgrel-api-key") || "";
$("api-key").addEventListener("change", (e) => {
  localStorage.setItem("kgrel-api-key", e.target.value);
  status("");  // a key error from before is gone; a new one is shown if this key fails too
  loadRelations();
});

// Relations --------------------------------------------------------------------------------------
async function loadRelations(select) {
  try {
    state.relations = await api("GET", "/relations");
    renderRelations(select);
  } catch (e) { status(e.message, true); }
}

function relationOption(r) { return `${r.label} (${r.curie})`; }

// The relations an annotator may mean by what they typed or picked: its option text, its CURIE or IRI,
// else every relation with that label (several relations may share one: the page lets them choose).
function relationsFromText(text) {
  const t = text.trim().toLowerCase();
  if (!t) return [];
  const exact = state.relations.filter((r) => [relationOption(r), r.curie, r.id].some((v) => v.toLowerCase() === t));
  if (exact.length) return exact;
  return state.relations.filter((r) => r.label.toLowerCase() === t);
}

function renderRelationOptions() {
  $("relation-options").replaceChildren(...state.relations.map((r) =>
    el("option", { value: relationOption(r) }, (r.description || "").slice(0, 80))));
}

function renderRelations(select) {
  renderRelationOptions();
  const filter = $("relation-filter").value.trim().toLowerCase();
  const list = $("relation-select");
  list.replaceChildren();
  for (const r of state.relations) {
    const text = `${r.label} — ${r.curie}`;
    if (filter && !text.toLowerCase().includes(filter) && !(r.aliases || []).join(" ").toLowerCase().includes(filter)) continue;
    list.append(el("option", { value: r.id }, `${text}${r.examples ? `  (${r.examples} ex.)` : ""}`));
  }
  if (select) { list.value = select; chooseRelation(select); }
}

function chooseRelation(id) {
  state.relation = state.relations.find((r) => r.id === id) || null;
  const card = $("relation-card");
  $("start-session").disabled = !state.relation;
  if (!state.relation) { card.hidden = true; return; }
  const r = state.relation;
  card.hidden = false;
  card.replaceChildren(
    el("strong", {}, r.label), " ", el("span", { class: "muted" }, r.curie),
    el("div", {}, r.description || ""),
    r.aliases && r.aliases.length ? el("div", { class: "muted" }, `also: ${r.aliases.join(", ")}`) : "",
    el("div", { id: "example-count" }, `${r.examples} example${r.examples === 1 ? "" : "s"}`));
  loadQuality();
}

$("relation-filter").addEventListener("input", () => renderRelations());
$("relation-select").addEventListener("change", (e) => chooseRelation(e.target.value));

$("relation-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const body = { id: f.get("id"), label: f.get("label"), description: f.get("description") || "",
                 aliases: (f.get("aliases") || "").split(",").map((a) => a.trim()).filter(Boolean) };
  try {
    const created = await api("POST", "/relations", body);
    status(`Registered ${created.curie}`);
    e.target.reset();
    await loadRelations(created.id);
  } catch (err) { status(err.message, true); }
});

// Session and suggestions ------------------------------------------------------------------------
// Who labels: named on the page, remembered by the browser, recorded with every decision.
const annotator = () => $("annotator").value.trim() || "anonymous";
$("annotator").value = localStorage.getItem("kgrel-annotator") || "";
$("annotator").addEventListener("change", (e) => localStorage.setItem("kgrel-annotator", e.target.value.trim()));

function openSession(session) {
  state.session = session;
  localStorage.setItem("kgrel-session", session.id);  // a reload resumes it
  showProgress(session);
  $("add-text").disabled = false;
}

function showProgress(session) {
  const c = session.counts;
  const total = c.pending + c.accepted + c.rejected + c.corrected;
  $("session-info").textContent = `session ${session.id} · ${session.label} · by ${session.user} · ` +
    `reviewed ${total - c.pending} of ${total} (${c.accepted} accepted, ${c.rejected} rejected, ${c.corrected} corrected)`;
}

async function refreshProgress() {
  if (!state.session) return;
  showProgress(await api("GET", `/sessions/${state.session.id}`));
  await loadSessions();  // the resume list shows the counts too
}

// Decisions are recorded with their annotator: ask for a name once rather than record "anonymous".
function named() {
  if ($("annotator").value.trim()) return true;
  status("Name yourself first in the Annotator field at the top: your name is recorded with every decision.", true);
  $("annotator").focus();
  return false;
}

$("start-session").addEventListener("click", async () => {
  if (!named()) return;
  try {
    openSession(await api("POST", "/sessions", { relation: state.relation.id, user: annotator() }));
    status(`Session started: facts go to ${state.session.graph}`);
    loadSessions();
  } catch (e) { status(e.message, true); }
});

async function loadSessions() {
  try {
    const sessions = await api("GET", "/sessions");
    $("session-list").replaceChildren(el("option", { value: "" }, "or resume a session…"),
      ...sessions.map((x) => el("option", { value: x.id },
        `${x.label} · ${x.user} · ${x.counts.pending} pending, ${x.counts.accepted} accepted · ${x.created.slice(0, 16)}`)));
    if (state.session) $("session-list").value = state.session.id;
  } catch (e) { status(e.message, true); }
}

async function resumeSession(id) {
  try {
    const session = await api("GET", `/sessions/${id}`);
    if (!state.relations.length) state.relations = await api("GET", "/relations");
    renderRelations(session.relation);
    openSession(session);
    await loadSuggestions();
    status(`Resumed session ${session.id}`);
  } catch (e) {
    localStorage.removeItem("kgrel-session");
    status(e.message, true);
  }
}

$("session-list").addEventListener("change", (e) => { if (e.target.value) resumeSession(e.target.value); });

// Mentions marked by hand: code-point offsets in the text (what the API counts), each with its entity.
state.marked = [];
let pendingMark = null;

function renderMarkText() {
  $("mark-text").textContent = $("text-input").value;
  $("marked").replaceChildren(...state.marked.map((m, i) => el("li", {},
    `"${m.text}" → ${m.label}`, " ",
    el("button", { onclick: () => { state.marked.splice(i, 1); renderMarkText(); } }, "remove"))));
}

$("text-input").addEventListener("input", () => { state.marked = []; renderMarkText(); });
$("by-hand").addEventListener("toggle", renderMarkText);

$("mark-text").addEventListener("mouseup", () => {
  const sel = window.getSelection();
  const node = $("mark-text").firstChild;
  if (!sel.rangeCount || !node || sel.anchorNode !== node || sel.focusNode !== node) return;
  const [a, b] = [sel.anchorOffset, sel.focusOffset].sort((x, y) => x - y);
  if (a === b) return;
  const text = node.textContent;
  const start = Array.from(text.slice(0, a)).length;  // UTF-16 offsets to code points
  pendingMark = { start, end: start + Array.from(text.slice(a, b)).length, text: text.slice(a, b) };
  $("mark-picker").hidden = false;
  $("mark-query").value = pendingMark.text.trim();
  searchMark();
});

function pickMark(entity, label) {
  status("");  // a message about an earlier mark (a new entity made) does not belong to this one
  state.marked.push({ ...pendingMark, entity, label });
  state.marked.sort((x, y) => x.start - y.start);
  pendingMark = null;
  $("mark-picker").hidden = true;
  renderMarkText();
}

async function searchMark() {
  const q = $("mark-query").value.trim();
  if (!q) return;
  try {
    const found = await api("GET", `/graph/entities?q=${encodeURIComponent(q)}&limit=8`);
    const mint = el("li", {}, el("button", { class: "mint", onclick: async () => {
      try {  // a name the graph has no entity for: make one, with this label
        const made = await api("POST", "/graph/entities", { label: pendingMark.text.trim() });
        pickMark(made.id, made.label);
        status(`new entity ${made.curie}`);
      } catch (e) { status(e.message, true); }
    } }, `new entity "${pendingMark.text.trim()}"`));
    $("mark-results").replaceChildren(...(found.length
      ? found.map((m) => el("li", {}, el("a", { class: "entity pick", onclick: () => pickMark(m.id, m.label || m.curie) },
          m.label || m.curie), " ", el("span", { class: "muted" }, m.curie)))
      : [el("li", { class: "muted" }, `no close match for "${q}" in the graph: change the search, or make it:`)]),
      mint);
  } catch (e) { status(e.message, true); }
}
$("mark-query").addEventListener("input", searchMark);

$("add-text").addEventListener("click", async () => {
  const text = $("text-input").value;
  if (!text.trim()) { status("Paste some text first", true); return; }
  try {
    const body = { text };
    if (state.marked.length) body.mentions = [state.marked.map(({ start, end, entity }) => ({ start, end, entity }))];
    const r = await api("POST", `/sessions/${state.session.id}/texts`, body);
    if (!r.added && !r.sentences) {
      status("No two mentions of graph entities were found in one sentence of this text: suggestions need " +
             "names that match entity labels or aliases in the graph (ingest them, add aliases, or mark the " +
             "names by hand below)." + unlinkedNote(r), true);
    } else {
      status(`${r.added} new pair${r.added === 1 ? "" : "s"} of linked mentions in ${r.sentences} sentence(s)` +
        (r.ambiguous && r.ambiguous.length
          ? ` · left unlinked, several entities have these names: ${r.ambiguous.map((a) => `${a.text} (${a.entities})`).join(", ")}` +
            " (mark them by hand to choose)" : "") +
        (r.guessed && r.guessed.length
          ? ` · linked by ${r.guessed.map((g) => `${g.how}: ${g.text}`).join(", ")} (underlined dotted: check them)` : ""));
    }
    state.marked = [];
    await refreshProgress();
    await loadSuggestions();
  } catch (e) { status(e.message, true); }
});

$("more").addEventListener("click", loadSuggestions);

let loads = 0;  // only the latest request draws the list (a slower earlier one must not overwrite it)

async function loadSuggestions() {
  if (!state.session) return;
  const ticket = ++loads;
  const show = $("status-filter").value;
  // The list on screen is the old one until the answer comes: shown dimmed (and busy to screen readers).
  $("suggestions").setAttribute("aria-busy", "true");
  let list;
  try {
    if (!show) {
      list = await api("GET", `/sessions/${state.session.id}/suggestions?n=10`);
    } else {  // decided ones (or all), to look over and undo: no model score shown
      const query = show === "all" ? "" : `?status=${show}`;
      list = (await api("GET", `/sessions/${state.session.id}/candidates${query}`)).map((c) => ({ ...c, score: null }));
    }
  } finally {
    if (ticket === loads) $("suggestions").removeAttribute("aria-busy");
  }
  if (ticket !== loads) return;
  state.suggestions = list;
  state.focus = 0;
  renderSuggestions();
}

$("status-filter").addEventListener("change", () => loadSuggestions().catch((e) => status(e.message, true)));

// The API counts offsets in code points (Python str); JavaScript strings index UTF-16 units, which
// differ after an emoji or any character outside the BMP. Slice an array of code points instead.
function codePointSlice(chars, start, end) {
  return chars.slice(start, end).join("");
}

function highlighted(s, cls = "sentence") {
  const parts = [];
  const chars = Array.from(s.sentence);
  const spans = [[s.head, "head"], [s.tail, "tail"]].sort((a, b) => a[0].start - b[0].start);
  let cursor = 0;
  for (const [m, cls] of spans) {
    parts.push(codePointSlice(chars, cursor, m.start));
    // A link made by spelling or by context is a guess: marked, with how it was made in the tooltip.
    const guessed = m.linked_by === "spelling" || m.linked_by === "context";
    const how = m.linked_by === "spelling" ? ` (linked by spelling, ${(100 * m.link_score).toFixed(0)}% alike)`
      : m.linked_by === "context" ? " (one of several with this name, chosen by the context)" : "";
    parts.push(el("mark", { class: guessed ? `${cls} guessed` : cls, title: (m.entity || "not linked") + how },
                  codePointSlice(chars, m.start, m.end)));
    cursor = m.end;
  }
  parts.push(codePointSlice(chars, cursor));
  return el("div", { class: cls }, ...parts);
}

// The other sentences of the document that name the same two entities: one card per pair, its support shown.
function support(s) {
  const more = s.support || [];
  if (!more.length) return "";
  return el("div", { class: "support muted" }, `also in ${more.length} more sentence${more.length === 1 ? "" : "s"}:`,
            ...more.map((x) => highlighted(x, "sentence also")));
}

function renderSuggestions() {
  const list = $("suggestions");
  list.replaceChildren();
  state.suggestions.forEach((s, i) => {
    // Type-ahead: the browser filters the list (label, CURIE, description) as the annotator types.
    const other = el("input", { "aria-label": "other relation", class: "other", list: "relation-options",
                                placeholder: "other relation: type to search (c)" });
    const choices = el("div", { class: "choices", role: "listbox", "aria-label": "relations with this label" });
    const correct = () => {
      const found = relationsFromText(other.value);
      if (!found.length) { status(`no relation matches "${other.value}": pick one from the list`, true); return; }
      if (found.length === 1) { decide(i, "correct", found[0].id); return; }
      // Several relations share the label: show each with its CURIE and description; arrows and Enter choose.
      choices.replaceChildren(...found.map((r, n) => {
        const option = el("button", { class: "choice", role: "option", "data-relation": r.id,
                                      onclick: () => decide(i, "correct", r.id) },
                          `${r.label} · ${r.curie}`, el("span", { class: "muted" }, ` ${(r.description || "").slice(0, 90)}`));
        option.addEventListener("keydown", (e) => {
          const all = choices.querySelectorAll("button.choice");
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            e.preventDefault();
            all[(n + (e.key === "ArrowDown" ? 1 : all.length - 1)) % all.length].focus();
          } else if (e.key === "Escape") { choices.replaceChildren(); other.focus(); }
        });
        return option;
      }));
      status(`${found.length} relations are called "${found[0].label}": choose one (arrows, Enter)`);
      choices.querySelector("button.choice").focus();
    };
    other.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); correct(); } });
    const alternatives = (s.alternatives || []).length && !(s.status && s.status !== "pending")
      ? el("div", { class: "muted alternatives" }, "or: ", ...s.alternatives.map((a, k) =>
          el("button", { class: "alt", title: a.curie, onclick: () => decide(i, "correct", a.relation) },
             `${k + 1} ${a.label || a.curie} ${(100 * a.score).toFixed(0)}%`)))
      : "";
    const claim = el("div", { class: "claim" }, el("b", {}, s.head.text), " → ", el("i", {}, state.session.label), " → ",
                     el("b", {}, s.tail.text), "?");
    const item = el("li", { class: `suggestion ${s.status || "pending"}${i === state.focus ? " focused" : ""}`, "data-id": s.id },
      highlighted(s), support(s), claim, alternatives,
      el("div", { class: "meta" },
        el("span", { class: "score" }, s.score == null ? "–" : `${(100 * s.score).toFixed(0)}%`),
        el("span", { class: "bar" }, el("span", { style: `width:${Math.round(100 * (s.score || 0))}%` })),
        ...(s.status && s.status !== "pending"
          ? [el("span", { class: `badge ${s.status}` }, badge(s)),
             el("button", { class: "undo", onclick: () => undo(i) }, "Undo (u)")]
          : [el("button", { class: "accept", onclick: () => decide(i, "accept") }, "Accept (a)"),
             el("button", { class: "reject", onclick: () => decide(i, "reject") }, "Reject (r)"),
             other,
             el("button", { onclick: correct }, "Correct"),
             choices,
             el("button", { class: "none", onclick: () => decide(i, "correct", null) }, "None of these (n)"),
             el("button", { class: "swap", title: "exchange head and tail", onclick: () => swap(i) }, "Swap (s)")])));
    item.addEventListener("click", () => { state.focus = i; markFocus(); });
    list.append(item);
  });
  $("more").hidden = !state.suggestions.length;
  if (!state.suggestions.length) {
    list.append(el("li", { class: "muted" }, $("status-filter").value ? "None with this status." : "No pending suggestions: add more text."));
  }
}

function markFocus() {
  document.querySelectorAll(".suggestion").forEach((node, i) => node.classList.toggle("focused", i === state.focus));
  const node = document.querySelectorAll(".suggestion")[state.focus];
  if (node) node.scrollIntoView({ block: "nearest" });
}

async function decide(i, decision, relation) {
  const s = state.suggestions[i];
  if (!s || s.status && s.status !== "pending") return;
  if (!named()) return;
  try {
    const body = { decision, user: annotator() };
    if (decision === "correct") body.relation = relation === undefined ? null : relation;
    const r = await api("POST", `/sessions/${state.session.id}/suggestions/${s.id}`, body);
    Object.assign(s, { status: r.status, relation: r.relation, statement: r.statement, example: r.example });
    state.lastDecided = s.id;  // what 'u' undoes, wherever the focus has moved since
    renderSuggestions();
    const unlinked = [s.head, s.tail].filter((m) => !m.entity).map((m) => `"${m.text}"`);
    status(r.statement ? `${r.status}: fact written with provenance`
      : r.relation && unlinked.length ? `${r.status} as an example; no fact written: ${unlinked.join(" and ")} ` +
          "names no entity of the graph (mark it by hand to link it)"
      : r.status);
    state.focus = Math.min(i + 1, state.suggestions.length - 1);
    markFocus();
    await Promise.all([refreshRelation(), refreshProgress()]);
    if (state.suggestions.every((x) => x.status && x.status !== "pending")) await loadSuggestions();
  } catch (e) { status(e.message, true); }
}

function badge(s) {
  if (s.status === "corrected") {
    const r = state.relations.find((x) => x.id === s.relation);
    return s.relation ? `corrected to ${r ? r.label : s.relation}` : "corrected to none of the relations";
  }
  return s.status;
}

async function undo(i) {
  const s = state.suggestions[i];
  if (!s || !s.status || s.status === "pending") return;
  const had = s.relation ? (s.statement ? "its example and fact left the graph" : "its example left the graph")
    : "the suggestion is pending again";
  try {
    const r = await api("POST", `/sessions/${state.session.id}/suggestions/${s.id}/undo`, { user: annotator() });
    Object.assign(s, { status: r.status, relation: null, statement: null, example: null });
    if (state.lastDecided === s.id) state.lastDecided = null;
    renderSuggestions();
    status(`decision undone: ${had}`);
    await Promise.all([refreshRelation(), refreshProgress()]);
  } catch (e) { status(e.message, true); }
}

async function swap(i) {
  const s = state.suggestions[i];
  if (!s || s.status && s.status !== "pending") return;
  try {
    const r = await api("POST", `/sessions/${state.session.id}/suggestions/${s.id}/swap`);
    Object.assign(s, { head: r.head, tail: r.tail, score: null });  // its score was for the other direction
    renderSuggestions();
    status(`turned round: ${r.head.text} → ${state.session.label} → ${r.tail.text}`);
  } catch (e) { status(e.message, true); }
}

// Names the server left unlinked (several entities carry them), said where no suggestion could come of them.
function unlinkedNote(r) {
  return r.ambiguous && r.ambiguous.length
    ? ` Left unlinked (several entities have these names): ${r.ambiguous.map((a) => a.text).join(", ")}.` : "";
}

async function refreshRelation() {
  const id = state.relation.id;
  const r = await api("GET", `/relations/${enc(id)}`);
  const i = state.relations.findIndex((x) => x.id === id);
  if (i >= 0) state.relations[i] = r;
  state.relation = r;
  const count = $("example-count");
  if (count) count.textContent = `${r.examples} example${r.examples === 1 ? "" : "s"}`;
  await loadQuality();
}

document.addEventListener("keydown", (e) => {
  if (e.target.matches("input, textarea, select") || !state.suggestions.length || $("tab-label").hidden) return;
  const key = e.key.toLowerCase();
  if (key === "a") decide(state.focus, "accept");
  else if (key === "r") decide(state.focus, "reject");
  else if (key === "s") swap(state.focus);
  else if (key === "u") {  // the focused card's decision, else the last one made (focus moves on after it)
    const focused = state.suggestions[state.focus];
    const decided = (x) => x && x.status && x.status !== "pending";
    const last = state.suggestions.findIndex((x) => x.id === state.lastDecided);
    if (decided(focused)) undo(state.focus);
    else if (last >= 0 && decided(state.suggestions[last])) { state.focus = last; markFocus(); undo(last); }
    else status("nothing to undo here: no decision was made on this page yet", true);
  }
  else if (["1", "2", "3"].includes(key)) {  // correct to the model's k-th likeliest other relation
    const s = state.suggestions[state.focus];
    const alt = s && (s.alternatives || [])[Number(key) - 1];
    if (alt) decide(state.focus, "correct", alt.relation);
  }
  else if (key === "c") {  // open the relation search of the focused card; Enter there corrects
    const node = document.querySelectorAll(".suggestion")[state.focus];
    if (node && node.querySelector("input.other")) { e.preventDefault(); node.querySelector("input.other").focus(); }
  } else if (key === "n") decide(state.focus, "correct", null); else if (key === "j" || key === "arrowdown") { state.focus = Math.min(state.focus + 1, state.suggestions.length - 1); markFocus(); }
  else if (key === "k" || key === "arrowup") { state.focus = Math.max(state.focus - 1, 0); markFocus(); }
  else return;
  e.preventDefault();
});

// Learning curve ----------------------------------------------------------------------------------
async function loadQuality() {
  if (!state.relation) return;
  const q = await api("GET", `/relations/${enc(state.relation.id)}/quality`);
  const box = $("quality");
  if (!q.curve.length) {
    box.replaceChildren(el("p", { class: "muted" }, "No examples yet: accept a suggestion to add one."));
    return;
  }
  if (q.examples < 2) {  // no point to draw: one example has no others to be asked with
    box.replaceChildren(el("p", { class: "muted", id: "quality-text" },
      "1 example · leave-one-out accuracy needs at least two examples (each is asked with the others)"));
    return;
  }
  const W = 320, H = 150, P = 28;
  const n = q.curve.length;
  const x = (k) => P + (n === 1 ? (W - 2 * P) / 2 : ((k - 1) / (n - 1)) * (W - 2 * P));
  const y = (a) => H - P - a * (H - 2 * P);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "curve");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `learning curve, ${n} examples`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add("line", { x1: P, y1: y(0), x2: W - P, y2: y(0), stroke: "#9aa5b1" });
  add("line", { x1: P, y1: y(0), x2: P, y2: y(1), stroke: "#9aa5b1" });
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {  // accuracy ticks and faint grid lines
    add("line", { x1: P - 3, y1: y(a), x2: W - P, y2: y(a), stroke: a ? "#e3e7ec" : "#9aa5b1" });
    add("text", { x: P - 5, y: y(a) + 3, "font-size": 9, "text-anchor": "end", class: "tick" }, `${100 * a}%`);
  }
  const first = q.curve[0].examples, last = q.curve[n - 1].examples;
  for (const k of [...new Set([first, Math.round((first + last) / 2), last])]) {  // example-count ticks
    const at = n === 1 ? x(1) : x(1 + ((k - first) / Math.max(1, last - first)) * (n - 1));
    add("line", { x1: at, y1: y(0), x2: at, y2: y(0) + 3, stroke: "#9aa5b1" });
    add("text", { x: at, y: y(0) + 13, "font-size": 9, "text-anchor": "middle", class: "tick" }, String(k));
  }
  add("text", { x: W - P, y: H - 2, "font-size": 9, "text-anchor": "end" }, "examples");
  add("polyline", { points: q.curve.map((p) => `${x(p.examples)},${y(p.accuracy)}`).join(" "), fill: "none",
                    stroke: "#2563eb", "stroke-width": 2 });
  for (const p of q.curve) add("circle", { cx: x(p.examples), cy: y(p.accuracy), r: 3, fill: "#2563eb" });
  const confused = (q.confused_with || []).slice(0, 3).map((c) => `${c.label || c.curie} (${c.examples})`);
  box.replaceChildren(svg, el("p", { class: "muted", id: "quality-text" },
    `${q.examples} examples · leave-one-out accuracy ` +
      `${(100 * q.leave_one_out_accuracy).toFixed(0)}% among ${q.candidates} relations` +
      (confused.length ? ` · misread as ${confused.join(", ")}` : "")));
}

// SPARQL ------------------------------------------------------------------------------------------
const SPARQL_ROWS_SHOWN = 500;  // a table this long is already more than a page can show usefully

$("run-sparql").addEventListener("click", async () => {
  const box = $("sparql-result");
  box.replaceChildren(el("p", { class: "muted" }, "running…"));
  try {
    const data = await api("GET", `/graph/sparql?query=${encodeURIComponent($("sparql-input").value)}`, undefined,
                           "application/sparql-results+json, text/turtle;q=0.5");
    if (typeof data === "string") { box.replaceChildren(el("pre", {}, data)); return; }
    if ("boolean" in data) { box.replaceChildren(el("p", {}, `ASK: ${data.boolean}`)); return; }
    const vars = data.head.vars;
    const table = el("table", {}, el("thead", {}, el("tr", {}, ...vars.map((v) => el("th", {}, v)))));
    const body = el("tbody");
    const all = data.results.bindings;
    for (const row of all.slice(0, SPARQL_ROWS_SHOWN)) {
      body.append(el("tr", {}, ...vars.map((v) => {
        const cell = row[v];
        if (!cell) return el("td", {});
        if (cell.type === "uri") return el("td", {}, el("a", { class: "entity", onclick: () => browse(cell.value) }, cell.value));
        return el("td", {}, cell.value);
      })));
    }
    table.append(body);
    const count = all.length > SPARQL_ROWS_SHOWN
      ? `${all.length} rows, the first ${SPARQL_ROWS_SHOWN} shown: add LIMIT/OFFSET to the query to page`
      : `${all.length} row${all.length === 1 ? "" : "s"}`;
    box.replaceChildren(el("p", { class: "muted" }, count), table);
  } catch (e) { box.replaceChildren(el("p", { class: "error" }, e.message)); }
});

// Entities ----------------------------------------------------------------------------------------
$("entity-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("entity-input").value.trim();
  if (text.includes(":")) browse(text); else searchEntities(text);  // an IRI or CURIE, else a name
});

async function searchEntities(name) {
  const box = $("entity-result");
  try {
    const found = await api("GET", `/graph/entities?q=${encodeURIComponent(name)}&limit=20`);
    box.replaceChildren(found.length
      ? el("ul", {}, ...found.map((m) => el("li", {}, el("a", { class: "entity", onclick: () => browse(m.id) },
            m.label || m.curie), " ", el("span", { class: "muted" }, `${m.curie} · matched "${m.matched}" · ${m.score}`))))
      : el("p", { class: "muted" }, `No entity is named like "${name}".`));
  } catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); }
}

const ENTITY_PAGE = 50;

async function browse(id, offset = 0) {
  document.querySelector('.tab[data-tab="entity"]').click();
  $("entity-input").value = id;
  const box = $("entity-result");
  try {
    const e = await api("GET", `/graph/entities/${enc(id)}?limit=${ENTITY_PAGE}&offset=${offset}`);
    const shown = (list, total) => total ? `${offset + 1}-${offset + list.length} of ${total}` : "none";
    const more = offset + ENTITY_PAGE < Math.max(e.outgoing_total, e.incoming_total);
    const link = (n) => el("a", { class: "entity", onclick: () => browse(n.id) }, n.label || n.curie);
    const rows = (list, dir) => list.map((f) => el("tr", {}, el("td", {}, dir), el("td", {}, f.relation.label || f.relation.curie),
                                                   el("td", {}, link(f.entity))));
    box.replaceChildren(
      el("div", { class: "card" }, el("strong", {}, e.labels[0] || e.curie), " ", el("span", { class: "muted" }, e.curie),
         el("div", { class: "muted" }, e.hypernyms.length ? `is a: ${e.hypernyms.join(", ")}` : "no classes")),
      el("p", { class: "muted" }, `facts out: ${shown(e.outgoing, e.outgoing_total)}, in: ${shown(e.incoming, e.incoming_total)} `,
         offset ? el("button", { onclick: () => browse(id, Math.max(0, offset - ENTITY_PAGE)) }, "previous") : "",
         more ? el("button", { onclick: () => browse(id, offset + ENTITY_PAGE) }, "more") : ""),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "relation"), el("th", {}, "neighbour"))),
         el("tbody", {}, ...rows(e.outgoing, "→"), ...rows(e.incoming, "←"))));
  } catch (err) { box.replaceChildren(el("p", { class: "error" }, err.message)); }
}

loadRelations().then(() => {
  loadSessions();
  const last = localStorage.getItem("kgrel-session");
  if (last) resumeSession(last);
});
