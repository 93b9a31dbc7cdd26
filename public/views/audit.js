// A tenant's audit log, newest first. The API has no filters: the text filter works on the loaded page.

import { h } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t, has } from "../lib/i18n.js";
import { strings, el, btn, heading, toolbar, cursorTable, searchBox, when, sub, muted } from "./admin-common.js";

strings("audit", `
lead|Who changed what in {}.|Quem mudou o quê em {}.
time|Time|Quando
actor|Actor|Quem
action|Action|Ação
target|Target|Alvo
details|Details|Detalhes
system|System|Sistema
filter|Filter…|Filtrar…
request|Request {}|Requisição {}
`);

// Known actions; others show as they are.
strings("act", `
auth.login|Signed in|Entrou
auth.logout|Signed out|Saiu
auth.refresh|Session refreshed|Sessão renovada
customer.erase|Customer erased|Cliente apagado
flow.create|Flow created|Fluxo criado
flow.delete|Flow deleted|Fluxo excluído
flow.save|Flow saved|Fluxo salvo
flow.publish|Flow published|Fluxo publicado
flow.rollback|Flow rolled back|Fluxo revertido
provider.create|Provider connected|Provedor conectado
provider.delete|Provider removed|Provedor removido
provider.update|Provider updated|Provedor atualizado
provider.test_message|Test message sent|Mensagem de teste enviada
tenant.create|Tenant created|Organização criada
tenant.delete|Tenant deleted|Organização excluída
tenant.update|Tenant updated|Organização atualizada
user.create|User created|Usuário criado
user.delete|User deleted|Usuário excluído
user.update|User updated|Usuário atualizado
`);
const label = (a) => (has(`act.${a}`) ? t(`act.${a}`) : String(a));
const detailsText = (d) => Object.entries(d || {}).filter(([, v]) => v !== "" && v != null)
  .map(([k, v]) => `${k}: ${typeof v === "string" ? v.replaceAll(",", ", ") : JSON.stringify(v)}`).join(" · ");
const mono = (text, title) => sub(el("span.mono", { title }, text));

export default async function mount(ctx) {
  const tid = ctx.params.tenantId;
  let text = "";
  const table = cursorTable({
    name: "audit",
    columns: ["time", "actor", "action", "target", "details"].map((c) => t(`audit.${c}`)),
    loadPage: (cursor) => api("GET", `/api/v1/tenants/${tid}/audit-log`, { query: { limit: 50, cursor }, signal: ctx.signal }),
    filter: (e) => [e.action, label(e.action), e.actor_email, e.target_type, e.target_id, detailsText(e.details)].some((v) => v && String(v).toLowerCase().includes(text)),
    emptyText: "ui.empty",
    renderRow: (e) => {
      const target = e.target_id && String(e.target_id);
      return h("tr", { dataset: { action: e.action, auditId: e.id } },
        el("td.adm-nowrap", when(e.created_at)),
        h("td", e.actor_email || muted(e.actor_id || t("audit.system"))),
        el(`td.adm-strong.adm-act-${String(e.action).split(".")[0]}`, label(e.action), mono(e.action)),
        h("td", e.target_type, target && mono(/^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(target) ? `${target.slice(0, 8)}…` : target, target)),
        el("td.adm-wrap", detailsText(e.details) || muted(), e.request_id && mono(t("audit.request", e.request_id))));
    },
  });

  ctx.root.append(
    heading(t("nav.audit"), t("audit.lead", ctx.tenant?.name ?? tid), btn(t("admin.refresh"), table.reload)),
    toolbar(searchBox(t("audit.filter"), (v) => { text = v.toLowerCase(); table.rerender(); })),
    table.element);
}
