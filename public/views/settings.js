// A tenant's settings. Saving merges the form into the stored tools_config, so keys this page does
// not know are kept. Secrets come back masked (••••1234); sending the mask keeps the stored value.

import { h } from "../lib/dom.js";
import { api, ProblemError } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { field, loading, markFieldErrors, problemBox, toast } from "../lib/ui.js";
import { strings, el, btn, timezoneSelect, showFormError, pill } from "./admin-common.js";

strings("set", `
lead|How PyTake behaves for {}.|Como o PyTake funciona para {}.
general|General|Geral
fu|Follow-ups
fuLead|Nudges customers who stop answering.|Lembra clientes que param de responder.
on|Send follow-ups|Enviar follow-ups
after|Hours before each follow-up|Horas antes de cada follow-up
afterHint|0.25 to 720, after the customer's last message.|De 0,25 a 720, após a última mensagem do cliente.
tries|Follow-ups per conversation|Follow-ups por conversa
triesHint|1 to 10.|De 1 a 10.
msg|Message|Mensagem
msgHint|{{customer_name}}: the customer's name; {{attempt}}: the follow-up number. Empty: the default message.|{{customer_name}}: o nome do cliente; {{attempt}}: o número do follow-up. Vazia: a mensagem padrão.
quiet|Quiet hours|Horário de silêncio
quietHint|No follow-up in this window ({}); it may cross midnight. Both empty: any hour.|Nenhum follow-up nesta janela ({}); pode cruzar a meia-noite. Ambos vazios: qualquer hora.
from|From|Das
to|To|Às
never|, never from {} to {}|, nunca entre {} e {}
tpl|WhatsApp template (after 24 hours)|Modelo do WhatsApp (após 24 horas)
tplHint|Needed 24 hours after the customer's last message. Empty name: no template.|Exigido 24 horas após a última mensagem do cliente. Nome vazio: sem modelo.
tplName|Template name|Nome do modelo
tplLang|Language|Idioma
tplComp|Components (JSON, optional)|Componentes (JSON, opcional)
tplBad|Components must be a JSON array or object.|Os componentes devem ser um array ou objeto JSON.
off|Follow-ups are off.|Os follow-ups estão desligados.
summary|Follow-ups: up to {}, {} h apart{}.|Follow-ups: até {}, a cada {} h{}.
ai|AI replies|Respostas com IA
aiLead|The OpenAI-compatible API of the “AI reply” step.|A API compatível com OpenAI da etapa “Resposta com IA”.
url|Base URL|URL base
model|Model|Modelo
key|API key|Chave da API
prompt|System prompt|Prompt de sistema
stored|Stored: {}. Type to replace it.|Guardado: {}. Digite para substituir.
none|Nothing stored.|Nada guardado.
clear|Remove it|Remover
bot|Conversation|Conversa
debounce|Wait for typing to stop (ms)|Esperar a digitação parar (ms)
debounceHint|0 to 60000: quick messages get one answer.|De 0 a 60000: mensagens seguidas têm uma resposta.
hooks|Outgoing webhooks|Webhooks de saída
hooksLead|Signs the “Notify webhook” step's requests.|Assina as requisições da etapa “Notificar webhook”.
secret|Signing secret|Segredo de assinatura
secretHint|16 to 256 characters.|De 16 a 256 caracteres.
other|Other settings|Outras configurações
otherText|Kept as they are:|Mantidas como estão:
save|Save settings|Salvar configurações
discard|Discard changes|Descartar alterações
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
    const cfg = obj(tenant.tools_config);
    const val = (name) => { const x = draft ? draft[name] : get(tenant, name); return x && typeof x === "object" ? JSON.stringify(x, null, 2) : x ?? ""; };
    // data-kind: how PARSE reads the input when saving.
    const inp = (name, kind, attrs, tag = "input") => h(tag, { name, value: val(name), dataset: { kind }, ...attrs });
    const fld = (label, name, input, hint) => field({ label: t(label), name, input, hint: hint && t(hint) });
    const text = (label, name, kind, attrs, hint) => fld(label, name, inp(name, kind, attrs), hint);
    const grid = (...c) => el("div.grid-form", c);
    const check = (name, checked, label) => el("label.adm-check", h("input", { type: "checkbox", name, checked }), label);
    const section = (title, lead, ...c) => el("section.section", h("h2", t(title)), lead && el("p.adm-lead", t(lead)), c);
    const secret = (name, id, label, hint) => {
      const stored = get(tenant, name), input = inp(name, "secret", { type: "password", value: "", autocomplete: "new-password" });
      const clear = typeof stored === "string" && check(`${name}.clear`, draft?.[`${name}.clear`], t("set.clear"));
      if (clear) clear.onchange = (e) => { input.disabled = e.target.checked || !write; };
      return h("div", fld(label, name, input, hint), el("p.adm-sub", { dataset: { secretStatus: id } }, clear ? t("set.stored", stored) : t("set.none")), clear);
    };
    // A fieldset that shows one error for a group of inputs (quiet hours, template).
    const group = (name, legend, ...c) => el("fieldset.field.adm-fieldset", { dataset: { field: F + name } }, legend && h("legend", legend), c, el("p.field-error"));

    const tz = timezoneSelect(val("timezone"));
    const msg = inp(`${F}message`, "raw", { rows: "3", placeholder: "Hi {{customer_name}}, are you still there? Just reply to this message and we'll carry on." }, "textarea");
    const summary = el("p.adm-policy", { "aria-live": "polite" });
    const followup = section("set.fu", "set.fuLead",
      el("div.field.adm-strong", { dataset: { field: `${F}enabled` } }, check(`${F}enabled`, val(`${F}enabled`) === true, t("set.on")), el("p.field-error")),
      summary,
      grid(text("set.after", `${F}after_hours`, "num", { type: "number", step: "0.25", placeholder: "24" }, "set.afterHint"),
        text("set.tries", `${F}max_attempts`, "num", { type: "number", placeholder: "1" }, "set.triesHint"),
        group("quiet_hours", t("set.quiet"), el("div.adm-row", ...["start", "end"].map((k, i) => h("label", t(i ? "set.to" : "set.from"), inp(`${F}quiet_hours.${k}`, "trim", { type: "time" })))),
          el("p.field-hint", t("set.quietHint", tz.value.replaceAll("_", " "))))),
      el("div.adm-gap", fld("set.msg", `${F}message`, msg, "set.msgHint"),
        el("div.adm-row.adm-gap", ["{{customer_name}}", "{{attempt}}"].map((tok) => btn(tok, () => {
          msg.setRangeText(tok, msg.selectionStart, msg.selectionEnd, "end");
          msg.focus();
          msg.dispatchEvent(new Event("input", { bubbles: true }));
        }, "button-secondary button-small mono")))),
      el("details.adm-gap", { open: Boolean(val(`${F}template.name`) || val(`${F}template.components`)) }, h("summary", t("set.tpl")),
        group("template", null, el("p.field-hint", t("set.tplHint")),
          grid(text("set.tplName", `${F}template.name`, "trim", { class: "mono" }), text("set.tplLang", `${F}template.language`, "trim", { class: "mono", placeholder: "pt_BR" })),
          fld("set.tplComp", `${F}template.components`, inp(`${F}template.components`, "json", { rows: "4", class: "mono", placeholder: '[{"type": "body", "parameters": […]}]' }, "textarea")))));

    const others = Object.keys(cfg).filter((k) => !["followup", "ai", "debounce_ms", "webhooks"].includes(k)).sort();
    const state = el("span.adm-dirty", { "aria-live": "polite" });
    const save = el("button.button.button-primary", { "data-write": "", dataset: { action: "save-settings" } }, t("set.save"));
    const discard = btn(t("set.discard"), () => { dirty = false; render(); }, "button-secondary");
    const slot = h("div");
    form = el("form.adm-settings-form", { novalidate: true }, write ? null : el("p.adm-readonly", t("admin.readOnly")), slot,
      section("set.general", null, grid(text("admin.name", "name"), fld("admin.timezone", "timezone", tz, "admin.tzHint"),
        el("div.field", h("label", t("admin.slug")), el("span.mono.adm-slug", String(tenant.slug))))),
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
      const v = read(), [qs, qe] = [v[`${F}quiet_hours.start`], v[`${F}quiet_hours.end`]];
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
        if (v.name.trim() !== tenant.name) patch.name = v.name.trim();
        if (v.timezone !== tenant.timezone) patch.timezone = v.timezone;
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
      save.disabled = true;
      save.setAttribute("aria-busy", "true");
      try {
        tenant = await ctx.busy(api("PATCH", `/api/v1/tenants/${tid}`, { body: patch }));
        toast(t("set.saved"));
        dirty = false;
        render();
        if (patch.name || patch.timezone) await ctx.refreshTenants();
      } catch (error) {
        save.disabled = false;
        save.removeAttribute("aria-busy");
        showFormError(form, slot, error);
      }
    };
    header.replaceChildren(el("div.adm-heading", el("div.adm-row", h("h1", t("nav.settings")), pill(tenant.status, t(`admin.${tenant.status}`))),
      el("p.adm-lead", t("set.lead", tenant.name))));
    body.replaceChildren(form);
  }

  render();
  ctx.keepOnLanguageChange(() => render(read()));
  ctx.setTitle(`${t("nav.settings")} · ${tenant.name}`);
}
