// A tenant's settings. Saving merges the form into the stored tools_config, so keys this page does
// not know are kept. Secrets come back masked (••••1234); sending the mask keeps the stored value.

import { h } from "../lib/dom.js";
import { api, ProblemError } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { loading, markFieldErrors, problemBox, toast } from "../lib/ui.js";
import { strings, el, btn, fld, timezoneSelect, showFormError, pill, spin } from "./admin-common.js";

strings("set", `
lead|How PyTake behaves for {}.|Como o PyTake funciona para {}.
general|General|Geral
fu|Follow-ups
fuLead|Nudge customers who stop answering.|Lembram clientes que param de responder.
on|Send follow-ups|Enviar follow-ups
after|Hours between follow-ups|Horas entre follow-ups
afterHint|0.25–720, from the customer's last message.|0,25–720, desde a última mensagem do cliente.
tries|Max follow-ups|Máximo de follow-ups
triesHint|1–10.
msg|Message|Mensagem
msgHint|Tokens below: customer name, follow-up number. Empty: default.|Marcadores abaixo: nome do cliente, número do follow-up. Vazia: padrão.
quiet|Quiet hours|Horário de silêncio
quietHint|None in this window ({}); may cross midnight. Empty: any hour.|Nenhum nesta janela ({}); pode cruzar a meia-noite. Vazia: qualquer hora.
from|From|Das
to|To|Às
never|, never from {} to {}|, nunca entre {} e {}
tpl|WhatsApp template (after 24 h)|Modelo do WhatsApp (após 24 h)
tplHint|Required 24 h after the customer's last message.|Exigido 24 h após a última mensagem do cliente.
tplName|Template name|Nome do modelo
tplComp|Components (JSON, optional)|Componentes (JSON, opcional)
tplBad|Expected a JSON array or object.|Esperado um array ou objeto JSON.
off|Follow-ups off.|Follow-ups desligados.
summary|Follow-ups: up to {}, {} h apart{}.|Follow-ups: até {}, a cada {} h{}.
ai|AI replies|Respostas com IA
aiLead|OpenAI-compatible API for the “AI reply” step.|API compatível com OpenAI da etapa “Resposta com IA”.
url|Base URL|URL base
model|Model|Modelo
key|API key|Chave da API
prompt|System prompt|Prompt de sistema
stored|Stored: {}. Type to replace.|Guardado: {}. Digite para trocar.
none|Nothing stored.|Nada guardado.
clear|Remove it|Remover
bot|Conversation|Conversa
debounce|Typing pause (ms)|Pausa de digitação (ms)
debounceHint|0–60000; a burst gets one answer.|0–60000; uma rajada tem uma resposta.
hooks|Outgoing webhooks|Webhooks de saída
hooksLead|Signs the “Notify webhook” step.|Assina a etapa “Notificar webhook”.
secret|Signing secret|Segredo de assinatura
secretHint|16–256 characters.|16–256 caracteres.
other|Other settings|Outras configurações
otherText|Kept as is:|Mantidas:
discard|Discard|Descartar
dirty|● Unsaved changes|● Alterações não salvas
same|Nothing to save.|Nada para salvar.
saved|Settings saved.|Configurações salvas.
`);

const C = "tools_config.", F = `${C}followup.`;
const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
const get = (o, path) => path.split(".").reduce((x, k) => obj(x)[k], o);
/** Sets (undefined: deletes) a dotted path, copying the objects on the way. */
function put(o, path, v) {
  const keys = path.split("."), last = keys.pop();
  for (const k of keys) o = o[k] = { ...obj(o[k]) };
  if (v === undefined) delete o[last]; else o[last] = v;
}
// JSON with sorted keys: compares configurations whatever their key order.
const canon = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
// How an input's text (data-kind) becomes its value; undefined removes the key.
const PARSE = {
  num: (x) => (x.trim() === "" ? undefined : Number.isFinite(+x) ? +x : x.trim()),
  trim: (x) => x.trim() || undefined,
  raw: (x) => (x.trim() ? x : undefined),
  json: (x) => {
    if (!x.trim()) return undefined;
    try { const v = JSON.parse(x); if (v && typeof v === "object") return v; } catch { /* reported below */ }
    const message = t("set.tplBad");
    throw new ProblemError({ status: 422, detail: message, errors: [{ field: `${F}template.components`, message }] });
  },
};

