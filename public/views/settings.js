// A tenant's settings as forms: name and time zone, and the `tools_config` sections the server
// reads (follow-ups, AI replies, debounce, webhook signing). Saving merges the form into the
// stored tools_config, so keys this page does not know are kept. Secrets are write-only: the
// server shows them masked (••••1234) and keeps the stored value when the masked form comes back.

import { h, uid } from "../lib/dom.js";
import { api, ProblemError } from "../lib/api.js";
import { addStrings, t } from "../lib/i18n.js";
import { field, loading, markFieldErrors, problemBox, toast } from "../lib/ui.js";
import { timezoneSelect, showFormError, statusPill } from "./tenants.js";

const DEFAULT_MESSAGE = "Hi {{customer_name}}, are you still there? Just reply to this message and we'll carry on.";

addStrings({
  en: {
    "settings.title": "Settings",
    "settings.subtitle": (name) => `How PyTake behaves for ${name}.`,
    "settings.general": "General",
    "settings.name": "Name",
    "settings.timezone": "Time zone",
    "settings.timezoneHint": "Metrics days, quiet hours and follow-up times use this zone.",
    "settings.slug": "Slug",
    "settings.followup": "Follow-ups",
    "settings.followupLead": "When a customer stops answering, PyTake can nudge them automatically.",
    "settings.followup.enabled": "Send follow-ups",
    "settings.followup.after": "Wait before each follow-up (hours)",
    "settings.followup.afterHint": "From 0.25 (15 minutes) to 720 hours, counted from the customer's last message.",
    "settings.followup.attempts": "Follow-ups per conversation",
    "settings.followup.attemptsHint": "From 1 to 10.",
    "settings.followup.message": "Message",
    "settings.followup.messageHint": "{{customer_name}} becomes the customer's name and {{attempt}} the follow-up number. Leave empty for the default message.",
    "settings.followup.insert": (token) => `Insert ${token}`,
    "settings.followup.quiet": "Quiet hours",
    "settings.followup.quietHint": (tz) => `No follow-up is sent in this window (${tz}); it may wrap past midnight, e.g. 22:00 to 08:00. Leave both empty to send at any hour.`,
    "settings.followup.quietFrom": "From",
    "settings.followup.quietRange": (a, b) => `${a} to ${b}`,
    "settings.followup.quietTo": "To",
    "settings.followup.template": "WhatsApp template (outside the 24-hour window)",
    "settings.followup.templateHint": "WhatsApp only accepts an approved template once the customer's last message is older than 24 hours. Leave the name empty to send no template.",
    "settings.followup.templateName": "Template name",
    "settings.followup.templateLanguage": "Language",
    "settings.followup.templateComponents": "Components (JSON, optional)",
    "settings.followup.componentsInvalid": "Components must be a JSON array or object.",
    "settings.followup.summaryOff": "Follow-ups are off.",
    "settings.followup.summary": (n, hours, quiet) => `Up to ${n} follow-up${n === 1 ? "" : "s"}, each ${hours} h after the customer's last message${quiet ? `, never from ${quiet}` : ""}.`,
    "settings.ai": "AI replies",
    "settings.aiLead": "The OpenAI-compatible endpoint used by the “AI reply” step of flows.",
    "settings.ai.baseUrl": "Base URL",
    "settings.ai.model": "Model",
    "settings.ai.key": "API key",
    "settings.ai.keyStored": (masked) => `A key is stored (${masked}). Type a new one to replace it.`,
    "settings.ai.keyNone": "No key stored.",
    "settings.ai.keyClear": "Remove the stored key",
    "settings.ai.prompt": "System prompt",
    "settings.bot": "Conversation",
    "settings.debounce": "Wait for the customer to stop typing (ms)",
    "settings.debounceHint": "0 to 60000. Messages sent in quick succession are answered together.",
    "settings.webhooks": "Outgoing webhooks",
    "settings.webhooksLead": "Signs the requests of the “Notify webhook” step.",
    "settings.webhooks.secret": "Signing secret",
    "settings.webhooks.secretHint": "16 to 256 characters.",
    "settings.webhooks.stored": (masked) => `A secret is stored (${masked}). Type a new one to replace it.`,
    "settings.webhooks.none": "No secret stored.",
    "settings.webhooks.clear": "Remove the stored secret",
    "settings.secretPlaceholder": "Type to replace",
    "settings.other": "Other settings",
    "settings.otherText": "Saving keeps these sections of tools_config exactly as they are:",
    "settings.save": "Save settings",
    "settings.discard": "Discard changes",
    "settings.dirty": "Unsaved changes",
    "settings.noChanges": "Nothing to save.",
    "settings.saved": "Settings saved.",
    "settings.readOnly": "Your role can read these settings but not change them.",
  },
  "pt-BR": {
    "settings.title": "Configurações",
    "settings.subtitle": (name) => `Como o PyTake funciona para ${name}.`,
    "settings.general": "Geral",
    "settings.name": "Nome",
    "settings.timezone": "Fuso horário",
    "settings.timezoneHint": "Os dias das métricas, o horário de silêncio e os follow-ups usam este fuso.",
    "settings.slug": "Slug",
    "settings.followup": "Follow-ups",
    "settings.followupLead": "Quando um cliente para de responder, o PyTake pode lembrá-lo automaticamente.",
    "settings.followup.enabled": "Enviar follow-ups",
    "settings.followup.after": "Espera antes de cada follow-up (horas)",
    "settings.followup.afterHint": "De 0,25 (15 minutos) a 720 horas, contadas da última mensagem do cliente.",
    "settings.followup.attempts": "Follow-ups por conversa",
    "settings.followup.attemptsHint": "De 1 a 10.",
    "settings.followup.message": "Mensagem",
    "settings.followup.messageHint": "{{customer_name}} vira o nome do cliente e {{attempt}} o número do follow-up. Deixe vazio para usar a mensagem padrão.",
    "settings.followup.insert": (token) => `Inserir ${token}`,
    "settings.followup.quiet": "Horário de silêncio",
    "settings.followup.quietHint": (tz) => `Nenhum follow-up é enviado nesta janela (${tz}); ela pode passar da meia-noite, por exemplo das 22:00 às 08:00. Deixe os dois vazios para enviar a qualquer hora.`,
    "settings.followup.quietFrom": "Das",
    "settings.followup.quietRange": (a, b) => `${a} e ${b}`,
    "settings.followup.quietTo": "Às",
    "settings.followup.template": "Modelo do WhatsApp (fora da janela de 24 horas)",
    "settings.followup.templateHint": "O WhatsApp só aceita um modelo aprovado depois de 24 horas da última mensagem do cliente. Deixe o nome vazio para não enviar modelo.",
    "settings.followup.templateName": "Nome do modelo",
    "settings.followup.templateLanguage": "Idioma",
    "settings.followup.templateComponents": "Componentes (JSON, opcional)",
    "settings.followup.componentsInvalid": "Os componentes devem ser um array ou objeto JSON.",
    "settings.followup.summaryOff": "Os follow-ups estão desligados.",
    "settings.followup.summary": (n, hours, quiet) => `Até ${n} follow-up${n === 1 ? "" : "s"}, cada um ${hours} h após a última mensagem do cliente${quiet ? `, nunca entre ${quiet}` : ""}.`,
    "settings.ai": "Respostas com IA",
    "settings.aiLead": "O endpoint compatível com OpenAI usado pela etapa “Resposta com IA” dos fluxos.",
    "settings.ai.baseUrl": "URL base",
    "settings.ai.model": "Modelo",
    "settings.ai.key": "Chave da API",
    "settings.ai.keyStored": (masked) => `Há uma chave guardada (${masked}). Digite outra para substituí-la.`,
    "settings.ai.keyNone": "Nenhuma chave guardada.",
    "settings.ai.keyClear": "Remover a chave guardada",
    "settings.ai.prompt": "Prompt de sistema",
    "settings.bot": "Conversa",
    "settings.debounce": "Esperar o cliente parar de digitar (ms)",
    "settings.debounceHint": "De 0 a 60000. Mensagens enviadas em sequência são respondidas juntas.",
    "settings.webhooks": "Webhooks de saída",
    "settings.webhooksLead": "Assina as requisições da etapa “Notificar webhook”.",
    "settings.webhooks.secret": "Segredo de assinatura",
    "settings.webhooks.secretHint": "De 16 a 256 caracteres.",
    "settings.webhooks.stored": (masked) => `Há um segredo guardado (${masked}). Digite outro para substituí-lo.`,
    "settings.webhooks.none": "Nenhum segredo guardado.",
    "settings.webhooks.clear": "Remover o segredo guardado",
    "settings.secretPlaceholder": "Digite para substituir",
    "settings.other": "Outras configurações",
    "settings.otherText": "Ao salvar, estas seções de tools_config são mantidas como estão:",
    "settings.save": "Salvar configurações",
    "settings.discard": "Descartar alterações",
    "settings.dirty": "Alterações não salvas",
    "settings.noChanges": "Nada para salvar.",
    "settings.saved": "Configurações salvas.",
    "settings.readOnly": "Seu perfil pode ler estas configurações, mas não alterá-las.",
  },
});

