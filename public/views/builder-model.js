// Flow builder model: node types (glyph, outcomes, default config, form schema: JSON schema plus
// x-multiline, x-variable, x-show…), summaries, ids, layout, import and export.

import { h } from "../lib/dom.js";
import { T } from "./builder-strings.js";

// UI pieces shared with the flows list.
export const WRITE = { "data-write": "" };
export const div = (cls, ...kids) => h("div", { class: cls }, ...kids);
export const btn = (label, onclick, cls = "button-secondary", attrs) => h("button", { type: "button", class: `button button-small ${cls}`, onclick, ...attrs }, label);
export const chip = (text, kind, attrs) => h("span", { class: ["status", kind && `status-${kind}`], ...attrs }, text);
/** A <select> of [value, label] pairs (falsy ones skipped); calls onchange(value). */
export function select(pairs, value, onchange, attrs) {
	const el = h("select", { ...attrs, onchange: () => onchange(el.value) }, pairs.filter(Boolean).map(([v, label]) => h("option", { value: v }, label)));
	el.value = value ?? "";
	return el;
}

export const NODE_W = 208, NODE_H = 68;
const str = (maxLength, more) => ({ type: "string", maxLength, ...more });
const text = str(4096, { "x-multiline": true });
const vari = str(64, { "x-variable": true });
const int = (minimum, maximum) => ({ type: "integer", minimum, maximum });
const obj = (properties, required) => ({ type: "object", required, properties });
const unary = op => op === "is_set" || op === "is_empty";

// type: [glyph, outcomes, default config, config schema]
const TYPES = {
	start: ["▶", ["next"], {}],
	send_message: ["✉", ["next"], { text: "" }, obj({ text }, ["text"])],
	ask: ["?", ["next"], { question: "", variable: "", validation: "text" }, obj({
		question: text, variable: vari,
		validation: { type: "string", enum: ["text", "number", "email", "choice"] },
		choices: { type: "array", maxItems: 10, items: str(24), "x-show": c => c.validation === "choice" },
		retry_message: str(4096),
	}, ["question", "variable"])],
	condition: ["◆", ["true", "false"], { variable: "", operator: "equals", value: "" }, obj({
		variable: vari,
		operator: { type: "string", enum: ["equals", "not_equals", "contains", "starts_with", "matches_regex", "greater_than", "less_than", "is_set", "is_empty"] },
		value: { type: "string", "x-show": c => !unary(c.operator) },
	}, ["variable", "operator"])],
	set_variable: ["=", ["next"], { variable: "", value: "" }, obj({ variable: vari, value: {} }, ["variable", "value"])],
	handoff: ["☎", ["next"], {}, obj({ message: text, assignee_id: { type: "string", "x-assignee": true } })],
	wait: ["◷", ["next"], { seconds: 60 }, obj({ seconds: int(1, 86400) }, ["seconds"])],
	end: ["■", [], {}],
	module: ["⚙", ["success", "error"], {}],
};
export const BUILTIN_TYPES = Object.keys(TYPES).slice(0, -1);

export const isKnownType = type => Object.hasOwn(TYPES, type);
const info = type => (isKnownType(type) ? TYPES[type] : ["•", [], {}]);
export const glyphOf = type => info(type)[0];
export const outcomesOf = node => info(node.type)[1];
export const typeClass = type => `type-${isKnownType(type) ? type : "unknown"}`;

export function configSchema(node, modules) {
	if (node.type !== "module") return info(node.type)[3] || null;
	const m = modules.get(node.config && node.config.module);
	return obj({
		module: { type: "string", enum: [...modules.keys()], "x-onchange": c => { c.with = defaultConfig("module", c.module, modules).with; } },
		with: (m && m.with) || obj({}),
		save_as: str(64, { "x-identifier": true }),
		timeout_ms: int(100, 300000),
		retry: obj({ attempts: int(1, 5), delay_ms: int(0, 60000) }),
	}, ["module"]);
}

/** A new node's config (a module's: the first value of each required enum). */
export function defaultConfig(type, module, modules) {
	if (type !== "module") return structuredClone(info(type)[2]);
	const s = (modules.get(module) || {}).with || {};
	const w = {};
	for (const k of s.required || []) {
		const e = s.properties && s.properties[k] && s.properties[k].enum;
		if (Array.isArray(e) && e.length) w[k] = e[0];
	}
	return { module, with: w };
}

export function typeLabel(n) {
	if (n.type === "module" && n.config && n.config.module) return String(n.config.module);
	return isKnownType(n.type) ? T(`type.${n.type}`) : String(n.type);
}

export const truncate = (s, max) => (s = String(s).replace(/\s+/g, " ")).length > max ? `${s.slice(0, max - 1)}…` : s;
export const nodeName = n => `${n.id} · ${truncate(typeLabel(n), 18)}`;

const txt = v => (v == null ? "" : typeof v === "string" ? v : JSON.stringify(v));

