// Flow builder (#/tenants/:tenantId/flows/:flowId): edits a flow's draft on an SVG canvas, with undo,
// saves with optimistic concurrency (If-Match: revision; 409 draft_conflict), publishes, rolls back.

import { api, onSession } from "../lib/api.js";
import { h, replace, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { errorText, problemBox, loading, toast, dialog, confirmDialog } from "../lib/ui.js";
import { T, tr, BUILTIN_TYPES, NODE_W, NODE_H, defaultConfig, newId, layout, parseImport, exportFlow, glyph, typeClass, btn, chip, div, WRITE } from "./builder-model.js";
import { createCanvas, edgeKey } from "./builder-canvas.js";
import * as panels from "./builder-panels.js";

// Unsaved work of builders left (per user and flow, restored on return) and copied nodes.
const stash = new Map();
let clipboard = null;
onSession(event => { if (event === "signed-out") { stash.clear(); clipboard = null; } });

const TABS = ["inspector", "problems", "simulator", "tests", "versions"];
const docOf = f => {
	const d = f.definition || {};
	const doc = { name: f.name, trigger: f.trigger || { type: "default" }, definition: { nodes: d.nodes || [], edges: d.edges || [] }, test_cases: f.test_cases || [] };
	layout(doc.definition, true);
	return doc;
};

export default async function mount(ctx) {
	const { flowId } = ctx.params, tp = `/tenants/${encodeURIComponent(ctx.params.tenantId)}`, ro = !ctx.can("flows.write"), signal = ctx.signal;
	const base = `/api/v1${tp}/flows/${encodeURIComponent(flowId)}`, get = () => api("GET", base);
	const back = h("a", { href: `#${tp}/flows`, class: "bld-back", id: "bld-back" }, T("back"));
	ctx.root.classList.add("bld-root");
	ctx.root.append(loading());
	let flow, modules;
	try {
		[flow, modules] = await Promise.all([api("GET", base, { signal }), api("GET", "/api/v1/modules", { signal }).then(r => r.items, () => [])]);
	} catch (error) {
		if (!signal.aborted) replace(ctx.root, div("page-header", back), problemBox(error, { onRetry: () => ctx.navigate(location.hash) }));
		return;
	}
	if (signal.aborted) return;

	const ed = {
		doc: docOf(flow), revision: flow.revision, live: flow.published_version, readOnly: ro,
		modules: new Map(modules.map(m => [m.name, m])), selection: new Set(), problems: [], problemsByNode: new Map(),
		path: { nodes: new Set(), edges: new Set() }, users: null, tab: "inspector", versions: null, sim: { messages: [], version: "" },
	};
	const snapshot = () => JSON.stringify(ed.doc);
	const hist = { past: [], future: [], timer: 0 };
	hist.saved = hist.present = snapshot();
	const isDirty = () => hist.timer !== 0 || snapshot() !== hist.saved;
	const flush = () => hist.timer && commit();
	const def = () => ed.doc.definition;
	const nodeById = id => def().nodes.find(n => n.id === id);

	let restored = null;
	const stashKey = `${ctx.me?.id}:${flowId}`, stashed = !ro && stash.get(stashKey);
	if (stashed) {
		stash.delete(stashKey);
		restored = { newer: flow.revision !== stashed.revision };
		Object.assign(ed, { doc: JSON.parse(stashed.doc), revision: stashed.revision });
		Object.assign(hist, { present: stashed.doc, saved: stashed.saved, past: stashed.past });
	}

	const el = {}, canvas = createCanvas(ed);
	replace(ctx.root,
		div("bld-header", back,
			div("bld-heading", (el.title = h("h1", { class: "bld-title" })),
				div("bld-meta", (el.chips = h("span", { class: "bld-chips" })), (el.dirty = h("span", { class: "bld-dirty", role: "status", id: "bld-dirty" })))),
			(el.toolbar = h("div", { class: "bld-toolbar", role: "toolbar" }))),
		(el.banner = div("bld-banners")),
		div(["bld-workspace", ro && "is-readonly"], (el.palette = !ro && h("aside", { class: "bld-palette", id: "bld-palette" })), canvas.el,
			h("section", { class: "bld-side" }, (el.tabs = h("div", { class: "bld-tabs", role: "tablist" })), (el.panel = h("div", { class: "bld-panel", role: "tabpanel", id: "bld-panel" })))),
		(el.file = h("input", { type: "file", accept: "application/json,.json", hidden: true, id: "bld-import-file" })));

	function push(snap) {
		if (snap === hist.present) return;
		hist.past.push(hist.present);
		if (hist.past.length > 200) hist.past.shift();
		hist.future = [];
		hist.present = snap;
	}

	function commit() {
		clearTimeout(hist.timer);
		hist.timer = 0;
		push(snapshot());
		renderStatus();
	}

	function changed(now, rerender) {
		// Problems found before an edit are marked outdated until the next save or check.
		if (!ed.stale) {
			ed.stale = true;
			rerender ||= ed.tab === "problems";
		}
		canvas.sync();
		clearTimeout(hist.timer);
		if (now) commit();
		else { hist.timer = setTimeout(commit, 600); renderStatus(); }
		if (rerender) renderPanel();
	}

	function restore(snap) {
		ed.doc = JSON.parse(snap);
		for (const id of ed.selection) if (!nodeById(id)) ed.selection.delete(id);
		if (!def().edges.some(e => edgeKey(e) === ed.selEdge)) ed.selEdge = null;
		canvas.sync();
		renderPanel();
		renderPalette();
		renderStatus();
	}

	function travel(from, to) {
		flush();
		if (!from.length || ro) return;
		to.push(hist.present);
		restore((hist.present = from.pop()));
	}
	const undo = () => travel(hist.past, hist.future), redo = () => travel(hist.future, hist.past);

	function replaceDefinition(definition, trigger, testCases) {
		flush();
		Object.assign(ed.doc, { definition }, trigger && { trigger }, testCases && { test_cases: testCases });
		ed.tab = "inspector";
		edited([]);
		canvas.fit();
	}

	function select(ids, mode, fromCanvas) {
		const before = [...ed.selection].join("\n");
		if (fromCanvas && ids.length && /problems|versions/.test(ed.tab)) ed.tab = "inspector";
		if (mode === "toggle") for (const id of ids) ed.selection[ed.selection.has(id) ? "delete" : "add"](id);
		else ed.selection = new Set(ids);
		if (ids.length || mode === "replace") ed.selEdge = null;
		canvas.decorate();
		renderStatus();
		if (ed.tab === "inspector" && ([...ed.selection].join("\n") !== before || mode === "replace")) renderPanel();
	}

	// A structural edit: the palette changes too (the start node comes and goes).
	function edited(selection) {
		ed.selection = new Set(selection);
		ed.selEdge = null;
		changed(true, true);
		renderPalette();
	}

	function addNodeAt(type, module, pos, nudge) {
		const nodes = def().nodes, p = { x: Math.round(pos.x), y: Math.round(pos.y) };
		// Added by click: below the nodes it would cover.
		const covers = n => n.position && Math.abs(n.position.x - p.x) < NODE_W + 16 && Math.abs(n.position.y - p.y) < NODE_H + 16;
		for (let i = 0; nudge && i < 60 && nodes.some(covers); i++) p.y += NODE_H + 24;
		const id = newId(new Set(nodes.map(n => n.id)), type === "module" ? module : type);
		nodes.push({ id, type, config: defaultConfig(type, module, ed.modules), position: p });
		ed.tab = "inspector";
		edited([id]);
	}

	function renameNode(old, raw) {
		const id = String(raw).trim();
		if (id === old) return;
		if (!id || id.length > 64) return T("idLength");
		if (nodeById(id)) return T("idTaken", id);
		nodeById(old).id = id;
		for (const e of def().edges) for (const k of ["from", "to"]) if (e[k] === old) e[k] = id;
		for (const c of ed.doc.test_cases) if (c.expect?.ends_at === old) c.expect.ends_at = id;
		if (ed.selection.delete(old)) ed.selection.add(id);
		changed(true);
	}

	function deleteSelection() {
		const d = def(), gone = ed.selection;
		if (ro || (!gone.size && !ed.selEdge)) return;
		d.nodes = d.nodes.filter(n => !gone.has(n.id));
		d.edges = d.edges.filter(e => !gone.has(e.from) && !gone.has(e.to) && edgeKey(e) !== ed.selEdge);
		edited([]);
	}

	const copy = (ids = ed.selection) => ids.size > 0 && structuredClone({ nodes: def().nodes.filter(n => ids.has(n.id)), edges: def().edges.filter(e => ids.has(e.from) && ids.has(e.to)), pastes: 0 });

	// New ids, shifted more on each paste; never a second start.
	function paste(clip) {
		if (ro || !clip) return;
		const d = def(), taken = new Set(d.nodes.map(n => n.id)), hasStart = d.nodes.some(n => n.type === "start");
		const shift = 36 * ++clip.pastes, ids = new Map();
		const added = clip.nodes.filter(n => n.type !== "start" || !hasStart).map(n => {
			const p = n.position || { x: 0, y: 0 };
			const node = { ...structuredClone(n), id: newId(taken, (n.type === "module" && n.config?.module) || n.type), position: { x: p.x + shift, y: p.y + shift } };
			ids.set(n.id, node.id);
			return node;
		});
		if (!added.length) return;
		d.nodes.push(...added);
		for (const e of clip.edges) if (ids.has(e.from) && ids.has(e.to)) d.edges.push({ from: ids.get(e.from), outcome: e.outcome, to: ids.get(e.to) });
		edited([...ids.values()]);
		toast(T("pasted", added.length));
	}

	function setProblems(list, source) {
		Object.assign(ed, { problems: list || [], source, stale: false });
		ed.problemsByNode = Map.groupBy(ed.problems.filter(p => p.node_id), p => p.node_id);
		canvas.decorate();
		renderTabs();
		if (/problems|inspector/.test(ed.tab)) renderPanel();
	}

	function setPath(r) {
		const path = r?.path || [], edges = new Set(), d = def();
		// Edges between consecutive nodes (a turn resumes at an ask without a step) and each step's outcome.
		path.forEach((id, i) => { if (i && d.edges.some(x => x.from === path[i - 1] && x.to === id)) edges.add(`${path[i - 1]}\0${id}`); });
		for (const step of (r?.turns || []).flatMap(turn => turn.steps || [])) {
			const e = step.outcome && d.edges.find(x => x.from === step.node_id && x.outcome === step.outcome);
			if (e) edges.add(`${e.from}\0${e.to}`);
		}
		ed.path = { nodes: new Set(path), edges, current: r?.ended_at };
		canvas.decorate();
	}

	function reportError(error) {
		const errs = (error.status === 422 && error.problem.errors) || [];
		toast([errorText(error), ...errs.map(e => `${e.field}: ${e.message}`)].join(" "), "error");
	}

	// One server action at a time (`label`: its button is busy); errors are reported (→ false).
	async function run(label, fn) {
		if (ed.busy) return false;
		ed.busy = label;
		renderStatus();
		try {
			return await ctx.busy(fn());
		} catch (error) {
			reportError(error);
			return false;
		} finally {
			ed.busy = null;
			renderStatus();
		}
	}

	async function putDraft() {
		flush();
		const sent = snapshot();
		try {
			const saved = await api("PUT", base, { body: JSON.parse(sent), headers: { "If-Match": String(ed.revision) } });
			Object.assign(ed, { revision: saved.revision, live: saved.published_version ?? ed.live, conflict: false });
			hist.saved = sent;
			setProblems(saved.problems, "save");
		} catch (error) {
			if (error.code !== "draft_conflict") throw error;
			return "conflict";
		}
	}

	async function save(quiet) {
		if (ro) return false;
		const r = await run("save", putDraft);
		if (r === "conflict") return resolveConflict();
		if (r !== false && !quiet) toast(ed.problems.length ? T("savedBad", ed.problems.length) : T("saved"));
		return r !== false;
	}

	// Someone saved since we loaded: nothing is dropped unless the user chooses so.
	async function resolveConflict() {
		ed.conflict = true;
		renderStatus();
		const theirs = await get().catch(() => null);
		for (;;) {
			const choice = await dialog({
				title: T("cf.title"),
				className: "bld-conflict-dialog",
				body: [T("cf.msg"), theirs && T("cf.detail", theirs.revision, formatDateTime(theirs.updated_at, lang())), T("cf.safe")].map(x => x && h("p", x)),
				buttons: [["cancel"], ["reload", "danger"], ["overwrite", "primary"]].map(([value, kind]) => ({ value, label: T(`cf.${value}`), kind })),
			});
			if (choice !== "overwrite") {
				if (choice === "reload") try {
					adoptServer(theirs || (await get()));
					toast(T("reloaded"));
				} catch (error) { reportError(error); }
				renderStatus();
				return false;
			}
			const r = await run("save", async () => { ed.revision = (await get()).revision; return putDraft(); });
			if (r !== "conflict") {
				if (r !== false) toast(T("overwrote"));
				return r !== false;
			}
		}
	}

	// The server's draft as an edit (undo brings the user's back), marked saved.
	function adoptServer(latest) {
		flush();
		Object.assign(ed, { doc: docOf(latest), revision: latest.revision, live: latest.published_version, conflict: false });
		push((hist.saved = snapshot()));
		restore(hist.saved);
		setProblems(latest.problems, "load");
	}

	const validate = () => run("validate", async () => {
		if (isDirty() && !ro && (await putDraft())) return setTimeout(resolveConflict);
		const r = await api("POST", `${base}/validate`);
		setProblems(r.problems, "validate");
		toast(r.valid ? T("valid") : `${tr("flows.problems", r.problems.length)}.`, r.valid ? "ok" : "error");
		if (!r.valid) showTab("problems");
	});

	async function publish() {
		if (ro || (isDirty() && !(await save(true)))) return;
		await run("publish", async () => {
			try {
				ed.live = (await api("POST", `${base}/publish`)).version;
			} catch (error) {
				const p = error.problem;
				if (!(p?.status === 422 && p.problems.length)) throw error;
				setProblems(p.problems, "publish");
				showTab("problems");
				return toast(T(p.code === "flow_tests_failed" ? "pubTests" : "pubInvalid", p.problems.length), "error");
			}
			setProblems([], "publish");
			toast(T("published", ed.live));
			ed.versions = null;
			if (ed.tab === "versions") renderPanel();
		});
	}

	async function rollback(version) {
		if (ro || !(await confirmDialog({ title: T("v.rbTitle", version), message: T("v.rbMsg", version, (ed.live || 0) + 1), confirm: T("v.rollback") }))) return;
		await run("rollback", async () => {
			ed.live = (await api("POST", `${base}/rollback`, { body: { version } })).version;
			toast(T("v.rolledBack", ed.live, version));
			ed.versions = null;
			renderPanel();
		});
	}

	async function loadVersion(v) {
		if (ro || !(await confirmDialog({ title: T("v.loadTitle", v.version), message: T("v.loadMsg") }))) return;
		const d = structuredClone(v.definition);
		layout(d, true);
		replaceDefinition(d, v.trigger && structuredClone(v.trigger));
	}

	el.file.onchange = async () => {
		const file = el.file.files[0];
		el.file.value = "";
		if (!file) return;
		let p;
		try {
			p = parseImport(await file.text());
		} catch (error) {
			return toast(T("imp.failed", error.message), "error");
		}
		if (!(await confirmDialog({ title: T("imp.title"), message: T("imp.msg", p.definition.nodes.length) }))) return;
		replaceDefinition(p.definition, p.trigger, p.test_cases);
		toast(T("imp.done"));
	};

	const tb = {};
	function renderToolbar() {
		// An icon tool's title is its label; a text tool has a longer title (key + "T").
		const tool = (action, fn, icon, cls) => {
			const title = T(icon ? action : `${action}T`);
			return (tb[action] = btn(icon || T(action), fn, cls,
				{ dataset: { action }, title, "aria-label": icon && title, ...(!/export|validate/.test(action) && WRITE) }));
		};
		replace(el.toolbar,
			!ro && h("div", tool("undo", undo, "↶"), tool("redo", redo, "↷"), tool("delete", deleteSelection, "✕"), tool("tidy", () => { layout(def(), false); changed(true); canvas.fit(); }, "⇶")),
			h("div", !ro && tool("import", () => el.file.click()), tool("export", () => { flush(); exportFlow(ed.doc); })),
			h("div", tool("validate", validate), !ro && [tool("save", () => save()), tool("publish", publish, null, "button-primary")]));
	}

	function renderStatus() {
		const v = ed.live, dirty = isDirty();
		ctx.setTitle((el.title.textContent = ed.doc.name));
		replace(el.chips, chip(v ? tr("flows.live", v) : T("notLive"), !v && "muted", { id: "bld-published", dataset: { version: v || "" } }),
			chip(T("revision", ed.revision), "muted"), ro && chip(T("readOnly"), "muted"));
		el.dirty.className = ["bld-dirty", dirty && "is-dirty", ed.conflict && "is-conflict"].filter(Boolean).join(" ");
		el.dirty.dataset.dirty = +dirty;
		el.dirty.textContent = ro ? "" : ed.conflict ? T("cfChip") : ed.busy === "save" ? t("ui.saving") : T(dirty ? "unsaved" : "allSaved");
		tb.validate.disabled = !!ed.busy || (ro && dirty);
		if (!ro) {
			tb.undo.disabled = !hist.past.length && !hist.timer;
			tb.redo.disabled = !hist.future.length;
			tb.delete.disabled = !ed.selection.size && !ed.selEdge;
			for (const k of ["save", "publish", "validate"]) {
				tb[k].disabled = !!ed.busy;
				tb[k].setAttribute("aria-busy", ed.busy === k);
			}
		}
		renderTabs();
	}

	function renderPalette() {
		if (ro) return;
		const hasStart = def().nodes.some(n => n.type === "start");
		const item = (type, label, title, module) => h("button", {
			type: "button", class: ["bld-pal-item", typeClass(type)], title, ...WRITE, dataset: { paletteType: type, paletteModule: module },
			onpointerdown: e => canvas.addFromPalette(e, { type, module, label }),
			// Pointer clicks are handled as drags (addFromPalette); this is the keyboard's.
			onclick: e => { if (!e.detail) canvas.addAtCenter({ type, module }); },
		}, glyph(type), h("span", label));
		const mods = [...ed.modules.values()];
		replace(el.palette,
			h("h2", T("nodes")), h("div", BUILTIN_TYPES.filter(x => x !== "start" || !hasStart).map(x => item(x, T(`type.${x}`)))),
			h("h2", T("modules")), mods.length ? h("div", mods.map(m => item("module", m.name, m.description || m.name, m.name))) : h("p", T("noModules")));
	}

	function renderTabs() {
		const n = ed.problems.length;
		replace(el.tabs, TABS.filter(tab => !ro || tab !== "simulator").map(tab => h("button", {
			type: "button", role: "tab", class: ["bld-tab", ed.tab === tab && "is-active"], dataset: { tab }, "aria-selected": String(ed.tab === tab), onclick: () => showTab(tab),
		}, T(`tab.${tab}`), tab === "problems" && n > 0 && h("span", { class: ["bld-count", ed.stale && "is-stale"], id: "bld-problem-count" }, n))));
	}

	function showTab(tab) {
		if (ro && tab === "simulator") return;
		const moved = ed.tab !== tab;
		ed.tab = tab;
		if (moved || tab === "inspector") renderPanel();
		renderTabs();
	}

	const renderPanel = () => replace(el.panel, panels[`${ed.tab}Panel`](ed));

	function renderBanner() {
		const close = () => { restored = null; renderBanner(); };
		replace(el.banner, restored && h("div", { class: "bld-banner", role: "status" },
			h("span", T("restored"), restored.newer && ` ${T("newer")}`),
			btn(T("discard"), () => get().then(latest => { adoptServer(latest); close(); }, reportError)),
			btn(t("ui.close"), close)));
	}

	function renderAll(first) {
		el.dirty.setAttribute("aria-label", T("saveState"));
		back.textContent = T("back");
		el.tabs.setAttribute("aria-label", T("panels"));
		renderToolbar();
		renderPalette();
		renderStatus();
		renderPanel();
		renderBanner();
		if (!first) canvas.retranslate();
	}

	Object.assign(ed, {
		select, changed, commit, deleteSelection, setPath, rollback, loadVersion, showTab, renderPanel, renameNode, addNodeAt,
		duplicate: () => paste(copy()),
		api: (method, path, o) => api(method, base + path, o),
		ensureSaved: async () => !isDirty() || save(true),
		async loadUsers() {
			ed.users = undefined;
			ed.users = await api("GET", `/api/v1${tp}/users`, { query: { limit: 100 }, signal })
				.then(page => page.items.filter(u => /^(agent|tenant_admin)$/.test(u.role)), () => false);
			if (ed.tab === "inspector" && !signal.aborted) renderPanel();
		},
		selectEdge(key) {
			ed.selection = new Set();
			ed.selEdge = key;
			canvas.decorate();
			showTab("inspector");
			renderStatus();
		},
		connect(from, outcome, to) {
			def().edges = def().edges.filter(e => !(e.from === from && e.outcome === outcome)).concat({ from, outcome, to });
			changed(true, ed.tab === "inspector");
		},
		focusInspector(id) {
			select([id], "replace");
			showTab("inspector");
			el.panel.querySelector(".bld-form :is(input, textarea, select)")?.focus();
		},
		showNode(id) {
			if (!nodeById(id)) return;
			select([id], "replace");
			canvas.centerOn(id);
		},
	});

	function onKeyDown(e) {
		const mod = e.ctrlKey || e.metaKey, key = e.key.length === 1 ? e.key.toLowerCase() : e.key, tg = e.target;
		if (document.querySelector("dialog[open]")) return;
		if (mod && key === "s") { e.preventDefault(); return save(); }
		if (tg.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(tg.tagName) || (tg !== document.body && !ctx.root.contains(tg))) return;
		if (mod && key === "c") {
			const clip = !String(getSelection()) && copy();
			if (clip) { e.preventDefault(); clipboard = clip; toast(T("copied", clip.nodes.length)); }
			return;
		}
		const zoom = f => () => canvas.zoomBy(f);
		const act = mod
			? { z: e.shiftKey ? redo : undo, y: redo, v: () => paste(clipboard), d: ed.duplicate }[key]
			: { Delete: deleteSelection, Backspace: deleteSelection, Escape: () => select([], "replace"), "+": zoom(1.2), "=": zoom(1.2), "-": zoom(1 / 1.2) }[key];
		if (act) { e.preventDefault(); act(); }
	}
	document.addEventListener("keydown", onKeyDown, { signal });
	addEventListener("beforeunload", e => { if (!ro && isDirty()) e.preventDefault(); }, { signal });
	ctx.onCleanup(() => {
		clearTimeout(hist.timer);
		canvas.destroy();
		if (!ro && isDirty()) stash.set(stashKey, { doc: snapshot(), revision: ed.revision, saved: hist.saved, past: hist.past.slice(-50) });
	});
	ctx.keepOnLanguageChange(() => renderAll());

	renderAll(true);
	setProblems(flow.problems, "load");
	canvas.home(); // measures the empty canvas: no layout of the nodes forced before they are painted
	canvas.sync();
	// Interactive: handlers are attached and the first frame with every node has been painted.
	requestAnimationFrame(() => setTimeout(() => {
		if (signal.aborted) return;
		ctx.root.dataset.ready = "1";
		performance.mark("builder-interactive");
	}));
}
