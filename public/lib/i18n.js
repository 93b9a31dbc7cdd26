// Translations: English and Brazilian Portuguese. Each module registers its own strings with
// `addStrings({en: {...}, "pt-BR": {...}})`; keys are namespaced ("inbox.reply"). A value is a
// string or a function of arguments. Missing Portuguese falls back to English, then to the key.

export const LANGS = ["en", "pt-BR"];
const tables = { en: {}, "pt-BR": {} };
const listeners = new Set();
let current = pickInitialLanguage();

function pickInitialLanguage() {
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    const lower = String(tag).toLowerCase();
    if (lower === "pt" || lower.startsWith("pt-")) return "pt-BR";
    if (lower === "en" || lower.startsWith("en-")) return "en";
  }
  return "en";
}

export function addStrings(strings) {
  for (const lang of LANGS) Object.assign(tables[lang], strings[lang] || {});
}

/**
 * addTable(`key|English|Português` lines): the compact form of addStrings. `{0}`, `{1}` … make
 * the entry a function of its arguments.
 */
export function addTable(text) {
  for (const line of text.split("\n")) {
    const [key, ...values] = line.trim().split("|");
    if (!key || values.length !== 2) continue;
    LANGS.forEach((l, i) => {
      const v = values[i];
      tables[l][key] = v.includes("{") ? (...a) => v.replace(/\{(\d)\}/g, (_, n) => String(a[n])) : v;
    });
  }
}

export function lang() {
  return current;
}

export function setLang(next) {
  if (!LANGS.includes(next) || next === current) return;
  current = next;
  document.documentElement.lang = current;
  for (const fn of [...listeners]) fn(current);
}

/** Calls fn(lang) whenever the language changes; returns the function that unsubscribes. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** t("key") or t("key", arg…) for function entries. */
export function t(key, ...args) {
  let value = tables[current][key];
  if (value === undefined) value = tables.en[key];
  if (value === undefined) return key;
  return typeof value === "function" ? value(...args) : value;
}

/** Whether a key exists (for optional translations such as error codes). */
export function has(key) {
  return tables[current][key] !== undefined || tables.en[key] !== undefined;
}

/** Fills every [data-i18n] element below root with its translation. */
export function translateTree(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const value = t(el.dataset.i18n);
    if (typeof value === "string") el.textContent = value;
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
