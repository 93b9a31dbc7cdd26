// Flow builder: the inspector tab. The selected node's configuration form (generated from its
// type or its module's manifest), its id and connections; an edge; several nodes; or, with
// nothing selected, the flow's own settings (name, trigger).

import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { field } from "../lib/ui.js";
import { configSchema, outcomesOf, typeLabel, glyphOf, knownVariables, isKnownType, truncate, summaryOf } from "./builder-model.js";
import { schemaForm, markProblems } from "./builder-form.js";
import { edgeKey } from "./builder-canvas.js";

function problemList(problems) {
  if (!problems.length) return null;
  return h("ul", { class: "bld-node-problems" }, problems.map((p) => h("li", { class: "bld-problem-item" },
    h("span", { class: "bld-problem-code" }, t(`builder.code.${p.code}`) === `builder.code.${p.code}` ? p.code : t(`builder.code.${p.code}`)), " ", p.message)));
}

function nodeOption(n) {
  return h("option", { value: n.id }, `${n.id} · ${truncate(typeLabel(n), 18)}`);
}

function nodeView(ed, node, { loadUsers }) {
  const def = ed.doc.definition;
  const ro = ed.readOnly;
  const manifest = node.type === "module" ? ed.modules.get(node.config && node.config.module) : null;
  const description = node.type === "module" ? (manifest ? manifest.description : t("builder.desc.module")) : isKnownType(node.type) ? t(`builder.desc.${node.type}`) : t("builder.desc.unknown");
  const problems = ed.problemsByNode.get(node.id) || [];

  const idInput = h("input", { type: "text", value: node.id, disabled: ro, maxlength: 64, spellcheck: "false", id: "bld-node-id" });
  const idField = field({ label: t("builder.nodeId"), name: "node_id", input: idInput, hint: t("builder.nodeIdHint") });
  idInput.addEventListener("change", () => {
    const error = ed.renameNode(node.id, idInput.value);
    const slot = idField.querySelector(".field-error");
    if (error) {
      slot.textContent = error;
      idInput.setAttribute("aria-invalid", "true");
      idInput.value = node.id;
    } else {
      ed.renderPanel();
    }
  });

  const cfg = node.config && typeof node.config === "object" ? node.config : {};
  const schema = configSchema(node, ed.modules);
  let form = null;
  if (node.type === "handoff" && ed.users === null) loadUsers();
  const onChange = (commitNow, rerender) => {
    node.config = cfg;
    ed.changed(commitNow, rerender);
  };
  if (schema) {
    form = schemaForm(cfg, schema, {
      onChange, readOnly: ro, context: node.type, variables: knownVariables(def), users: Array.isArray(ed.users) ? ed.users : null,
    });
  } else if (!isKnownType(node.type)) {
    const area = h("textarea", { rows: 8, class: "mono", disabled: ro, spellcheck: "false" });
    area.value = JSON.stringify(cfg, null, 2);
    const f = field({ label: t("builder.configJson"), name: "config", input: area });
    area.addEventListener("change", () => {
      try {
        const parsed = JSON.parse(area.value || "{}");
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("object");
        node.config = parsed;
        f.querySelector(".field-error").textContent = "";
        ed.changed(true);
      } catch {
        f.querySelector(".field-error").textContent = t("builder.form.badJson");
      }
    });
    form = h("div", { class: "bld-form" }, f);
  } else {
    form = h("p", { class: "bld-muted" }, t("builder.noConfig"));
  }
  const rest = form ? markProblems(form, problems) : problems;

  const outs = outcomesOf(node);
  const others = def.nodes.filter((n) => n.id !== node.id);
  const connections = outs.length ? h("fieldset", { class: "bld-fieldset bld-connections" }, h("legend", {}, t("builder.connections")),
    outs.map((o) => {
      const current = def.edges.find((e) => e.from === node.id && e.outcome === o);
      const select = h("select", { disabled: ro, dataset: { outcome: o }, onchange: () => {
        def.edges = def.edges.filter((e) => !(e.from === node.id && e.outcome === o));
        if (select.value) def.edges.push({ from: node.id, outcome: o, to: select.value });
        ed.changed(true);
      } }, h("option", { value: "" }, t("builder.notConnected")), others.length <= 400 ? others.map(nodeOption) : null);
      if (current && others.length > 400) select.append(h("option", { value: current.to }, current.to));
      select.value = current ? current.to : "";
      return field({ label: t("builder.outcomeLabel", t(`builder.outcome.${o}`)), name: `outcome.${o}`, input: select });
    })) : null;

  let output = null;
  if (manifest && manifest.output && manifest.output.properties) {
    output = h("p", { class: "field-hint bld-output" }, t("builder.moduleOutput", Object.keys(manifest.output.properties).join(", ")));
  }

  return h("div", { class: "bld-inspector", dataset: { nodeId: node.id } },
    h("div", { class: "bld-insp-head" },
      h("span", { class: ["bld-insp-glyph", `type-${isKnownType(node.type) ? node.type : "unknown"}`], "aria-hidden": "true" }, glyphOf(node.type)),
      h("div", {}, h("h2", { class: "bld-insp-title" }, typeLabel(node), manifest ? h("span", { class: "bld-muted bld-small" }, ` v${manifest.version}`) : null),
        h("p", { class: "bld-insp-desc" }, description))),
    problemList(rest),
    idField,
    form,
    output,
    connections,
    ro ? null : h("div", { class: "bld-insp-actions" },
      h("button", { type: "button", class: "button button-secondary button-small", "data-write": "", onclick: () => ed.duplicateSelection() }, t("builder.duplicate")),
      h("button", { type: "button", class: "button button-danger button-small", "data-write": "", dataset: { action: "delete-node" }, onclick: () => ed.deleteSelection() }, t("builder.deleteNode"))));
}

