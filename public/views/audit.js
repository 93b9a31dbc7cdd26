// A tenant's audit log, newest first: who changed what, when. The API pages it and offers no
// filters, so the action filter applies to the loaded page.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { addStrings, t, has } from "../lib/i18n.js";
import { cursorTable, searchBox, when } from "./tenants.js";

addStrings({
  en: {
    "audit.title": "Audit log",
    "audit.subtitle": (name) => `Who changed what in ${name}, newest first.`,
    "audit.time": "Time",
    "audit.actor": "Actor",
    "audit.action": "Action",
    "audit.target": "Target",
    "audit.details": "Details",
    "audit.system": "System",
    "audit.filter": "Filter this page",
    "audit.filterPlaceholder": "Filter by action, actor or target…",
    "audit.empty": "Nothing has been recorded for this tenant yet.",
    "audit.request": (id) => `Request ${id}`,
    "audit.action.auth.login": "Signed in",
    "audit.action.auth.logout": "Signed out",
    "audit.action.auth.refresh": "Session refreshed",
    "audit.action.customer.erase": "Customer erased",
    "audit.action.flow.create": "Flow created",
    "audit.action.flow.delete": "Flow deleted",
    "audit.action.flow.save": "Flow saved",
    "audit.action.flow.publish": "Flow published",
    "audit.action.flow.rollback": "Flow rolled back",
    "audit.action.provider.create": "Provider connected",
    "audit.action.provider.delete": "Provider removed",
    "audit.action.provider.update": "Provider updated",
    "audit.action.provider.test_message": "Test message sent",
    "audit.action.tenant.create": "Tenant created",
    "audit.action.tenant.delete": "Tenant deleted",
    "audit.action.tenant.update": "Tenant updated",
    "audit.action.user.create": "User created",
    "audit.action.user.delete": "User deleted",
    "audit.action.user.update": "User updated",
  },
  "pt-BR": {
    "audit.title": "Auditoria",
    "audit.subtitle": (name) => `Quem mudou o quê em ${name}, do mais recente ao mais antigo.`,
    "audit.time": "Quando",
    "audit.actor": "Quem",
    "audit.action": "Ação",
    "audit.target": "Alvo",
    "audit.details": "Detalhes",
    "audit.system": "Sistema",
    "audit.filter": "Filtrar esta página",
    "audit.filterPlaceholder": "Filtrar por ação, autor ou alvo…",
    "audit.empty": "Nada foi registrado para esta organização ainda.",
    "audit.request": (id) => `Requisição ${id}`,
    "audit.action.auth.login": "Entrou",
    "audit.action.auth.logout": "Saiu",
    "audit.action.auth.refresh": "Sessão renovada",
    "audit.action.customer.erase": "Cliente apagado",
    "audit.action.flow.create": "Fluxo criado",
    "audit.action.flow.delete": "Fluxo excluído",
    "audit.action.flow.save": "Fluxo salvo",
    "audit.action.flow.publish": "Fluxo publicado",
    "audit.action.flow.rollback": "Fluxo revertido",
    "audit.action.provider.create": "Provedor conectado",
    "audit.action.provider.delete": "Provedor removido",
    "audit.action.provider.update": "Provedor atualizado",
    "audit.action.provider.test_message": "Mensagem de teste enviada",
    "audit.action.tenant.create": "Organização criada",
    "audit.action.tenant.delete": "Organização excluída",
    "audit.action.tenant.update": "Organização atualizada",
    "audit.action.user.create": "Usuário criado",
    "audit.action.user.delete": "Usuário excluído",
    "audit.action.user.update": "Usuário atualizado",
  },
});

const PAGE_SIZE = 50;

function detailsText(details) {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details)
    .filter(([, v]) => v !== "" && v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v.replaceAll(",", ", ") : JSON.stringify(v)}`).join(" · ");
}

/** A UUID's first block (the whole id is in the title); other ids as they are. */
function shortId(id) {
  const text = String(id);
  return /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(text) ? `${text.slice(0, 8)}…` : text;
}

function actionGroup(action) {
  return String(action).split(".")[0] || "other";
}

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const tenantName = ctx.tenant ? ctx.tenant.name : tenantId;
  let text = "";

  const search = searchBox({ label: t("audit.filter"), placeholder: t("audit.filterPlaceholder"), name: "filter",
    onSearch: (value) => { text = value.toLowerCase(); table.rerender(); } });

  const matches = (e) => !text || [e.action, e.actor_email, e.target_type, e.target_id, detailsText(e.details),
    has(`audit.action.${e.action}`) ? t(`audit.action.${e.action}`) : ""].some((v) => v && String(v).toLowerCase().includes(text));

  const table = cursorTable({
    className: "audit-table",
    caption: t("audit.title"),
    columns: [
      { label: t("audit.time") },
      { label: t("audit.actor") },
      { label: t("audit.action") },
      { label: t("audit.target") },
      { label: t("audit.details") },
    ],
    loadPage: (cursor) => api("GET", `/api/v1/tenants/${tenantId}/audit-log`, { query: { limit: PAGE_SIZE, cursor }, signal: ctx.signal }),
    filter: matches,
    emptyText: t("audit.empty"),
    renderRow: (entry) => {
      const key = `audit.action.${entry.action}`;
      const details = detailsText(entry.details);
      return h("tr", { dataset: { action: entry.action, auditId: entry.id } },
        h("td", { class: "adm-nowrap" }, when(entry.created_at)),
        h("td", {}, entry.actor_email ? String(entry.actor_email) : h("span", { class: "adm-muted" }, entry.actor_id ? String(entry.actor_id) : t("audit.system"))),
        h("td", {},
          h("span", { class: ["adm-action", `adm-action-${actionGroup(entry.action)}`] }, has(key) ? t(key) : String(entry.action)),
          h("div", { class: "adm-sub mono" }, String(entry.action))),
        h("td", {},
          h("span", {}, String(entry.target_type)),
          entry.target_id ? h("div", { class: "adm-sub mono", title: String(entry.target_id) }, shortId(entry.target_id)) : null),
        h("td", { class: "adm-details-cell" },
          details ? h("span", { class: "adm-details-text" }, details) : h("span", { class: "adm-muted" }, "–"),
          entry.request_id ? h("div", { class: "adm-sub mono" }, t("audit.request", String(entry.request_id))) : null));
    },
  });

  ctx.root.append(
    h("div", { class: "page-header" },
      h("div", { class: "adm-heading" }, h("h1", {}, t("audit.title")), h("p", { class: "adm-lead" }, t("audit.subtitle", tenantName))),
      h("button", { class: "button button-secondary button-small", type: "button", onclick: () => table.reload() }, "↻ ", t("admin.refresh"))),
    h("div", { class: "toolbar adm-toolbar" }, search),
    table.element);
}