const KNOWN = new Set(["followup", "ai", "debounce_ms", "webhooks"]);

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (v === undefined || v === null ? "" : String(v));

/** The form's state from a tenant as the API returns it. */
function stateFrom(tenant) {
  const cfg = isObject(tenant.tools_config) ? tenant.tools_config : {};
  const fu = isObject(cfg.followup) ? cfg.followup : {};
  const quiet = isObject(fu.quiet_hours) ? fu.quiet_hours : {};
  const tpl = isObject(fu.template) ? fu.template : {};
  const ai = isObject(cfg.ai) ? cfg.ai : {};
  const wh = isObject(cfg.webhooks) ? cfg.webhooks : {};
  return {
    name: str(tenant.name),
    timezone: str(tenant.timezone) || "UTC",
    fuEnabled: fu.enabled === true,
    fuAfter: str(fu.after_hours),
    fuAttempts: str(fu.max_attempts),
    fuMessage: str(fu.message),
    fuQuietStart: str(quiet.start),
    fuQuietEnd: str(quiet.end),
    fuTplName: str(tpl.name),
    fuTplLanguage: str(tpl.language),
    fuTplComponents: tpl.components === undefined ? "" : JSON.stringify(tpl.components, null, 2),
    aiBaseUrl: str(ai.base_url),
    aiModel: str(ai.model),
    aiKey: "",
    aiKeyClear: false,
    aiPrompt: str(ai.system_prompt),
    debounce: str(cfg.debounce_ms),
    whSecret: "",
    whSecretClear: false,
  };
}