function flowView(ed) {
  const ro = ed.readOnly;
  const def = ed.doc.definition;
  const onChange = (commitNow, rerender) => ed.changed(commitNow, rerender);
  const nameForm = schemaForm(ed.doc, { required: ["name"], properties: { name: { type: "string", maxLength: 200 } } }, { onChange, readOnly: ro, context: "flow" });
  if (!ed.doc.trigger || typeof ed.doc.trigger !== "object") ed.doc.trigger = { type: "default" };
  const trigger = ed.doc.trigger;
  const triggerForm = schemaForm(trigger, {
    required: ["type"],
    properties: {
      type: { type: "string", enum: ["default", "keywords", "regex"], "x-onchange": (tr) => {
        if (tr.type !== "keywords") delete tr.keywords;
        if (tr.type !== "regex") delete tr.pattern;
      } },
      keywords: { type: "array", maxItems: 50, items: { type: "string", maxLength: 100 }, "x-show": (tr) => tr.type === "keywords" },
      pattern: { type: "string", maxLength: 500, "x-show": (tr) => tr.type === "regex" },
    },
  }, { onChange, readOnly: ro, context: "trigger", path: "trigger" });
  const flowProblems = ed.problems.filter((p) => !p.node_id);
  return h("div", { class: "bld-inspector bld-flow-settings" },
    h("h2", { class: "bld-insp-title" }, t("builder.flowSettings")),
    h("p", { class: "bld-insp-desc" }, t("builder.flowSettingsHint")),
    nameForm,
    h("fieldset", { class: "bld-fieldset" }, h("legend", {}, t("builder.trigger")), triggerForm),
    problemList(flowProblems),
    h("dl", { class: "bld-stats" },
      h("div", {}, h("dt", {}, t("builder.stats.nodes")), h("dd", {}, String(def.nodes.length))),
      h("div", {}, h("dt", {}, t("builder.stats.edges")), h("dd", {}, String(def.edges.length))),
      h("div", {}, h("dt", {}, t("builder.stats.tests")), h("dd", {}, String(ed.doc.test_cases.length)))),
    h("details", { class: "bld-shortcuts" }, h("summary", {}, t("builder.shortcuts")),
      h("ul", {}, (ro ? ["pan", "zoom", "select"] : ["pan", "zoom", "select", "band", "connect", "delete", "copy", "undo", "save"]).map((k) => h("li", {}, t(`builder.shortcut.${k}`))))));
}

function edgeView(ed) {
  const e = ed.doc.definition.edges.find((x) => edgeKey(x) === ed.selectedEdge);
  if (!e) return flowView(ed);
  const from = ed.doc.definition.nodes.find((n) => n.id === e.from);
  const to = ed.doc.definition.nodes.find((n) => n.id === e.to);
  return h("div", { class: "bld-inspector" },
    h("h2", { class: "bld-insp-title" }, t("builder.edge")),
    h("p", {}, t("builder.edgeText", from ? `${typeLabel(from)} (${e.from})` : e.from, t(`builder.outcome.${e.outcome}`), to ? `${typeLabel(to)} (${e.to})` : e.to)),
    ed.readOnly ? null : h("button", { type: "button", class: "button button-danger button-small", "data-write": "", onclick: () => ed.deleteSelection() }, t("builder.deleteEdge")));
}

function multiView(ed) {
  const nodes = ed.doc.definition.nodes.filter((n) => ed.selection.has(n.id));
  return h("div", { class: "bld-inspector" },
    h("h2", { class: "bld-insp-title" }, t("builder.multi", nodes.length)),
    h("ul", { class: "bld-multi-list" }, nodes.slice(0, 30).map((n) => h("li", {}, h("span", { class: "bld-multi-glyph", "aria-hidden": "true" }, glyphOf(n.type)), ` ${n.id} · `, h("span", { class: "bld-muted" }, truncate(summaryOf(n), 40))))),
    nodes.length > 30 ? h("p", { class: "bld-muted" }, t("builder.multiMore", nodes.length - 30)) : null,
    ed.readOnly ? null : h("div", { class: "bld-insp-actions" },
      h("button", { type: "button", class: "button button-secondary button-small", "data-write": "", onclick: () => ed.duplicateSelection() }, t("builder.duplicate")),
      h("button", { type: "button", class: "button button-danger button-small", "data-write": "", onclick: () => ed.deleteSelection() }, t("builder.deleteNodes", nodes.length))));
}

export function inspectorPanel(ed, helpers) {
  if (ed.selectedEdge) return edgeView(ed);
  if (ed.selection.size === 1) {
    const node = helpers.nodeById([...ed.selection][0]);
    if (node) return nodeView(ed, node, helpers);
  }
  if (ed.selection.size > 1) return multiView(ed);
  return flowView(ed);
}
