// Flow builder: the SVG canvas. Edits reconcile the DOM with the model (only what changed is
// rebuilt); drags move transforms in animation frames. `ed` (builder.js) owns model and selection.

import { h, s, uid, replace } from "../lib/dom.js";
import { T, NODE_W as W, NODE_H as H, outcomesOf, glyph, glyphOf, typeLabel, summaryOf, typeClass, div } from "./builder-model.js";

let measure = null;
// `text` cut with an ellipsis to fit `width` pixels (measured: it never overflows a node).
function fitText(text, width, font) {
	text = String(text).replace(/\s+/g, " ");
	measure ||= h("canvas").getContext("2d");
	measure.font = `${font} system-ui, sans-serif`;
	const fits = x => measure.measureText(x).width <= width;
	if (fits(text)) return text;
	let lo = 0, hi = text.length;
	while (lo < hi) {
		const mid = (lo + hi + 1) >> 1;
		if (fits(`${text.slice(0, mid)}…`)) lo = mid; else hi = mid - 1;
	}
	return `${text.slice(0, lo).trimEnd()}…`;
}

export const edgeKey = e => `${e.from}\0${e.outcome}\0${e.to}`;
const show = (el, on) => (on ? el.removeAttribute("display") : el.setAttribute("display", "none"));
const portY = (i, count) => H / 2 + (count > 1 ? (i - (count - 1) / 2) * 26 : 0);
const toggle = (el, classes) => { for (const c in classes) el.classList.toggle(c, !!classes[c]); };
const pos = n => n.position || { x: 0, y: 0 };
const curve = (a, b) => {
	const dx = Math.max(40, Math.abs(b.x - a.x) / 2);
	return `M ${a.x} ${a.y} C ${a.x + dx} ${a.y}, ${b.x - dx} ${b.y}, ${b.x - 2} ${b.y}`;
};

