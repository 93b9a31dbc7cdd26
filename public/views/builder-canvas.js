// Flow builder: the SVG canvas. Nodes are built once and kept in a map; edits reconcile the DOM
// with the model (only what changed is rebuilt), drags move transforms in animation frames.
//
// The editor `ed` passed in owns the model and the selection:
//   ed.doc.definition {nodes, edges}, ed.readOnly, ed.selection (Set of node ids), ed.selectedEdge,
//   ed.problemsByNode (Map), ed.path ({nodes: Set, edges: Set, current}),
//   ed.select(ids, mode), ed.selectEdge(key), ed.moved(ids), ed.connect(from, outcome, to),
//   ed.addNodeAt(type, module, position), ed.viewChanged().

import { h, s, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { NODE_W, NODE_H, outcomesOf, glyphOf, typeLabel, summaryOf, isKnownType } from "./builder-model.js";

const MIN_ZOOM = 0.1;
const MAX_ZOOM = 2.5;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
let measure = null;

/** `text` cut with an ellipsis to fit `width` pixels in `font` (measured, so it never overflows a node). */
function fitText(text, width, font) {
  text = String(text).replace(/\s+/g, " ");
  if (!measure) measure = document.createElement("canvas").getContext("2d");
  measure.font = font;
  if (measure.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (measure.measureText(`${text.slice(0, mid)}…`).width <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo).trimEnd()}…`;
}

export function edgeKey(e) {
  return `${e.from}\u0000${e.outcome}\u0000${e.to}`;
}

/** SVG elements have no `hidden` property: display="none" instead. */
function show(node, on) {
  if (on) node.removeAttribute("display");
  else node.setAttribute("display", "none");
}

function portY(index, count) {
  return count <= 1 ? NODE_H / 2 : NODE_H / 2 + (index - (count - 1) / 2) * 26;
}

export function createCanvas(ed) {
  const ids = { grid: uid("bld-grid"), arrow: uid("bld-arrow"), arrowSel: uid("bld-arrow-sel"), arrowPath: uid("bld-arrow-path") };
  const view = { x: 40, y: 40, k: 1 };
  const nodes = new Map(); // id -> {g, sig, node}
  const edges = new Map(); // key -> {g, line, hit, edge}
  let byId = new Map();
  let spaceHeld = false;
  let gesture = null;
  let frame = 0;

  const marker = (id, cls) => s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: cls }));
  const gridPattern = s("pattern", { id: ids.grid, width: 24, height: 24, patternUnits: "userSpaceOnUse" },
    s("circle", { cx: 1.5, cy: 1.5, r: 1.2, class: "bld-grid-dot" }));
  const edgeLayer = s("g", { class: "bld-edges" });
  const nodeLayer = s("g", { class: "bld-nodes" });
  const wire = s("path", { class: "bld-wire", d: "", display: "none" });
  const world = s("g", { class: "bld-world" }, edgeLayer, nodeLayer, wire);
  const band = s("rect", { class: "bld-band", x: 0, y: 0, width: 0, height: 0, display: "none" });
  const svg = s("svg", { class: "bld-svg", role: "application", "aria-roledescription": "flow canvas" },
    s("defs", {}, gridPattern, marker(ids.arrow, "bld-arrow"), marker(ids.arrowSel, "bld-arrow bld-arrow-sel"), marker(ids.arrowPath, "bld-arrow bld-arrow-path")),
    s("rect", { class: "bld-bg", x: 0, y: 0, width: "100%", height: "100%", fill: `url(#${ids.grid})` }),
    world, band);
  const emptyHint = h("div", { class: "bld-canvas-empty", hidden: true });
  const hint = h("div", { class: "bld-canvas-hint" });
  const zoomLabel = h("button", { type: "button", class: "bld-zoom-label", onclick: () => zoomTo(1) });
  const zoomOut = h("button", { type: "button", class: "bld-zoom-btn", dataset: { action: "zoom-out" }, onclick: () => zoomBy(1 / 1.2) }, "−");
  const zoomIn = h("button", { type: "button", class: "bld-zoom-btn", dataset: { action: "zoom-in" }, onclick: () => zoomBy(1.2) }, "+");
  const fitBtn = h("button", { type: "button", class: "bld-zoom-btn bld-zoom-fit", dataset: { action: "fit" }, onclick: () => fit() });
  const zoomBar = h("div", { class: "bld-zoombar" }, zoomOut, zoomLabel, zoomIn, fitBtn);
  const el = h("div", { class: ["bld-canvas", ed.readOnly && "is-readonly"], tabindex: "0", id: "bld-canvas" }, svg, emptyHint, hint, zoomBar);

  function texts() {
    hint.textContent = ed.readOnly ? t("builder.canvas.hintReadOnly") : t("builder.canvas.hint");
    emptyHint.textContent = t("builder.canvas.empty");
    zoomOut.title = t("builder.zoomOut");
    zoomOut.setAttribute("aria-label", t("builder.zoomOut"));
    zoomIn.title = t("builder.zoomIn");
    zoomIn.setAttribute("aria-label", t("builder.zoomIn"));
    zoomLabel.title = t("builder.zoomReset");
    fitBtn.textContent = t("builder.fit");
    fitBtn.title = t("builder.fitTitle");
    svg.setAttribute("aria-label", t("builder.canvas.label"));
  }

  /** After a language switch: every text, and the nodes (type labels, summaries) again. */
  function retranslate() {
    texts();
    for (const rec of nodes.values()) rec.sig = null;
    sync();
  }

  // ------------------------------------------------------------ view transform

  function applyView() {
    const tr = `translate(${view.x} ${view.y}) scale(${view.k})`;
    world.setAttribute("transform", tr);
    gridPattern.setAttribute("patternTransform", tr);
    zoomLabel.textContent = `${Math.round(view.k * 100)}%`;
    if (ed.viewChanged) ed.viewChanged(view);
  }

  function size() {
    const r = svg.getBoundingClientRect();
    return { w: r.width || 800, h: r.height || 500, left: r.left, top: r.top };
  }

  function toWorld(clientX, clientY) {
    const r = size();
    return { x: (clientX - r.left - view.x) / view.k, y: (clientY - r.top - view.y) / view.k };
  }

  function zoomAt(k, sx, sy) {
    k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
    const wx = (sx - view.x) / view.k;
    const wy = (sy - view.y) / view.k;
    view.k = k;
    view.x = sx - wx * k;
    view.y = sy - wy * k;
    applyView();
  }

  function zoomBy(f) {
    const r = size();
    zoomAt(view.k * f, r.w / 2, r.h / 2);
  }

  function zoomTo(k) {
    const r = size();
    zoomAt(k, r.w / 2, r.h / 2);
  }

  function bounds(list) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const n of list) {
      const p = n.position || { x: 0, y: 0 };
      minX = Math.min(minX, p.x); minY = Math.min(minY, p.y);
      maxX = Math.max(maxX, p.x + NODE_W); maxY = Math.max(maxY, p.y + NODE_H);
    }
    return { minX, minY, maxX, maxY };
  }

  /** Fits every node into the view (never zooming in past 100 %). */
  function fit() {
    const list = ed.doc.definition.nodes;
    const r = size();
    if (!list.length) { view.x = r.w / 2; view.y = r.h / 2; view.k = 1; applyView(); return; }
    const b = bounds(list);
    const pad = 48;
    const k = Math.min(1, Math.max(MIN_ZOOM, Math.min((r.w - 2 * pad) / (b.maxX - b.minX), (r.h - 2 * pad) / (b.maxY - b.minY))));
    view.k = k;
    view.x = (r.w - (b.maxX - b.minX) * k) / 2 - b.minX * k;
    view.y = (r.h - (b.maxY - b.minY) * k) / 2 - b.minY * k;
    applyView();
  }

  /** The first view: everything when it fits readably, else the start of the flow at a readable zoom. */
  function home() {
    fit();
    const list = ed.doc.definition.nodes;
    if (view.k >= 0.55 || !list.length) return;
    const start = list.find((n) => n.type === "start") || list[0];
    const p = start.position || { x: 0, y: 0 };
    const r = size();
    view.k = 0.7;
    view.x = 40 - p.x * view.k;
    view.y = r.h / 2 - (p.y + NODE_H / 2) * view.k;
    applyView();
  }

  function centerOn(id) {
    const n = byId.get(id);
    if (!n || !n.position) return;
    const r = size();
    view.x = r.w / 2 - (n.position.x + NODE_W / 2) * view.k;
    view.y = r.h / 2 - (n.position.y + NODE_H / 2) * view.k;
    applyView();
  }

  /** The world point at the middle of the view (where click-added nodes go). */
  function viewCenter() {
    const r = size();
    return { x: (r.w / 2 - view.x) / view.k, y: (r.h / 2 - view.y) / view.k };
  }

  // ------------------------------------------------------------ nodes

  function nodeSig(n) {
    return `${n.type}\u0000${JSON.stringify(n.config || {})}`;
  }

  function buildNode(rec) {
    const n = rec.node;
    const outs = outcomesOf(n);
    const two = outs.length > 1;
    const g = rec.g;
    g.replaceChildren();
    g.setAttribute("class", `bld-node type-${isKnownType(n.type) ? n.type : "unknown"}`);
    const title = fitText(typeLabel(n), two ? 86 : 140, `650 13px ${FONT}`);
    const sub = fitText(summaryOf(n), two ? 86 : 142, `11.5px ${FONT}`);
    g.append(
      s("rect", { class: "bld-node-box", width: NODE_W, height: NODE_H, rx: 10, ry: 10 }),
      s("rect", { class: "bld-node-stripe", x: 0, y: 8, width: 4, height: NODE_H - 16, rx: 2 }),
      s("circle", { class: "bld-node-icon", cx: 26, cy: NODE_H / 2, r: 15 }),
      s("text", { class: "bld-node-glyph", x: 26, y: NODE_H / 2 + 5, "text-anchor": "middle" }, glyphOf(n.type)),
      s("text", { class: "bld-node-title", x: 50, y: 29 }, title),
      s("text", { class: "bld-node-sub", x: 50, y: 48 }, sub),
    );
    if (n.type !== "start") g.append(s("circle", { class: "bld-port-in", cx: 0, cy: NODE_H / 2, r: 5 }));
    outs.forEach((o, i) => {
      const y = portY(i, outs.length);
      const port = s("g", { class: `bld-port out-${o}`, dataset: { port: o }, transform: `translate(${NODE_W} ${y})` },
        s("circle", { class: "bld-port-hit", r: 12 }),
        s("circle", { class: "bld-port-dot", r: 6 }));
      if (two) port.append(s("text", { class: "bld-port-label", x: -11, y: 4, "text-anchor": "end" }, t(`builder.outcome.${o}`)));
      port.append(s("title", {}, t("builder.port.title", t(`builder.outcome.${o}`))));
      g.append(port);
    });
    rec.tip = s("title", {});
    g.append(rec.tip);
    rec.badge = null;
    rec.decor = null;
  }

  function placeNode(rec) {
    const p = rec.node.position || { x: 0, y: 0 };
    rec.g.setAttribute("transform", `translate(${p.x} ${p.y})`);
  }

  // ------------------------------------------------------------ edges

  function portPoint(n, outcome) {
    const p = n.position || { x: 0, y: 0 };
    const outs = outcomesOf(n);
    const i = outs.indexOf(outcome);
    return { x: p.x + NODE_W, y: p.y + (i < 0 ? NODE_H / 2 : portY(i, outs.length)) };
  }

  function curve(a, b) {
    const dx = Math.max(40, Math.abs(b.x - a.x) / 2);
    return `M ${a.x} ${a.y} C ${a.x + dx} ${a.y}, ${b.x - dx} ${b.y}, ${b.x - 2} ${b.y}`;
  }

  function edgePath(e) {
    const from = byId.get(e.from);
    const to = byId.get(e.to);
    if (!from || !to) return null;
    const tp = to.position || { x: 0, y: 0 };
    return curve(portPoint(from, e.outcome), { x: tp.x, y: tp.y + NODE_H / 2 });
  }

  function placeEdge(rec) {
    const d = edgePath(rec.edge);
    show(rec.g, d !== null);
    if (d === null) return;
    rec.line.setAttribute("d", d);
    rec.hit.setAttribute("d", d);
  }

  // ------------------------------------------------------------ reconcile

  /** Brings the DOM in line with the model: creates, updates and removes what changed. */
  function sync() {
    const def = ed.doc.definition;
    byId = new Map(def.nodes.map((n) => [n.id, n]));
    const fresh = document.createDocumentFragment();
    const seen = new Set();
    for (const n of def.nodes) {
      if (seen.has(n.id)) continue; // a duplicate id (imported): drawn once
      seen.add(n.id);
      let rec = nodes.get(n.id);
      if (!rec) {
        rec = { g: s("g", { dataset: { nodeId: n.id } }), sig: null, node: n };
        nodes.set(n.id, rec);
        fresh.append(rec.g);
      }
      rec.node = n;
      const sig = nodeSig(n);
      if (rec.sig !== sig) { buildNode(rec); rec.sig = sig; }
      placeNode(rec);
    }
    for (const [id, rec] of nodes) {
      if (!seen.has(id)) { rec.g.remove(); nodes.delete(id); }
    }
    nodeLayer.append(fresh);

    const liveEdges = new Set();
    const freshEdges = document.createDocumentFragment();
    for (const e of def.edges) {
      const key = edgeKey(e);
      liveEdges.add(key);
      let rec = edges.get(key);
      if (!rec) {
        const hit = s("path", { class: "bld-edge-hit" });
        const line = s("path", { class: "bld-edge-line", "marker-end": `url(#${ids.arrow})` });
        const g = s("g", { class: `bld-edge out-${e.outcome}`, dataset: { edgeFrom: e.from, edgeOutcome: e.outcome, edgeTo: e.to } }, hit, line);
        g.bldKey = key;
        rec = { g, line, hit, edge: e };
        edges.set(key, rec);
        freshEdges.append(g);
      }
      rec.edge = e;
      placeEdge(rec);
    }
    for (const [key, rec] of edges) {
      if (!liveEdges.has(key)) { rec.g.remove(); edges.delete(key); }
    }
    edgeLayer.append(freshEdges);
    emptyHint.hidden = def.nodes.length > 0;
    decorate();
  }

  /** Selection, problems and the simulated path: classes only. */
  function decorate() {
    el.classList.toggle("has-stale-problems", !!ed.problemsStale);
    const sel = ed.selection;
    const path = ed.path || { nodes: new Set(), edges: new Set(), current: null };
    for (const [id, rec] of nodes) {
      const problems = ed.problemsByNode.get(id) || [];
      const decor = `${sel.has(id) ? 1 : 0}${path.nodes.has(id) ? 1 : 0}${path.current === id ? 1 : 0}|${problems.map((p) => p.message).join("\n")}`;
      if (rec.decor === decor) continue;
      rec.decor = decor;
      const g = rec.g;
      g.classList.toggle("is-selected", sel.has(id));
      g.classList.toggle("is-path", path.nodes.has(id));
      g.classList.toggle("is-current", path.current === id);
      g.classList.toggle("has-problem", problems.length > 0);
      g.setAttribute("aria-selected", sel.has(id) ? "true" : "false");
      if (problems.length) {
        if (!rec.badge) {
          rec.badge = s("g", { class: "bld-badge", transform: `translate(${NODE_W - 6} 6)` }, s("circle", { r: 10 }), s("text", { y: 4, "text-anchor": "middle" }));
          g.append(rec.badge);
        }
        rec.badge.lastChild.textContent = String(problems.length);
        rec.badge.dataset.count = String(problems.length);
      } else if (rec.badge) {
        rec.badge.remove();
        rec.badge = null;
      }
      rec.tip.textContent = [`${typeLabel(rec.node)} · ${id}`, ...problems.map((p) => `⚠ ${p.message}`)].join("\n");
    }
    for (const rec of edges.values()) {
      const e = rec.edge;
      const selected = ed.selectedEdge === edgeKey(e);
      const onPath = path.edges.has(`${e.from}\u0000${e.to}`);
      const linked = sel.has(e.from) || sel.has(e.to);
      rec.g.classList.toggle("is-selected", selected);
      rec.g.classList.toggle("is-path", onPath);
      rec.g.classList.toggle("is-linked", linked);
      rec.line.setAttribute("marker-end", `url(#${selected || linked ? ids.arrowSel : onPath ? ids.arrowPath : ids.arrow})`);
    }
  }

  function moveNodesDom(idList) {
    const touched = new Set(idList);
    for (const id of idList) {
      const rec = nodes.get(id);
      if (rec) placeNode(rec);
    }
    for (const rec of edges.values()) {
      if (touched.has(rec.edge.from) || touched.has(rec.edge.to)) placeEdge(rec);
    }
  }

  // ------------------------------------------------------------ pointer gestures

  function schedule(fn) {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; fn(); });
  }

  function nodeAt(clientX, clientY) {
    const hit = document.elementFromPoint(clientX, clientY);
    const g = hit && svg.contains(hit) ? hit.closest("[data-node-id]") : null;
    return g ? g.dataset.nodeId : null;
  }

  function onPointerDown(e) {
    if (gesture || (e.button !== 0 && e.button !== 1)) return;
    el.focus({ preventScroll: true });
    const target = e.target;
    const portEl = target.closest("[data-port]");
    const nodeEl = target.closest("[data-node-id]");
    const edgeEl = target.closest("[data-edge-from]");
    const base = { x0: e.clientX, y0: e.clientY, last: e, moved: false, pointerId: e.pointerId };
    if (spaceHeld || e.button === 1) {
      gesture = { ...base, kind: "pan", vx: view.x, vy: view.y };
    } else if (portEl && nodeEl && !ed.readOnly) {
      const from = nodeEl.dataset.nodeId;
      const n = byId.get(from);
      gesture = { ...base, kind: "wire", from, outcome: portEl.dataset.port, start: portPoint(n, portEl.dataset.port) };
      el.classList.add("is-wiring");
    } else if (nodeEl) {
      const id = nodeEl.dataset.nodeId;
      const wasSelected = ed.selection.has(id);
      if (e.shiftKey || e.ctrlKey || e.metaKey) ed.select([id], "toggle", true);
      else if (!wasSelected) ed.select([id], "replace", true);
      const moving = [...ed.selection].filter((x) => byId.has(x));
      gesture = { ...base, kind: ed.readOnly ? "click" : "move", id, wasSelected, shift: e.shiftKey,
        origin: new Map(moving.map((x) => [x, { ...(byId.get(x).position || { x: 0, y: 0 }) }])) };
    } else if (edgeEl) {
      ed.selectEdge(edgeEl.bldKey);
      gesture = { ...base, kind: "click" };
    } else if (e.shiftKey) {
      gesture = { ...base, kind: "band", keep: new Set(ed.selection) };
      show(band, true);
    } else {
      gesture = { ...base, kind: "pan", vx: view.x, vy: view.y, clear: true };
    }
    e.preventDefault();
    window.addEventListener("pointermove", onPointerMove);
    window.addEventListener("pointerup", onPointerUp);
    window.addEventListener("pointercancel", onPointerUp);
  }

  function onPointerMove(e) {
    if (!gesture || e.pointerId !== gesture.pointerId) return;
    gesture.last = e;
    if (!gesture.moved && Math.hypot(e.clientX - gesture.x0, e.clientY - gesture.y0) > 3) {
      gesture.moved = true;
      if (gesture.kind === "pan") el.classList.add("is-panning");
    }
    if (gesture.moved) schedule(step);
  }

  function step() {
    const gs = gesture;
    if (!gs) return;
    const e = gs.last;
    const dx = e.clientX - gs.x0;
    const dy = e.clientY - gs.y0;
    if (gs.kind === "pan") {
      view.x = gs.vx + dx;
      view.y = gs.vy + dy;
      applyView();
    } else if (gs.kind === "move") {
      for (const [id, o] of gs.origin) {
        const n = byId.get(id);
        if (n) n.position = { x: Math.round(o.x + dx / view.k), y: Math.round(o.y + dy / view.k) };
      }
      moveNodesDom([...gs.origin.keys()]);
    } else if (gs.kind === "wire") {
      const p = toWorld(e.clientX, e.clientY);
      show(wire, true);
      wire.setAttribute("d", curve(gs.start, p));
      const over = nodeAt(e.clientX, e.clientY);
      if (gs.over !== over) {
        if (gs.over && nodes.get(gs.over)) nodes.get(gs.over).g.classList.remove("is-drop");
        gs.over = over;
        if (over && over !== gs.from && nodes.get(over)) nodes.get(over).g.classList.add("is-drop");
      }
    } else if (gs.kind === "band") {
      const r = size();
      const x = Math.min(gs.x0, e.clientX) - r.left;
      const y = Math.min(gs.y0, e.clientY) - r.top;
      band.setAttribute("x", x);
      band.setAttribute("y", y);
      band.setAttribute("width", Math.abs(dx));
      band.setAttribute("height", Math.abs(dy));
      const a = toWorld(Math.min(gs.x0, e.clientX), Math.min(gs.y0, e.clientY));
      const b = toWorld(Math.max(gs.x0, e.clientX), Math.max(gs.y0, e.clientY));
      const inside = ed.doc.definition.nodes.filter((n) => {
        const p = n.position || { x: 0, y: 0 };
        return p.x < b.x && p.x + NODE_W > a.x && p.y < b.y && p.y + NODE_H > a.y;
      }).map((n) => n.id);
      ed.select([...new Set([...gs.keep, ...inside])], "replace");
    }
  }

  function onPointerUp(e) {
    if (!gesture || e.pointerId !== gesture.pointerId) return;
    window.removeEventListener("pointermove", onPointerMove);
    window.removeEventListener("pointerup", onPointerUp);
    window.removeEventListener("pointercancel", onPointerUp);
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    const gs = gesture;
    gs.last = e;
    if (gs.moved && e.type !== "pointercancel") step();
    gesture = null;
    el.classList.remove("is-panning", "is-wiring");
    if (gs.kind === "pan" && !gs.moved && gs.clear) ed.select([], "replace", true);
    if (gs.kind === "move") {
      if (gs.moved) ed.moved([...gs.origin.keys()]);
      else if (gs.wasSelected && !gs.shift) ed.select([gs.id], "replace", true);
    }
    if (gs.kind === "wire") {
      show(wire, false);
      if (gs.over && nodes.get(gs.over)) nodes.get(gs.over).g.classList.remove("is-drop");
      const to = nodeAt(e.clientX, e.clientY);
      if (to && to !== gs.from && e.type !== "pointercancel") ed.connect(gs.from, gs.outcome, to);
    }
    if (gs.kind === "band") show(band, false);
  }

  function onWheel(e) {
    e.preventDefault();
    const r = size();
    const factor = Math.exp(-Math.max(-100, Math.min(100, e.deltaY)) * 0.0025);
    zoomAt(view.k * factor, e.clientX - r.left, e.clientY - r.top);
  }

  /** A drag from the palette: a ghost follows the pointer; dropped on the canvas it adds the node. */
  function paletteDrag(e, item) {
    if (e.button !== 0 || ed.readOnly) return;
    e.preventDefault();
    const ghost = h("div", { class: "bld-ghost", "aria-hidden": "true" }, h("span", { class: "bld-ghost-glyph" }, glyphOf(item.type)), item.label);
    const x0 = e.clientX;
    const y0 = e.clientY;
    let last = e;
    let moved = false;
    let raf = 0;
    const place = () => {
      raf = 0;
      ghost.style.left = `${last.clientX - 20}px`;
      ghost.style.top = `${last.clientY - 18}px`;
      const r = svg.getBoundingClientRect();
      el.classList.toggle("is-droptarget", last.clientX >= r.left && last.clientX <= r.right && last.clientY >= r.top && last.clientY <= r.bottom);
    };
    const move = (ev) => {
      if (ev.pointerId !== e.pointerId) return;
      last = ev;
      if (!moved && Math.hypot(ev.clientX - x0, ev.clientY - y0) > 4) {
        moved = true;
        document.body.append(ghost);
      }
      if (moved && !raf) raf = requestAnimationFrame(place);
    };
    const up = (ev) => {
      if (ev.pointerId !== e.pointerId) return;
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", up);
      if (raf) cancelAnimationFrame(raf);
      ghost.remove();
      el.classList.remove("is-droptarget");
      if (ev.type === "pointercancel") return;
      if (!moved) {
        const c = viewCenter();
        ed.addNodeAt(item.type, item.module, { x: c.x - NODE_W / 2, y: c.y - NODE_H / 2 }, true);
        return;
      }
      const r = svg.getBoundingClientRect();
      if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) return;
      const p = toWorld(ev.clientX, ev.clientY);
      ed.addNodeAt(item.type, item.module, { x: Math.round(p.x - NODE_W / 2), y: Math.round(p.y - NODE_H / 2) }, false);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", up);
  }

  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("wheel", onWheel, { passive: false });
  svg.addEventListener("dblclick", (e) => {
    const nodeEl = e.target.closest("[data-node-id]");
    if (nodeEl && ed.focusInspector) ed.focusInspector(nodeEl.dataset.nodeId);
  });

  function setSpace(held) {
    spaceHeld = held;
    el.classList.toggle("is-space", held);
  }

  function destroy() {
    window.removeEventListener("pointermove", onPointerMove);
    window.removeEventListener("pointerup", onPointerUp);
    window.removeEventListener("pointercancel", onPointerUp);
    if (frame) cancelAnimationFrame(frame);
  }

  applyView();
  texts();

  return {
    el, sync, decorate, fit, home, centerOn, zoomBy, zoomTo, viewCenter, paletteDrag, setSpace, retranslate, destroy,
    get view() { return { ...view }; },
    get nodeCount() { return nodes.size; },
  };
}