function seconds(n) {
	n = Number(n) || 0;
	if (n >= 3600 && n % 60 === 0) return `${Math.floor(n / 3600)} h${n % 3600 ? ` ${(n % 3600) / 60} min` : ""}`;
	return n >= 60 && n % 60 === 0 ? `${n / 60} min` : `${n} s`;
}

export function summaryOf(n) {
	const c = n.config || {}, w = c.with || {}, none = T("sum.empty");
	switch (n.type) {
		case "start": case "end": return T(`sum.${n.type}`);
		case "send_message": return txt(c.text) || none;
		case "ask": return c.question ? txt(c.question) + (c.variable ? ` → ${c.variable}` : "") : none;
		case "condition": return c.variable ? `${c.variable} ${String(c.operator || "").replace(/_/g, " ")} ${unary(c.operator) ? "" : txt(c.value)}`.trim() : none;
		case "set_variable": return c.variable ? `${c.variable} = ${txt(c.value)}` : none;
		case "module": return (w.url ? `${w.method ? `${w.method} ` : ""}${w.url}` : w.operation ? `${w.operation}${w.key ? ` ${txt(w.key)}` : ""}` : txt(w.prompt))
			|| (c.save_as ? `→ ${c.save_as}` : T("sum.module"));
		case "handoff": return txt(c.message) || T("sum.handoff");
		case "wait": return seconds(c.seconds);
	}
	return T("sum.unknown");
}

/** An unused id from `base` (a type or module name), added to `taken`. */
export function newId(taken, base) {
	const stem = String(base).replace(/\W/g, "_").slice(0, 50) || "node";
	for (let i = 1; ; i++) if (!taken.has(`${stem}_${i}`)) { taken.add(`${stem}_${i}`); return `${stem}_${i}`; }
}

/** Variables set anywhere in the flow, and the built-in ones (FlowValidator.builtInVariables). */
export function knownVariables(def) {
	const names = new Set(["customer_name", "customer_phone", "last_message"]);
	for (const { type, config: c } of def.nodes) {
		const v = c && (type === "ask" || type === "set_variable" ? c.variable : type === "module" ? c.save_as : "");
		if (v && typeof v === "string") names.add(v);
	}
	return [...names].sort();
}

const isPos = p => p && Number.isFinite(p.x) && Number.isFinite(p.y);

/** Columns by distance from the start (unreached nodes last); with onlyMissing, positions are kept. */
export function layout(def, onlyMissing) {
	const start = def.nodes.find(n => n.type === "start") || def.nodes[0], queue = start ? [start.id] : [];
	const depth = new Map(queue.map(id => [id, 0])), rows = new Map();
	for (const id of queue) for (const e of def.edges) if (e.from === id && !depth.has(e.to)) { depth.set(e.to, depth.get(id) + 1); queue.push(e.to); }
	const loose = Math.max(-1, ...depth.values()) + 1;
	for (const n of def.nodes) {
		const d = depth.get(n.id) ?? loose, row = rows.get(d) || 0;
		rows.set(d, row + 1);
		if (!onlyMissing || !isPos(n.position)) n.position = { x: d * (NODE_W + 72), y: row * (NODE_H + 44) };
	}
}

/**
 * Reads an imported file: a builder export ({format, name, trigger, definition, test_cases}), a
 * Flow or FlowVersion from the API, or a bare {nodes, edges}. Throws on anything else.
 */
export function parseImport(json) {
	let d;
	try { d = JSON.parse(json); } catch { throw new Error(T("imp.notJson")); }
	const def = d && (Array.isArray(d.nodes) ? d : d.definition);
	const s = v => typeof v === "string";
	if (!def || !Array.isArray(def.nodes) || !Array.isArray(def.edges) || !def.nodes.every(n => n && s(n.id) && s(n.type))
		|| !def.edges.every(e => e && s(e.from) && s(e.to) && s(e.outcome))) throw new Error(T("imp.notFlow"));
	const clean = {
		nodes: def.nodes.map(n => ({
			id: n.id, type: n.type, config: n.config && typeof n.config === "object" ? n.config : {},
			...(isPos(n.position) && { position: { x: n.position.x, y: n.position.y } }),
		})),
		edges: def.edges.map(e => ({ from: e.from, outcome: e.outcome, to: e.to })),
	};
	layout(clean, true);
	const tr = d.trigger;
	return {
		name: s(d.name) && d.name.trim() ? d.name.trim().slice(0, 200) : null,
		trigger: tr && typeof tr === "object" && s(tr.type) ? tr : null,
		definition: clean,
		test_cases: Array.isArray(d.test_cases) ? d.test_cases.filter(c => c && typeof c === "object") : null,
	};
}

export function exportFlow(f) {
	const data = { format: "pytake.flow", format_version: 1, name: f.name, trigger: f.trigger, definition: f.definition, test_cases: f.test_cases || [] };
	const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
	const slug = String(f.name || "flow").normalize("NFKD").replace(/[^\w-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase().slice(0, 60);
	Object.assign(document.createElement("a"), { href: url, download: `${slug || "flow"}.flow.json` }).click();
	setTimeout(() => URL.revokeObjectURL(url), 1000);
}