function number(text) {
  const trimmed = String(text).trim();
  if (trimmed === "") return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : trimmed;
}

function setOrDelete(obj, key, value) {
  if (value === undefined || value === "") delete obj[key];
  else obj[key] = value;
}

function fieldError(field, message) {
  return new ProblemError({ status: 422, code: "validation_failed", title: "Unprocessable", detail: message, errors: [{ field, message }], problems: [] });
}

/** tools_config with the form merged in; keys the form does not know are kept as they were. */
function buildToolsConfig(state, base) {
  const cfg = structuredClone(isObject(base) ? base : {});

  const hadFollowup = isObject(cfg.followup);
  const fu = hadFollowup ? { ...cfg.followup } : {};
  fu.enabled = state.fuEnabled;
  setOrDelete(fu, "after_hours", number(state.fuAfter));
  setOrDelete(fu, "max_attempts", number(state.fuAttempts));
  setOrDelete(fu, "message", state.fuMessage.trim() ? state.fuMessage : undefined);
  if (state.fuQuietStart || state.fuQuietEnd) fu.quiet_hours = { start: state.fuQuietStart, end: state.fuQuietEnd };
  else delete fu.quiet_hours;
  if (state.fuTplName.trim()) {
    const tpl = isObject(fu.template) ? { ...fu.template } : {};
    tpl.name = state.fuTplName.trim();
    setOrDelete(tpl, "language", state.fuTplLanguage.trim() || undefined);
    if (state.fuTplComponents.trim()) {
      let components;
      try { components = JSON.parse(state.fuTplComponents); } catch { components = undefined; }
      if (!Array.isArray(components) && !isObject(components)) {
        throw fieldError("tools_config.followup.template", t("settings.followup.componentsInvalid"));
      }
      tpl.components = components;
    } else {
      delete tpl.components;
    }
    fu.template = tpl;
  } else {
    delete fu.template;
  }
  const followupUsed = hadFollowup || state.fuEnabled || Object.keys(fu).some((k) => k !== "enabled");
  if (followupUsed) cfg.followup = fu;

  const ai = isObject(cfg.ai) ? { ...cfg.ai } : {};
  setOrDelete(ai, "base_url", state.aiBaseUrl.trim() || undefined);
  setOrDelete(ai, "model", state.aiModel.trim() || undefined);
  setOrDelete(ai, "system_prompt", state.aiPrompt.trim() ? state.aiPrompt : undefined);
  if (state.aiKeyClear) delete ai.key;
  else if (state.aiKey) ai.key = state.aiKey;
  if (Object.keys(ai).length > 0 || isObject(cfg.ai) && Object.keys(cfg.ai).length === 0) cfg.ai = ai;
  else delete cfg.ai;

  setOrDelete(cfg, "debounce_ms", number(state.debounce));

  const wh = isObject(cfg.webhooks) ? { ...cfg.webhooks } : {};
  if (state.whSecretClear) delete wh.secret;
  else if (state.whSecret) wh.secret = state.whSecret;
  if (Object.keys(wh).length > 0) cfg.webhooks = wh;
  else delete cfg.webhooks;
  return cfg;
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (isObject(value)) return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  return value;
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const canWrite = ctx.can("tenant.write");
  const header = h("div", { class: "page-header" });
  const body = h("div", { class: "settings-body" }, loading());
  ctx.root.append(header, body);

  let tenant;
  try {
    tenant = await api("GET", `/api/v1/tenants/${tenantId}`, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) return;
    renderHeader(null);
    body.replaceChildren(problemBox(error, { onRetry: () => ctx.navigate(location.hash) }));
    return;
  }

  let inputs = {};
  let form = null;

  function renderHeader(current) {
    header.replaceChildren(
      h("div", { class: "adm-heading" },
        h("div", { class: "adm-title-row" }, h("h1", {}, t("settings.title")),
          current ? statusPill(current.status, t(`tenants.status.${current.status}`)) : null),
        current ? h("p", { class: "adm-lead" }, t("settings.subtitle", current.name)) : null));
  }

  function readState() {
    const st = {};
    for (const [key, el] of Object.entries(inputs)) st[key] = el.type === "checkbox" ? el.checked : el.value;
    return st;
  }

  function section(title, lead, ...children) {
    const id = uid("sec");
    return h("section", { class: "section adm-settings-section", "aria-labelledby": id },
      h("h2", { id }, title),
      lead ? h("p", { class: "adm-section-lead" }, lead) : null,
      children);
  }

  function secretBlock({ key, clearKey, stored, label, hint, fieldName, storedText, noneText, clearText }) {
    const input = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false", placeholder: stored ? t("settings.secretPlaceholder") : "", value: "" });
    inputs[key] = input;
    const status = h("p", { class: "adm-secret-status", dataset: { secretStatus: key } }, stored ? storedText(stored) : noneText);
    const parts = [field({ label, name: fieldName, input, hint }), status];
    if (stored) {
      const clear = h("input", { type: "checkbox", name: `${fieldName}.clear` });
      inputs[clearKey] = clear;
      clear.addEventListener("change", () => { input.disabled = clear.checked || !canWrite; });
      parts.push(h("label", { class: "adm-check" }, clear, " ", clearText));
    }
    return h("div", { class: "adm-secret" }, parts);
  }

  function render(draft) {
    const st = { ...stateFrom(tenant), ...draft };
    renderHeader(tenant);
    inputs = {};
    const cfg = isObject(tenant.tools_config) ? tenant.tools_config : {};
    const text = (key, attrs = {}) => (inputs[key] = h("input", { type: "text", value: st[key], ...attrs }));
    const area = (key, attrs = {}) => (inputs[key] = h("textarea", { ...attrs }, st[key]));

    // General
    const tz = timezoneSelect(st.timezone);
    inputs.timezone = tz;
    const general = section(t("settings.general"), null,
      h("div", { class: "grid-form" },
        field({ label: t("settings.name"), name: "name", input: text("name", { maxlength: "200", autocomplete: "off" }) }),
        field({ label: t("settings.timezone"), name: "timezone", input: tz, hint: t("settings.timezoneHint") }),
        h("div", { class: "field adm-readonly-field" }, h("span", { class: "adm-label" }, t("settings.slug")), h("span", { class: "mono adm-slug" }, String(tenant.slug)))));

    // Follow-ups
    const enabled = h("input", { type: "checkbox", name: "tools_config.followup.enabled", checked: st.fuEnabled, class: "adm-switch" });
    inputs.fuEnabled = enabled;
    const message = area("fuMessage", { rows: "3", maxlength: "4096", placeholder: DEFAULT_MESSAGE });
    const tokens = h("div", { class: "adm-token-buttons" }, ["{{customer_name}}", "{{attempt}}"].map((token) =>
      h("button", { class: "button button-secondary button-small", type: "button", title: t("settings.followup.insert", token), onclick: () => insertAt(message, token) }, token)));
    const quietStart = inputs.fuQuietStart = h("input", { type: "time", value: st.fuQuietStart, name: "tools_config.followup.quiet_hours.start" });
    const quietEnd = inputs.fuQuietEnd = h("input", { type: "time", value: st.fuQuietEnd, name: "tools_config.followup.quiet_hours.end" });
    const quietHint = uid("hint");
    quietStart.setAttribute("aria-describedby", quietHint);
    const summary = h("p", { class: "adm-policy-summary", "aria-live": "polite" });
    const templateOpen = Boolean(st.fuTplName || st.fuTplComponents);
    const followup = section(t("settings.followup"), t("settings.followupLead"),
      h("div", { class: "field adm-switch-field", dataset: { field: "tools_config.followup.enabled" } },
        h("label", { class: "adm-check adm-check-strong" }, enabled, " ", t("settings.followup.enabled")),
        h("p", { class: "field-error", "aria-live": "polite" })),
      summary,
      h("div", { class: "grid-form" },
        field({ label: t("settings.followup.after"), name: "tools_config.followup.after_hours", hint: t("settings.followup.afterHint"),
          input: text("fuAfter", { type: "number", min: "0.25", max: "720", step: "0.25", inputmode: "decimal", placeholder: "24" }) }),
        field({ label: t("settings.followup.attempts"), name: "tools_config.followup.max_attempts", hint: t("settings.followup.attemptsHint"),
          input: text("fuAttempts", { type: "number", min: "1", max: "10", step: "1", inputmode: "numeric", placeholder: "1" }) }),
        h("fieldset", { class: "field adm-fieldset", dataset: { field: "tools_config.followup.quiet_hours" } },
          h("legend", {}, t("settings.followup.quiet")),
          h("div", { class: "adm-inline-inputs" },
            h("label", {}, h("span", {}, t("settings.followup.quietFrom")), quietStart),
            h("label", {}, h("span", {}, t("settings.followup.quietTo")), quietEnd)),
          h("p", { class: "field-hint", id: quietHint }, t("settings.followup.quietHint", st.timezone.replaceAll("_", " "))),
          h("p", { class: "field-error", "aria-live": "polite" }))),
      h("div", { class: "adm-wide" },
        field({ label: t("settings.followup.message"), name: "tools_config.followup.message", input: message, hint: t("settings.followup.messageHint") }),
        tokens),
      h("details", { class: "adm-details", open: templateOpen },
        h("summary", {}, t("settings.followup.template")),
        h("fieldset", { class: "field adm-fieldset adm-template", dataset: { field: "tools_config.followup.template" } },
          h("legend", { class: "visually-hidden" }, t("settings.followup.template")),
          h("p", { class: "field-hint" }, t("settings.followup.templateHint")),
          h("div", { class: "grid-form" },
            labelled(t("settings.followup.templateName"), text("fuTplName", { name: "tools_config.followup.template.name", maxlength: "512", autocomplete: "off", class: "mono" })),
            labelled(t("settings.followup.templateLanguage"), text("fuTplLanguage", { name: "tools_config.followup.template.language", maxlength: "8", placeholder: "pt_BR", class: "mono" }))),
          labelled(t("settings.followup.templateComponents"), area("fuTplComponents", { name: "tools_config.followup.template.components", rows: "4", class: "mono", spellcheck: "false", placeholder: '[{"type": "body", "parameters": [{"type": "text", "text": "{{customer_name}}"}]}]' })),
          h("p", { class: "field-error", "aria-live": "polite" }))));
    const updateSummary = () => {
      summary.textContent = enabled.checked
        ? t("settings.followup.summary", Number(inputs.fuAttempts.value) || 1, inputs.fuAfter.value || "24",
          quietStart.value && quietEnd.value ? t("settings.followup.quietRange", quietStart.value, quietEnd.value) : "")
        : t("settings.followup.summaryOff");
      followup.classList.toggle("adm-off", !enabled.checked);
    };

    // AI
    const ai = isObject(cfg.ai) ? cfg.ai : {};
    const aiSection = section(t("settings.ai"), t("settings.aiLead"),
      h("div", { class: "grid-form" },
        field({ label: t("settings.ai.baseUrl"), name: "tools_config.ai.base_url", input: text("aiBaseUrl", { type: "url", placeholder: "https://api.openai.com/v1", autocomplete: "off", spellcheck: "false" }) }),
        field({ label: t("settings.ai.model"), name: "tools_config.ai.model", input: text("aiModel", { placeholder: "gpt-4o-mini", autocomplete: "off", spellcheck: "false" }) }),
        secretBlock({ key: "aiKey", clearKey: "aiKeyClear", stored: typeof ai.key === "string" ? ai.key : null, label: t("settings.ai.key"),
          fieldName: "tools_config.ai.key", storedText: (m) => t("settings.ai.keyStored", m), noneText: t("settings.ai.keyNone"), clearText: t("settings.ai.keyClear") })),
      h("div", { class: "adm-wide" },
        field({ label: t("settings.ai.prompt"), name: "tools_config.ai.system_prompt", input: area("aiPrompt", { rows: "4", maxlength: "8000" }) })));

    // Conversation + webhooks
    const wh = isObject(cfg.webhooks) ? cfg.webhooks : {};
    const bot = section(t("settings.bot"), null,
      h("div", { class: "grid-form" },
        field({ label: t("settings.debounce"), name: "tools_config.debounce_ms", hint: t("settings.debounceHint"),
          input: text("debounce", { type: "number", min: "0", max: "60000", step: "100", inputmode: "numeric", placeholder: "0" }) })));
    const hooks = section(t("settings.webhooks"), t("settings.webhooksLead"),
      h("div", { class: "grid-form" },
        secretBlock({ key: "whSecret", clearKey: "whSecretClear", stored: typeof wh.secret === "string" ? wh.secret : null, label: t("settings.webhooks.secret"),
          hint: t("settings.webhooks.secretHint"), fieldName: "tools_config.webhooks.secret", storedText: (m) => t("settings.webhooks.stored", m),
          noneText: t("settings.webhooks.none"), clearText: t("settings.webhooks.clear") })));

    const others = Object.keys(cfg).filter((k) => !KNOWN.has(k)).sort();
    const other = others.length ? section(t("settings.other"), null,
      h("p", { class: "adm-section-lead" }, t("settings.otherText"), " ", others.map((k, i) => [i ? ", " : "", h("code", {}, k)]))) : null;

    const slot = h("div", { class: "adm-form-problem" });
    const state = h("span", { class: "adm-dirty", "aria-live": "polite" });
    const saveButton = h("button", { class: "button button-primary", type: "submit", "data-write": "", dataset: { action: "save-settings" } }, t("settings.save"));
    const discard = h("button", { class: "button button-secondary", type: "button", onclick: () => { render(stateFrom(tenant)); } }, t("settings.discard"));
    const bar = canWrite ? h("div", { class: "adm-savebar" }, state, discard, saveButton) : null;

    form = h("form", { class: "adm-settings-form", novalidate: true },
      canWrite ? null : h("p", { class: "adm-note adm-readonly" }, t("settings.readOnly")),
      slot, general, followup, aiSection, h("div", { class: "adm-settings-pair" }, bot, hooks), other, bar);

    const setDirty = (value) => {
      discard.hidden = !value;
      state.textContent = value ? t("settings.dirty") : "";
      state.classList.toggle("adm-dirty-on", value);
      if (bar) bar.classList.toggle("adm-savebar-dirty", value);
    };
    setDirty(!same(st, stateFrom(tenant)));
    form.addEventListener("input", () => { setDirty(true); updateSummary(); });
    form.addEventListener("change", () => { setDirty(true); updateSummary(); });
    updateSummary();

    if (!canWrite) for (const el of form.querySelectorAll("input, select, textarea, .adm-token-buttons button")) el.disabled = true;

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!canWrite || saveButton.disabled) return;
      slot.replaceChildren();
      const current = readState();
      const patch = {};
      try {
        if (current.name.trim() !== tenant.name) patch.name = current.name.trim();
        if (current.timezone !== tenant.timezone) patch.timezone = current.timezone;
        const next = buildToolsConfig(current, tenant.tools_config);
        if (!same(next, tenant.tools_config)) patch.tools_config = next;
      } catch (error) {
        showFormError(form, slot, error);
        return;
      }
      if (Object.keys(patch).length === 0) {
        markFieldErrors(form, null);
        toast(t("settings.noChanges"));
        setDirty(false);
        return;
      }
      saveButton.disabled = true;
      saveButton.setAttribute("aria-busy", "true");
      try {
        tenant = await ctx.busy(api("PATCH", `/api/v1/tenants/${tenantId}`, { body: patch }));
        toast(t("settings.saved"));
        render(stateFrom(tenant));
        if (patch.name || patch.timezone) await ctx.refreshTenants();
      } catch (error) {
        saveButton.disabled = false;
        saveButton.removeAttribute("aria-busy");
        showFormError(form, slot, error);
      }
    });

    body.replaceChildren(form);
  }

  render(stateFrom(tenant));
  ctx.keepOnLanguageChange(() => render(readState()));
  ctx.setTitle(`${t("settings.title")} · ${tenant.name}`);
}

function labelled(label, input) {
  input.id = input.id || uid("f");
  return h("div", { class: "adm-sub-field" }, h("label", { for: input.id }, label), input);
}

function insertAt(textarea, token) {
  if (textarea.disabled) return;
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  textarea.setRangeText(token, start, end, "end");
  textarea.focus();
  textarea.dispatchEvent(new Event("input", { bubbles: true }));
}
