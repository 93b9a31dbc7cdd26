// Tenants (platform_admin): search, cursor pages, create, edit, suspend / reactivate, delete.
// Also exports the small widgets the other administration views share (cursor-paged tables,
// form dialogs that keep 422 errors next to their inputs, the IANA time zone picker).

import { h, formatDateTime } from "../lib/dom.js";
import { api, ProblemError } from "../lib/api.js";
import { addStrings, t, lang } from "../lib/i18n.js";
import { errorText, problemBox, markFieldErrors, field, loading, empty, toast, confirmDialog } from "../lib/ui.js";

addStrings({
  en: {
    "admin.prev": "Previous",
    "admin.next": "Next",
    "admin.page": (n) => `Page ${n}`,
    "admin.pages": "Pages",
    "admin.noMatch": "Nothing on this page matches the filter.",
    "admin.actions": "Actions",
    "admin.refresh": "Refresh",
    "admin.all": "All",
    "tenants.title": "Tenants",
    "tenants.subtitle": "Businesses using PyTake: each has its own numbers, flows, users and settings.",
    "tenants.new": "New tenant",
    "tenants.search": "Search tenants",
    "tenants.searchPlaceholder": "Search by name or slug…",
    "tenants.statusFilter": "Status",
    "tenants.status.active": "Active",
    "tenants.status.suspended": "Suspended",
    "tenants.status.deleted": "Deleted",
    "tenants.name": "Name",
    "tenants.slug": "Slug",
    "tenants.slugHint": "Lowercase letters, digits and inner hyphens; 2 to 63 characters.",
    "tenants.timezone": "Time zone",
    "tenants.timezoneHint": "Metrics days, quiet hours and follow-ups use this zone.",
    "tenants.status": "Status",
    "tenants.created": "Created",
    "tenants.empty": "No tenants yet. Create the first one.",
    "tenants.emptySearch": "No tenant matches this search.",
    "tenants.create": "Create tenant",
    "tenants.edit": "Edit",
    "tenants.editTitle": (name) => `Edit ${name}`,
    "tenants.save": "Save changes",
    "tenants.suspend": "Suspend",
    "tenants.reactivate": "Reactivate",
    "tenants.restore": "Restore",
    "tenants.delete": "Delete",
    "tenants.created.ok": (name) => `Tenant “${name}” created.`,
    "tenants.saved": "Tenant saved.",
    "tenants.suspendTitle": "Suspend this tenant?",
    "tenants.suspendText": (name) => `${name}'s users are signed out at once and cannot sign in, and its numbers stop being served until the tenant is reactivated.`,
    "tenants.suspended.ok": (name) => `${name} is suspended.`,
    "tenants.reactivated.ok": (name) => `${name} is active again.`,
    "tenants.deleteTitle": "Delete this tenant?",
    "tenants.deleteText": (name) => `${name} disappears from lists and its users can no longer sign in. Its data is kept; a platform admin can restore it from the “Deleted” filter.`,
    "tenants.deleted.ok": (name) => `${name} was deleted.`,
    "tenants.open": "Open",
    "tenants.link.inbox": "Inbox",
    "tenants.link.users": "Users",
    "tenants.link.settings": "Settings",
    "tenants.link.metrics": "Metrics",
  },
  "pt-BR": {
    "admin.prev": "Anterior",
    "admin.next": "Próxima",
    "admin.page": (n) => `Página ${n}`,
    "admin.pages": "Páginas",
    "admin.noMatch": "Nada nesta página corresponde ao filtro.",
    "admin.actions": "Ações",
    "admin.refresh": "Atualizar",
    "admin.all": "Todos",
    "tenants.title": "Organizações",
    "tenants.subtitle": "Empresas que usam o PyTake: cada uma tem seus números, fluxos, usuários e configurações.",
    "tenants.new": "Nova organização",
    "tenants.search": "Buscar organizações",
    "tenants.searchPlaceholder": "Buscar por nome ou slug…",
    "tenants.statusFilter": "Situação",
    "tenants.status.active": "Ativa",
    "tenants.status.suspended": "Suspensa",
    "tenants.status.deleted": "Excluída",
    "tenants.name": "Nome",
    "tenants.slug": "Slug",
    "tenants.slugHint": "Letras minúsculas, dígitos e hífens internos; de 2 a 63 caracteres.",
    "tenants.timezone": "Fuso horário",
    "tenants.timezoneHint": "Os dias das métricas, o horário de silêncio e os follow-ups usam este fuso.",
    "tenants.status": "Situação",
    "tenants.created": "Criada em",
    "tenants.empty": "Nenhuma organização ainda. Crie a primeira.",
    "tenants.emptySearch": "Nenhuma organização corresponde à busca.",
    "tenants.create": "Criar organização",
    "tenants.edit": "Editar",
    "tenants.editTitle": (name) => `Editar ${name}`,
    "tenants.save": "Salvar alterações",
    "tenants.suspend": "Suspender",
    "tenants.reactivate": "Reativar",
    "tenants.restore": "Restaurar",
    "tenants.delete": "Excluir",
    "tenants.created.ok": (name) => `Organização “${name}” criada.`,
    "tenants.saved": "Organização salva.",
    "tenants.suspendTitle": "Suspender esta organização?",
    "tenants.suspendText": (name) => `Os usuários de ${name} são desconectados na hora e não conseguem entrar, e seus números deixam de ser atendidos até a reativação.`,
    "tenants.suspended.ok": (name) => `${name} está suspensa.`,
    "tenants.reactivated.ok": (name) => `${name} está ativa de novo.`,
    "tenants.deleteTitle": "Excluir esta organização?",
    "tenants.deleteText": (name) => `${name} some das listas e seus usuários não conseguem mais entrar. Os dados são mantidos; um administrador da plataforma pode restaurá-la pelo filtro “Excluída”.`,
    "tenants.deleted.ok": (name) => `${name} foi excluída.`,
    "tenants.open": "Abrir",
    "tenants.link.inbox": "Caixa de entrada",
    "tenants.link.users": "Usuários",
    "tenants.link.settings": "Configurações",
    "tenants.link.metrics": "Métricas",
  },
});

