// Flow builder: the problems list, the simulator (a chat with the draft or a published version,
// highlighting the path taken), the test-case editor with its runs, and the version history.

import { h, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { errorText, problemBox, loading, empty, toast } from "../lib/ui.js";
import { typeLabel, glyphOf, truncate } from "./builder-model.js";

/** Appends the children that are present (native append would print null). */
function add(el, ...kids) {
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) el.append(k);
}

function codeTitle(code) {
  const key = `builder.code.${code}`;
  const text = t(key);
  return text === key ? String(code) : text;
}

// ---------------------------------------------------------------- problems

export function problemsPanel(ed) {
  const list = ed.problems;
  const nodes = new Map(ed.doc.definition.nodes.map((n) => [n.id, n]));
  const head = h("div", { class: "bld-panel-head" },
    h("h2", {}, t("builder.problems.title", list.length)),
    h("button", { type: "button", class: "button button-secondary button-small", dataset: { action: "validate-panel" }, onclick: () => document.querySelector('.bld-toolbar [data-action="validate"]').click() }, t("builder.validate")));
  const source = h("p", { class: ["bld-muted", "bld-small", ed.problemsStale && "bld-stale"] },
    ed.problemsStale ? t("builder.problems.stale") : t(`builder.problems.source.${ed.problemsSource}`));
  if (!list.length) return h("div", { class: "bld-problems" }, head, source, h("div", { class: "bld-ok" }, h("span", { "aria-hidden": "true" }, "✓ "), t("builder.problems.none")));
  const flowLevel = list.filter((p) => !p.node_id && p.code !== "test_failed");
  const tests = list.filter((p) => p.code === "test_failed");
  const byNode = new Map();
  for (const p of list) {
    if (!p.node_id) continue;
    if (!byNode.has(p.node_id)) byNode.set(p.node_id, []);
    byNode.get(p.node_id).push(p);
  }
  const item = (p) => h("li", { class: "bld-problem-item", dataset: { code: p.code, node: p.node_id || "" } },
    h("span", { class: "bld-problem-code" }, codeTitle(p.code)), h("span", { class: "bld-problem-msg" }, p.message));
  const groups = [];
  if (flowLevel.length) groups.push(h("section", { class: "bld-problem-group", dataset: { group: "flow" } }, h("h3", {}, t("builder.problems.flow")), h("ul", {}, flowLevel.map(item))));
  if (tests.length) {
    groups.push(h("section", { class: "bld-problem-group", dataset: { group: "tests" } },
      h("h3", {}, t("builder.problems.tests"), " ", h("button", { type: "button", class: "bld-link", onclick: () => ed.showTab("tests") }, t("builder.problems.openTests"))),
      h("ul", {}, tests.map(item))));
  }
  for (const [id, problems] of byNode) {
    const n = nodes.get(id);
    groups.push(h("section", { class: "bld-problem-group", dataset: { group: "node", node: id } },
      h("h3", {}, n
        ? h("button", { type: "button", class: "bld-link bld-problem-node", dataset: { node: id }, onclick: () => ed.selectProblemNode(id) },
          h("span", { class: "bld-multi-glyph", "aria-hidden": "true" }, glyphOf(n.type)), ` ${typeLabel(n)} · ${id}`)
        : h("span", {}, `${id} `, h("span", { class: "bld-muted" }, t("builder.problems.gone")))),
      h("ul", {}, problems.map(item))));
  }
  return h("div", { class: "bld-problems" }, head, source, groups);
}

// ---------------------------------------------------------------- simulator

function parseVariables(text) {
  const out = {};
  for (const line of String(text || "").split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    try { value = JSON.parse(m[2]); } catch { /* plain text */ }
    out[m[1]] = value;
  }
  return out;
}

function showVariables(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");
}

