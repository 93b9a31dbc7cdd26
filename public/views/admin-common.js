// Widgets shared by the admin views.

import { h, replace, formatDateTime } from "../lib/dom.js";
import { api, ProblemError } from "../lib/api.js";
import { addStrings, t, lang } from "../lib/i18n.js";
import { errorText, problemBox, markFieldErrors, loading, empty, toast, confirmDialog, field } from "../lib/ui.js";

/** Registers lines "key|English|Português" (Portuguese omitted when equal) as `prefix.key`; {} is an argument. */
export function strings(prefix, lines) {
  const en = {}, pt = {};
  const fill = (text) => (text.includes("{}") ? (...args) => text.replace(/\{\}/g, () => args.shift()) : text);
  for (const line of lines.trim().split("\n")) {
    const [key, a, b = a] = line.split("|"), k = `${prefix}.${key}`;
    en[k] = fill(a);
    pt[k] = fill(b);
  }
  addStrings({ en, "pt-BR": pt });
}

strings("admin", `
prev|‹ Previous|‹ Anterior
next|Next ›|Próxima ›
page|Page {}|Página {}
noMatch|Nothing here matches.|Nada aqui corresponde.
actions|Actions|Ações
refresh|↻ Refresh|↻ Atualizar
all|All|Todos
edit|Edit|Editar
suspend|Suspend|Suspender
reactivate|Reactivate|Reativar
restore|Restore|Restaurar
editTitle|Edit {}|Editar {}
save|Save|Salvar
create|Create|Criar
delete|Delete|Excluir
created|Created|Criação
name|Name|Nome
slug|Slug
timezone|Time zone|Fuso horário
tzHint|Used by metrics and follow-ups.|Usado em métricas e follow-ups.
status|Status|Situação
active|Active|Ativa
suspended|Suspended|Suspensa
deleted|Deleted|Excluída
readOnly|Read-only for your role.|Somente leitura para seu perfil.
`);

/** h() with classes in the tag: el("p.adm-sub.mono", …). */
export function el(tag, ...rest) {
  const [name, ...classes] = tag.split(".");
  const e = h(name, ...rest);
  e.classList.add(...classes);
  return e;
}
export const btn = (label, onclick, cls = "button-secondary button-small", attrs) => h("button", { class: `button ${cls}`, type: "button", onclick, ...attrs }, label);
export const act = (action, label, onclick, cls) => btn(label, onclick, cls, { "data-write": "", dataset: { action } });
export const heading = (title, lead, ...extra) => el("div.page-header", el("div.adm-heading", h("h1", title), el("p.adm-lead", lead)), extra);
export const fld = (label, name, input, hint) => field({ label: t(label), name, input, hint: hint && t(hint) });
export const toolbar = (...c) => el("div.toolbar.adm-toolbar", c);
export const when = (iso) => (iso ? h("time", { datetime: iso, title: iso }, formatDateTime(iso, lang())) : "–");
export const sub = (...c) => el("div.adm-sub", c);
export const muted = (text = "–") => el("span.adm-sub", text);
const TONE = { active: "ok", succeeded: "ok", suspended: "warn", abandoned: "warn", running: "info", deleted: "bad", failed: "bad" };
export const pill = (status, label = t(`admin.${status}`)) => el(`span.adm-pill.adm-${TONE[status] || "muted"}`, { dataset: { status } }, label);

/** Confirms (if `ask`), runs request(), toasts `done`, calls after(); errors become a toast. */
export async function confirmRun(ask, request, done, after) {
  if (ask && !(await confirmDialog({ danger: true, ...ask }))) return;
  try {
    await request();
    toast(done);
    await after();
  } catch (error) {
    toast(errorText(error), "error");
  }
}

/** POSTs `body` to `url`, or for an existing `item` PATCHes only the fields that changed. */
export function send(busy, url, item, body) {
  if (!item) return busy(api("POST", url, { body }));
  for (const k in body) if (body[k] === (item[k] ?? "")) delete body[k];
  return Object.keys(body).length ? busy(api("PATCH", `${url}/${item.id}`, { body })) : item;
}

