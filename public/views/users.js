// A tenant's users: list (filtered on the loaded page: the API has no search), create, edit
// (email, role, new password), delete. Read-only for roles without users.write.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { addStrings, t } from "../lib/i18n.js";
import { errorText, field, toast, confirmDialog } from "../lib/ui.js";
import { cursorTable, formDialog, searchBox, when } from "./tenants.js";

addStrings({
  en: {
    "users.title": "Users",
    "users.subtitle": (tenant) => `People who sign in to ${tenant}, and what their role lets them do.`,
    "users.new": "New user",
    "users.create": "Create user",
    "users.filter": "Filter users on this page",
    "users.filterPlaceholder": "Filter by email…",
    "users.roleFilter": "Role",
    "users.email": "Email",
    "users.role": "Role",
    "users.password": "Password",
    "users.newPassword": "New password",
    "users.passwordHint": "At least 12 characters.",
    "users.newPasswordHint": "Leave empty to keep the current password. At least 12 characters.",
    "users.signoutHint": "Changing the role or the password signs this user out everywhere.",
    "users.created": "Created",
    "users.updated": "Updated",
    "users.you": "you",
    "users.edit": "Edit",
    "users.editTitle": (email) => `Edit ${email}`,
    "users.save": "Save changes",
    "users.delete": "Delete",
    "users.deleteTitle": "Delete this user?",
    "users.deleteText": (email) => `${email} is signed out everywhere and can no longer sign in. This cannot be undone.`,
    "users.created.ok": (email) => `User ${email} created.`,
    "users.saved.ok": (email) => `${email} saved.`,
    "users.deleted.ok": (email) => `${email} was deleted.`,
    "users.empty": "No users in this tenant yet.",
    "users.readOnly": "Your role can see the users but not change them.",
    "users.roleHelp.tenant_admin": "Everything in the tenant: users, settings, providers, flows.",
    "users.roleHelp.agent": "Answers conversations in the inbox.",
    "users.roleHelp.viewer": "Reads conversations and metrics; changes nothing.",
    "users.generate": "Suggest a password",
  },
  "pt-BR": {
    "users.title": "Usuários",
    "users.subtitle": (tenant) => `Pessoas que entram em ${tenant} e o que o perfil de cada uma permite.`,
    "users.new": "Novo usuário",
    "users.create": "Criar usuário",
    "users.filter": "Filtrar usuários desta página",
    "users.filterPlaceholder": "Filtrar por e-mail…",
    "users.roleFilter": "Perfil",
    "users.email": "E-mail",
    "users.role": "Perfil",
    "users.password": "Senha",
    "users.newPassword": "Nova senha",
    "users.passwordHint": "Pelo menos 12 caracteres.",
    "users.newPasswordHint": "Deixe vazio para manter a senha atual. Pelo menos 12 caracteres.",
    "users.signoutHint": "Mudar o perfil ou a senha desconecta este usuário de todos os dispositivos.",
    "users.created": "Criado em",
    "users.updated": "Atualizado em",
    "users.you": "você",
    "users.edit": "Editar",
    "users.editTitle": (email) => `Editar ${email}`,
    "users.save": "Salvar alterações",
    "users.delete": "Excluir",
    "users.deleteTitle": "Excluir este usuário?",
    "users.deleteText": (email) => `${email} é desconectado de todos os dispositivos e não consegue mais entrar. Não dá para desfazer.`,
    "users.created.ok": (email) => `Usuário ${email} criado.`,
    "users.saved.ok": (email) => `${email} salvo.`,
    "users.deleted.ok": (email) => `${email} foi excluído.`,
    "users.empty": "Nenhum usuário nesta organização ainda.",
    "users.readOnly": "Seu perfil pode ver os usuários, mas não alterá-los.",
    "users.roleHelp.tenant_admin": "Tudo na organização: usuários, configurações, provedores, fluxos.",
    "users.roleHelp.agent": "Responde às conversas na caixa de entrada.",
    "users.roleHelp.viewer": "Lê conversas e métricas; não altera nada.",
    "users.generate": "Sugerir uma senha",
  },
});

