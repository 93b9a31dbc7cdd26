// Flow builder: forms generated from JSON-schema-ish descriptions (module manifests' `with`, and
// the built-in node types' configs). Strings, numbers, booleans, enums, nested objects, maps and
// lists get real inputs; only values of no declared type fall back to a JSON editor.

import { h, uid } from "../lib/dom.js";
import { t, has } from "../lib/i18n.js";
import { field } from "../lib/ui.js";

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function humanize(key) {
  const s = String(key).replace(/[_-]+/g, " ").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function labelFor(key, prop) {
  if (prop && typeof prop.title === "string") return prop.title;
  const k = `builder.field.${key}`;
  return has(k) ? t(k) : humanize(key);
}

function hintFor(key, prop, context) {
  const k = `builder.hint.${context}.${key}`;
  if (has(k)) return t(k);
  return prop && typeof prop.description === "string" ? prop.description : undefined;
}

function enumLabel(key, value) {
  const k = `builder.enum.${key}.${value}`;
  return has(k) ? t(k) : String(value);
}

function typeOf(prop) {
  if (!prop || typeof prop !== "object") return "any";
  if (Array.isArray(prop.enum)) return "enum";
  const type = Array.isArray(prop.type) ? (prop.type.length === 1 ? prop.type[0] : "any") : prop.type;
  if (type === "object") return isObject(prop.properties) && Object.keys(prop.properties).length ? "object" : isObject(prop.additionalProperties) ? "map" : "json";
  if (type === "array") return prop.items && ["string", "number", "integer"].includes(prop.items.type) ? "list" : "json";
  if (["string", "number", "integer", "boolean"].includes(type)) return type;
  return "any";
}

function parseNumber(text, integer) {
  const trimmed = String(text).trim().replace(",", ".");
  if (trimmed === "") return undefined;
  const n = Number(trimmed);
  if (!Number.isFinite(n)) return null;
  return integer ? Math.round(n) : n;
}

/**
 * A form editing `obj` in place according to `schema` ({properties, required}).
 * opts: {onChange(commitNow, rerender), readOnly, path (data-field prefix), context (hint namespace),
 *        variables (names for datalists), users ([{id,email}] for assignees)}.
 */
export function schemaForm(obj, schema, opts) {
  const wrap = h("div", { class: "bld-form" });
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  // Required fields first, then the manifest's order.
  const entries = Object.entries(props).sort((a, b) => Number(required.has(b[0])) - Number(required.has(a[0])));
  for (const [key, prop] of entries) {
    if (prop && typeof prop["x-show"] === "function" && !prop["x-show"](obj)) continue;
    wrap.append(propField(obj, key, prop, required.has(key), opts));
  }
  return wrap;
}

function propField(obj, key, prop, required, opts) {
  const path = opts.path ? `${opts.path}.${key}` : key;
  const label = labelFor(key, prop) + (required ? " *" : "");
  const hint = hintFor(key, prop, opts.context || "module");
  const set = (value, commitNow, rerender) => {
    if (value === undefined) delete obj[key];
    else obj[key] = value;
    opts.onChange(commitNow, rerender);
  };
  const kind = typeOf(prop);
  const disabled = opts.readOnly;

  if (kind === "enum") {
    const select = h("select", { disabled, onchange: () => {
      if (select.value === "") delete obj[key];
      else obj[key] = prop.enum.find((x) => String(x) === select.value);
      if (typeof prop["x-onchange"] === "function") prop["x-onchange"](obj);
      opts.onChange(true, true);
    } });
    if (!required || !prop.enum.includes(obj[key])) select.append(h("option", { value: "" }, required ? t("builder.form.choose") : t("builder.form.notSet")));
    for (const v of prop.enum) select.append(h("option", { value: String(v) }, enumLabel(key, v)));
    select.value = obj[key] === undefined ? "" : String(obj[key]);
    return field({ label, name: path, input: select, hint });
  }

  if (kind === "string") {
    if (prop["x-assignee"] && Array.isArray(opts.users)) {
      const select = h("select", { disabled, onchange: () => set(select.value || undefined, true) },
        h("option", { value: "" }, t("builder.form.anyAgent")),
        opts.users.map((u) => h("option", { value: u.id }, `${u.email} (${t(`role.${u.role}`)})`)));
      if (obj[key] && !opts.users.some((u) => u.id === obj[key])) select.append(h("option", { value: String(obj[key]) }, String(obj[key])));
      select.value = obj[key] ? String(obj[key]) : "";
      return field({ label, name: path, input: select, hint });
    }
    const multiline = prop["x-multiline"] || (prop.maxLength && prop.maxLength > 300 && !prop.format);
    const value = obj[key] === undefined || obj[key] === null ? "" : typeof obj[key] === "string" ? obj[key] : JSON.stringify(obj[key]);
    const input = multiline
      ? h("textarea", { rows: 3, disabled, maxlength: prop.maxLength })
      : h("input", { type: prop.format === "uri" ? "url" : "text", disabled, maxlength: prop.maxLength, spellcheck: prop["x-variable"] || prop["x-identifier"] ? "false" : null });
    input.value = value;
    if (prop.format === "uri") input.placeholder = "https://";
    const store = (commitNow) => set(input.value === "" && !required ? undefined : input.value, commitNow);
    input.addEventListener("input", () => store(false));
    input.addEventListener("change", () => store(true));
    const f = field({ label, name: path, input, hint });
    if (prop["x-variable"] && opts.variables) {
      const listId = uid("bld-vars");
      input.setAttribute("list", listId);
      input.setAttribute("autocomplete", "off");
      f.append(h("datalist", { id: listId }, opts.variables.map((v) => h("option", { value: v }))));
    }
    return f;
  }

  if (kind === "number" || kind === "integer") {
    const input = h("input", { type: "number", disabled, min: prop.minimum, max: prop.maximum, step: kind === "integer" ? 1 : "any", inputmode: "decimal" });
    input.value = obj[key] === undefined || obj[key] === null ? "" : String(obj[key]);
    const f = field({ label, name: path, input, hint: hint || range(prop) });
    const error = f.querySelector(".field-error");
    const store = (commitNow) => {
      const n = parseNumber(input.value, kind === "integer");
      if (n === null) { input.setAttribute("aria-invalid", "true"); error.textContent = t("builder.form.notNumber"); return; }
      input.removeAttribute("aria-invalid");
      error.textContent = "";
      set(n, commitNow);
    };
    input.addEventListener("input", () => store(false));
    input.addEventListener("change", () => store(true));
    return f;
  }

  if (kind === "boolean") {
    const input = h("input", { type: "checkbox", disabled, checked: obj[key] === true, onchange: () => set(input.checked, true) });
    const id = uid("f");
    input.id = id;
    return h("div", { class: "field bld-check", dataset: { field: path } },
      h("label", { for: id }, input, " ", label),
      hint ? h("p", { class: "field-hint" }, hint) : null,
      h("p", { class: "field-error", "aria-live": "polite" }));
  }

  if (kind === "object") {
    const sub = isObject(obj[key]) ? obj[key] : {};
    const keep = () => {
      if (Object.keys(sub).length || prop["x-keep"] || key === "with") obj[key] = sub;
      else delete obj[key];
    };
    const inner = schemaForm(sub, prop, { ...opts, path, onChange: (c, r) => { keep(); opts.onChange(c, r); } });
    return h("fieldset", { class: "bld-fieldset", dataset: { field: path } },
      h("legend", {}, label), hint ? h("p", { class: "field-hint" }, hint) : null, inner, h("p", { class: "field-error", "aria-live": "polite" }));
  }

  if (kind === "map") return mapField(obj, key, prop, { label, hint, path, set, disabled });
  if (kind === "list") return listField(obj, key, prop, { label, hint, path, set, disabled });
  return anyField(obj, key, { label, hint, path, set, disabled, jsonOnly: kind === "json" });
}

function range(prop) {
  if (prop.minimum !== undefined && prop.maximum !== undefined) return t("builder.form.range", prop.minimum, prop.maximum);
  return undefined;
}

/** {name: value} with a row per entry (e.g. HTTP headers). */
function mapField(obj, key, prop, { label, hint, path, set, disabled }) {
  const rows = h("div", { class: "bld-rows" });
  const entries = Object.entries(isObject(obj[key]) ? obj[key] : {}).map(([k, v]) => ({ k, v: typeof v === "string" ? v : JSON.stringify(v) }));
  const store = (commitNow) => {
    const out = {};
    for (const e of entries) if (e.k.trim()) out[e.k.trim()] = e.v;
    set(Object.keys(out).length ? out : undefined, commitNow);
  };
  const render = () => {
    rows.replaceChildren(...entries.map((e, i) => {
      const k = h("input", { type: "text", value: e.k, disabled, placeholder: t("builder.form.key"), "aria-label": t("builder.form.key") });
      const v = h("input", { type: "text", value: e.v, disabled, placeholder: t("builder.form.value"), "aria-label": t("builder.form.value") });
      k.addEventListener("input", () => { e.k = k.value; store(false); });
      v.addEventListener("input", () => { e.v = v.value; store(false); });
      k.addEventListener("change", () => store(true));
      v.addEventListener("change", () => store(true));
      return h("div", { class: "bld-row" }, k, v, disabled ? null : h("button", { type: "button", class: "bld-icon-btn", title: t("builder.form.remove"), "aria-label": t("builder.form.remove"),
        onclick: () => { entries.splice(i, 1); render(); store(true); } }, "×"));
    }));
  };
  render();
  return h("fieldset", { class: "bld-fieldset", dataset: { field: path } }, h("legend", {}, label), hint ? h("p", { class: "field-hint" }, hint) : null, rows,
    disabled ? null : h("button", { type: "button", class: "button button-secondary button-small bld-add", onclick: () => { entries.push({ k: "", v: "" }); render(); rows.lastChild.querySelector("input").focus(); } }, t("builder.form.addEntry")),
    h("p", { class: "field-error", "aria-live": "polite" }));
}

/** A list of strings or numbers, one input per item (e.g. an ask node's choices). */
function listField(obj, key, prop, { label, hint, path, set, disabled }) {
  const rows = h("div", { class: "bld-rows" });
  const items = Array.isArray(obj[key]) ? obj[key].map((x) => (x === null || x === undefined ? "" : String(x))) : [];
  const numeric = prop.items.type !== "string";
  const store = (commitNow) => {
    const out = items.map((x) => (numeric ? parseNumber(x, prop.items.type === "integer") : x)).filter((x) => x !== undefined && x !== null);
    set(out.length ? out : undefined, commitNow);
  };
  const render = () => {
    rows.replaceChildren(...items.map((value, i) => {
      const input = h("input", { type: numeric ? "number" : "text", value, disabled, maxlength: prop.items.maxLength, "aria-label": `${label} ${i + 1}` });
      input.addEventListener("input", () => { items[i] = input.value; store(false); });
      input.addEventListener("change", () => store(true));
      return h("div", { class: "bld-row" }, input, disabled ? null : h("button", { type: "button", class: "bld-icon-btn", title: t("builder.form.remove"), "aria-label": t("builder.form.remove"),
        onclick: () => { items.splice(i, 1); render(); store(true); } }, "×"));
    }));
  };
  render();
  const full = () => prop.maxItems !== undefined && items.length >= prop.maxItems;
  const add = disabled ? null : h("button", { type: "button", class: "button button-secondary button-small bld-add", onclick: () => {
    if (full()) return;
    items.push("");
    render();
    rows.lastChild.querySelector("input").focus();
  } }, t("builder.form.addItem"));
  return h("fieldset", { class: "bld-fieldset", dataset: { field: path } }, h("legend", {}, label), hint ? h("p", { class: "field-hint" }, hint) : null, rows, add,
    h("p", { class: "field-error", "aria-live": "polite" }));
}

/** A value of any JSON type: text, number, yes/no, or JSON as the last resort. */
function anyField(obj, key, { label, hint, path, set, disabled, jsonOnly }) {
  const v = obj[key];
  let mode = jsonOnly ? "json" : v === undefined || typeof v === "string" ? "text" : typeof v === "number" ? "number" : typeof v === "boolean" ? "boolean" : "json";
  const holder = h("div", { class: "bld-any" });
  const error = h("p", { class: "field-error", "aria-live": "polite" });
  const modeSelect = jsonOnly ? null : h("select", { class: "bld-any-mode", disabled, "aria-label": t("builder.form.valueType"), onchange: () => {
    const cur = obj[key];
    mode = modeSelect.value;
    let next;
    if (mode === "text") next = cur === undefined ? "" : typeof cur === "string" ? cur : JSON.stringify(cur);
    else if (mode === "number") next = Number.isFinite(Number(cur)) && cur !== "" ? Number(cur) : 0;
    else if (mode === "boolean") next = cur === true || cur === "true";
    else next = cur === undefined ? {} : cur;
    set(next, true);
    draw();
  } }, ["text", "number", "boolean", "json"].map((m) => h("option", { value: m }, t(`builder.form.type.${m}`))));
  if (modeSelect) modeSelect.value = mode;
  const id = uid("f");
  function draw() {
    error.textContent = "";
    const cur = obj[key];
    let input;
    if (mode === "text") {
      input = h("input", { type: "text", id, disabled, value: typeof cur === "string" ? cur : "" });
      input.addEventListener("input", () => set(input.value, false));
      input.addEventListener("change", () => set(input.value, true));
    } else if (mode === "number") {
      input = h("input", { type: "number", id, step: "any", disabled, value: typeof cur === "number" ? String(cur) : "" });
      const store = (c) => { const n = parseNumber(input.value, false); if (n !== null && n !== undefined) set(n, c); };
      input.addEventListener("input", () => store(false));
      input.addEventListener("change", () => store(true));
    } else if (mode === "boolean") {
      input = h("select", { id, disabled, onchange: () => set(input.value === "true", true) },
        h("option", { value: "true" }, t("builder.form.yes")), h("option", { value: "false" }, t("builder.form.no")));
      input.value = cur === true ? "true" : "false";
    } else {
      input = h("textarea", { id, rows: 4, class: "mono", disabled, spellcheck: "false" });
      input.value = cur === undefined ? "" : JSON.stringify(cur, null, 2);
      const store = (c) => {
        if (input.value.trim() === "") { error.textContent = ""; input.removeAttribute("aria-invalid"); set(undefined, c); return; }
        try {
          const parsed = JSON.parse(input.value);
          error.textContent = "";
          input.removeAttribute("aria-invalid");
          set(parsed, c);
        } catch {
          error.textContent = t("builder.form.badJson");
          input.setAttribute("aria-invalid", "true");
        }
      };
      input.addEventListener("input", () => store(false));
      input.addEventListener("change", () => store(true));
    }
    holder.replaceChildren(input);
  }
  draw();
  return h("div", { class: "field bld-any-field", dataset: { field: path } },
    h("div", { class: "bld-any-head" }, h("label", { for: id }, label), modeSelect),
    holder, hint ? h("p", { class: "field-hint" }, hint) : null, error);
}

/** Shows a node's problems next to the fields they name ('text', with.url…); returns the rest. */
export function markProblems(form, problems) {
  const rest = [];
  for (const el of form.querySelectorAll("[data-field] > .field-error")) el.textContent = "";
  for (const p of problems) {
    const m = /\b(with(?:\.\w+)+)/.exec(p.message) || /'(\w+)'/.exec(p.message.replace(/^Module '[^']*': /, ""));
    const target = m ? form.querySelector(`[data-field="${CSS.escape(m[1])}"] > .field-error`) : null;
    if (target) target.textContent = target.textContent ? `${target.textContent} ${p.message}` : p.message;
    else rest.push(p);
  }
  return rest;
}