export function simulatorPanel(ed) {
  const sim = ed.sim;
  const root = h("div", { class: "bld-sim" });
  const input = h("input", { type: "text", id: "bld-sim-input", maxlength: 4096, autocomplete: "off", placeholder: t("builder.sim.placeholder") });
  const sendBtn = h("button", { type: "submit", class: "button button-primary button-small bld-primary", id: "bld-sim-send" }, t("builder.sim.send"));
  const log = h("div", { class: "bld-chat", id: "bld-sim-chat", role: "log", "aria-live": "polite" });
  const statusLine = h("p", { class: "bld-sim-status", id: "bld-sim-status" });
  const versionSelect = h("select", { id: "bld-sim-version", "aria-label": t("builder.sim.versionLabel"), onchange: () => { sim.version = versionSelect.value; restart(); } },
    h("option", { value: "" }, t("builder.sim.draft")));
  const versionOptions = (ed.versions || []).map((v) => h("option", { value: String(v.version) }, t("builder.sim.version", v.version)));
  versionSelect.append(...versionOptions);
  if (sim.version && !(ed.versions || []).some((v) => String(v.version) === sim.version)) versionSelect.append(h("option", { value: sim.version }, t("builder.sim.version", sim.version)));
  versionSelect.value = sim.version;
  if (ed.versions === null) {
    ed.versions = undefined;
    ed.api("GET", "/versions").then((r) => {
      ed.versions = r.items || [];
      if (ed.tab === "versions") ed.renderPanel();
      if (!versionSelect.isConnected) return;
      for (const v of ed.versions) {
        if (!versionSelect.querySelector(`option[value="${v.version}"]`)) versionSelect.append(h("option", { value: String(v.version) }, t("builder.sim.version", v.version)));
      }
    }).catch(() => { ed.versions = []; });
  }
  const vars = h("textarea", { rows: 2, class: "mono", id: "bld-sim-vars", spellcheck: "false", placeholder: "plan = gold" });
  vars.value = sim.variables;
  vars.addEventListener("input", () => { sim.variables = vars.value; });

  function restart() {
    sim.messages = [];
    sim.result = null;
    sim.error = null;
    ed.setPath(null);
    draw();
    input.focus();
  }

  function line(l) {
    const cls = ["bld-msg", `bld-msg-${l.role}`];
    const bubble = h("div", { class: cls, dataset: { node: l.node_id || null } }, h("span", { class: "bld-msg-text" }, l.text));
    if (l.role === "bot" && l.node_id) {
      bubble.append(h("button", { type: "button", class: "bld-msg-node", title: t("builder.sim.showNode"), onclick: () => ed.selectProblemNode(l.node_id) }, l.node_id));
    }
    if (Array.isArray(l.choices) && l.choices.length) {
      bubble.append(h("div", { class: "bld-choices" }, l.choices.map((c) => h("button", { type: "button", class: "bld-choice", disabled: sim.busy, onclick: () => send(c) }, c))));
    }
    return bubble;
  }

  function draw() {
    const lines = sim.result ? sim.result.transcript || [] : [];
    const shown = lines.map(line);
    if (sim.busy && sim.messages.length > lines.filter((l) => l.role === "customer").length) {
      shown.push(line({ role: "customer", text: sim.messages[sim.messages.length - 1] }));
      shown.push(h("div", { class: "bld-msg bld-msg-bot bld-typing", "aria-label": t("builder.sim.thinking") }, h("span"), h("span"), h("span")));
    }
    if (!shown.length) shown.push(h("p", { class: "bld-chat-empty" }, t("builder.sim.empty")));
    log.replaceChildren(...shown);
    log.scrollTop = log.scrollHeight;
    const status = sim.result && sim.result.status;
    statusLine.replaceChildren();
    if (sim.error) statusLine.append(h("span", { class: "bld-error-text" }, sim.error));
    else if (status) {
      statusLine.append(h("span", { class: ["status", status === "failed" ? "status-bad" : status === "completed" ? "" : "status-muted"], dataset: { status } }, t(`builder.sim.status.${status}`)));
      if (sim.result.path && sim.result.path.length) statusLine.append(" ", h("span", { class: "bld-muted bld-small" }, t("builder.sim.pathLength", sim.result.path.length)));
    }
    const full = sim.messages.length >= 50;
    input.disabled = sim.busy || full;
    sendBtn.disabled = sim.busy || full;
    sendBtn.setAttribute("aria-busy", String(sim.busy));
    if (full) input.placeholder = t("builder.sim.full");
    saveCase.disabled = !sim.result || ed.readOnly;
  }

  async function send(text) {
    text = String(text);
    if (!text.trim() || sim.busy) return;
    sim.error = null;
    if (!sim.version && ed.isDirty()) {
      sim.busy = true;
      draw();
      const ok = await ed.ensureSaved();
      sim.busy = false;
      if (!ok) { sim.error = t("builder.sim.notSaved"); draw(); return; }
    }
    sim.busy = true;
    sim.messages.push(text);
    input.value = "";
    draw();
    try {
      const body = { messages: sim.messages };
      if (sim.version) body.version = Number(sim.version);
      const variables = parseVariables(sim.variables);
      if (Object.keys(variables).length) body.variables = variables;
      const result = await ed.api("POST", "/simulate", { body });
      sim.result = result;
      ed.setPath(result);
    } catch (error) {
      sim.messages.pop();
      input.value = text;
      sim.error = errorText(error);
    } finally {
      sim.busy = false;
      draw();
      if (ed.tab === "simulator") input.focus();
    }
  }

  const saveCase = h("button", { type: "button", class: "button button-secondary button-small", "data-write": "", dataset: { action: "sim-to-test" }, onclick: () => {
    if (!sim.result) return;
    const replies = (sim.result.transcript || []).filter((l) => l.role === "bot");
    const expect = {};
    if (replies.length) expect.replies_contain = [replies[replies.length - 1].text];
    if (sim.result.ended_at) expect.ends_at = sim.result.ended_at;
    const testCase = { describe: t("builder.sim.caseName", ed.doc.test_cases.length + 1), messages: [...sim.messages], expect };
    const variables = parseVariables(sim.variables);
    if (Object.keys(variables).length) testCase.variables = variables;
    ed.doc.test_cases.push(testCase);
    ed.changed(true);
    toast(t("builder.sim.caseAdded"));
    ed.showTab("tests");
  } }, t("builder.sim.toTest"));

  const form = h("form", { class: "bld-sim-form", onsubmit: (e) => { e.preventDefault(); send(input.value); } }, input, sendBtn);
  add(root,
    h("div", { class: "bld-panel-head" }, h("h2", {}, t("builder.sim.title")), versionSelect,
      h("button", { type: "button", class: "button button-secondary button-small", id: "bld-sim-restart", onclick: restart }, t("builder.sim.restart"))),
    h("p", { class: "bld-muted bld-small" }, t("builder.sim.hint")),
    log, statusLine, form,
    h("details", { class: "bld-sim-vars", open: sim.variables ? true : null }, h("summary", {}, t("builder.sim.variables")), vars, h("p", { class: "field-hint" }, t("builder.sim.variablesHint"))),
    sim.result && sim.result.variables && Object.keys(sim.result.variables).length
      ? h("details", { class: "bld-sim-state" }, h("summary", {}, t("builder.sim.state")), h("pre", { class: "mono" }, showVariables(sim.result.variables)))
      : null,
    ed.readOnly ? null : h("div", { class: "bld-insp-actions" }, saveCase));
  draw();
  return root;
}