// ---------------------------------------------------------------- shared widgets

/**
 * A table over a cursor-paged API list with Previous / Next.
 * columns: [{label, className}], loadPage(cursor) → {items, next_cursor}, renderRow(item) → <tr>,
 * filter(item) → bool (client-side, on the loaded page). Returns {element, reload, refresh, rerender}.
 */
export function cursorTable({ columns, loadPage, renderRow, emptyText, filter, caption, className }) {
  const host = h("div", { class: ["adm-table", className] });
  let stack = [null];
  let index = 0;
  let next = null;
  let items = null;
  let generation = 0;

  async function load({ quiet = false } = {}) {
    const mine = ++generation;
    if (!quiet || items === null) host.replaceChildren(loading());
    else host.setAttribute("aria-busy", "true");
    try {
      const page = await loadPage(stack[index]);
      if (mine !== generation) return;
      const fresh = page.items || [];
      const unchanged = quiet && items !== null && (page.next_cursor || null) === next && JSON.stringify(fresh) === JSON.stringify(items);
      items = fresh;
      next = page.next_cursor || null;
      if (unchanged) host.removeAttribute("aria-busy");
      else render();
    } catch (error) {
      if (mine !== generation || (error && error.name === "AbortError")) return;
      host.removeAttribute("aria-busy");
      if (quiet && items !== null) return; // a background refresh keeps what is shown
      host.replaceChildren(problemBox(error, { onRetry: () => load() }));
    }
  }

  function go(delta) {
    if (delta > 0) {
      if (!next) return;
      stack = stack.slice(0, index + 1);
      stack.push(next);
      index += 1;
    } else {
      if (index === 0) return;
      index -= 1;
    }
    load();
  }

  function render() {
    host.removeAttribute("aria-busy");
    const shown = filter ? items.filter(filter) : items;
    const parts = [];
    if (items.length === 0 && index === 0) {
      parts.push(empty(typeof emptyText === "function" ? emptyText() : emptyText));
    } else if (shown.length === 0) {
      parts.push(empty(t("admin.noMatch")));
    } else {
      parts.push(h("div", { class: "adm-table-scroll" },
        h("table", { class: "data" },
          caption ? h("caption", { class: "visually-hidden" }, caption) : null,
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.label)))),
          h("tbody", {}, shown.map(renderRow)))));
    }
    if (index > 0 || next) {
      parts.push(h("nav", { class: "adm-pager", "aria-label": t("admin.pages") },
        h("button", { class: "button button-secondary button-small", type: "button", disabled: index === 0, dataset: { page: "prev" }, onclick: () => go(-1) }, "‹ ", t("admin.prev")),
        h("span", { class: "adm-pager-label", "aria-live": "polite" }, t("admin.page", index + 1)),
        h("button", { class: "button button-secondary button-small", type: "button", disabled: !next, dataset: { page: "next" }, onclick: () => go(1) }, t("admin.next"), " ›")));
    }
    host.replaceChildren(...parts);
  }

  load();
  return {
    element: host,
    reload: () => { stack = [null]; index = 0; load(); },
    refresh: (quiet = true) => load({ quiet }),
    rerender: () => { if (items !== null) render(); },
    get items() { return items || []; },
  };
}