export function createCanvas(ed) {
	const id = uid("bld"), view = { k: 1 }, nodes = new Map(), edges = new Map();
	let byId = new Map(), gesture = null, frame = 0;

	const grid = s("pattern", { id: `${id}-grid`, width: 24, height: 24, patternUnits: "userSpaceOnUse" }, s("circle", { cx: 1.5, cy: 1.5, r: 1.2, class: "bld-grid-dot" }));
	const edgeLayer = s("g"), nodeLayer = s("g"), wire = s("path", { class: "bld-wire", display: "none" });
	const world = s("g", { class: "bld-world" }, edgeLayer, nodeLayer, wire);
	const band = s("rect", { class: "bld-band", display: "none" });
	const svg = s("svg", { class: "bld-svg", role: "application" }, s("defs", grid,
		// One arrowhead, in the colour of each edge's line.
		s("marker", { id: `${id}-a`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, s("path", { d: "M0 0L10 5L0 10z", fill: "context-stroke" }))),
		s("rect", { class: "bld-bg", width: "100%", height: "100%", fill: `url(#${id}-grid)` }), world, band);
	const emptyHint = div("bld-canvas-empty"), hint = h("div");
	// Zoom bar: [title key, label, action, data-action].
	const zoomBar = [["zoomOut", "−", () => zoomBy(1 / 1.2), "zoom-out"], ["zoom100", "", () => zoomAt(1)], ["zoomIn", "+", () => zoomBy(1.2), "zoom-in"], ["fitT", "", fit, "fit"]]
		.map(([title, label, onclick, action]) => h("button", { type: "button", dataset: { action, title }, onclick }, label));
	zoomBar[1].className = "bld-zoom-label";
	const el = h("div", { class: ["bld-canvas", ed.readOnly && "is-readonly"], tabindex: "0", id: "bld-canvas" }, svg, emptyHint, hint, div("bld-zoombar", zoomBar));

	function texts() {
		hint.textContent = T("panHint");
		// All gestures in the tooltip (a viewer's first four).
		hint.title = T("keyList").split(";").slice(0, ed.readOnly ? 4 : 99).join("\n");
		emptyHint.textContent = T("empty");
		zoomBar[3].textContent = T("fit");
		for (const b of zoomBar) b.title = T(b.dataset.title);
		for (const b of [zoomBar[0], zoomBar[2]]) b.setAttribute("aria-label", b.title);
		svg.setAttribute("aria-label", T("canvas"));
	}

	// View: screen = world × k + (x, y).
	function setView(x, y, k = view.k) {
		Object.assign(view, { x, y, k });
		const tr = `translate(${x} ${y}) scale(${k})`;
		world.setAttribute("transform", tr);
		grid.setAttribute("patternTransform", tr);
		zoomBar[1].textContent = `${Math.round(k * 100)}%`;
	}

	function size() {
		const r = svg.getBoundingClientRect();
		return { w: r.width || 800, h: r.height || 500, left: r.left, top: r.top };
	}

	function toWorld(cx, cy) {
		const r = size();
		return { x: (cx - r.left - view.x) / view.k, y: (cy - r.top - view.y) / view.k };
	}
	const center = (r = size()) => toWorld(r.left + r.w / 2, r.top + r.h / 2);
	const addAt = (item, c, nudge) => c && ed.addNodeAt(item.type, item.module, { x: c.x - W / 2, y: c.y - H / 2 }, nudge);

	// Zoom to k around the screen point (sx, sy), by default the middle.
	function zoomAt(k, sx = size().w / 2, sy = size().h / 2) {
		k = Math.min(2.5, Math.max(0.1, k));
		setView(sx - ((sx - view.x) / view.k) * k, sy - ((sy - view.y) / view.k) * k, k);
	}
	const zoomBy = f => zoomAt(view.k * f);
	const centerAt = (x, y, k = view.k) => setView(size().w / 2 - x * k, size().h / 2 - y * k, k);

	function fit() {
		const list = ed.doc.definition.nodes, r = size();
		if (!list.length) return setView(r.w / 2, r.h / 2, 1);
		const xs = list.map(n => pos(n).x), ys = list.map(n => pos(n).y);
		const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(...xs) + W - x0, hh = Math.max(...ys) + H - y0;
		centerAt(x0 + w / 2, y0 + hh / 2, Math.min(1, Math.max(0.1, Math.min((r.w - 96) / w, (r.h - 96) / hh))));
	}

	// First view: all nodes when readable, else the start at a readable zoom.
	function home() {
		fit();
		const list = ed.doc.definition.nodes;
		if (view.k >= 0.55 || !list.length) return;
		const p = pos(list.find(n => n.type === "start") || list[0]);
		setView(40 - p.x * 0.7, size().h / 2 - (p.y + H / 2) * 0.7, 0.7);
	}

	function buildNode(rec) {
		const n = rec.node, outs = outcomesOf(n), two = outs.length > 1, g = rec.g;
		g.setAttribute("class", `bld-node ${typeClass(n.type)}`);
		replace(g,
			s("rect", { class: "bld-node-box", width: W, height: H, rx: 10 }),
			s("rect", { class: "bld-node-stripe", y: 8, width: 4, height: H - 16, rx: 2 }),
			s("circle", { class: "bld-node-icon", cx: 26, cy: H / 2, r: 15 }),
			s("text", { class: "bld-node-glyph", x: 26, y: H / 2 + 5 }, glyphOf(n.type)),
			s("text", { class: "bld-node-title", x: 50, y: 29 }, fitText(typeLabel(n), two ? 86 : 140, "650 13px")),
			s("text", { x: 50, y: 48 }, fitText(summaryOf(n), two ? 86 : 142, "11.5px")),
			n.type !== "start" && s("circle", { class: "bld-port-in", cy: H / 2, r: 5 }),
			outs.map((o, i) => s("g", { class: `bld-port out-${o}`, dataset: { port: o }, transform: `translate(${W} ${portY(i, outs.length)})` },
				s("circle", { class: "bld-port-hit", r: 12 }), s("circle", { class: "bld-port-dot", r: 6 }),
				two && s("text", { class: "bld-port-label", x: -11, y: 4 }, T(`out.${o}`)))),
			(rec.tip = s("title")),
			(rec.badge = s("g", { class: "bld-badge", transform: `translate(${W - 6} 6)` }, s("circle", { r: 10 }), s("text", { y: 4 }))));
	}

	const placeNode = rec => rec.g.setAttribute("transform", `translate(${pos(rec.node).x} ${pos(rec.node).y})`);

	function portPoint(n, outcome) {
		const outs = outcomesOf(n), i = outs.indexOf(outcome);
		return { x: pos(n).x + W, y: pos(n).y + (i < 0 ? H / 2 : portY(i, outs.length)) };
	}

	function placeEdge(rec) {
		const a = byId.get(rec.edge.from), b = byId.get(rec.edge.to);
		show(rec.g, a && b);
		if (a && b) for (const p of rec.g.children) p.setAttribute("d", curve(portPoint(a, rec.edge.outcome), { x: pos(b).x, y: pos(b).y + H / 2 }));
	}

	function sync() {
		const def = ed.doc.definition, keys = new Set();
		byId = new Map(def.nodes.map(n => [n.id, n]));
		for (const n of def.nodes) {
			let rec = nodes.get(n.id);
			if (!rec) nodes.set(n.id, (rec = { g: nodeLayer.appendChild(s("g", { dataset: { nodeId: n.id } })) }));
			rec.node = n;
			const sig = `${n.type}\0${JSON.stringify(n.config || {})}`;
			if (rec.sig !== sig) { buildNode(rec); rec.sig = sig; }
			placeNode(rec);
		}
		for (const e of def.edges) {
			const key = edgeKey(e);
			keys.add(key);
			let rec = edges.get(key);
			if (!rec) {
				edges.set(key, (rec = { g: edgeLayer.appendChild(s("g", { class: `bld-edge out-${e.outcome}`, dataset: { edgeFrom: e.from, edgeOutcome: e.outcome, edgeTo: e.to } },
					s("path", { class: "bld-edge-hit" }), s("path", { class: "bld-edge-line", "marker-end": `url(#${id}-a)` }))) }));
				rec.g.bldKey = key;
			}
			rec.edge = e;
			placeEdge(rec);
		}
		for (const [map, keep] of [[nodes, byId], [edges, keys]]) for (const [k, rec] of map) if (!keep.has(k)) { rec.g.remove(); map.delete(k); }
		emptyHint.hidden = def.nodes.length > 0;
		decorate();
	}

	function decorate() {
		const sel = ed.selection, path = ed.path;
		el.classList.toggle("has-stale-problems", !!ed.stale);
		for (const [nid, { g, node, tip, badge }] of nodes) {
			const probs = ed.problemsByNode.get(nid) || [];
			toggle(g, { "is-selected": sel.has(nid), "is-path": path.nodes.has(nid), "is-current": path.current === nid, "has-problem": probs.length });
			g.setAttribute("aria-selected", sel.has(nid));
			show(badge, probs.length);
			badge.lastChild.textContent = badge.dataset.count = probs.length;
			tip.textContent = [`${typeLabel(node)} · ${nid}`, ...probs.map(p => `⚠ ${p.message}`)].join("\n");
		}
		for (const { g, edge: e } of edges.values()) {
			toggle(g, { "is-selected": ed.selEdge === edgeKey(e), "is-path": path.edges.has(`${e.from}\0${e.to}`), "is-linked": sel.has(e.from) || sel.has(e.to) });
		}
	}

	// Gestures: pan (background, middle button), move nodes, wire a port to a node, rubber
	// band (Shift on the background), drop from the palette.

	function nodeAt(cx, cy) {
		const g = document.elementFromPoint(cx, cy);
		return g && svg.contains(g) && g.closest("[data-node-id]")?.dataset.nodeId;
	}
	const dropMark = (nid, yes) => nodes.has(nid) && nodes.get(nid).g.classList.toggle("is-drop", yes);
	const inSvg = ev => {
		const r = svg.getBoundingClientRect();
		return ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
	};
	const listen = on => { for (const type of ["pointermove", "pointerup", "pointercancel"]) (on ? addEventListener : removeEventListener)(type, type === "pointermove" ? onMove : onUp); };

	function begin(e, g) {
		gesture = { x0: e.clientX, y0: e.clientY, last: e, pointerId: e.pointerId, ...g };
		e.preventDefault();
		listen(true);
	}

	function onDown(e) {
		if (gesture || e.button > 1) return;
		el.focus({ preventScroll: true });
		const port = e.target.closest("[data-port]"), edgeEl = e.target.closest("[data-edge-from]");
		const nid = e.target.closest("[data-node-id]")?.dataset.nodeId, g = { kind: "pan", vx: view.x, vy: view.y };
		if (e.button) {
		} else if (port && nid && !ed.readOnly) {
			Object.assign(g, { kind: "wire", from: nid, outcome: port.dataset.port, start: portPoint(byId.get(nid), port.dataset.port) });
			el.classList.add("is-wiring");
		} else if (nid) {
			const wasSelected = ed.selection.has(nid);
			if (e.shiftKey || e.ctrlKey || e.metaKey) ed.select([nid], "toggle", true);
			else if (!wasSelected) ed.select([nid], "replace", true);
			const moving = [...ed.selection].filter(x => byId.has(x));
			Object.assign(g, { kind: ed.readOnly ? "" : "move", id: nid, wasSelected, shift: e.shiftKey, origin: new Map(moving.map(x => [x, { ...pos(byId.get(x)) }])) });
		} else if (edgeEl) {
			ed.selectEdge(edgeEl.bldKey);
			g.kind = "";
		} else if (e.shiftKey) {
			Object.assign(g, { kind: "band", keep: [...ed.selection] });
			show(band, true);
		} else {
			g.clear = true;
		}
		begin(e, g);
	}

	function onMove(e) {
		const g = gesture;
		if (!g || e.pointerId !== g.pointerId) return;
		g.last = e;
		if (!g.moved && Math.hypot(e.clientX - g.x0, e.clientY - g.y0) > 3) {
			g.moved = true;
			if (g.kind === "pan") el.classList.add("is-panning");
			if (g.ghost) document.body.append(g.ghost);
		}
		if (g.moved && !frame) frame = requestAnimationFrame(() => { frame = 0; step(); });
	}

	function step() {
		const g = gesture, { clientX: x, clientY: y } = g.last, dx = x - g.x0, dy = y - g.y0;
		if (g.kind === "pan") setView(g.vx + dx, g.vy + dy);
		if (g.kind === "move") {
			for (const [nid, o] of g.origin) {
				byId.get(nid).position = { x: Math.round(o.x + dx / view.k), y: Math.round(o.y + dy / view.k) };
				placeNode(nodes.get(nid));
			}
			for (const rec of edges.values()) if (g.origin.has(rec.edge.from) || g.origin.has(rec.edge.to)) placeEdge(rec);
		}
		if (g.kind === "wire") {
			show(wire, true);
			wire.setAttribute("d", curve(g.start, toWorld(x, y)));
			const over = nodeAt(x, y);
			if (g.over !== over) {
				dropMark(g.over, false);
				dropMark((g.over = over), over !== g.from);
			}
		}
		if (g.kind === "band") {
			const r = size(), a = toWorld(Math.min(g.x0, x), Math.min(g.y0, y)), b = toWorld(Math.max(g.x0, x), Math.max(g.y0, y));
			for (const [k, v] of Object.entries({ x: Math.min(g.x0, x) - r.left, y: Math.min(g.y0, y) - r.top, width: Math.abs(dx), height: Math.abs(dy) })) band.setAttribute(k, v);
			const inside = ed.doc.definition.nodes.filter(n => pos(n).x < b.x && pos(n).x + W > a.x && pos(n).y < b.y && pos(n).y + H > a.y);
			ed.select([...g.keep, ...inside.map(n => n.id)], "replace");
		}
		if (g.kind === "drop") {
			g.ghost.style.left = `${x - 20}px`;
			g.ghost.style.top = `${y - 18}px`;
			el.classList.toggle("is-droptarget", inSvg(g.last));
		}
	}

	function onUp(e) {
		const g = gesture, ok = e.type !== "pointercancel";
		if (!g || e.pointerId !== g.pointerId) return;
		destroy();
		g.last = e;
		if (g.moved && ok) step();
		gesture = null;
		el.classList.remove("is-panning", "is-wiring", "is-droptarget");
		show(band, false);
		show(wire, false);
		dropMark(g.over, false);
		if (g.ghost) g.ghost.remove();
		if (g.kind === "pan" && !g.moved && g.clear) ed.select([], "replace", true);
		if (g.kind === "move" && g.moved) ed.commit();
		else if (g.kind === "move" && g.wasSelected && !g.shift) ed.select([g.id], "replace", true);
		const to = g.kind === "wire" && ok && nodeAt(e.clientX, e.clientY);
		if (to && to !== g.from) ed.connect(g.from, g.outcome, to);
		if (g.kind !== "drop" || !ok) return;
		addAt(g.item, g.moved ? inSvg(e) && toWorld(e.clientX, e.clientY) : center(), !g.moved);
	}

	svg.addEventListener("pointerdown", onDown);
	svg.addEventListener("wheel", e => {
		e.preventDefault();
		const r = size();
		zoomAt(view.k * Math.exp(-Math.max(-100, Math.min(100, e.deltaY)) * 0.0025), e.clientX - r.left, e.clientY - r.top);
	}, { passive: false });
	svg.addEventListener("dblclick", e => {
		const nid = e.target.closest("[data-node-id]")?.dataset.nodeId;
		if (nid) ed.focusInspector(nid);
	});

	function destroy() {
		listen(false);
		cancelAnimationFrame(frame);
		frame = 0;
	}

	setView(40, 40);
	texts();
	return {
		el, sync, decorate, fit, home, zoomBy, destroy,
		centerOn: nid => byId.has(nid) && centerAt(pos(byId.get(nid)).x + W / 2, pos(byId.get(nid)).y + H / 2),
		retranslate() { texts(); for (const rec of nodes.values()) rec.sig = null; sync(); },
		addFromPalette(e, item) {
			if (e.button || ed.readOnly || gesture) return;
			begin(e, { kind: "drop", item, ghost: h("div", { class: "bld-ghost", "aria-hidden": "true" }, glyph(item.type), item.label) });
		},
		addAtCenter: item => addAt(item, center(), true),
	};
}