// ---------------------------------------------------------------- tests

export function testsPanel(ed) {
  const ro = ed.readOnly;
  const cases = ed.doc.test_cases;
  const report = ed.testReport;
  const nodes = ed.doc.definition.nodes;
  const root = h("div", { class: "bld-tests" });
  const runBtn = h("button", { type: "button", class: "button button-primary button-small bld-primary", id: "bld-tests-run", "data-write": "", disabled: !cases.length, onclick: run }, t("builder.tests.run"));
  const summary = h("p", { class: "bld-tests-summary", id: "bld-tests-summary" });
  if (report) {
    const passed = report.cases.filter((c) => c.passed).length;
    summary.append(h("span", { class: ["status", report.passed ? "" : "status-bad"] }, t("builder.tests.summary", passed, report.cases.length)));
    if (report.stale) summary.append(" ", h("span", { class: "bld-muted bld-small" }, t("builder.tests.stale")));
  }

  async function run() {
    runBtn.disabled = true;
    runBtn.setAttribute("aria-busy", "true");
    try {
      if (!(await ed.ensureSaved())) return;
      ed.testReport = await ed.api("POST", "/test");
    } catch (error) {
      toast(errorText(error), "error");
    } finally {
      if (ed.tab === "tests") ed.renderPanel();
    }
  }

  const lines = (list) => (Array.isArray(list) ? list : list === undefined || list === null ? [] : [list]).map(String).join("\n");
  const toLines = (text) => String(text).split("\n").map((s) => s.trim()).filter(Boolean);

  function card(c, i) {
    const result = report && report.cases[i];
    if (!c.expect || typeof c.expect !== "object") c.expect = {};
    const onEdit = (commitNow) => {
      if (report) report.stale = true;
      ed.changed(commitNow);
    };
    const area = (value, apply, rows, label, hint, fieldName) => {
      const el = h("textarea", { rows, disabled: ro, "aria-label": label, dataset: { caseField: fieldName } });
      el.value = value;
      el.addEventListener("input", () => { apply(el.value); onEdit(false); });
      el.addEventListener("change", () => onEdit(true));
      return h("label", { class: "bld-case-field" }, h("span", { class: "bld-case-label" }, label), el, hint ? h("span", { class: "field-hint" }, hint) : null);
    };
    const describe = h("input", { type: "text", value: c.describe || "", disabled: ro, class: "bld-case-name", "aria-label": t("builder.tests.describe"), dataset: { caseField: "describe" } });
    describe.addEventListener("input", () => { c.describe = describe.value; onEdit(false); });
    describe.addEventListener("change", () => onEdit(true));
    const endsAt = h("select", { disabled: ro, dataset: { caseField: "ends_at" }, onchange: () => {
      if (endsAt.value) c.expect.ends_at = endsAt.value;
      else delete c.expect.ends_at;
      onEdit(true);
    } }, h("option", { value: "" }, t("builder.tests.anyNode")), nodes.map((n) => h("option", { value: n.id }, `${n.id} · ${truncate(typeLabel(n), 18)}`)));
    if (c.expect.ends_at && !nodes.some((n) => n.id === c.expect.ends_at)) endsAt.append(h("option", { value: c.expect.ends_at }, c.expect.ends_at));
    endsAt.value = c.expect.ends_at || "";
    const badge = result
      ? h("span", { class: ["status", result.passed ? "" : "status-bad"], dataset: { result: result.passed ? "pass" : "fail" } }, result.passed ? t("builder.tests.pass") : t("builder.tests.fail"))
      : null;
    return h("article", { class: ["bld-case", result && (result.passed ? "is-pass" : "is-fail")], dataset: { case: i } },
      h("div", { class: "bld-case-head" }, describe, badge,
        ro ? null : h("button", { type: "button", class: "bld-icon-btn", "data-write": "", title: t("builder.tests.remove"), "aria-label": t("builder.tests.remove"), onclick: () => {
          cases.splice(i, 1);
          ed.testReport = null;
          ed.changed(true);
          ed.renderPanel();
        } }, "×")),
      area(lines(c.messages), (v) => { c.messages = toLines(v); }, 3, t("builder.tests.messages"), t("builder.tests.messagesHint"), "messages"),
      area(lines(c.expect.replies_contain), (v) => { const l = toLines(v); if (l.length) c.expect.replies_contain = l; else delete c.expect.replies_contain; }, 2, t("builder.tests.replies"), t("builder.tests.repliesHint"), "replies_contain"),
      h("label", { class: "bld-case-field" }, h("span", { class: "bld-case-label" }, t("builder.tests.endsAt")), endsAt),
      area(showVariables(c.expect.variables), (v) => { const o = parseVariables(v); if (Object.keys(o).length) c.expect.variables = o; else delete c.expect.variables; }, 2, t("builder.tests.expectVars"), t("builder.tests.varsHint"), "expect_variables"),
      h("details", { class: "bld-case-more", open: c.variables && Object.keys(c.variables).length ? true : null }, h("summary", {}, t("builder.tests.startVars")),
        area(showVariables(c.variables), (v) => { const o = parseVariables(v); if (Object.keys(o).length) c.variables = o; else delete c.variables; }, 2, t("builder.tests.startVars"), t("builder.tests.varsHint"), "variables")),
      result && !result.passed ? h("ul", { class: "bld-case-failures" }, result.failures.map((f) => h("li", {}, f))) : null,
      result ? h("p", { class: "bld-muted bld-small bld-case-path" }, t("builder.tests.path", (result.path || []).join(" → ") || "–")) : null);
  }

  add(root,
    h("div", { class: "bld-panel-head" }, h("h2", {}, t("builder.tests.title", cases.length)), ro ? null : runBtn),
    h("p", { class: "bld-muted bld-small" }, t("builder.tests.hint")),
    summary,
    cases.length ? h("div", { class: "bld-cases" }, cases.map(card)) : empty(t("builder.tests.empty")),
    ro ? null : h("button", { type: "button", class: "button button-secondary button-small bld-add", id: "bld-tests-add", "data-write": "", onclick: () => {
      cases.push({ describe: t("builder.tests.newName", cases.length + 1), messages: [], expect: {} });
      ed.changed(true);
      ed.renderPanel();
      const last = document.querySelector(".bld-case:last-of-type .bld-case-name");
      if (last) { last.focus(); last.select(); }
    } }, t("builder.tests.add")));
  return root;
}

