// A tenant's users: list (the filter works on the loaded page), create, edit, delete.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { toast } from "../lib/ui.js";
import { strings, el, btn, act, fld, heading, toolbar, cursorTable, formDialog, searchBox, filterSelect, when, confirmRun, send } from "./admin-common.js";

strings("users", `
lead|Who signs in to {}.|Quem entra em {}.
new|New user|Novo usuário
filter|Filter by email…|Filtrar por e-mail…
pwHint|12+ characters.|12+ caracteres.
keepPw|Empty keeps it; else 12+ characters.|Vazia: mantém; senão 12+ caracteres.
signout|A new role or password signs them out.|Novo perfil ou senha desconecta o usuário.
updated|Updated|Atualização
you|you|você
deleteQ|Delete this user?|Excluir este usuário?
deleteText|{} is signed out for good.|{} sai de vez.
created|User {} created.|Usuário {} criado.
saved|{} saved.|{} salvo.
deleted|{} was deleted.|{} foi excluído.
empty|No users yet.|Nenhum usuário ainda.
tenant_admin|Manages the whole tenant.|Gerencia toda a organização.
agent|Answers the inbox.|Atende a caixa de entrada.
viewer|Reads; changes nothing.|Lê; não altera nada.
suggest|Suggest password|Sugerir senha
`);

const ROLES = ["tenant_admin", "agent", "viewer"];
const ABC = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"; // no look-alikes

export default async function mount(ctx) {
  const path = `/api/v1/tenants/${ctx.params.tenantId}/users`, write = ctx.can("users.write");
  let text = "", only = "";

  const table = cursorTable({
    name: "users",
    columns: [t("email"), t("whoRole"), t("admin.created"), t("users.updated")],
    actions: write,
    loadPage: (cursor) => api("GET", path, { query: { limit: 25, cursor }, signal: ctx.signal }),
    filter: (u) => String(u.email).toLowerCase().includes(text) && (!only || u.role === only),
    emptyText: "users.empty",
    renderRow: (u) => {
      const self = u.id === ctx.me.id;
      return h("tr", { dataset: { userId: u.id, email: u.email } },
        el("td.adm-strong", u.email, self && el("span.badge.adm-you", t("users.you"))),
        h("td", el(`span.adm-pill.adm-${u.role}`, { dataset: { role: u.role } }, t(`role.${u.role}`))),
        el("td.adm-nowrap", when(u.created_at)),
        el("td.adm-nowrap", when(u.updated_at)),
        write && el("td.adm-actions", act("edit", t("admin.edit"), () => open(u)),
          !self && act("delete", t("admin.delete"), () => confirmRun({ title: t("users.deleteQ"), message: t("users.deleteText", u.email), confirm: t("admin.delete") },
            () => ctx.busy(api("DELETE", `${path}/${u.id}`)), t("users.deleted", u.email), () => table.refresh()), "button-small adm-danger")));
    },
  });

  // Create (no u) or edit; nobody changes their own role.
  async function open(u) {
    const email = h("input", { type: "email", value: u?.email, autocomplete: "off", autocapitalize: "off", maxlength: "254" });
    const select = h("select", { disabled: u?.id === ctx.me.id }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
    const help = el("p.field-hint");
    const pw = h("input", { type: "password", autocomplete: "new-password", maxlength: "128" });
    select.onchange = () => { help.textContent = t(`users.${select.value}`); };
    select.value = u?.role || "agent";
    select.onchange();
    const done = await formDialog({
      title: t(u ? "admin.editTitle" : "users.new", u?.email),
      submitLabel: t(u ? "admin.save" : "admin.create"),
      conflicts: { email_taken: "email" },
      body: [fld("email", "email", email), h("div", fld("whoRole", "role", select), help), fld("password", "password", pw, u ? "users.keepPw" : "users.pwHint"),
        btn(t("users.suggest"), () => {
          pw.value = Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => ABC[b % ABC.length]).join("");
          pw.type = "text";
          pw.select();
        }),
        u && el("p.adm-lead", t("users.signout"))],
      onSubmit: () => send(ctx.busy, path, u, { email: email.value.trim(), role: select.value, password: pw.value }),
    });
    if (!done) return;
    toast(t(u ? "users.saved" : "users.created", done.email));
    u ? table.refresh() : table.reload();
  }

  ctx.root.append(
    heading(t("nav.users"), t("users.lead", ctx.tenant?.name ?? ctx.params.tenantId), write && act("create-user", `+ ${t("users.new")}`, () => open(), "button-primary")),
    write ? "" : el("p.adm-readonly", t("admin.readOnly")),
    toolbar(searchBox(t("users.filter"), (v) => { text = v.toLowerCase(); table.rerender(); }),
      filterSelect("role", t("whoRole"), ROLES, "role.", "", (v) => { only = v; table.rerender(); })),
    table.element);
}
