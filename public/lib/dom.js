// DOM helpers. Every string becomes a text node or an attribute value: nothing here (or anywhere
// in public/) parses strings as markup, so server values (customer messages included) can never
// become elements or scripts.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value));
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key.startsWith("on") || key === "style") {
      // Inline handlers and style attributes are refused by the CSP anyway; fail loudly in development.
      throw new Error(`dom: attribute ${key} is not allowed`);
    } else if (key === "value" && "value" in el && !(el instanceof SVGElement)) {
      el.value = String(value);
    } else if (key === "checked" || key === "disabled" || key === "selected" || key === "hidden" || key === "readOnly" || key === "multiple" || key === "required") {
      el[key] = Boolean(value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

function build(el, attrs, children) {
  if (attrs && (attrs instanceof Node || Array.isArray(attrs) || typeof attrs !== "object")) children.unshift(attrs);
  else apply(el, attrs);
  append(el, children);
  return el;
}

/** Creates an HTML element: h("button", {class: "button", onclick: fn}, "Save"). */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** Creates an SVG element: s("rect", {x: 0, y: 0, width: 10, height: 10}). */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/** Formats an ISO timestamp for people, in the browser's timezone and the page's language. */
export function formatDateTime(iso, lang) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function formatNumber(n, lang, options) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return Number(n).toLocaleString(lang, options);
}

/** A short random id for DOM ids (labels, aria-*). */
let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}