// ---------------------------------------------------------------- versions

export function versionsPanel(ed) {
  const root = h("div", { class: "bld-versions" });
  const head = h("div", { class: "bld-panel-head" }, h("h2", {}, t("builder.versions.title")),
    h("button", { type: "button", class: "button button-secondary button-small", onclick: () => { ed.versions = null; ed.renderPanel(); } }, t("builder.versions.refresh")));
  root.append(head, h("p", { class: "bld-muted bld-small" }, t("builder.versions.hint")));
  const body = h("div", { class: "bld-version-list", id: "bld-versions" });
  root.append(body);

  function draw() {
    const items = ed.versions || [];
    if (!items.length) { body.replaceChildren(empty(t("builder.versions.none"))); return; }
    body.replaceChildren(...items.map((v) => {
      const live = v.version === ed.publishedVersion;
      return h("article", { class: ["bld-version", live && "is-live"], dataset: { version: v.version } },
        h("div", { class: "bld-version-head" },
          h("strong", {}, t("builder.sim.version", v.version)),
          live ? h("span", { class: "status" }, t("builder.versions.live")) : null,
          v.copied_from ? h("span", { class: "status status-muted" }, t("builder.versions.copyOf", v.copied_from)) : null),
        h("p", { class: "bld-muted bld-small" }, t("builder.versions.meta", formatDateTime(v.published_at, lang()), (v.definition && v.definition.nodes || []).length)),
        h("div", { class: "bld-version-actions" },
          ed.readOnly ? null : h("button", { type: "button", class: "button button-secondary button-small", dataset: { action: "simulate-version" }, onclick: () => {
            ed.sim.version = String(v.version);
            ed.sim.messages = [];
            ed.sim.result = null;
            ed.setPath(null);
            ed.showTab("simulator");
          } }, t("builder.versions.simulate")),
          ed.readOnly ? null : h("button", { type: "button", class: "button button-secondary button-small", "data-write": "", dataset: { action: "load-version" }, onclick: () => ed.loadVersionIntoDraft(v) }, t("builder.versions.load")),
          ed.readOnly || live ? null : h("button", { type: "button", class: "button button-small bld-rollback", "data-write": "", dataset: { action: "rollback", version: v.version }, onclick: () => ed.rollback(v.version) }, t("builder.versions.rollback"))));
    }));
  }

  if (Array.isArray(ed.versions)) draw();
  else {
    body.replaceChildren(loading());
    if (ed.versions === null) {
      ed.versions = undefined;
      ed.api("GET", "/versions")
        .then((r) => { ed.versions = r.items || []; if (ed.tab === "simulator" || ed.tab === "versions") ed.renderPanel(); })
        .catch((error) => { ed.versions = null; body.replaceChildren(problemBox(error, { onRetry: () => ed.renderPanel() })); });
    }
  }
  return root;
}
