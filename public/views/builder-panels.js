// Flow builder side panels: the inspector, with forms built from JSON schemas (module manifests,
// node configs); problems; the simulator; test cases; versions.

import { h, uid, replace, formatDateTime } from "../lib/dom.js";
import { t, has, lang } from "../lib/i18n.js";
import { field, errorText, problemBox, loading, empty, toast } from "../lib/ui.js";
import { T, tr, configSchema, outcomesOf, typeLabel, glyph, glyphOf, knownVariables, isKnownType, nodeName, typeClass, btn, wbtn, chip, select, div, WRITE } from "./builder-model.js";
import { edgeKey } from "./builder-canvas.js";

const isObj = v => v !== null && typeof v === "object" && !Array.isArray(v);
const opt = (k, fallback) => (has(`bld.${k}`) ? T(k) : fallback);
const errorSlot = () => h("p", { class: "field-error", "aria-live": "polite" });
const hintP = hint => hint && h("p", { class: "field-hint" }, hint);
// fn(false) while typing, fn(true) when the value is committed.
const bind = (input, fn) => { input.oninput = () => fn(false); input.onchange = () => fn(true); return input; };
const flag = (input, slot, error) => {
	slot.textContent = error || "";
	if (error) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
};
const xBtn = (fn, attrs) => btn("×", fn, undefined, { title: T("f.remove"), "aria-label": T("f.remove"), ...attrs });
const jsonMap = title => ({ type: "object", additionalProperties: {}, "x-json": true, title });
const fieldset = (path, label, hint, ...kids) => h("fieldset", { class: "bld-fieldset", dataset: { field: path } }, h("legend", label), hintP(hint), kids, errorSlot());

// A flow's name and trigger.
export const FLOW = { required: ["name"], properties: {
	name: { type: "string", maxLength: 200 },
	trigger: { type: "object", required: ["type"], properties: {
		type: { type: "string", enum: ["default", "keywords", "regex"], "x-onchange": tr => {
			if (tr.type !== "keywords") delete tr.keywords;
			if (tr.type !== "regex") delete tr.pattern;
		} },
		keywords: { type: "array", maxItems: 50, items: { type: "string", maxLength: 100 }, "x-show": tr => tr.type === "keywords" },
		pattern: { type: "string", maxLength: 500, "x-show": tr => tr.type === "regex" },
	} },
} };

function kindOf(p) {
	if (!isObj(p)) return "any";
	if (Array.isArray(p.enum)) return "enum";
	const type = Array.isArray(p.type) ? p.type.length === 1 && p.type[0] : p.type;
	if (type === "object") return isObj(p.properties) && Object.keys(p.properties).length ? "object" : isObj(p.additionalProperties) ? "map" : "json";
	if (type === "array") return p.items && ["string", "number", "integer"].includes(p.items.type) ? "list" : "json";
	return ["string", "number", "integer", "boolean"].includes(type) ? type : "any";
}

// The JSON value `text` reads as, else the text itself (undefined for nothing).
function readJson(text) {
	try { return text.trim() ? JSON.parse(text) : undefined; } catch { return text; }
}

// undefined for empty, null for not a number.
function parseNumber(text, type) {
	const v = String(text).trim().replace(",", "."), n = Number(v);
	return v === "" ? undefined : !Number.isFinite(n) ? null : type === "integer" ? Math.round(n) : n;
}

/**
 * A form editing `obj` in place per `schema` ({properties, required}), required fields first. opts:
 * {onChange(commitNow, rerender), readOnly, path (data-field prefix), context (hint namespace),
 * variables (for datalists), users (for assignees)}.
 */
export function schemaForm(obj, schema, opts) {
	const req = new Set(schema.required || []);
	return div("bld-form", Object.entries(schema.properties || {}).sort((a, b) => req.has(b[0]) - req.has(a[0]))
		.filter(([, p]) => !(p && p["x-show"] && !p["x-show"](obj))).map(([key, p]) => propField(obj, key, p, req.has(key), opts)));
}

