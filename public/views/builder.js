// Flow builder (#/tenants/:tenantId/flows/:flowId): an SVG canvas editor of a flow's draft, with
// a palette built from the module catalogue, forms from module manifests, undo/redo over every
// edit, drafts saved with optimistic concurrency (If-Match: revision; 409 draft_conflict), inline
// validation problems, publishing, versions and rollback, a simulator and test cases.

import { api, onSession } from "../lib/api.js";
import { h, replace, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { errorText, problemBox, loading, toast, dialog, confirmDialog } from "../lib/ui.js";

// The builder's parts load in parallel with the flow (one round trip, not an import waterfall).
let BUILTIN_TYPES, NODE_W, NODE_H, defaultConfig, newId, layout, parseImport, exportDoc, downloadJSON, fileSlug, readFile, glyphOf;
let createCanvas, edgeKey, inspectorPanel, problemsPanel, simulatorPanel, testsPanel, versionsPanel;
let parts = null;
function loadParts() {
  if (!parts) {
    parts = Promise.all([
      import("./builder-strings.js"), import("./builder-model.js"), import("./builder-canvas.js"),
      import("./builder-inspector.js"), import("./builder-panels.js"), import("./builder-form.js"),
    ]).then(([, model, canvas, inspector, panels]) => {
      ({ BUILTIN_TYPES, NODE_W, NODE_H, defaultConfig, newId, layout, parseImport, exportDoc, downloadJSON, fileSlug, readFile, glyphOf } = model);
      ({ createCanvas, edgeKey } = canvas);
      ({ inspectorPanel } = inspector);
      ({ problemsPanel, simulatorPanel, testsPanel, versionsPanel } = panels);
    });
    parts.catch(() => { parts = null; });
  }
  return parts;
}

/** Unsaved work of builders the user left (per user and flow), restored when they come back. */
const stash = new Map();
/** Copied nodes, shared between flows. */
let clipboard = null;
onSession((event) => {
  if (event === "signed-out") { stash.clear(); clipboard = null; }
});

const TABS = ["inspector", "problems", "simulator", "tests", "versions"];

export default async function mount(ctx) {
  const { tenantId, flowId } = ctx.params;
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}/flows/${encodeURIComponent(flowId)}`;
  const listHash = `#/tenants/${encodeURIComponent(tenantId)}/flows`;
  const canWrite = ctx.can("flows.write");
  ctx.root.classList.add("bld-root");
  ctx.root.append(loading());

  let flow;
  let moduleList;
  try {
    [flow, moduleList] = await Promise.all([
      api("GET", base, { signal: ctx.signal }),
      api("GET", "/api/v1/modules", { signal: ctx.signal }).then((r) => r.items || []).catch(() => []),
      loadParts(),
    ]);
  } catch (error) {
    if (ctx.signal.aborted) return;
    await loadParts().catch(() => {});
    replace(ctx.root, h("div", { class: "page-header" }, h("a", { href: listHash, class: "bld-back" }, t("builder.back"))), problemBox(error, { onRetry: () => ctx.navigate(location.hash) }));
    return;
  }
  if (ctx.signal.aborted) return;

  // ---------------------------------------------------------------- state

  const docOf = (f) => ({
    name: f.name,
    trigger: f.trigger || { type: "default" },
    definition: { nodes: (f.definition && f.definition.nodes) || [], edges: (f.definition && f.definition.edges) || [] },
    test_cases: f.test_cases || [],
  });
  const initial = docOf(flow);
  layout(initial.definition, true);

  const ed = {
    doc: initial,
    revision: flow.revision,
    publishedVersion: flow.published_version ?? null,
    updatedAt: flow.updated_at,
    readOnly: !canWrite,
    modules: new Map(moduleList.map((m) => [m.name, m])),
    selection: new Set(),
    selectedEdge: null,
    problems: flow.problems || [],
    problemsByNode: new Map(),
    problemsSource: "load",
    problemsStale: false,
    path: { nodes: new Set(), edges: new Set(), current: null },
    users: null,
    busy: null,
    conflict: false,
    tab: "inspector",
    versions: null,
    sim: { messages: [], result: null, version: "", error: null, busy: false, variables: "" },
    testReport: null,
    tenantId,
    base,
  };
  const hist = { past: [], future: [], present: JSON.stringify(ed.doc), saved: null, timer: 0 };
  hist.saved = hist.present;

  let restored = null;
  const stashKey = `${ctx.me && ctx.me.id}:${flowId}`;
  const stashed = stash.get(stashKey);
  if (stashed && canWrite) {
    stash.delete(stashKey);
    restored = { serverRevision: flow.revision, stashedRevision: stashed.revision };
    ed.doc = JSON.parse(stashed.doc);
    ed.revision = stashed.revision;
    hist.present = stashed.doc;
    hist.saved = stashed.saved;
    hist.past = stashed.past || [];
  }

  const snapshot = () => JSON.stringify(ed.doc);
  /** The draft without node positions: what validation depends on. */
  const semantic = () => JSON.stringify(ed.doc, (key, value) => (key === "position" ? undefined : value));
  const isDirty = () => hist.timer !== 0 || snapshot() !== hist.saved;

  // ---------------------------------------------------------------- layout

  const el = {
    title: h("h1", { class: "bld-title" }),
    chips: h("div", { class: "bld-chips" }),
    dirty: h("span", { class: "bld-dirty", role: "status", "aria-live": "polite", id: "bld-dirty" }),
    toolbar: h("div", { class: "bld-toolbar", role: "toolbar" }),
    banner: h("div", { class: "bld-banners" }),
    palette: h("aside", { class: "bld-palette", id: "bld-palette" }),
    tabs: h("div", { class: "bld-tabs", role: "tablist" }),
    panel: h("div", { class: "bld-panel-body", role: "tabpanel", id: "bld-panel" }),
    fileInput: h("input", { type: "file", accept: "application/json,.json", hidden: true, id: "bld-import-file" }),
  };
  const canvas = createCanvas(ed);
  const header = h("div", { class: "bld-header" },
    h("a", { href: listHash, class: "bld-back", id: "bld-back" }),
    h("div", { class: "bld-heading" }, el.title, h("div", { class: "bld-meta" }, el.chips, el.dirty)),
    el.toolbar);
  const workspace = h("div", { class: ["bld-workspace", !canWrite && "is-readonly"] },
    canWrite ? el.palette : null,
    canvas.el,
    h("section", { class: "bld-side", "aria-label": "panel" }, el.tabs, el.panel));
  replace(ctx.root, header, el.banner, workspace, el.fileInput);

  /** The builder fills the window below the shell's top bar, down to the footer. */
  function fitHeight() {
    const footer = document.querySelector(".footer");
    const top = ctx.root.getBoundingClientRect().top + window.scrollY;
    const below = (footer ? footer.offsetHeight : 0) + 10;
    ctx.root.style.height = `${Math.max(480, window.innerHeight - top - below)}px`;
  }
  fitHeight();
  window.addEventListener("resize", fitHeight, { signal: ctx.signal });

  // ---------------------------------------------------------------- history

  function commit() {
    window.clearTimeout(hist.timer);
    hist.timer = 0;
    const now = snapshot();
    if (now !== hist.present) {
      hist.past.push(hist.present);
      if (hist.past.length > 200) hist.past.shift();
      hist.future = [];
      hist.present = now;
      const stale = semantic() !== ed.problemsBase;
      if (stale !== ed.problemsStale) {
        ed.problemsStale = stale;
        canvas.decorate();
        if (ed.tab === "problems") renderPanel();
      }
    }
    renderStatus();
  }

  /** Something in ed.doc changed: redraw; commit to history now or after a pause in typing. */
  function changed(commitNow, rerender) {
    canvas.sync();
    if (commitNow) commit();
    else {
      window.clearTimeout(hist.timer);
      hist.timer = window.setTimeout(commit, 600);
      renderStatus();
    }
    if (rerender) renderPanel();
  }

  function restore(snap) {
    ed.doc = JSON.parse(snap);
    const live = new Set(ed.doc.definition.nodes.map((n) => n.id));
    for (const id of [...ed.selection]) if (!live.has(id)) ed.selection.delete(id);
    if (ed.selectedEdge && !ed.doc.definition.edges.some((e) => edgeKey(e) === ed.selectedEdge)) ed.selectedEdge = null;
    canvas.sync();
    renderPanel();
    renderPalette();
    renderStatus();
  }

  function undo() {
    if (hist.timer) commit();
    if (!hist.past.length || ed.readOnly) return;
    hist.future.push(hist.present);
    hist.present = hist.past.pop();
    restore(hist.present);
  }

  function redo() {
    if (hist.timer) commit();
    if (!hist.future.length || ed.readOnly) return;
    hist.past.push(hist.present);
    hist.present = hist.future.pop();
    restore(hist.present);
  }

  // ---------------------------------------------------------------- editing

  const nodeById = (id) => ed.doc.definition.nodes.find((n) => n.id === id);

  ed.select = (ids, mode, fromCanvas) => {
    const before = [...ed.selection].join("\n");
    if (fromCanvas && ids.length && (ed.tab === "problems" || ed.tab === "versions")) {
      ed.tab = "inspector";
      renderTabs();
    }
    if (mode === "toggle") {
      for (const id of ids) {
        if (ed.selection.has(id)) ed.selection.delete(id);
        else ed.selection.add(id);
      }
    } else {
      ed.selection = new Set(ids);
    }
    if (ids.length || mode === "replace") ed.selectedEdge = null;
    canvas.decorate();
    if ([...ed.selection].join("\n") !== before || mode === "replace") {
      if (ed.tab === "inspector") renderPanel();
      renderToolbarState();
    }
  };

  ed.selectEdge = (key) => {
    ed.selection = new Set();
    ed.selectedEdge = key;
    canvas.decorate();
    showTab("inspector");
    renderToolbarState();
  };

  ed.moved = () => commit();

  ed.connect = (from, outcome, to) => {
    if (ed.readOnly) return;
    const def = ed.doc.definition;
    def.edges = def.edges.filter((e) => !(e.from === from && e.outcome === outcome));
    def.edges.push({ from, outcome, to });
    changed(true);
    if (ed.tab === "inspector") renderPanel();
  };

  ed.addNodeAt = (type, module, position, nudge) => {
    if (ed.readOnly) return;
    const def = ed.doc.definition;
    const taken = new Set(def.nodes.map((n) => n.id));
    const pos = { x: Math.round(position.x), y: Math.round(position.y) };
    if (nudge) {
      // Added by click: below the nodes it would cover.
      const covers = (n) => n.position && Math.abs(n.position.x - pos.x) < NODE_W + 16 && Math.abs(n.position.y - pos.y) < NODE_H + 16;
      for (let i = 0; i < 60 && def.nodes.some(covers); i++) pos.y += NODE_H + 24;
    }
    const node = { id: newId(taken, type === "module" ? module : type), type, config: defaultConfig(type, module, ed.modules), position: pos };
    def.nodes.push(node);
    ed.selection = new Set([node.id]);
    ed.selectedEdge = null;
    changed(true);
    showTab("inspector");
    renderPalette();
  };

  ed.focusInspector = (id) => {
    ed.select([id], "replace");
    showTab("inspector");
    const first = el.panel.querySelector(".bld-form input, .bld-form textarea, .bld-form select");
    if (first) first.focus();
  };

  ed.viewChanged = () => {};
  ed.changed = changed;
  ed.commit = commit;

  ed.renameNode = (oldId, raw) => {
    const id = String(raw).trim();
    if (id === oldId) return null;
    if (!id || id.length > 64) return t("builder.rename.length");
    if (nodeById(id)) return t("builder.rename.taken", id);
    const node = nodeById(oldId);
    if (!node) return null;
    node.id = id;
    for (const e of ed.doc.definition.edges) {
      if (e.from === oldId) e.from = id;
      if (e.to === oldId) e.to = id;
    }
    for (const c of ed.doc.test_cases) if (c && c.expect && c.expect.ends_at === oldId) c.expect.ends_at = id;
    if (ed.selection.delete(oldId)) ed.selection.add(id);
    changed(true);
    return null;
  };

  function deleteSelection() {
    if (ed.readOnly) return;
    const def = ed.doc.definition;
    if (ed.selection.size) {
      const gone = ed.selection;
      def.nodes = def.nodes.filter((n) => !gone.has(n.id));
      def.edges = def.edges.filter((e) => !gone.has(e.from) && !gone.has(e.to));
      ed.selection = new Set();
    } else if (ed.selectedEdge) {
      def.edges = def.edges.filter((e) => edgeKey(e) !== ed.selectedEdge);
      ed.selectedEdge = null;
    } else {
      return;
    }
    changed(true);
    renderPanel();
    renderPalette();
    renderToolbarState();
  }
  ed.deleteSelection = deleteSelection;

  function copySelection() {
    const ids = ed.selection;
    if (!ids.size) return false;
    const def = ed.doc.definition;
    clipboard = {
      nodes: structuredClone(def.nodes.filter((n) => ids.has(n.id))),
      edges: structuredClone(def.edges.filter((e) => ids.has(e.from) && ids.has(e.to))),
      pastes: 0,
    };
    return true;
  }

  function paste() {
    if (ed.readOnly || !clipboard || !clipboard.nodes.length) return;
    const def = ed.doc.definition;
    const taken = new Set(def.nodes.map((n) => n.id));
    const hasStart = def.nodes.some((n) => n.type === "start");
    clipboard.pastes += 1;
    const shift = 36 * clipboard.pastes;
    const map = new Map();
    const added = [];
    for (const n of clipboard.nodes) {
      if (n.type === "start" && hasStart) continue;
      const copy = structuredClone(n);
      copy.id = newId(taken, n.type === "module" && n.config && n.config.module ? n.config.module : n.type);
      const p = n.position || { x: 0, y: 0 };
      copy.position = { x: p.x + shift, y: p.y + shift };
      map.set(n.id, copy.id);
      added.push(copy);
    }
    if (!added.length) return;
    def.nodes.push(...added);
    for (const e of clipboard.edges) {
      if (map.has(e.from) && map.has(e.to)) def.edges.push({ from: map.get(e.from), outcome: e.outcome, to: map.get(e.to) });
    }
    ed.selection = new Set(added.map((n) => n.id));
    ed.selectedEdge = null;
    changed(true);
    renderPanel();
    renderToolbarState();
    toast(t("builder.pasted", added.length));
  }

  function duplicateSelection() {
    const saved = clipboard;
    if (!copySelection()) return;
    paste();
    clipboard = saved || clipboard;
  }
  ed.duplicateSelection = duplicateSelection;

  function tidy() {
    if (ed.readOnly) return;
    layout(ed.doc.definition, false);
    changed(true);
    canvas.fit();
  }

  // ---------------------------------------------------------------- problems, path

  function setProblems(list, source) {
    ed.problems = Array.isArray(list) ? list : [];
    ed.problemsSource = source;
    ed.problemsStale = false;
    ed.problemsBase = source === "save" || source === "validate" ? JSON.stringify(JSON.parse(hist.saved), (k, v) => (k === "position" ? undefined : v)) : semantic();
    const by = new Map();
    for (const p of ed.problems) {
      if (!p.node_id) continue;
      if (!by.has(p.node_id)) by.set(p.node_id, []);
      by.get(p.node_id).push(p);
    }
    ed.problemsByNode = by;
    canvas.decorate();
    renderTabs();
    if (ed.tab === "problems" || ed.tab === "inspector") renderPanel();
  }
  ed.setProblems = setProblems;

  /** Highlights what a simulation ran: nodes, the edges taken (from each step's outcome), the last node. */
  ed.setPath = (result) => {
    const nodes = new Set();
    const edges = new Set();
    let current = null;
    if (result) {
      const def = ed.doc.definition;
      const path = result.path || [];
      for (const id of path) nodes.add(id);
      // Consecutive nodes of the path joined by an edge (turns resume at an ask without a step for it) …
      for (let i = 1; i < path.length; i++) {
        if (def.edges.some((x) => x.from === path[i - 1] && x.to === path[i])) edges.add(`${path[i - 1]}\u0000${path[i]}`);
      }
      // … and the outcome each step took.
      for (const turn of result.turns || []) {
        for (const step of turn.steps || []) {
          if (!step.outcome) continue;
          const e = def.edges.find((x) => x.from === step.node_id && x.outcome === step.outcome);
          if (e) edges.add(`${e.from}\u0000${e.to}`);
        }
      }
      current = result.ended_at || null;
    }
    ed.path = { nodes, edges, current };
    canvas.decorate();
  };

  ed.selectProblemNode = (id) => {
    if (!nodeById(id)) return;
    ed.select([id], "replace");
    canvas.centerOn(id);
  };

  // ---------------------------------------------------------------- server

  ed.api = (method, suffix, opts) => api(method, base + suffix, opts);

  async function runBusy(label, fn) {
    if (ed.busy) return false;
    ed.busy = label;
    renderStatus();
    try {
      return await ctx.busy(fn());
    } finally {
      ed.busy = null;
      renderStatus();
    }
  }

  async function putDraft() {
    if (hist.timer) commit();
    const sent = snapshot();
    const body = JSON.parse(sent);
    const saved = await api("PUT", base, { body, headers: { "If-Match": String(ed.revision) } });
    ed.revision = saved.revision;
    ed.publishedVersion = saved.published_version ?? ed.publishedVersion;
    ed.updatedAt = saved.updated_at;
    ed.conflict = false;
    hist.saved = sent;
    setProblems(saved.problems, "save");
    return saved;
  }

  /** Saves the draft; on a conflict asks what to do. Resolves true when the draft is saved. */
  async function save({ quiet } = {}) {
    if (ed.readOnly) return false;
    const ok = await runBusy("save", async () => {
      try {
        await putDraft();
        if (!quiet) toast(ed.problems.length ? t("builder.savedWithProblems", ed.problems.length) : t("builder.saved"));
        return true;
      } catch (error) {
        if (error && error.code === "draft_conflict") return "conflict";
        reportError(error);
        return false;
      } finally {
        renderStatus();
      }
    });
    if (ok === "conflict") return resolveConflict();
    return ok === true;
  }
  ed.save = save;
  ed.isDirty = isDirty;
  ed.ensureSaved = async () => (isDirty() ? save({ quiet: true }) : true);

  function reportError(error) {
    if (error && error.status === 422 && error.problem && error.problem.errors && error.problem.errors.length) {
      toast(`${errorText(error)} ${error.problem.errors.map((e) => `${e.field}: ${e.message}`).join("; ")}`, "error");
    } else {
      toast(errorText(error), "error");
    }
  }

  /** 409 draft_conflict: someone saved since we loaded. Nothing is dropped without the user choosing it. */
  async function resolveConflict() {
    ed.conflict = true;
    renderStatus();
    let theirs = null;
    try { theirs = await api("GET", base); } catch { /* described without their details */ }
    for (;;) {
      const detail = theirs ? t("builder.conflict.detail", theirs.revision, formatDateTime(theirs.updated_at, lang())) : "";
      const choice = await dialog({
        title: t("builder.conflict.title"),
        className: "bld-conflict-dialog",
        body: [h("p", {}, t("builder.conflict.message")), detail ? h("p", { class: "bld-muted" }, detail) : null, h("p", { class: "bld-muted" }, t("builder.conflict.safe"))],
        buttons: [
          { value: "cancel", label: t("builder.conflict.keep") },
          { value: "download", label: t("builder.conflict.download") },
          { value: "reload", label: t("builder.conflict.reload"), kind: "danger" },
          { value: "overwrite", label: t("builder.conflict.overwrite"), kind: "primary" },
        ],
      });
      if (choice === "download") { exportFile(); continue; }
      if (choice === "overwrite") {
        const ok = await runBusy("save", async () => {
          try {
            const latest = await api("GET", base);
            ed.revision = latest.revision;
            await putDraft();
            toast(t("builder.overwritten"));
            return true;
          } catch (error) {
            if (error && error.code === "draft_conflict") return "conflict";
            reportError(error);
            return false;
          } finally {
            renderStatus();
          }
        });
        if (ok === "conflict") continue;
        return ok === true;
      }
      if (choice === "reload") {
        try {
          const latest = theirs || (await api("GET", base));
          adoptServer(latest);
          toast(t("builder.reloaded"));
        } catch (error) {
          reportError(error);
        }
        return false;
      }
      renderStatus();
      return false;
    }
  }

  /** Loads the server's draft as an edit (undo brings the user's version back) and marks it saved. */
  function adoptServer(latest) {
    if (hist.timer) commit();
    const doc = docOf(latest);
    layout(doc.definition, true);
    ed.doc = doc;
    ed.revision = latest.revision;
    ed.publishedVersion = latest.published_version ?? null;
    ed.updatedAt = latest.updated_at;
    ed.conflict = false;
    const snap = snapshot();
    if (snap !== hist.present) {
      hist.past.push(hist.present);
      hist.future = [];
      hist.present = snap;
    }
    hist.saved = snap;
    restore(snap);
    setProblems(latest.problems, "load");
  }

  async function validate() {
    await runBusy("validate", async () => {
      try {
        if (isDirty() && !ed.readOnly) {
          try { await putDraft(); } catch (error) {
            if (error && error.code === "draft_conflict") { window.setTimeout(resolveConflict); return; }
            throw error;
          }
        }
        const result = await api("POST", `${base}/validate`);
        setProblems(result.problems, "validate");
        toast(result.valid ? t("builder.valid") : t("builder.invalid", result.problems.length), result.valid ? "ok" : "error");
        if (!result.valid) showTab("problems");
      } catch (error) {
        reportError(error);
      } finally {
        renderStatus();
      }
    });
  }

  async function publish() {
    if (ed.readOnly) return;
    if (isDirty() && !(await save({ quiet: true }))) return;
    await runBusy("publish", async () => {
      try {
        const version = await api("POST", `${base}/publish`);
        ed.publishedVersion = version.version;
        setProblems([], "publish");
        toast(t("builder.published", version.version));
        ed.versions = null;
        if (ed.tab === "versions") renderPanel();
      } catch (error) {
        const p = error && error.problem;
        if (p && p.status === 422 && p.problems && p.problems.length) {
          setProblems(p.problems, "publish");
          showTab("problems");
          toast(p.code === "flow_tests_failed" ? t("builder.publishTestsFailed", p.problems.length) : t("builder.publishInvalid", p.problems.length), "error");
        } else {
          reportError(error);
        }
      } finally {
        renderStatus();
      }
    });
  }

  ed.rollback = async (version) => {
    if (ed.readOnly) return;
    const ok = await confirmDialog({ title: t("builder.versions.rollbackTitle", version), message: t("builder.versions.rollbackMessage", version, (ed.publishedVersion || 0) + 1), confirm: t("builder.versions.rollback") });
    if (!ok) return;
    await runBusy("rollback", async () => {
      try {
        const v = await api("POST", `${base}/rollback`, { body: { version } });
        ed.publishedVersion = v.version;
        toast(t("builder.versions.rolledBack", v.version, version));
        ed.versions = null;
        renderStatus();
        renderPanel();
      } catch (error) {
        reportError(error);
      }
    });
  };

  ed.loadVersionIntoDraft = async (v) => {
    if (ed.readOnly) return;
    const ok = await confirmDialog({ title: t("builder.versions.loadTitle", v.version), message: t("builder.versions.loadMessage") });
    if (!ok) return;
    if (hist.timer) commit();
    ed.doc.definition = structuredClone(v.definition);
    if (v.trigger) ed.doc.trigger = structuredClone(v.trigger);
    layout(ed.doc.definition, true);
    ed.selection = new Set();
    changed(true);
    canvas.fit();
    showTab("inspector");
  };

  // ---------------------------------------------------------------- import / export

  function exportFile() {
    if (hist.timer) commit();
    downloadJSON(exportDoc(ed.doc), `${fileSlug(ed.doc.name)}.flow.json`);
  }

  el.fileInput.addEventListener("change", async () => {
    const file = el.fileInput.files && el.fileInput.files[0];
    el.fileInput.value = "";
    if (!file) return;
    let parsed;
    try {
      parsed = parseImport(await readFile(file));
    } catch (error) {
      toast(t("builder.import.failed", error.message), "error");
      return;
    }
    const ok = await confirmDialog({ title: t("builder.import.title"), message: t("builder.import.message", parsed.definition.nodes.length, parsed.definition.edges.length) });
    if (!ok) return;
    if (hist.timer) commit();
    ed.doc.definition = parsed.definition;
    if (parsed.trigger) ed.doc.trigger = parsed.trigger;
    if (parsed.test_cases) ed.doc.test_cases = parsed.test_cases;
    ed.selection = new Set();
    ed.selectedEdge = null;
    changed(true);
    canvas.fit();
    renderPanel();
    renderPalette();
    toast(t("builder.import.done"));
  });

  // ---------------------------------------------------------------- rendering

  function button(action, label, onclick, { write, primary, title, icon } = {}) {
    const b = h("button", {
      type: "button",
      class: ["button", "button-small", primary ? "button-primary bld-primary" : "button-secondary", icon && "bld-tool"],
      dataset: { action },
      title: title || null,
      "aria-label": title || null,
      onclick,
    }, icon ? h("span", { class: "bld-tool-icon", "aria-hidden": "true" }, icon) : null, label ? h("span", { class: icon ? "bld-tool-label" : null }, label) : null);
    if (write) b.setAttribute("data-write", "");
    return b;
  }

  const buttons = {};
  function renderToolbar() {
    el.toolbar.replaceChildren();
    const groups = [];
    if (canWrite) {
      buttons.undo = button("undo", "", undo, { write: true, title: t("builder.undo"), icon: "↶" });
      buttons.redo = button("redo", "", redo, { write: true, title: t("builder.redo"), icon: "↷" });
      buttons.del = button("delete", "", deleteSelection, { write: true, title: t("builder.delete"), icon: "✕" });
      buttons.tidy = button("tidy", "", tidy, { write: true, title: t("builder.tidy"), icon: "⇶" });
      groups.push(h("div", { class: "bld-group" }, buttons.undo, buttons.redo, buttons.del, buttons.tidy));
    }
    const io = [];
    if (canWrite) io.push(button("import", t("builder.import"), () => el.fileInput.click(), { write: true, title: t("builder.importTitle") }));
    io.push(button("export", t("builder.export"), exportFile, { title: t("builder.exportTitle") }));
    groups.push(h("div", { class: "bld-group" }, io));
    const main = [button("validate", t("builder.validate"), validate, { title: t("builder.validateTitle") })];
    if (canWrite) {
      buttons.save = button("save", t("builder.save"), () => save(), { write: true, title: t("builder.saveTitle") });
      buttons.publish = button("publish", t("builder.publish"), publish, { write: true, primary: true, title: t("builder.publishTitle") });
      main.push(buttons.save, buttons.publish);
    }
    buttons.validate = main[0];
    groups.push(h("div", { class: "bld-group" }, main));
    el.toolbar.append(...groups);
    renderToolbarState();
  }

  function renderToolbarState() {
    if (!canWrite) {
      if (buttons.validate) buttons.validate.disabled = !!ed.busy || isDirty();
      return;
    }
    buttons.undo.disabled = !hist.past.length && !hist.timer;
    buttons.redo.disabled = !hist.future.length;
    buttons.del.disabled = !ed.selection.size && !ed.selectedEdge;
    buttons.save.disabled = !!ed.busy;
    buttons.publish.disabled = !!ed.busy;
    buttons.validate.disabled = !!ed.busy;
    for (const [name, b] of [["save", buttons.save], ["publish", buttons.publish], ["validate", buttons.validate]]) {
      b.setAttribute("aria-busy", String(ed.busy === name));
    }
  }

  function renderStatus() {
    el.title.textContent = ed.doc.name;
    ctx.setTitle(ed.doc.name);
    el.chips.replaceChildren(
      ed.publishedVersion
        ? h("span", { class: "status", id: "bld-published", dataset: { version: ed.publishedVersion } }, t("builder.publishedChip", ed.publishedVersion))
        : h("span", { class: "status status-muted", id: "bld-published", dataset: { version: "" } }, t("builder.notPublished")),
      h("span", { class: "status status-muted" }, t("builder.revision", ed.revision)),
      ed.readOnly ? h("span", { class: "status status-muted" }, t("builder.readOnly")) : "",
    );
    const dirty = isDirty();
    el.dirty.className = ["bld-dirty", dirty && "is-dirty", ed.conflict && "is-conflict"].filter(Boolean).join(" ");
    el.dirty.dataset.dirty = dirty ? "1" : "0";
    el.dirty.textContent = ed.readOnly ? "" : ed.conflict ? t("builder.conflictChip") : ed.busy === "save" ? t("ui.saving") : dirty ? t("builder.unsaved") : t("builder.allSaved");
    renderToolbarState();
    renderTabs();
  }

  function paletteItems() {
    const hasStart = ed.doc.definition.nodes.some((n) => n.type === "start");
    const builtIns = BUILTIN_TYPES.filter((type) => type !== "start" || !hasStart).map((type) => ({ type, label: t(`builder.type.${type}`), title: t(`builder.desc.${type}`) }));
    const mods = [...ed.modules.values()].map((m) => ({ type: "module", module: m.name, label: m.name, title: m.description }));
    return { builtIns, mods };
  }

  function paletteButton(item) {
    const b = h("button", {
      type: "button",
      class: ["bld-pal-item", `type-${item.type}`],
      title: item.title || item.label,
      dataset: { paletteType: item.type, paletteModule: item.module || null },
      onpointerdown: (e) => canvas.paletteDrag(e, item),
      onclick: (e) => {
        if (e.detail !== 0) return; // pointer clicks are handled by the drag (a click without moving adds at the center)
        const c = canvas.viewCenter();
        ed.addNodeAt(item.type, item.module, { x: c.x - NODE_W / 2, y: c.y - NODE_H / 2 }, true);
      },
    }, h("span", { class: "bld-pal-glyph", "aria-hidden": "true" }, glyphOf(item.type)), h("span", { class: "bld-pal-label" }, item.label));
    b.setAttribute("data-write", "");
    return b;
  }

  function renderPalette() {
    if (!canWrite) return;
    const { builtIns, mods } = paletteItems();
    replace(el.palette,
      h("h2", { class: "bld-pal-heading" }, t("builder.palette.nodes")),
      h("div", { class: "bld-pal-list" }, builtIns.map(paletteButton)),
      h("h2", { class: "bld-pal-heading" }, t("builder.palette.modules")),
      mods.length ? h("div", { class: "bld-pal-list" }, mods.map(paletteButton)) : h("p", { class: "bld-muted bld-small" }, t("builder.palette.noModules")),
      h("p", { class: "bld-pal-help" }, t("builder.palette.help")));
  }

  function tabAvailable(tab) {
    if (tab === "simulator" || tab === "tests") return canWrite || tab === "tests";
    return true;
  }

  function renderTabs() {
    const count = ed.problems.length;
    el.tabs.replaceChildren(...TABS.filter(tabAvailable).map((tab) => h("button", {
      type: "button", role: "tab", class: ["bld-tab", ed.tab === tab && "is-active"], dataset: { tab },
      "aria-selected": ed.tab === tab ? "true" : "false",
      onclick: () => showTab(tab),
    }, t(`builder.tab.${tab}`), tab === "problems" && count ? h("span", { class: ["bld-count", ed.problemsStale && "is-stale"], id: "bld-problem-count" }, String(count)) : null)));
  }

  function showTab(tab) {
    if (!tabAvailable(tab)) return;
    const changedTab = ed.tab !== tab;
    ed.tab = tab;
    if (changedTab || tab === "inspector") renderPanel();
    renderTabs();
  }
  ed.showTab = showTab;

  function renderPanel() {
    let content;
    switch (ed.tab) {
      case "problems": content = problemsPanel(ed); break;
      case "simulator": content = simulatorPanel(ed); break;
      case "tests": content = testsPanel(ed); break;
      case "versions": content = versionsPanel(ed); break;
      default: content = inspectorPanel(ed, { nodeById, loadUsers });
    }
    replace(el.panel, content);
    el.panel.dataset.tab = ed.tab;
  }
  ed.renderPanel = renderPanel;

  async function loadUsers() {
    if (ed.users !== null) return;
    ed.users = undefined;
    try {
      const page = await api("GET", `/api/v1/tenants/${encodeURIComponent(tenantId)}/users`, { query: { limit: 100 }, signal: ctx.signal });
      ed.users = (page.items || []).filter((u) => u.role === "agent" || u.role === "tenant_admin");
    } catch {
      ed.users = false;
    }
    if (ed.tab === "inspector" && !ctx.signal.aborted) renderPanel();
  }

  function renderBanner() {
    el.banner.replaceChildren();
    if (restored) {
      const note = restored.serverRevision !== restored.stashedRevision ? t("builder.restored.newer") : "";
      el.banner.append(h("div", { class: "bld-banner", role: "status" },
        h("span", {}, `${t("builder.restored")} ${note}`),
        h("button", { type: "button", class: "button button-secondary button-small", dataset: { action: "discard-restored" }, onclick: async () => {
          try {
            const latest = await api("GET", base);
            adoptServer(latest);
            restored = null;
            renderBanner();
          } catch (error) { reportError(error); }
        } }, t("builder.restored.discard")),
        h("button", { type: "button", class: "button button-secondary button-small", onclick: () => { restored = null; renderBanner(); } }, t("ui.close"))));
    }
  }

  function renderAll(initial) {
    fitHeight();
    el.dirty.setAttribute("aria-label", t("builder.saveState"));
    header.querySelector(".bld-back").textContent = t("builder.back");
    el.tabs.setAttribute("aria-label", t("builder.panels"));
    renderToolbar();
    renderPalette();
    renderStatus();
    renderPanel();
    renderBanner();
    if (!initial) canvas.retranslate();
  }

  // ---------------------------------------------------------------- keyboard

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function onKeyDown(e) {
    if (document.querySelector("dialog[open]")) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (mod && key === "s") {
      e.preventDefault();
      if (canWrite) save();
      return;
    }
    if (typing(e.target)) return;
    if (e.target !== document.body && !ctx.root.contains(e.target)) return;
    if (key === " ") {
      if (e.target !== document.body && e.target !== canvas.el) return; // Space still presses buttons
      e.preventDefault();
      canvas.setSpace(true);
      return;
    }
    if (mod && key === "z") { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
    if (mod && key === "y") { e.preventDefault(); redo(); return; }
    if (mod && key === "c") { if (!String(window.getSelection() || "") && copySelection()) { e.preventDefault(); toast(t("builder.copied", clipboard.nodes.length)); } return; }
    if (mod && key === "v") { e.preventDefault(); paste(); return; }
    if (mod && key === "d") { e.preventDefault(); duplicateSelection(); return; }
    if (mod && key === "a") { e.preventDefault(); ed.select(ed.doc.definition.nodes.map((n) => n.id), "replace"); return; }
    if (mod) return;
    if (key === "Delete" || key === "Backspace") { e.preventDefault(); deleteSelection(); return; }
    if (key === "Escape") { ed.select([], "replace"); return; }
    if (key === "+" || key === "=") { canvas.zoomBy(1.2); return; }
    if (key === "-") { canvas.zoomBy(1 / 1.2); return; }
  }

  function onKeyUp(e) {
    if (e.key === " ") canvas.setSpace(false);
  }

  function onBeforeUnload(e) {
    if (!ed.readOnly && isDirty()) {
      e.preventDefault();
      e.returnValue = "";
    }
  }

  document.addEventListener("keydown", onKeyDown);
  document.addEventListener("keyup", onKeyUp);
  window.addEventListener("beforeunload", onBeforeUnload);
  window.addEventListener("blur", () => canvas.setSpace(false), { signal: ctx.signal });
  ctx.onCleanup(() => {
    document.removeEventListener("keydown", onKeyDown);
    document.removeEventListener("keyup", onKeyUp);
    window.removeEventListener("beforeunload", onBeforeUnload);
    window.clearTimeout(hist.timer);
    canvas.destroy();
    if (!ed.readOnly && (hist.timer || snapshot() !== hist.saved)) {
      stash.set(stashKey, { doc: snapshot(), revision: ed.revision, saved: hist.saved, past: hist.past.slice(-50) });
    }
  });
  ctx.keepOnLanguageChange(() => renderAll());

  // ---------------------------------------------------------------- go

  renderAll(true);
  setProblems(ed.problems, "load");
  canvas.home(); // measures the empty canvas: no layout of the nodes forced before they are painted
  canvas.sync();
  // Interactive: handlers are attached and the first frame with every node has been painted.
  requestAnimationFrame(() => window.setTimeout(() => {
    if (ctx.signal.aborted) return;
    ctx.root.dataset.ready = "1";
    performance.mark("builder-interactive");
  }));
}