/** A table of a cursor-paged list with Previous / Next; filter() narrows the loaded page; emptyText: a key, or a function giving one. */
export function cursorTable({ name, columns, actions, loadPage, renderRow, emptyText, filter }) {
  const host = el(`div.adm-table.${name}-table`), stack = [null];
  let index = 0, next = null, items = null, gen = 0;

  async function load(quiet) {
    const mine = ++gen, keep = quiet && items;
    keep ? host.setAttribute("aria-busy", "true") : host.replaceChildren(loading());
    try {
      const page = await loadPage(stack[index]);
      if (mine !== gen) return;
      const fresh = page.items || [], cursor = page.next_cursor || null;
      // A background refresh that changed nothing leaves the DOM (and the reader's place) alone.
      const same = keep && cursor === next && JSON.stringify(fresh) === JSON.stringify(items);
      items = fresh;
      next = cursor;
      same ? host.removeAttribute("aria-busy") : render();
    } catch (error) {
      if (mine !== gen || error?.name === "AbortError") return;
      host.removeAttribute("aria-busy");
      if (!keep) host.replaceChildren(problemBox(error, { onRetry: () => load() }));
    }
  }
  const go = (delta, page, off) => btn(t(`admin.${page}`), () => {
    if (delta > 0) stack[index + 1] = next;
    index += delta;
    load();
  }, undefined, { disabled: off, dataset: { page } });

  function render() {
    host.removeAttribute("aria-busy");
    const shown = filter ? items.filter(filter) : items;
    replace(host, !items.length && !index ? empty(t(emptyText.call ? emptyText() : emptyText))
      : !shown.length ? empty(t("admin.noMatch"))
        : el("div.adm-scroll", el("table.data", el("caption.visually-hidden", t(`nav.${name}`)),
          h("thead", h("tr", columns.map((c) => h("th", c)), actions && h("th", t("admin.actions")))), h("tbody", shown.map(renderRow)))),
    index || next ? el("nav.adm-row.adm-pager", go(-1, "prev", !index), el("span.adm-pager-label", t("admin.page", index + 1)), go(1, "next", !next)) : null);
  }

  load();
  return {
    element: host,
    reload: () => { index = 0; load(); },
    refresh: (quiet = true) => load(quiet),
    rerender: () => items && render(),
  };
}

/** A modal form resolving to onSubmit()'s result (null if cancelled); errors keep it open, shown next to their fields. */
export function formDialog({ title, body, submitLabel, onSubmit, conflicts }) {
  return new Promise((resolve) => {
    let result = null;
    const slot = h("div"), submit = h("button", { class: "button button-primary", type: "submit", "data-write": "" }, submitLabel);
    const form = h("form", { novalidate: true }, el("h2.dialog-title", { id: "adm-dlg" }, title), slot, el("div.adm-grid", body),
      el("div.dialog-buttons", btn(t("ui.cancel"), () => dlg.close(), "button-secondary"), submit));
    const dlg = el("dialog.dialog.adm-dialog", { "aria-labelledby": "adm-dlg" }, form);
    form.onsubmit = async (event) => {
      event.preventDefault();
      if (submit.disabled) return;
      spin(submit, true);
      slot.replaceChildren();
      try {
        result = await onSubmit();
        dlg.close();
      } catch (error) {
        const field = error.status === 409 && conflicts[error.code];
        showFormError(form, slot, field ? new ProblemError({ ...error.problem, errors: [{ field, message: errorText(error) }] }) : error);
      }
      spin(submit, false);
    };
    dlg.onclose = () => { dlg.remove(); resolve(result); };
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Disables a button and shows its spinner, or undoes that. */
export function spin(button, on) {
  button.disabled = on;
  on ? button.setAttribute("aria-busy", "true") : button.removeAttribute("aria-busy");
}

export function showFormError(form, slot, error) {
  const unmatched = markFieldErrors(form, error), errors = error.problem?.errors || [];
  replace(slot, !errors.length || unmatched.length ? problemBox(error)
    : el("p.adm-error", { role: "alert" }, t("ui.fieldErrors"), " ", errors.length === 1 && String(errors[0].message)));
  form.querySelector("[aria-invalid='true']")?.focus();
}

/** The browser's IANA zones, UTC first, plus `current` if unknown here. */
export function timezoneSelect(current) {
  const zones = new Set(["UTC", ...[...Intl.supportedValuesOf("timeZone"), current].sort()]);
  const select = h("select", { name: "timezone" }, [...zones].map((z) => h("option", { value: z }, z.replaceAll("_", " "))));
  select.value = current;
  return select;
}

/** Calls onSearch(value) 250 ms after typing stops, or on Enter. */
export function searchBox(label, onSearch, value = "") {
  let timer;
  const input = el("input.adm-search", { type: "search", placeholder: label, value, "aria-label": label });
  const fire = () => { clearTimeout(timer); onSearch(input.value.trim()); };
  input.oninput = () => { clearTimeout(timer); timer = setTimeout(fire, 250); };
  input.onkeydown = (e) => { if (e.key === "Enter") fire(); };
  return input;
}

/** Options "All" and `values`, labelled t(prefix + value). */
export function filterSelect(name, aria, values, prefix, value, onChange) {
  const select = h("select", { name, "aria-label": aria, onchange: () => onChange(select.value) },
    h("option", { value: "" }, t("admin.all")), values.map((v) => h("option", { value: v }, t(prefix + v))));
  select.value = value;
  return select;
}
