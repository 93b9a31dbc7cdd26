// Flow builder: what the editor knows about flows. Node types (outcomes, defaults, the form
// schema of their config), node geometry, summaries, ids, layout and import parsing.

import { t } from "../lib/i18n.js";

export const NODE_W = 208;
export const NODE_H = 68;

/** Variables every conversation has (FlowValidator.builtInVariables). */
export const BUILTIN_VARIABLES = ["customer_name", "customer_phone", "last_message"];

const OPERATORS = ["equals", "not_equals", "contains", "starts_with", "matches_regex", "greater_than", "less_than", "is_set", "is_empty"];

// Config schemas of the built-in node types, in the same JSON-schema dialect as module manifests
// (plus x-multiline, x-variable, x-show for the form).
const TYPES = {
  start: { glyph: "▶", outcomes: ["next"], config: {} },
  send_message: {
    glyph: "✉", outcomes: ["next"], config: { text: "" },
    schema: { type: "object", required: ["text"], properties: { text: { type: "string", maxLength: 4096, "x-multiline": true } } },
  },
  ask: {
    glyph: "?", outcomes: ["next"], config: { question: "", variable: "", validation: "text" },
    schema: {
      type: "object", required: ["question", "variable"],
      properties: {
        question: { type: "string", maxLength: 4096, "x-multiline": true },
        variable: { type: "string", maxLength: 64, "x-variable": true },
        validation: { type: "string", enum: ["text", "number", "email", "choice"] },
        choices: { type: "array", maxItems: 10, items: { type: "string", maxLength: 24 }, "x-show": (c) => c.validation === "choice" },
        retry_message: { type: "string", maxLength: 4096 },
      },
    },
  },
  condition: {
    glyph: "◆", outcomes: ["true", "false"], config: { variable: "", operator: "equals", value: "" },
    schema: {
      type: "object", required: ["variable", "operator"],
      properties: {
        variable: { type: "string", maxLength: 64, "x-variable": true },
        operator: { type: "string", enum: OPERATORS },
        value: { type: "string", "x-scalar": true, "x-show": (c) => c.operator !== "is_set" && c.operator !== "is_empty" },
      },
    },
  },
  set_variable: {
    glyph: "=", outcomes: ["next"], config: { variable: "", value: "" },
    schema: {
      type: "object", required: ["variable", "value"],
      properties: { variable: { type: "string", maxLength: 64, "x-variable": true }, value: {} },
    },
  },
  module: { glyph: "⚙", outcomes: ["success", "error"], config: {} },
  handoff: {
    glyph: "☎", outcomes: ["next"], config: {},
    schema: {
      type: "object",
      properties: { message: { type: "string", maxLength: 4096, "x-multiline": true }, assignee_id: { type: "string", "x-assignee": true } },
    },
  },
  wait: {
    glyph: "◷", outcomes: ["next"], config: { seconds: 60 },
    schema: { type: "object", required: ["seconds"], properties: { seconds: { type: "integer", minimum: 1, maximum: 86400 } } },
  },
  end: { glyph: "■", outcomes: [], config: {} },
};

export const BUILTIN_TYPES = ["start", "send_message", "ask", "condition", "set_variable", "handoff", "wait", "end"];

export function isKnownType(type) {
  return Object.prototype.hasOwnProperty.call(TYPES, type);
}

export function glyphOf(type) {
  return isKnownType(type) ? TYPES[type].glyph : "•";
}

/** The outcomes a node can connect (a handoff's `next` is optional, an end has none). */
export function outcomesOf(node) {
  return isKnownType(node.type) ? TYPES[node.type].outcomes : [];
}

/** The form schema of a node's config; module nodes get the common module options. */
export function configSchema(node, modules) {
  if (node.type === "module") {
    const manifest = modules.get(node.config && node.config.module);
    return {
      type: "object", required: ["module"],
      properties: {
        module: { type: "string", enum: [...modules.keys()], "x-onchange": (c) => { c.with = defaultConfig("module", c.module, modules).with; } },
        with: manifest ? manifest.with || { type: "object" } : { type: "object", properties: {} },
        save_as: { type: "string", maxLength: 64, "x-identifier": true },
        timeout_ms: { type: "integer", minimum: 100, maximum: 300000 },
        retry: { type: "object", properties: { attempts: { type: "integer", minimum: 1, maximum: 5 }, delay_ms: { type: "integer", minimum: 0, maximum: 60000 } } },
      },
    };
  }
  return isKnownType(node.type) ? TYPES[node.type].schema || null : null;
}

