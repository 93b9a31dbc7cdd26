// Flows of a tenant (#/tenants/:tenantId/flows): the list with each flow's published version and
// draft problems; create, import from a JSON file, export, delete; each opens in the builder.

import { api } from "../lib/api.js";
import { h, replace, formatDateTime } from "../lib/dom.js";
import { addStrings, t, lang } from "../lib/i18n.js";
import { problemBox, loading, empty, toast, confirmDialog, field, markFieldErrors, errorText } from "../lib/ui.js";
import { parseImport, readFile, exportDoc, downloadJSON, fileSlug } from "./builder-model.js";
import "./builder-strings.js";

addStrings({
  en: {
    "flows.title": "Flows",
    "flows.subtitle": "Conversation flows answer customers on WhatsApp. Edit a draft, test it, publish it.",
    "flows.new": "New flow",
    "flows.import": "Import JSON",
    "flows.name": "Name",
    "flows.trigger": "Starts",
    "flows.keywords": "Keywords",
    "flows.keywordsHint": "Separated by commas.",
    "flows.pattern": "Regular expression",
    "flows.create": "Create and open",
    "flows.cancel": "Cancel",
    "flows.creating": "Creating…",
    "flows.col.name": "Name",
    "flows.col.trigger": "Trigger",
    "flows.col.status": "Status",
    "flows.col.updated": "Updated",
    "flows.col.actions": "Actions",
    "flows.trigger.default": "Default flow",
    "flows.trigger.keywords": (k) => `Keywords: ${k}`,
    "flows.trigger.regex": (p) => `Matches /${p}/`,
    "flows.live": (v) => `Live · v${v}`,
    "flows.draftOnly": "Never published",
    "flows.problems": (n) => `${n} ${n === 1 ? "problem" : "problems"}`,
    "flows.ready": "Draft ready",
    "flows.nodes": (n) => `${n} ${n === 1 ? "node" : "nodes"}`,
    "flows.open": "Open",
    "flows.view": "View",
    "flows.export": "Export",
    "flows.delete": "Delete",
    "flows.deleteTitle": (name) => `Delete “${name}”?`,
    "flows.deleteMessage": "The flow and its draft are removed. Conversations already running a published version finish with it.",
    "flows.deleted": (name) => `“${name}” was deleted.`,
    "flows.empty": "No flows yet. Create one, or import a flow exported as JSON.",
    "flows.emptyReadOnly": "This tenant has no flows yet.",
    "flows.imported": (name) => `Imported “${name}”.`,
    "flows.importFailed": (m) => `The file could not be imported: ${m}`,
    "flows.more": "Load more",
    "flows.nameRequired": "Enter a name.",
  },
  "pt-BR": {
    "flows.title": "Fluxos",
    "flows.subtitle": "Os fluxos de conversa atendem os clientes no WhatsApp. Edite um rascunho, teste e publique.",
    "flows.new": "Novo fluxo",
    "flows.import": "Importar JSON",
    "flows.name": "Nome",
    "flows.trigger": "Começa",
    "flows.keywords": "Palavras-chave",
    "flows.keywordsHint": "Separadas por vírgulas.",
    "flows.pattern": "Expressão regular",
    "flows.create": "Criar e abrir",
    "flows.cancel": "Cancelar",
    "flows.creating": "Criando…",
    "flows.col.name": "Nome",
    "flows.col.trigger": "Gatilho",
    "flows.col.status": "Situação",
    "flows.col.updated": "Atualizado",
    "flows.col.actions": "Ações",
    "flows.trigger.default": "Fluxo padrão",
    "flows.trigger.keywords": (k) => `Palavras-chave: ${k}`,
    "flows.trigger.regex": (p) => `Corresponde a /${p}/`,
    "flows.live": (v) => `No ar · v${v}`,
    "flows.draftOnly": "Nunca publicado",
    "flows.problems": (n) => `${n} ${n === 1 ? "problema" : "problemas"}`,
    "flows.ready": "Rascunho pronto",
    "flows.nodes": (n) => `${n} ${n === 1 ? "nó" : "nós"}`,
    "flows.open": "Abrir",
    "flows.view": "Ver",
    "flows.export": "Exportar",
    "flows.delete": "Excluir",
    "flows.deleteTitle": (name) => `Excluir “${name}”?`,
    "flows.deleteMessage": "O fluxo e o rascunho são removidos. As conversas que já usam uma versão publicada terminam com ela.",
    "flows.deleted": (name) => `“${name}” foi excluído.`,
    "flows.empty": "Ainda não há fluxos. Crie um ou importe um fluxo exportado em JSON.",
    "flows.emptyReadOnly": "Esta organização ainda não tem fluxos.",
    "flows.imported": (name) => `“${name}” foi importado.`,
    "flows.importFailed": (m) => `Não foi possível importar o arquivo: ${m}`,
    "flows.more": "Carregar mais",
    "flows.nameRequired": "Informe um nome.",
  },
});

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}/flows`;
  const canWrite = ctx.can("flows.write");
  const builderHash = (id) => `#/tenants/${encodeURIComponent(tenantId)}/flows/${encodeURIComponent(id)}`;
  ctx.setTitle(t("flows.title"));

  const fileInput = h("input", { type: "file", accept: "application/json,.json", hidden: true, id: "flows-import-file" });
  const createHost = h("div", { class: "flows-create-host" });
  const listHost = h("div", { class: "flows-list", id: "flows-list" });
  const header = h("div", { class: "page-header flows-header" },
    h("div", { class: "flows-heading" }, h("h1", {}, t("flows.title")), h("p", { class: "flows-subtitle" }, t("flows.subtitle"))),
    canWrite ? h("div", { class: "toolbar" },
      h("button", { type: "button", class: "button button-secondary button-small flows-btn", id: "flows-import", "data-write": "", onclick: () => fileInput.click() }, t("flows.import")),
      h("button", { type: "button", class: "button button-primary button-small flows-btn", id: "flows-new", "data-write": "", onclick: () => showCreate() }, t("flows.new"))) : null);
  replace(ctx.root, header, createHost, listHost, fileInput);

  // ---------------------------------------------------------------- create

  function showCreate() {
    if (createHost.firstChild) { createHost.querySelector("input").focus(); return; }
    const name = h("input", { type: "text", id: "flows-name", maxlength: 200, required: true, autocomplete: "off" });
    const type = h("select", { id: "flows-trigger" }, ["default", "keywords", "regex"].map((v) => h("option", { value: v }, t(`builder.enum.type.${v}`))));
    const keywords = h("input", { type: "text", id: "flows-keywords", autocomplete: "off" });
    const pattern = h("input", { type: "text", id: "flows-pattern", autocomplete: "off", spellcheck: "false" });
    const kwField = field({ label: t("flows.keywords"), name: "trigger.keywords", input: keywords, hint: t("flows.keywordsHint") });
    const patField = field({ label: t("flows.pattern"), name: "trigger.pattern", input: pattern });
    const sync = () => { kwField.hidden = type.value !== "keywords"; patField.hidden = type.value !== "regex"; };
    type.addEventListener("change", sync);
    sync();
    const submit = h("button", { type: "submit", class: "button button-primary button-small flows-btn", id: "flows-create", "data-write": "" }, t("flows.create"));
    const errorHost = h("div");
    const form = h("form", { class: "section flows-create", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      errorHost.replaceChildren();
      if (!name.value.trim()) {
        markFieldErrors(form, null);
        name.setAttribute("aria-invalid", "true");
        form.querySelector('[data-field="name"] .field-error').textContent = t("flows.nameRequired");
        name.focus();
        return;
      }
      const trigger = { type: type.value };
      if (type.value === "keywords") trigger.keywords = keywords.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (type.value === "regex") trigger.pattern = pattern.value;
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      try {
        const flow = await ctx.busy(api("POST", base, { body: { name: name.value.trim(), trigger } }));
        ctx.navigate(builderHash(flow.id));
      } catch (error) {
        const unmatched = markFieldErrors(form, error);
        if (error && error.code === "flow_name_taken") {
          name.setAttribute("aria-invalid", "true");
          form.querySelector('[data-field="name"] .field-error').textContent = errorText(error);
        } else if (!(error && error.problem && error.problem.errors && error.problem.errors.length) || unmatched.length) {
          errorHost.replaceChildren(problemBox(error));
        }
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
      }
    } },
      h("h2", {}, t("flows.new")),
      h("div", { class: "grid-form" },
        field({ label: t("flows.name"), name: "name", input: name }),
        field({ label: t("flows.trigger"), name: "trigger", input: type }),
        kwField, patField),
      errorHost,
      h("div", { class: "toolbar flows-create-actions" }, submit,
        h("button", { type: "button", class: "button button-secondary button-small flows-btn", onclick: () => createHost.replaceChildren() }, t("flows.cancel"))));
    createHost.replaceChildren(form);
    name.focus();
  }

  // ---------------------------------------------------------------- import

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    let parsed;
    try {
      parsed = parseImport(await readFile(file));
    } catch (error) {
      toast(t("flows.importFailed", error.message), "error");
      return;
    }
    const stem = parsed.name || file.name.replace(/\.flow\.json$|\.json$/i, "") || "Imported flow";
    const body = { name: stem, definition: parsed.definition };
    if (parsed.trigger) body.trigger = parsed.trigger;
    if (parsed.test_cases) body.test_cases = parsed.test_cases;
    for (let attempt = 1; attempt <= 6; attempt++) {
      body.name = attempt === 1 ? stem : `${stem} (${attempt})`.slice(0, 200);
      try {
        const flow = await ctx.busy(api("POST", base, { body }));
        toast(t("flows.imported", flow.name));
        ctx.navigate(builderHash(flow.id));
        return;
      } catch (error) {
        if (error && error.code === "flow_name_taken" && attempt < 6) continue;
        toast(t("flows.importFailed", errorText(error)), "error");
        return;
      }
    }
  });

  // ---------------------------------------------------------------- list

  function triggerText(trigger) {
    const tr = trigger || { type: "default" };
    if (tr.type === "keywords") return t("flows.trigger.keywords", (tr.keywords || []).join(", "));
    if (tr.type === "regex") return t("flows.trigger.regex", tr.pattern || "");
    return t("flows.trigger.default");
  }

  function row(flow) {
    const problems = (flow.problems || []).length;
    const nodes = flow.definition && Array.isArray(flow.definition.nodes) ? flow.definition.nodes.length : 0;
    const tr = h("tr", { dataset: { flowId: flow.id } },
      h("td", {}, h("a", { href: builderHash(flow.id), class: "flows-name" }, flow.name), h("div", { class: "flows-sub" }, t("flows.nodes", nodes))),
      h("td", { class: "flows-trigger" }, triggerText(flow.trigger)),
      h("td", {},
        flow.published_version ? h("span", { class: "status", dataset: { published: flow.published_version } }, t("flows.live", flow.published_version)) : h("span", { class: "status status-muted" }, t("flows.draftOnly")),
        " ",
        problems ? h("span", { class: "status status-bad flows-problems" }, t("flows.problems", problems)) : h("span", { class: "status status-muted" }, t("flows.ready"))),
      h("td", { class: "flows-updated" }, formatDateTime(flow.updated_at, lang())),
      h("td", { class: "flows-actions" },
        h("a", { href: builderHash(flow.id), class: "button button-secondary button-small flows-btn" }, canWrite ? t("flows.open") : t("flows.view")),
        h("button", { type: "button", class: "button button-secondary button-small flows-btn", onclick: () => downloadJSON(exportDoc({ ...flow, test_cases: flow.test_cases || [] }), `${fileSlug(flow.name)}.flow.json`) }, t("flows.export")),
        canWrite ? h("button", { type: "button", class: "button button-secondary button-small flows-btn flows-delete", "data-write": "", dataset: { action: "delete" }, onclick: () => remove(flow, tr) }, t("flows.delete")) : null));
    return tr;
  }

  async function remove(flow, tr) {
    const ok = await confirmDialog({ title: t("flows.deleteTitle", flow.name), message: t("flows.deleteMessage"), confirm: t("flows.delete"), danger: true });
    if (!ok) return;
    try {
      await ctx.busy(api("DELETE", `${base}/${encodeURIComponent(flow.id)}`));
      tr.remove();
      toast(t("flows.deleted", flow.name));
      if (!listHost.querySelector("tbody tr")) load();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  async function load() {
    replace(listHost, loading());
    const tbody = h("tbody");
    const footer = h("div", { class: "paged-footer" });
    let cursor = null;
    async function page() {
      const data = await api("GET", base, { query: { limit: 50, cursor }, signal: ctx.signal });
      tbody.append(...(data.items || []).map(row));
      cursor = data.next_cursor || null;
      footer.replaceChildren(cursor ? h("button", { type: "button", class: "button button-secondary button-small flows-btn", onclick: async (e) => {
        e.currentTarget.disabled = true;
        try { await page(); } catch (error) { footer.replaceChildren(problemBox(error, { onRetry: page })); }
      } }, t("flows.more")) : "");
      return data;
    }
    try {
      const first = await page();
      if (ctx.signal.aborted) return;
      if (!(first.items || []).length) {
        replace(listHost, empty(canWrite ? t("flows.empty") : t("flows.emptyReadOnly")));
        return;
      }
      replace(listHost, h("table", { class: "data flows-table" },
        h("thead", {}, h("tr", {}, ["name", "trigger", "status", "updated", "actions"].map((c) => h("th", { scope: "col", class: c === "actions" ? "flows-actions" : null }, t(`flows.col.${c}`))))),
        tbody), footer);
    } catch (error) {
      if (ctx.signal.aborted) return;
      replace(listHost, problemBox(error, { onRetry: load }));
    }
  }

  await load();
}