/**
 * A modal form. onSubmit(form) may throw a ProblemError: its field errors appear next to the
 * inputs (fields made with field()), anything else above them, and the dialog stays open.
 * `conflicts` maps 409 codes to the field they concern (e.g. {slug_taken: "slug"}).
 * Resolves to onSubmit's result, or null when cancelled.
 */
export function formDialog({ title, body, submitLabel, onSubmit, conflicts = {}, danger = false, className }) {
  return new Promise((resolve) => {
    let result = null;
    const slot = h("div", { class: "adm-dialog-problem" });
    const submit = h("button", { class: ["button", danger ? "button-danger" : "button-primary"], type: "submit", "data-write": "" }, submitLabel);
    const cancel = h("button", { class: "button button-secondary", type: "button", onclick: () => dlg.close() }, t("ui.cancel"));
    const form = h("form", { class: "adm-dialog-form", novalidate: true },
      h("h2", { class: "dialog-title", id: "adm-dialog-title" }, title),
      slot,
      h("div", { class: "adm-dialog-body" }, body),
      h("div", { class: "dialog-buttons" }, cancel, submit));
    const dlg = h("dialog", { class: ["dialog", "adm-dialog", className], "aria-labelledby": "adm-dialog-title" }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (submit.disabled) return;
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      slot.replaceChildren();
      try {
        result = await onSubmit(form);
        dlg.close();
      } catch (error) {
        showFormError(form, slot, withConflictField(error, conflicts));
      } finally {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
      }
    });
    dlg.addEventListener("close", () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector(".adm-dialog-body input, .adm-dialog-body select, .adm-dialog-body textarea");
    if (first) first.focus();
  });
}

/** Shows an API error on a form: field errors next to inputs, the rest in `slot`. */
export function showFormError(form, slot, error) {
  const unmatched = markFieldErrors(form, error);
  const fieldErrors = error instanceof ProblemError ? (error.problem.errors || []) : [];
  if (fieldErrors.length === 0 || unmatched.length > 0) {
    slot.replaceChildren(problemBox(error));
  } else {
    slot.replaceChildren(h("p", { class: "adm-form-summary", role: "alert" }, t("ui.fieldErrors"), " ",
      fieldErrors.length === 1 ? String(fieldErrors[0].message) : ""));
  }
  const invalid = form.querySelector("[aria-invalid='true']");
  if (invalid) invalid.focus();
}

function withConflictField(error, conflicts) {
  if (error instanceof ProblemError && error.status === 409 && conflicts[error.code]) {
    return new ProblemError({ ...error.problem, errors: [{ field: conflicts[error.code], message: errorText(error) }] });
  }
  return error;
}

/** The IANA zones the browser knows, for a <select>; keeps `current` even when unknown here. */
export function timezoneSelect(current, attrs = {}) {
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch { zones = []; }
  const set = new Set(zones);
  set.delete("UTC");
  if (current && current !== "UTC") set.add(current);
  const sorted = ["UTC", ...[...set].sort()];
  const select = h("select", attrs, sorted.map((zone) => h("option", { value: zone }, zone.replaceAll("_", " "))));
  select.value = current || "UTC";
  return select;
}

/** The browser's own zone, for defaults. */
export function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
}

export function statusPill(status, label) {
  const kind = { active: "ok", succeeded: "ok", suspended: "warn", running: "info", deleted: "bad", failed: "bad", abandoned: "warn" }[status] || "muted";
  return h("span", { class: ["adm-pill", `adm-pill-${kind}`], dataset: { status } }, label || status);
}