/** A fresh config for a new node of `type` (module nodes: `module` names the module). */
export function defaultConfig(type, module, modules) {
  if (type === "module") {
    const manifest = modules.get(module);
    const w = {};
    const schema = manifest && manifest.with;
    for (const key of (schema && schema.required) || []) {
      const prop = schema.properties && schema.properties[key];
      if (prop && Array.isArray(prop.enum) && prop.enum.length) w[key] = prop.enum[0];
    }
    return { module, with: w };
  }
  return structuredClone(isKnownType(type) ? TYPES[type].config : {});
}

export function typeLabel(node) {
  if (node.type === "module" && node.config && node.config.module) return String(node.config.module);
  const key = `builder.type.${node.type}`;
  const label = t(key);
  return label === key ? String(node.type) : label;
}

function text(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function formatSeconds(n) {
  n = Number(n) || 0;
  if (n >= 3600 && n % 60 === 0) return `${Math.floor(n / 3600)} h${n % 3600 ? ` ${(n % 3600) / 60} min` : ""}`;
  if (n >= 60 && n % 60 === 0) return `${n / 60} min`;
  return `${n} s`;
}

/** One line saying what a node does, for the canvas. */
export function summaryOf(node) {
  const c = node.config || {};
  switch (node.type) {
    case "start": return t("builder.sum.start");
    case "send_message": return text(c.text) || t("builder.sum.empty");
    case "ask": return c.question ? `${text(c.question)}${c.variable ? ` → ${c.variable}` : ""}` : t("builder.sum.empty");
    case "condition": return c.variable ? `${c.variable} ${String(c.operator || "").replace(/_/g, " ")} ${c.operator === "is_set" || c.operator === "is_empty" ? "" : text(c.value)}`.trim() : t("builder.sum.empty");
    case "set_variable": return c.variable ? `${c.variable} = ${text(c.value)}` : t("builder.sum.empty");
    case "module": {
      const w = c.with || {};
      const main = w.url ? `${w.method ? `${w.method} ` : ""}${w.url}` : w.operation ? `${w.operation}${w.key ? ` ${text(w.key)}` : ""}` : w.prompt ? text(w.prompt) : "";
      return main || (c.save_as ? `→ ${c.save_as}` : t("builder.sum.module"));
    }
    case "handoff": return text(c.message) || t("builder.sum.handoff");
    case "wait": return formatSeconds(c.seconds);
    case "end": return t("builder.sum.end");
    default: return t("builder.sum.unknown");
  }
}

export function truncate(s, max) {
  s = String(s).replace(/\s+/g, " ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
export const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** An unused node id derived from `base` (a type or module name). */
export function newId(taken, base) {
  const stem = String(base).replace(/[^A-Za-z0-9_]/g, "_").slice(0, 50) || "node";
  for (let i = 1; ; i++) {
    const id = `${stem}_${i}`;
    if (!taken.has(id)) { taken.add(id); return id; }
  }
}

/** Variables the flow can set anywhere, plus the built-in ones (for datalists). */
export function knownVariables(def) {
  const names = new Set(BUILTIN_VARIABLES);
  for (const n of def.nodes) {
    const c = n.config || {};
    if ((n.type === "ask" || n.type === "set_variable") && typeof c.variable === "string" && c.variable) names.add(c.variable);
    if (n.type === "module" && typeof c.save_as === "string" && c.save_as) names.add(c.save_as);
  }
  return [...names].sort();
}

/**
 * Layered layout: each node one column right of its furthest parent (longest path from the start,
 * loops ignored), nodes the start does not reach in a last column. With `onlyMissing`, nodes that
 * already have a position keep it.
 */
export function layout(def, onlyMissing) {
  const next = new Map();
  for (const e of def.edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from).push(e.to);
  }
  const ids = new Set(def.nodes.map((n) => n.id));
  const start = def.nodes.find((n) => n.type === "start") || def.nodes[0];
  // Depth-first from the start: reverse post-order is a topological order once back edges are dropped.
  const order = [];
  const state = new Map(); // 1 on the stack, 2 done
  const back = new Set();
  if (start) {
    const stack = [[start.id, 0]];
    state.set(start.id, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const kids = next.get(top[0]) || [];
      if (top[1] < kids.length) {
        const to = kids[top[1]++];
        if (!ids.has(to)) continue;
        if (state.get(to) === 1) back.add(`${top[0]}\u0000${to}`);
        else if (!state.has(to)) { state.set(to, 1); stack.push([to, 0]); }
      } else {
        state.set(top[0], 2);
        order.push(top[0]);
        stack.pop();
      }
    }
  }
  const depth = new Map();
  if (start) depth.set(start.id, 0);
  for (const id of order.reverse()) {
    for (const to of next.get(id) || []) {
      if (!ids.has(to) || back.has(`${id}\u0000${to}`)) continue;
      depth.set(to, Math.max(depth.get(to) ?? 0, depth.get(id) + 1));
    }
  }
  const loose = depth.size ? Math.max(...depth.values()) + 1 : 0;
  const rows = new Map();
  for (const n of def.nodes) {
    if (!depth.has(n.id)) depth.set(n.id, loose);
    const d = depth.get(n.id);
    const row = rows.get(d) || 0;
    rows.set(d, row + 1);
    if (onlyMissing && n.position && Number.isFinite(n.position.x) && Number.isFinite(n.position.y)) continue;
    n.position = { x: d * (NODE_W + 72), y: row * (NODE_H + 44) };
  }
}

/**
 * Reads an imported file: an export of this builder ({format, name, trigger, definition,
 * test_cases}), a Flow or FlowVersion from the API, or a bare {nodes, edges}. Throws on anything else.
 */
export function parseImport(textContent) {
  let data;
  try { data = JSON.parse(textContent); } catch { throw new Error(t("builder.import.notJson")); }
  if (!data || typeof data !== "object") throw new Error(t("builder.import.notFlow"));
  const definition = Array.isArray(data.nodes) ? data : data.definition;
  if (!definition || !Array.isArray(definition.nodes) || !Array.isArray(definition.edges)) throw new Error(t("builder.import.notFlow"));
  for (const n of definition.nodes) {
    if (!n || typeof n.id !== "string" || typeof n.type !== "string") throw new Error(t("builder.import.notFlow"));
  }
  for (const e of definition.edges) {
    if (!e || typeof e.from !== "string" || typeof e.to !== "string" || typeof e.outcome !== "string") throw new Error(t("builder.import.notFlow"));
  }
  const clean = {
    nodes: definition.nodes.map((n) => {
      const node = { id: n.id, type: n.type, config: n.config && typeof n.config === "object" ? n.config : {} };
      if (n.position && Number.isFinite(n.position.x) && Number.isFinite(n.position.y)) node.position = { x: n.position.x, y: n.position.y };
      return node;
    }),
    edges: definition.edges.map((e) => ({ from: e.from, outcome: e.outcome, to: e.to })),
  };
  layout(clean, true);
  return {
    name: typeof data.name === "string" && data.name.trim() ? data.name.trim().slice(0, 200) : null,
    trigger: data.trigger && typeof data.trigger === "object" && typeof data.trigger.type === "string" ? data.trigger : null,
    definition: clean,
    test_cases: Array.isArray(data.test_cases) ? data.test_cases.filter((c) => c && typeof c === "object") : null,
  };
}

/** The JSON a builder export holds. */
export function exportDoc(doc) {
  return { format: "pytake.flow", format_version: 1, name: doc.name, trigger: doc.trigger, definition: doc.definition, test_cases: doc.test_cases };
}

/** Downloads `data` as a JSON file (Blob + object URL). */
export function downloadJSON(data, filename) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function fileSlug(name) {
  return (String(name || "flow").normalize("NFKD").replace(/[^\w-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase() || "flow").slice(0, 60);
}

/** Reads a File as text. */
export function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}
