// Tenants (platform_admin): search, cursor pages, create, edit, suspend / reactivate, delete, restore.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { field, toast } from "../lib/ui.js";
import { strings, el, act, heading, toolbar, cursorTable, formDialog, timezoneSelect, pill, searchBox, filterSelect, when, sub, confirmRun, send } from "./admin-common.js";

strings("tenants", `
lead|Businesses on PyTake, each with its own numbers, flows, users and settings.|Empresas no PyTake, cada uma com seus números, fluxos, usuários e configurações.
new|New tenant|Nova organização
search|Search by name or slug…|Buscar por nome ou slug…
slugHint|a-z, 0-9 and inner hyphens; 2 to 63 characters.|a-z, 0-9 e hífens internos; de 2 a 63 caracteres.
empty|No tenants yet. Create the first one.|Nenhuma organização ainda. Crie a primeira.
noHit|No tenant matches this search.|Nenhuma organização corresponde à busca.
create|Create tenant|Criar organização
suspend|Suspend|Suspender
reactivate|Reactivate|Reativar
restore|Restore|Restaurar
created|Tenant “{}” created.|Organização “{}” criada.
saved|Tenant saved.|Organização salva.
suspendQ|Suspend this tenant?|Suspender esta organização?
suspendText|{}'s users are signed out and its numbers go unserved until it is reactivated.|Os usuários de {} são desconectados e seus números ficam sem atendimento até a reativação.
suspendOk|{} is suspended.|{} está suspensa.
activeOk|{} is active again.|{} está ativa de novo.
deleteQ|Delete this tenant?|Excluir esta organização?
deleteText|{}'s users can no longer sign in. Its data is kept: the “Deleted” filter can restore it.|Os usuários de {} não conseguem mais entrar. Os dados ficam: o filtro “Excluída” pode restaurá-la.
deleteOk|{} was deleted.|{} foi excluída.
`);

const slugify = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+/, "").slice(0, 63).replace(/-+$/, "");

export default async function mount(ctx) {
  const manage = ctx.can("tenants.manage"), url = (tn) => `/api/v1/tenants/${tn.id}`;
  let q = ctx.query.get("q") || "", status = ctx.query.get("status") || "";
  const search = searchBox(t("tenants.search"), (v) => { if (v !== q) { q = v; table.reload(); } }, q);
  const after = async () => { await ctx.refreshTenants(); table.refresh(); };
  // Suspend and delete ask first; reactivate and restore (kind "active") do not.
  const change = (tn, kind, method, label) => confirmRun(kind !== "active" && { title: t(`tenants.${kind}Q`), message: t(`tenants.${kind}Text`, tn.name), confirm: label },
    () => ctx.busy(api(method, method === "POST" ? `${url(tn)}/restore` : url(tn), { body: method === "PATCH" ? { status: kind === "suspend" ? "suspended" : "active" } : undefined })), t(`tenants.${kind}Ok`, tn.name), after);

  const table = cursorTable({
    className: "tenants-table",
    caption: t("nav.tenants"),
    columns: ["name", "timezone", "status", "created"].map((c) => t(`admin.${c}`)),
    actions: manage,
    loadPage: (cursor) => api("GET", "/api/v1/tenants", { query: { limit: 20, cursor, q, status }, signal: ctx.signal }),
    emptyText: () => t(q || status ? "tenants.noHit" : "tenants.empty"),
    renderRow: (tn) => {
      const base = `#/tenants/${encodeURIComponent(tn.id)}`, live = tn.status !== "deleted", again = live ? "reactivate" : "restore";
      return h("tr", { dataset: { tenantId: tn.id, slug: tn.slug } },
        h("td", h("a", { href: `${base}/inbox`, class: "adm-strong" }, String(tn.name)), sub(el("span.mono", String(tn.slug))),
          el("div.adm-chips", ["inbox", "users", "settings", "metrics"].map((p) => h("a", { href: `${base}/${p}`, dataset: { link: p } }, t(`nav.${p}`))))),
        h("td", String(tn.timezone).replaceAll("_", " ")),
        h("td", pill(tn.status, t(`admin.${tn.status}`))),
        el("td.adm-nowrap", when(tn.created_at)),
        manage && el("td.adm-actions", live && act("edit", t("admin.edit"), () => open(tn)),
          tn.status === "active" ? act("suspend", t("tenants.suspend"), () => change(tn, "suspend", "PATCH", t("tenants.suspend")))
            : act(again, t(`tenants.${again}`), () => change(tn, "active", live ? "PATCH" : "POST")),
          live && act("delete", t("admin.delete"), () => change(tn, "delete", "DELETE", t("admin.delete")), "button-small adm-danger")));
    },
  });

  // Create (no tn) or edit; a new tenant's slug follows its name until typed.
  async function open(tn) {
    const name = h("input", { value: tn?.name, maxlength: "200", autocomplete: "off" });
    const slug = h("input", { value: tn?.slug, maxlength: "63", class: "mono", autocomplete: "off", autocapitalize: "off" });
    const zone = timezoneSelect(tn ? tn.timezone : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
    let typed = tn;
    slug.oninput = () => { typed = slug.value; };
    name.oninput = () => { if (!typed) slug.value = slugify(name.value); };
    const done = await formDialog({
      title: tn ? t("admin.editTitle", tn.name) : t("tenants.new"),
      submitLabel: t(tn ? "admin.save" : "tenants.create"),
      conflicts: { slug_taken: "slug" },
      body: [field({ label: t("admin.name"), name: "name", input: name }),
        field({ label: t("admin.slug"), name: "slug", input: slug, hint: t("tenants.slugHint") }),
        field({ label: t("admin.timezone"), name: "timezone", input: zone, hint: t("admin.tzHint") })],
      onSubmit: () => send(ctx.busy, "/api/v1/tenants", tn, { name: name.value.trim(), slug: slug.value.trim(), timezone: zone.value }),
    });
    if (!done) return;
    toast(tn ? t("tenants.saved") : t("tenants.created", done.name));
    await ctx.refreshTenants();
    tn ? table.refresh() : table.reload();
  }

  ctx.root.append(
    heading(t("nav.tenants"), t("tenants.lead"), manage && act("create-tenant", `+ ${t("tenants.new")}`, () => open(), "button-primary")),
    toolbar(search, filterSelect("status", t("admin.status"), ["active", "suspended", "deleted"], (s) => t(`admin.${s}`), status, (v) => { status = v; table.reload(); })),
    table.element);
  if (q) search.focus();
}