const ROLES = ["tenant_admin", "agent", "viewer"];
const PAGE_SIZE = 25;

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const canWrite = ctx.can("users.write");
  const tenantName = ctx.tenant ? ctx.tenant.name : tenantId;
  let text = "";
  let roleFilter = "";

  const roleSelect = h("select", { class: "adm-filter", "aria-label": t("users.roleFilter"), name: "role" },
    h("option", { value: "" }, t("admin.all")),
    ROLES.map((role) => h("option", { value: role }, t(`role.${role}`))));
  roleSelect.addEventListener("change", () => { roleFilter = roleSelect.value; table.rerender(); });
  const search = searchBox({ label: t("users.filter"), placeholder: t("users.filterPlaceholder"), name: "filter",
    onSearch: (value) => { text = value.toLowerCase(); table.rerender(); } });

  const table = cursorTable({
    className: "users-table",
    caption: t("users.title"),
    columns: [
      { label: t("users.email") },
      { label: t("users.role") },
      { label: t("users.created") },
      { label: t("users.updated") },
      canWrite ? { label: t("admin.actions"), className: "adm-col-actions" } : null,
    ].filter(Boolean),
    loadPage: (cursor) => api("GET", `/api/v1/tenants/${tenantId}/users`, { query: { limit: PAGE_SIZE, cursor }, signal: ctx.signal }),
    filter: (user) => (!text || String(user.email).toLowerCase().includes(text)) && (!roleFilter || user.role === roleFilter),
    emptyText: t("users.empty"),
    renderRow: (user) => {
      const self = user.id === ctx.me.id;
      return h("tr", { dataset: { userId: user.id, email: user.email } },
        h("td", {}, h("span", { class: "adm-strong" }, String(user.email)), self ? h("span", { class: "badge adm-you" }, t("users.you")) : null),
        h("td", {}, h("span", { class: ["adm-role", `adm-role-${user.role}`], dataset: { role: user.role } }, t(`role.${user.role}`))),
        h("td", { class: "adm-nowrap" }, when(user.created_at)),
        h("td", { class: "adm-nowrap" }, when(user.updated_at)),
        canWrite ? h("td", { class: "adm-col-actions" }, h("div", { class: "adm-row-actions" },
          h("button", { class: "button button-secondary button-small", type: "button", "data-write": "", dataset: { action: "edit" }, onclick: () => edit(user) }, t("users.edit")),
          self ? null : h("button", { class: "button button-small adm-button-danger-outline", type: "button", "data-write": "", dataset: { action: "delete" }, onclick: () => remove(user) }, t("users.delete")))) : null);
    },
  });

  function roleInput(current) {
    const select = h("select", { name: "role" }, ROLES.map((role) => h("option", { value: role }, t(`role.${role}`))));
    select.value = current;
    const help = h("p", { class: "field-hint" });
    const update = () => { help.textContent = t(`users.roleHelp.${select.value}`); };
    select.addEventListener("change", update);
    update();
    return { select, help };
  }

  function passwordInput(hint) {
    const input = h("input", { type: "password", autocomplete: "new-password", minlength: "12", maxlength: "128" });
    const wrap = field({ label: hint.label, name: "password", input, hint: hint.text });
    const reveal = h("button", { class: "button button-secondary button-small adm-inline-button", type: "button", onclick: () => {
      input.value = suggestPassword();
      input.type = "text";
      input.focus();
      input.select();
    } }, t("users.generate"));
    wrap.append(reveal);
    return { input, wrap };
  }

  async function create() {
    const email = h("input", { type: "email", autocomplete: "off", spellcheck: "false", autocapitalize: "off", maxlength: "254", required: true });
    const role = roleInput("agent");
    const password = passwordInput({ label: t("users.password"), text: t("users.passwordHint") });
    const roleField = field({ label: t("users.role"), name: "role", input: role.select });
    roleField.append(role.help);
    const created = await formDialog({
      title: t("users.new"),
      body: h("div", { class: "adm-dialog-grid" }, field({ label: t("users.email"), name: "email", input: email }), roleField, password.wrap),
      submitLabel: t("users.create"),
      conflicts: { email_taken: "email" },
      onSubmit: () => ctx.busy(api("POST", `/api/v1/tenants/${tenantId}/users`, {
        body: { email: email.value.trim(), role: role.select.value, password: password.input.value } })),
    });
    if (!created) return;
    toast(t("users.created.ok", created.email));
    table.reload();
  }

  async function edit(user) {
    const email = h("input", { type: "email", value: user.email, autocomplete: "off", spellcheck: "false", autocapitalize: "off", maxlength: "254" });
    const role = roleInput(user.role);
    const password = passwordInput({ label: t("users.newPassword"), text: t("users.newPasswordHint") });
    const roleField = field({ label: t("users.role"), name: "role", input: role.select });
    roleField.append(role.help);
    if (user.id === ctx.me.id) role.select.disabled = true;
    const saved = await formDialog({
      title: t("users.editTitle", user.email),
      body: h("div", { class: "adm-dialog-grid" },
        field({ label: t("users.email"), name: "email", input: email }), roleField, password.wrap,
        h("p", { class: "adm-note" }, t("users.signoutHint"))),
      submitLabel: t("users.save"),
      conflicts: { email_taken: "email" },
      onSubmit: () => {
        const body = {};
        if (email.value.trim() !== user.email) body.email = email.value.trim();
        if (role.select.value !== user.role) body.role = role.select.value;
        if (password.input.value) body.password = password.input.value;
        if (Object.keys(body).length === 0) return Promise.resolve(user);
        return ctx.busy(api("PATCH", `/api/v1/tenants/${tenantId}/users/${user.id}`, { body }));
      },
    });
    if (!saved) return;
    toast(t("users.saved.ok", saved.email));
    table.refresh();
  }

  async function remove(user) {
    const ok = await confirmDialog({ title: t("users.deleteTitle"), message: t("users.deleteText", user.email), confirm: t("users.delete"), danger: true });
    if (!ok) return;
    try {
      await ctx.busy(api("DELETE", `/api/v1/tenants/${tenantId}/users/${user.id}`));
      toast(t("users.deleted.ok", user.email));
      table.refresh();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  ctx.root.append(...[
    h("div", { class: "page-header" },
      h("div", { class: "adm-heading" }, h("h1", {}, t("users.title")), h("p", { class: "adm-lead" }, t("users.subtitle", tenantName))),
      canWrite ? h("button", { class: "button button-primary", type: "button", "data-write": "", dataset: { action: "create-user" }, onclick: create }, "+ ", t("users.new")) : null),
    canWrite ? null : h("p", { class: "adm-note adm-readonly" }, t("users.readOnly")),
    h("div", { class: "toolbar adm-toolbar" }, search, roleSelect),
    table.element].filter(Boolean));
}

/** 20 characters from an unambiguous alphabet, from the browser's CSPRNG. */
function suggestPassword() {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = new Uint8Array(20);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}