/** A debounced <input type=search> that calls onSearch(value). */
export function searchBox({ label, placeholder, value = "", onSearch, name }) {
  let timer = 0;
  const input = h("input", { type: "search", class: "adm-search", placeholder, value, "aria-label": label, name, autocomplete: "off", spellcheck: "false" });
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => onSearch(input.value.trim()), 250);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { window.clearTimeout(timer); onSearch(input.value.trim()); }
  });
  return input;
}

export function when(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, formatDateTime(iso, lang())) : "–";
}

// ---------------------------------------------------------------- the view

const PAGE_SIZE = 20;

export default async function mount(ctx) {
  const canManage = ctx.can("tenants.manage");
  let q = ctx.query.get("q") || "";
  let status = ctx.query.get("status") || "";

  const statusSelect = h("select", { "aria-label": t("tenants.statusFilter"), class: "adm-filter", name: "status" },
    h("option", { value: "" }, t("admin.all")),
    ["active", "suspended", "deleted"].map((s) => h("option", { value: s, selected: s === status }, t(`tenants.status.${s}`))));
  statusSelect.addEventListener("change", () => { status = statusSelect.value; table.reload(); });

  const search = searchBox({ label: t("tenants.search"), placeholder: t("tenants.searchPlaceholder"), value: q, name: "q",
    onSearch: (value) => { if (value !== q) { q = value; table.reload(); } } });

  const table = cursorTable({
    className: "tenants-table",
    caption: t("tenants.title"),
    columns: [
      { label: t("tenants.name") },
      { label: t("tenants.timezone") },
      { label: t("tenants.status") },
      { label: t("tenants.created") },
      { label: t("admin.actions"), className: "adm-col-actions" },
    ],
    loadPage: (cursor) => api("GET", "/api/v1/tenants", { query: { limit: PAGE_SIZE, cursor, q, status }, signal: ctx.signal }),
    emptyText: () => (q || status ? t("tenants.emptySearch") : t("tenants.empty")),
    renderRow: (tenant) => row(tenant),
  });

  function row(tenant) {
    const base = `#/tenants/${encodeURIComponent(tenant.id)}`;
    const links = ["inbox", "users", "settings", "metrics"].map((page) =>
      h("a", { href: `${base}/${page}`, class: "adm-chip-link", dataset: { link: page } }, t(`tenants.link.${page}`)));
    const actions = [];
    if (canManage) {
      if (tenant.status !== "deleted") {
        actions.push(h("button", { class: "button button-secondary button-small", type: "button", "data-write": "", dataset: { action: "edit" }, onclick: () => edit(tenant) }, t("tenants.edit")));
      }
      if (tenant.status === "active") {
        actions.push(h("button", { class: "button button-secondary button-small", type: "button", "data-write": "", dataset: { action: "suspend" }, onclick: () => suspend(tenant) }, t("tenants.suspend")));
      } else if (tenant.status === "suspended") {
        actions.push(h("button", { class: "button button-secondary button-small", type: "button", "data-write": "", dataset: { action: "reactivate" }, onclick: () => setStatus(tenant, "active") }, t("tenants.reactivate")));
      } else {
        actions.push(h("button", { class: "button button-secondary button-small", type: "button", "data-write": "", dataset: { action: "restore" }, onclick: () => setStatus(tenant, "active") }, t("tenants.restore")));
      }
      if (tenant.status !== "deleted") {
        actions.push(h("button", { class: "button button-small adm-button-danger-outline", type: "button", "data-write": "", dataset: { action: "delete" }, onclick: () => remove(tenant) }, t("tenants.delete")));
      }
    }
    return h("tr", { dataset: { tenantId: tenant.id, slug: tenant.slug } },
      h("td", {},
        h("a", { href: `${base}/inbox`, class: "adm-strong-link" }, String(tenant.name)),
        h("div", { class: "adm-sub mono" }, String(tenant.slug)),
        h("div", { class: "adm-chip-links" }, links)),
      h("td", {}, String(tenant.timezone).replaceAll("_", " ")),
      h("td", {}, statusPill(tenant.status, t(`tenants.status.${tenant.status}`))),
      h("td", { class: "adm-nowrap" }, when(tenant.created_at)),
      h("td", { class: "adm-col-actions" }, h("div", { class: "adm-row-actions" }, actions)));
  }

  function tenantFields(tenant) {
    const name = h("input", { type: "text", value: tenant ? tenant.name : "", maxlength: "200", required: true, autocomplete: "off" });
    const slug = h("input", { type: "text", value: tenant ? tenant.slug : "", maxlength: "63", required: true, class: "mono", autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
    const timezone = timezoneSelect(tenant ? tenant.timezone : browserZone());
    if (!tenant) {
      let slugEdited = false;
      slug.addEventListener("input", () => { slugEdited = slug.value !== ""; });
      name.addEventListener("input", () => { if (!slugEdited) slug.value = slugify(name.value); });
    }
    const body = h("div", { class: "adm-dialog-grid" },
      field({ label: t("tenants.name"), name: "name", input: name }),
      field({ label: t("tenants.slug"), name: "slug", input: slug, hint: t("tenants.slugHint") }),
      field({ label: t("tenants.timezone"), name: "timezone", input: timezone, hint: t("tenants.timezoneHint") }));
    return { body, name, slug, timezone };
  }

  async function create() {
    const f = tenantFields(null);
    const created = await formDialog({
      title: t("tenants.new"), body: f.body, submitLabel: t("tenants.create"), conflicts: { slug_taken: "slug" },
      onSubmit: () => ctx.busy(api("POST", "/api/v1/tenants", { body: { name: f.name.value.trim(), slug: f.slug.value.trim(), timezone: f.timezone.value } })),
    });
    if (!created) return;
    toast(t("tenants.created.ok", created.name));
    await ctx.refreshTenants();
    table.reload();
  }

  async function edit(tenant) {
    const f = tenantFields(tenant);
    const saved = await formDialog({
      title: t("tenants.editTitle", tenant.name), body: f.body, submitLabel: t("tenants.save"), conflicts: { slug_taken: "slug" },
      onSubmit: () => {
        const body = {};
        if (f.name.value.trim() !== tenant.name) body.name = f.name.value.trim();
        if (f.slug.value.trim() !== tenant.slug) body.slug = f.slug.value.trim();
        if (f.timezone.value !== tenant.timezone) body.timezone = f.timezone.value;
        if (Object.keys(body).length === 0) return Promise.resolve(tenant);
        return ctx.busy(api("PATCH", `/api/v1/tenants/${tenant.id}`, { body }));
      },
    });
    if (!saved) return;
    toast(t("tenants.saved"));
    await ctx.refreshTenants();
    table.refresh();
  }

  async function suspend(tenant) {
    const ok = await confirmDialog({ title: t("tenants.suspendTitle"), message: t("tenants.suspendText", tenant.name), confirm: t("tenants.suspend"), danger: true });
    if (ok) await setStatus(tenant, "suspended");
  }

  async function setStatus(tenant, next) {
    try {
      await ctx.busy(api("PATCH", `/api/v1/tenants/${tenant.id}`, { body: { status: next } }));
      toast(next === "suspended" ? t("tenants.suspended.ok", tenant.name) : t("tenants.reactivated.ok", tenant.name));
      await ctx.refreshTenants();
      table.refresh();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  async function remove(tenant) {
    const ok = await confirmDialog({ title: t("tenants.deleteTitle"), message: t("tenants.deleteText", tenant.name), confirm: t("tenants.delete"), danger: true });
    if (!ok) return;
    try {
      await ctx.busy(api("DELETE", `/api/v1/tenants/${tenant.id}`));
      toast(t("tenants.deleted.ok", tenant.name));
      await ctx.refreshTenants();
      table.refresh();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  ctx.root.append(
    h("div", { class: "page-header" },
      h("div", { class: "adm-heading" }, h("h1", {}, t("tenants.title")), h("p", { class: "adm-lead" }, t("tenants.subtitle"))),
      canManage ? h("button", { class: "button button-primary", type: "button", "data-write": "", dataset: { action: "create-tenant" }, onclick: create }, "+ ", t("tenants.new")) : null),
    h("div", { class: "toolbar adm-toolbar" }, search, statusSelect),
    table.element);
  if (q) search.focus();
}

function slugify(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "");
}