export default async function mount(ctx) {
  const tid = ctx.params.tenantId, write = ctx.can("tenant.write");
  const header = el("div.page-header"), body = h("div", loading());
  ctx.root.append(header, body);
  let tenant, form, dirty = false;
  try {
    tenant = await api("GET", `/api/v1/tenants/${tid}`, { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) body.replaceChildren(problemBox(error, { onRetry: () => ctx.navigate(location.hash) }));
    return;
  }
  const fields = () => [...form.elements].filter((e) => e.name);
  const read = () => Object.fromEntries(fields().map((e) => [e.name, e.type === "checkbox" ? e.checked : e.value]));

  function build(v) {
    const base = obj(tenant.tools_config), out = { tools_config: structuredClone(base) };
    for (const { name, dataset: { kind } } of fields()) {
      const x = v[name], clear = v[`${name}.clear`];
      if (!name.startsWith(C) || name.endsWith(".clear")) continue;
      // A secret is replaced when typed, removed when "clear" is ticked, and kept otherwise.
      if (kind !== "secret") put(out, name, kind ? PARSE[kind](x) : x);
      else if (x || clear) put(out, name, clear ? undefined : x);
    }
    if (!get(out, `${F}template.name`)) put(out, `${F}template`);
    const c = out.tools_config;
    for (const k of ["followup", "ai", "webhooks"]) {
      for (const [n, x] of Object.entries(obj(c[k]))) if (x && typeof x === "object" && !Object.keys(x).length) delete c[k][n];
      // Sections left empty are not written; follow-ups never set stay unset while off.
      const n = Object.keys(obj(c[k])).length;
      if (!n || (k === "followup" && !base.followup && !c.followup.enabled && n === 1)) delete c[k];
    }
    return c;
  }

  function render(draft) {
    const val = (name) => { const x = draft ? draft[name] : get(tenant, name); return x && typeof x === "object" ? JSON.stringify(x, null, 2) : x ?? ""; };
    const inp = (name, kind, attrs, tag = "input") => h(tag, { name, value: val(name), dataset: { kind }, ...attrs });
    const text = (label, name, kind, attrs, hint) => fld(label, name, inp(name, kind, attrs), hint);
    const grid = (...c) => el("div.grid-form", c);
    const check = (name, checked, label) => el("label.adm-check", h("input", { type: "checkbox", name, checked }), label);
    const section = (title, lead, ...c) => el("section.section", h("h2", t(title)), lead && el("p.adm-lead", t(lead)), c);
    const secret = (name, id, label, hint) => {
      const stored = get(tenant, name), input = inp(name, "secret", { type: "password", value: "", autocomplete: "new-password" });
      const clear = typeof stored === "string" && check(`${name}.clear`, draft?.[`${name}.clear`], t("set.clear"));
      if (clear) clear.onchange = (e) => { input.disabled = e.target.checked || !write; };
      return h("div", fld(label, name, input, hint), el("p.adm-sub", { dataset: { secretStatus: id } }, t(clear ? "set.stored" : "set.none", stored)), clear);
    };
    // A fieldset that shows one error for a group of inputs (quiet hours, template).
    const group = (name, legend, ...c) => el("fieldset.field.adm-fieldset", { dataset: { field: F + name } }, legend && h("legend", legend), c, el("p.field-error"));

    const tz = timezoneSelect(val("timezone"));
    const msg = inp(`${F}message`, "raw", { rows: "3", placeholder: "Hi {{customer_name}}, still there?" }, "textarea");
    const summary = el("p.adm-policy", { "aria-live": "polite" });
    const followup = section("set.fu", "set.fuLead",
      el("div.field.adm-strong", { dataset: { field: `${F}enabled` } }, check(`${F}enabled`, val(`${F}enabled`) === true, t("set.on")), el("p.field-error")),
      summary,
      grid(text("set.after", `${F}after_hours`, "num", { type: "number", step: "0.25", placeholder: "24" }, "set.afterHint"),
        text("set.tries", `${F}max_attempts`, "num", { type: "number", placeholder: "1" }, "set.triesHint"),
        group("quiet_hours", t("set.quiet"), el("div.adm-row", ["start", "end"].map((k, i) => h("label", t(i ? "set.to" : "set.from"), inp(`${F}quiet_hours.${k}`, "trim", { type: "time" })))),
          el("p.field-hint", t("set.quietHint", tz.value.replaceAll("_", " "))))),
      el("div.adm-gap", fld("set.msg", `${F}message`, msg, "set.msgHint"),
        el("div.adm-row.adm-gap", ["{{customer_name}}", "{{attempt}}"].map((tok) => btn(tok, () => {
          msg.setRangeText(tok, msg.selectionStart, msg.selectionEnd, "end");
          msg.focus();
          msg.dispatchEvent(new Event("input", { bubbles: true }));
        }, "button-secondary button-small mono")))),
      el("details.adm-gap", { open: !!(val(`${F}template.name`) || val(`${F}template.components`)) }, h("summary", t("set.tpl")),
        group("template", null, el("p.field-hint", t("set.tplHint")),
          grid(text("set.tplName", `${F}template.name`, "trim", { class: "mono" }), text("language", `${F}template.language`, "trim", { class: "mono", placeholder: "pt_BR" })),
          fld("set.tplComp", `${F}template.components`, inp(`${F}template.components`, "json", { rows: "4", class: "mono", placeholder: '[{"type": "body", "parameters": […]}]' }, "textarea")))));

    const others = Object.keys(obj(tenant.tools_config)).filter((k) => !["followup", "ai", "debounce_ms", "webhooks"].includes(k)).sort();
    const state = el("span.adm-dirty", { "aria-live": "polite" });
    const save = el("button.button.button-primary", { "data-write": "", dataset: { action: "save-settings" } }, t("admin.save"));
    const discard = btn(t("set.discard"), () => { dirty = false; render(); }, "button-secondary");
    const slot = h("div");
    form = el("form.adm-settings-form", { novalidate: true }, write ? null : el("p.adm-readonly", t("admin.readOnly")), slot,
      section("set.general", null, grid(text("admin.name", "name"), fld("admin.timezone", "timezone", tz, "admin.tzHint"),
        el("div.field", h("label", t("admin.slug")), el("span.mono.adm-slug", tenant.slug)))),
      followup,
      section("set.ai", "set.aiLead",
        grid(text("set.url", `${C}ai.base_url`, "trim", { type: "url", placeholder: "https://api.openai.com/v1" }), text("set.model", `${C}ai.model`, "trim", { placeholder: "gpt-4o-mini" }),
          secret(`${C}ai.key`, "aiKey", "set.key")),
        el("div.adm-gap", fld("set.prompt", `${C}ai.system_prompt`, inp(`${C}ai.system_prompt`, "raw", { rows: "4" }, "textarea")))),
      el("div.adm-pair",
        section("set.bot", null, text("set.debounce", `${C}debounce_ms`, "num", { type: "number", step: "100", placeholder: "0" }, "set.debounceHint")),
        section("set.hooks", "set.hooksLead", secret(`${C}webhooks.secret`, "whSecret", "set.secret", "set.secretHint"))),
      others.length ? section("set.other", null, h("p", t("set.otherText"), " ", others.map((k, i) => [i ? ", " : "", h("code", k)]))) : null,
      write && el("div.adm-savebar", state, discard, save));

    const update = () => {
      const v = read(), qs = v[`${F}quiet_hours.start`], qe = v[`${F}quiet_hours.end`];
      discard.hidden = !dirty;
      state.textContent = dirty ? t("set.dirty") : "";
      summary.textContent = v[`${F}enabled`] ? t("set.summary", +v[`${F}max_attempts`] || 1, v[`${F}after_hours`] || 24, qs && qe ? t("set.never", qs, qe) : "") : t("set.off");
      followup.classList.toggle("adm-off", !v[`${F}enabled`]);
    };
    form.oninput = form.onchange = () => { dirty = true; update(); };
    update();
    if (!write) for (const e of form.querySelectorAll("input, select, textarea, button")) e.disabled = true;

    form.onsubmit = async (event) => {
      event.preventDefault();
      if (!write || save.disabled) return;
      slot.replaceChildren();
      const v = read(), patch = {};
      try {
        for (const k of ["name", "timezone"]) if (v[k].trim() !== tenant[k]) patch[k] = v[k].trim();
        const next = build(v);
        if (canon(next) !== canon(tenant.tools_config)) patch.tools_config = next;
      } catch (error) {
        return showFormError(form, slot, error);
      }
      if (!Object.keys(patch).length) {
        markFieldErrors(form, null);
        toast(t("set.same"));
        dirty = false;
        return update();
      }
      spin(save, true);
      try {
        tenant = await ctx.busy(api("PATCH", `/api/v1/tenants/${tid}`, { body: patch }));
        toast(t("set.saved"));
        dirty = false;
        render();
        if (patch.name || patch.timezone) await ctx.refreshTenants();
      } catch (error) {
        spin(save, false);
        showFormError(form, slot, error);
      }
    };
    header.replaceChildren(el("div.adm-heading", el("div.adm-row", h("h1", t("nav.settings")), pill(tenant.status)),
      el("p.adm-lead", t("set.lead", tenant.name))));
    body.replaceChildren(form);
  }

  render();
  ctx.keepOnLanguageChange(() => render(read()));
  ctx.setTitle(`${t("nav.settings")} · ${tenant.name}`);
}