function propField(obj, key, p, required, opts) {
	const path = opts.path ? `${opts.path}.${key}` : key, disabled = opts.readOnly, cur = obj[key], kind = kindOf(p);
	const label = (p && typeof p.title === "string" ? p.title : opt(`field.${key}`, key.replace(/[_-]+/g, " ").replace(/^./, c => c.toUpperCase()))) + (required ? " *" : "");
	const hint = opt(`hint.${opts.context || "module"}.${key}`, p && typeof p.description === "string" ? p.description : undefined);
	const assign = v => { if (v === undefined) delete obj[key]; else obj[key] = v; };
	const set = (v, commitNow, rerender) => { assign(v); opts.onChange(commitNow, rerender); };
	const mk = (input, more = hint) => field({ label, name: path, input, hint: more });

	if (kind === "enum") {
		return mk(select([!(required && p.enum.includes(cur)) && ["", T(required ? "f.choose" : "f.notSet")], ...p.enum.map(v => [v, opt(`enum.${key}.${v}`, p["x-labels"]?.[v] ?? String(v))])], cur, v => {
			assign(v === "" ? undefined : p.enum.find(x => String(x) === v));
			p["x-onchange"]?.(obj);
			opts.onChange(true, true);
		}, { disabled }));
	}
	if (kind === "string" && p["x-assignee"] && opts.users) {
		return mk(select([["", T("f.anyAgent")], ...opts.users.map(u => [u.id, `${u.email} (${t(`role.${u.role}`)})`]), cur && !opts.users.some(u => u.id === cur) && [cur, cur]],
			cur, v => set(v || undefined, true), { disabled }));
	}
	if (kind === "boolean") {
		const input = h("input", { type: "checkbox", disabled, checked: cur === true, onchange: () => set(input.checked, true) });
		return h("div", { class: "field", dataset: { field: path } }, h("label", input, " ", label), hintP(hint), errorSlot());
	}
	if (kind === "object") {
		const sub = isObj(cur) ? cur : {};
		return fieldset(path, label, hint, schemaForm(sub, p, { ...opts, path, onChange: (c, r) => set(Object.keys(sub).length || key === "with" || key === "expect" ? sub : undefined, c, r) }));
	}
	if (kind === "map" || kind === "list") {
		// Rows of inputs: {name: value} entries (e.g. HTTP headers), or list items.
		const map = kind === "map", num = !map && p.items.type !== "string";
		const items = map ? Object.entries(isObj(cur) ? cur : {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])
			: [].concat(cur ?? []).map(x => [x ?? ""]);
		const store = c => {
			// x-json: values that read as JSON (42, true) keep their type.
			const out = map ? Object.fromEntries(items.filter(([k]) => k.trim()).map(([k, v]) => [k.trim(), p["x-json"] ? readJson(v) ?? "" : v]))
				: items.map(([x]) => (num ? parseNumber(x, p.items.type) : x)).filter(x => x != null);
			set(Object.keys(out).length ? out : undefined, c);
		};
		const rows = div("bld-rows");
		const render = () => rows.replaceChildren(...items.map((item, i) => div("bld-row",
			item.map((v, j) => {
				const ph = map && T(j ? "field.value" : "field.name");
				const input = h("input", { type: num ? "number" : "text", value: v, disabled, maxlength: !map && p.items.maxLength, "aria-label": ph || `${label} ${i + 1}`, placeholder: ph });
				return bind(input, c => { item[j] = input.value; store(c); });
			}),
			!disabled && xBtn(() => { items.splice(i, 1); render(); store(true); }))));
		render();
		return fieldset(path, label, hint, rows, !disabled && btn(T("f.add"), () => {
			if (items.length >= (p.maxItems ?? Infinity)) return;
			items.push(map ? ["", ""] : [""]);
			render();
			rows.lastChild.querySelector("input").focus();
		}, "button-secondary bld-add"));
	}
	// One box for strings, numbers and any value (what reads as JSON, 42 or {…}, is that value).
	const num = kind === "number" || kind === "integer", str = kind === "string", json = !num && !str;
	const uri = str && p.format === "uri", vars = str && p["x-variable"] && opts.variables && uid("bld-vars");
	const input = h(kind === "json" || (str && (p["x-multiline"] || (p.maxLength > 300 && !p.format))) ? "textarea" : "input", {
		type: num ? "number" : uri ? "url" : "text", disabled, class: json && "mono", min: num && p.minimum, max: num && p.maximum, step: num && (kind === "integer" ? 1 : "any"),
		maxlength: str && p.maxLength, placeholder: uri && "https://", list: vars, autocomplete: vars && "off", spellcheck: (json || p["x-variable"] || p["x-identifier"]) && "false",
		value: cur == null ? "" : typeof cur === "string" && (str || readJson(cur) === cur) ? cur : JSON.stringify(cur, null, 2),
	});
	const f = mk(input, hint || (num ? p.maximum !== undefined && T("f.range", p.minimum, p.maximum) : json && T("f.json")));
	if (vars) f.append(h("datalist", { id: vars }, opts.variables.map(v => h("option", { value: v }))));
	bind(input, c => {
		const v = num ? parseNumber(input.value, kind) : str ? (input.value === "" && !required ? undefined : input.value) : readJson(input.value);
		const bad = num ? v === null : kind === "json" && typeof v === "string";
		flag(input, f.querySelector(".field-error"), bad && T(num ? "f.notNumber" : "f.badJson"));
		if (!bad) set(v, c);
	});
	return f;
}

