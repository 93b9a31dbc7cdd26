// Tenants (platform_admin): search, cursor pages, create, edit, suspend / reactivate, delete, restore.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { toast } from "../lib/ui.js";
import { strings, el, act, fld, heading, toolbar, cursorTable, formDialog, timezoneSelect, pill, searchBox, filterSelect, when, sub, confirmRun, send } from "./admin-common.js";

strings("tenants", `
lead|Businesses served by PyTake.|Empresas atendidas pelo PyTake.
new|New tenant|Nova organização
search|Search name or slug…|Buscar nome ou slug…
slugHint|a-z, 0-9, inner hyphens; 2–63 characters.|a-z, 0-9, hífens internos; 2–63 caracteres.
empty|No tenants yet.|Nenhuma organização ainda.
noHit|No tenant matches.|Nenhuma organização encontrada.
created|Tenant “{}” created.|Organização “{}” criada.
saved|Tenant saved.|Organização salva.
suspendQ|Suspend this tenant?|Suspender esta organização?
suspendText|Signs out {}'s users; its numbers go unserved.|Desconecta os usuários de {}; seus números ficam sem atendimento.
suspendOk|{} is suspended.|{} está suspensa.
activeOk|{} is active.|{} está ativa.
deleteQ|Delete this tenant?|Excluir esta organização?
deleteText|{}'s users can't sign in. Restore it under “Deleted”.|Os usuários de {} não entram mais. Restaure em “Excluída”.
deleteOk|{} was deleted.|{} foi excluída.
`);

const slugify = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+/, "").slice(0, 63).replace(/-+$/, "");

export default async function mount(ctx) {
  const manage = ctx.can("tenants.manage");
  let q = ctx.query.get("q") || "", status = ctx.query.get("status") || "";
  const search = searchBox(t("tenants.search"), (v) => { if (v !== q) { q = v; table.reload(); } }, q);
  const after = async () => { await ctx.refreshTenants(); table.refresh(); };
  // Suspend and delete ask first; reactivate and restore do not.
  const op = (tn, a, method, body, cls) => {
    const ask = a === "suspend" || a === "delete", label = t(`admin.${a}`);
    return act(a, label, () => confirmRun(ask && { title: t(`tenants.${a}Q`), message: t(`tenants.${a}Text`, tn.name), confirm: label },
      () => ctx.busy(api(method, `/api/v1/tenants/${tn.id}${a === "restore" ? "/restore" : ""}`, { body })), t(`tenants.${ask ? a : "active"}Ok`, tn.name), after), cls);
  };

  const table = cursorTable({
    name: "tenants",
    columns: ["name", "timezone", "status", "created"].map((c) => t(`admin.${c}`)),
    actions: manage,
    loadPage: (cursor) => api("GET", "/api/v1/tenants", { query: { limit: 20, cursor, q, status }, signal: ctx.signal }),
    emptyText: () => (q || status ? "tenants.noHit" : "tenants.empty"),
    renderRow: (tn) => {
      const base = `#/tenants/${encodeURIComponent(tn.id)}`, live = tn.status !== "deleted";
      return h("tr", { dataset: { tenantId: tn.id, slug: tn.slug } },
        h("td", h("a", { href: `${base}/inbox`, class: "adm-strong" }, tn.name), sub(el("span.mono", tn.slug)),
          el("div.adm-chips", ["inbox", "users", "settings", "metrics"].map((p) => h("a", { href: `${base}/${p}`, dataset: { link: p } }, t(`nav.${p}`))))),
        h("td", String(tn.timezone).replaceAll("_", " ")),
        h("td", pill(tn.status)),
        el("td.adm-nowrap", when(tn.created_at)),
        manage && el("td.adm-actions", live && act("edit", t("admin.edit"), () => open(tn)),
          tn.status === "active" ? op(tn, "suspend", "PATCH", { status: "suspended" }) : live ? op(tn, "reactivate", "PATCH", { status: "active" }) : op(tn, "restore", "POST"),
          live && op(tn, "delete", "DELETE", undefined, "button-small adm-danger")));
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
      title: t(tn ? "admin.editTitle" : "tenants.new", tn?.name),
      submitLabel: t(tn ? "admin.save" : "admin.create"),
      conflicts: { slug_taken: "slug" },
      body: [fld("admin.name", "name", name), fld("admin.slug", "slug", slug, "tenants.slugHint"), fld("admin.timezone", "timezone", zone, "admin.tzHint")],
      onSubmit: () => send(ctx.busy, "/api/v1/tenants", tn, { name: name.value.trim(), slug: slug.value.trim(), timezone: zone.value }),
    });
    if (!done) return;
    toast(t(tn ? "tenants.saved" : "tenants.created", done.name));
    await ctx.refreshTenants();
    tn ? table.refresh() : table.reload();
  }

  ctx.root.append(
    heading(t("nav.tenants"), t("tenants.lead"), manage && act("create-tenant", `+ ${t("tenants.new")}`, () => open(), "button-primary")),
    toolbar(search, filterSelect("status", t("admin.status"), ["active", "suspended", "deleted"], "admin.", status, (v) => { status = v; table.reload(); })),
    table.element);
  if (q) search.focus();
}