const problem = p => h("li", { dataset: { code: p.code, node: p.node_id } }, h("b", opt(`code.${p.code}`, p.code)), " ", p.message);
const problemList = problems => problems.length > 0 && h("ul", { class: "problem" }, problems.map(problem));
const note = text => h("p", { class: "bld-muted" }, text), muted = text => h("span", { class: "bld-muted" }, text);
const panel = (glyph, title, desc, ...kids) => div("bld-inspector",
	div("bld-insp-head", glyph, h("div", h("h2", title), desc && note(desc))), kids);
const actions = (ed, del) => !ed.readOnly && div("bld-actions",
	wbtn(T("duplicate"), ed.duplicate), wbtn(del, ed.deleteSelection, "button-danger", { dataset: { action: "delete-node" } }));

function nodeView(ed, node) {
	const def = ed.doc.definition, ro = ed.readOnly, outs = outcomesOf(node);
	const manifest = node.type === "module" && ed.modules.get(node.config?.module);
	const idInput = h("input", { type: "text", value: node.id, disabled: ro, maxlength: 64, spellcheck: "false", id: "bld-node-id" });
	const idField = field({ label: T("nodeId"), name: "node_id", input: idInput });
	idInput.onchange = () => {
		const error = ed.renameNode(node.id, idInput.value);
		if (!error) return ed.renderPanel();
		flag(idInput, idField.querySelector(".field-error"), error);
		idInput.value = node.id;
	};
	// Unknown types get their config as one JSON value.
	const known = isKnownType(node.type), cfg = isObj(node.config) ? node.config : {}, box = { config: cfg };
	if (node.type === "handoff" && ed.users === null) ed.loadUsers();
	const schema = known ? configSchema(node, ed.modules) : { properties: { config: { type: "object", title: T("configJson") } } };
	const form = schema ? schemaForm(known ? cfg : box, schema, {
		onChange: (c, r) => { node.config = known ? cfg : box.config || {}; ed.changed(c, r); },
		readOnly: ro, context: node.type, variables: knownVariables(def), users: Array.isArray(ed.users) && ed.users,
	}) : note(T("noConfig"));
	// A node's problems next to the fields they name ('text', with.url…), the rest above.
	const rest = (ed.problemsByNode.get(node.id) || []).filter(p => {
		const m = /\b(with(?:\.\w+)+)/.exec(p.message) || /'(\w+)'/.exec(p.message.replace(/^Module '[^']*': /, ""));
		const slot = m && form.querySelector(`[data-field="${CSS.escape(m[1])}"] > .field-error`);
		if (slot) slot.textContent = `${slot.textContent} ${p.message}`.trim();
		return !slot;
	});
	const others = def.nodes.filter(n => n.id !== node.id), output = manifest?.output?.properties;
	const view = panel(glyph(node.type), [typeLabel(node), manifest && ` v${manifest.version}`], manifest?.description,
		problemList(rest), idField, form,
		output && h("p", { class: "field-hint" }, T("output", Object.keys(output).join(", "))),
		outs.length > 0 && fieldset(null, T("links"), null, outs.map(o => {
			const to = def.edges.find(e => e.from === node.id && e.outcome === o)?.to;
			return field({ label: T("then", T(`out.${o}`)), name: `outcome.${o}`, input: select([["", T("noLink")], ...others.map(n => [n.id, nodeName(n)])], to, v => {
				def.edges = def.edges.filter(e => !(e.from === node.id && e.outcome === o));
				if (v) def.edges.push({ from: node.id, outcome: o, to: v });
				ed.changed(true);
			}, { disabled: ro }) });
		})),
		actions(ed, T("delNodes", 1)));
	view.dataset.nodeId = node.id;
	return view;
}

function flowView(ed) {
	if (!isObj(ed.doc.trigger)) ed.doc.trigger = { type: "default" };
	return panel(null, T("settings"), T("setHint"), schemaForm(ed.doc, FLOW, { onChange: ed.changed, readOnly: ed.readOnly, context: "flow" }),
		problemList(ed.problems.filter(p => !p.node_id)));
}

export function inspectorPanel(ed) {
	const def = ed.doc.definition, sel = ed.selection;
	const byId = id => def.nodes.find(n => n.id === id);
	const e = ed.selEdge && def.edges.find(x => edgeKey(x) === ed.selEdge);
	if (e) {
		const name = id => (byId(id) ? `${typeLabel(byId(id))} (${id})` : id);
		return panel(null, T("edge"), T("edgeText", name(e.from), T(`out.${e.outcome}`), name(e.to)),
			!ed.readOnly && wbtn(T("delEdge"), ed.deleteSelection, "button-danger"));
	}
	const node = sel.size === 1 && byId([...sel][0]);
	if (node) return nodeView(ed, node);
	if (sel.size < 2) return flowView(ed);
	const nodes = def.nodes.filter(n => sel.has(n.id));
	return panel(null, T("multi", nodes.length), null, actions(ed, T("delNodes", nodes.length)));
}

const head = (title, ...kids) => div("bld-head", h("h2", title), kids);

export function problemsPanel(ed) {
	const list = ed.problems;
	const group = (attrs, title, items) => items.length > 0 && h("section", { dataset: attrs }, h("h3", title),
		h("ul", { class: "bld-problems" }, items.map(problem)));
	const test = p => p.code === "test_failed", flow = list.filter(p => !p.node_id && !test(p)), tests = list.filter(test);
	return h("div",
		head(T("pr.title", list.length)),
		h("p", { class: ed.stale ? "bld-stale" : "bld-muted" }, T(ed.stale ? "pr.stale" : `pr.${ed.source}`)),
		!list.length && h("p", chip(`✓ ${T("valid")}`)),
		group({ group: "flow" }, T("pr.flow"), flow),
		group({ group: "tests" }, T("pr.tests"), tests),
		[...ed.problemsByNode].map(([id, problems]) => {
			const n = ed.doc.definition.nodes.find(x => x.id === id);
			return group({ group: "node", node: id }, n
				? h("button", { type: "button", class: ["bld-link bld-problem-node", typeClass(n.type)], dataset: { node: id }, onclick: () => ed.showNode(id) }, h("b", glyphOf(n.type)), ` ${typeLabel(n)} · ${id}`)
				: [`${id} `, muted(T("pr.gone"))], problems);
		}));
}

export function simulatorPanel(ed) {
	const sim = ed.sim;
	const input = h("input", { type: "text", id: "bld-sim-input", maxlength: 4096, autocomplete: "off", placeholder: T("sim.ph") });
	const sendBtn = h("button", { class: "button button-primary button-small", id: "bld-sim-send" }, T("sim.send"));
	const log = h("div", { class: "bld-chat", id: "bld-sim-chat", role: "log", "aria-live": "polite" });
	const statusLine = h("p", { id: "bld-sim-status" });
	const toTest = wbtn(T("sim.toTest"), () => {
		const last = sim.result.transcript.findLast(l => l.role === "bot"), expect = {};
		if (last) expect.replies_contain = [last.text];
		if (sim.result.ended_at) expect.ends_at = sim.result.ended_at;
		ed.doc.test_cases.push({ describe: T("sim.caseName", ed.doc.test_cases.length + 1), messages: [...sim.messages], expect, variables: structuredClone(sim.variables) });
		ed.changed(true);
		toast(T("sim.caseAdded"));
		ed.showTab("tests");
	});

	function restart() {
		Object.assign(sim, { messages: [], result: null, error: null });
		ed.setPath(null);
		draw();
		input.focus();
	}

	const bubble = l => div(`bld-msg bld-msg-${l.role}`, h("span", l.text),
		l.role === "bot" && l.node_id && h("button", { type: "button", class: "bld-msg-node", title: T("sim.showNode"), onclick: () => ed.showNode(l.node_id) }, l.node_id),
		l.choices?.length > 0 && div("bld-choices", l.choices.map(c => h("button", { type: "button", disabled: sim.busy, onclick: () => send(c) }, c))));

	function draw() {
		const r = sim.result || {}, lines = r.transcript || [];
		const shown = lines.map(bubble);
		if (sim.busy && sim.messages.length > lines.filter(l => l.role === "customer").length) {
			shown.push(bubble({ role: "customer", text: sim.messages.at(-1) }),
				div("bld-msg bld-msg-bot bld-muted", T("sim.thinking")));
		}
		replace(log, shown.length ? shown : h("p", T("sim.empty")));
		log.scrollTop = log.scrollHeight;
		replace(statusLine, sim.error ? h("span", { class: "bld-error" }, sim.error) : r.status && [
			chip(T(`sim.st.${r.status}`), r.status === "failed" ? "bad" : r.status !== "completed" && "muted"), " ",
			r.path?.length > 0 && muted(tr("flows.nodes", r.path.length))]);
		const full = sim.messages.length >= 50;
		input.disabled = sendBtn.disabled = sim.busy || full;
		sendBtn.setAttribute("aria-busy", !!sim.busy);
		if (full) input.placeholder = T("sim.full");
		toTest.disabled = !sim.result;
	}

	async function send(text) {
		text = String(text);
		if (!text.trim() || sim.busy) return;
		Object.assign(sim, { error: null, busy: true });
		draw();
		if (!sim.version && !(await ed.ensureSaved())) sim.error = T("sim.notSaved");
		else {
			sim.messages.push(text);
			input.value = "";
			draw();
			try {
				sim.result = await ed.api("POST", "/simulate", { body: { messages: sim.messages, version: sim.version ? +sim.version : undefined, variables: sim.variables } });
				ed.setPath(sim.result);
			} catch (error) {
				sim.messages.pop();
				input.value = text;
				sim.error = errorText(error);
			}
		}
		sim.busy = false;
		draw();
		if (ed.tab === "simulator") input.focus();
	}

	const root = h("div",
		// A published version (picked in the versions tab) runs until dismissed; else the draft.
		head(T("tab.simulator"), sim.version && btn(`${T("sim.version", sim.version)} ×`, () => { sim.version = ""; ed.renderPanel(); restart(); }), btn(T("sim.restart"), restart)),
		note(T("sim.hint")), log, statusLine,
		h("form", { class: "bld-sim-form", onsubmit: e => { e.preventDefault(); send(input.value); } }, input, sendBtn),
		schemaForm(sim, { properties: { variables: jsonMap(T("ts.startVars")) } }, { onChange() {} }),
		!ed.readOnly && h("div", toTest));
	draw();
	return root;
}

export function testsPanel(ed) {
	const ro = ed.readOnly, cases = ed.doc.test_cases, report = ed.testReport, nodes = ed.doc.definition.nodes;
	const run = wbtn(T("ts.run"), async () => {
		run.disabled = true;
		run.setAttribute("aria-busy", "true");
		try {
			if (await ed.ensureSaved()) ed.testReport = await ed.api("POST", "/test");
		} catch (error) {
			toast(errorText(error), "error");
		}
		if (ed.tab === "tests") ed.renderPanel();
	}, "button-primary", { id: "bld-tests-run", disabled: !cases.length });
	const list = title => ({ type: "array", items: { type: "string" }, title }), ids = nodes.map(n => n.id);
	const schema = { required: ["describe"], properties: {
		describe: { type: "string", title: T("ts.describe") },
		messages: list(T("ts.messages")),
		expect: { type: "object", title: T("ts.expect"), properties: {
			replies_contain: list(T("ts.replies")),
			ends_at: { type: "string", title: T("ts.endsAt"), enum: ids, "x-labels": Object.fromEntries(nodes.map(n => [n.id, nodeName(n)])) },
			variables: jsonMap(T("sim.vars")),
		} },
		variables: jsonMap(T("ts.startVars")),
	} };

	const card = (c, i) => {
		const result = report?.cases[i], end = c.expect?.ends_at;
		if (end && !ids.includes(end)) ids.push(end);
		return h("article", { class: ["bld-case", result && (result.passed ? "is-pass" : "is-fail")], dataset: { case: i } },
			div("bld-head",
				result && chip(T(result.passed ? "ts.pass" : "ts.fail"), !result.passed && "bad", { dataset: { result: result.passed ? "pass" : "fail" } }),
				!ro && xBtn(() => {
					cases.splice(i, 1);
					ed.testReport = null;
					ed.changed(true, true);
				}, WRITE)),
			schemaForm(c, schema, { readOnly: ro, onChange: (commit, redraw) => { if (report) report.stale = true; ed.changed(commit, redraw); } }),
			result && !result.passed && h("ul", { class: "problem" }, result.failures.map(f => h("li", f))),
			result && note(T("ts.path", (result.path || []).join(" → ") || "–")));
	};

	const passed = report?.cases.filter(c => c.passed).length;
	return h("div",
		head(T("ts.title", cases.length), !ro && run),
		note(T("ts.hint")),
		report && h("p", chip(T("ts.summary", passed, report.cases.length), !report.passed && "bad"), " ", report.stale && muted(T("ts.stale"))),
		cases.length ? cases.map(card) : empty(T("ts.empty")),
		!ro && wbtn(T("ts.add"), () => {
			cases.push({ describe: T("ts.newName", cases.length + 1), messages: [], expect: {} });
			ed.changed(true, true);
			const last = document.querySelector(".bld-case:last-of-type input");
			last.focus();
			last.select();
		}, "button-secondary bld-add", { id: "bld-tests-add" }));
}

export function versionsPanel(ed) {
	const body = h("div", { id: "bld-versions" }), ro = ed.readOnly;
	if (ed.versions === null) {
		ed.versions = undefined;
		ed.api("GET", "/versions").then(r => { ed.versions = r.items; if (ed.tab === "versions") ed.renderPanel(); },
			error => { ed.versions = null; replace(body, problemBox(error, { onRetry: ed.renderPanel })); });
	}
	replace(body, !ed.versions ? loading() : !ed.versions.length ? empty(T("v.none")) : ed.versions.map(v => {
		const live = v.version === ed.live;
		return h("article", { class: ["bld-version", live && "is-live"], dataset: { version: v.version } },
			div("bld-head", h("strong", T("sim.version", v.version)), live && chip(T("v.live")), v.copied_from && chip(T("v.copyOf", v.copied_from), "muted")),
			note(`${formatDateTime(v.published_at, lang())} · ${tr("flows.nodes", (v.definition?.nodes || []).length)}`),
			!ro && div("bld-actions",
				btn(T("v.simulate"), () => {
					Object.assign(ed.sim, { version: String(v.version), messages: [], result: null });
					ed.setPath(null);
					ed.showTab("simulator");
				}),
				wbtn(T("v.load"), () => ed.loadVersion(v)),
				!live && wbtn(T("v.rollback"), () => ed.rollback(v.version), "bld-rollback", { dataset: { action: "rollback", version: v.version } })));
	}));
	return h("div", head(T("tab.versions")), note(T("v.hint")), body);
}
