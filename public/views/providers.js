// Providers page: WhatsApp provider instances (list, create, edit, remove, test send), how each
// type's credentials resolve (an instance or legacy tenant columns) and Meta Embedded Signup.

import { h, uid, replace, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, listAll, ProblemError } from "../lib/api.js";
import { problemBox, loading, empty, toast, confirmDialog, errorText, field, markFieldErrors } from "../lib/ui.js";
import { tp, tpMaybe } from "./providers-i18n.js";
import { createSignup, redirectOutcome, redirectBanner } from "./providers-signup.js";

const TYPES = {
  meta: {
    label: "Meta Cloud API", chip: "M", appSecret: true, config: [
      { name: "phone_number_id", required: true, inputmode: "numeric", hint: "phoneIdHint" },
      { name: "display_phone_number", inputmode: "tel" },
      { name: "waba_id", inputmode: "numeric" },
      { name: "business_id", inputmode: "numeric" },
    ],
  },
  uazapi: { label: "uazapi", chip: "U", urlRequired: true, config: [{ name: "instance", hint: "instanceHint" }] },
  lancepilot: { label: "LancePilot", chip: "LP", config: [{ name: "workspace_id", required: true }] },
};
const TYPE_ORDER = Object.keys(TYPES);
const typeLabel = (type) => TYPES[type]?.label ?? String(type);
const chip = (type) => h("span", { class: `providers-chip providers-chip-${TYPES[type] ? type : "other"}`, "aria-hidden": "true" }, TYPES[type]?.chip ?? "?");
const btn = (cls, label, onclick, attrs) => h("button", { class: `button ${cls}`, type: "button", dataset: { write: "" }, onclick, ...attrs }, label);
const row = (key, value, cred) => h("div", { class: "providers-row", dataset: { cred } }, h("dt", {}, tp(`f.${key}`)), h("dd", {}, value));
const muted = (key) => h("span", { class: "providers-muted" }, tp(key));
const note = (...text) => h("p", { class: "providers-muted" }, text);
const code = (value) => h("code", {}, value);
const isLegacy = (source) => Boolean(source) && source !== "client_providers";
const source = (s) => h("span", { class: ["status", !s ? "status-muted" : isLegacy(s) && "providers-warn"], dataset: { source: s || "none" } },
  s ? [tp(isLegacy(s) ? "srcLegacy" : "srcInstance"), " ", code(s)] : tp("notSet"));
const required = (field) => ({ field, message: tp("required") });
const invalid = (errors) => new ProblemError({ status: 422, errors, problems: [] });

function breaker(b) {
  // A closed breaker shows only its recent failures.
  const text = b && (b.state !== "closed" || b.consecutive_failures > 0)
    && tpMaybe(`breaker.${b.state}`, b.state === "open" ? b.retry_at && new Date(b.retry_at).toLocaleTimeString(lang()) : b.consecutive_failures);
  return text && h("span", { class: ["status", b.state === "closed" ? "status-muted" : "status-bad"] }, text);
}

// A modal form that stays open on errors. render(m) ([title, ...children]) runs again on a language
// switch or a type change; the inputs keep what was typed in `draft`.
function modal(dialogs, className, draft, render, submit) {
  const id = uid("providers-dialog");
  const title = h("h2", { class: "dialog-title", id });
  const x = h("button", { class: "providers-dialog-x", type: "button", onclick: () => dlg.close() }, "×");
  const form = h("form", {
    class: "providers-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); },
    oninput: ({ target: el }) => { draft[el.name] = el.type === "checkbox" ? el.checked : el.value; },
  });
  const dlg = h("dialog", { class: `dialog providers-dialog ${className}`, "aria-labelledby": id, onclose: () => { dlg.remove(); dialogs.delete(m); } },
    h("div", { class: "providers-dialog-head" }, title, x), form);
  const m = {
    form,
    relabel() {
      const [heading, ...children] = render(m);
      title.textContent = heading;
      x.setAttribute("aria-label", t("ui.close"));
      replace(form, children);
    },
    close: () => dlg.open && dlg.close(),
    input(name, { tag = "input", ...attrs } = {}) {
      const el = h(tag, { name, autocomplete: "off", ...attrs });
      if (el.type === "checkbox") el.checked = Boolean(draft[name]);
      else el.value = draft[name] ?? "";
      return el;
    },
    field: (name, label, hint, attrs, required) => field({ label: tp(label) + (required ? " *" : ""), name, hint, input: m.input(name, attrs) }),
    buttons: (closeKey, label, busy) => h("div", { class: "dialog-buttons" },
      btn("button-secondary", t(closeKey), m.close, { dataset: null }),
      btn("button-primary", label, null, { type: "submit", disabled: busy, "aria-busy": String(busy) })),
  };
  dialogs.add(m);
  document.body.append(dlg);
  dlg.showModal();
  m.relabel();
  return m;
}

export default async function mount(ctx) {
  const { signal } = ctx;
  const tenant = `/tenants/${encodeURIComponent(ctx.params.tenantId)}`;
  const base = `/api/v1${tenant}`;
  const canWrite = ctx.can("providers.write");
  let providers = null; // null while loading
  let listError = null;
  const creds = {}; // type → {data, error}; missing while loading
  let redirect = redirectOutcome(ctx.query);
  let highlight = redirect?.ok && redirect.provider;
  const dialogs = new Set();
  const header = h("div", { class: "page-header" });
  const banner = h("div");
  const signup = createSignup({ base, signal, onChange: renderHeader, onConnected: (p) => saved(p, true) });
  const list = h("section", { class: "providers-list-section" });
  const credsSection = h("section", { class: "section", id: "providers-creds" });
  ctx.root.replaceChildren(header, banner, signup.element, list, credsSection);
  ctx.onCleanup(() => { for (const d of [...dialogs]) d.close(); });
  ctx.keepOnLanguageChange(() => {
    ctx.setTitle(t("nav.providers"));
    renderAll();
    signup.render();
    for (const d of dialogs) d.relabel();
  });

  function saved(provider, created) {
    highlight = provider.id;
    toast(tp(created ? "created" : "saved", provider.name));
    reload();
  }

  async function remove(p) {
    if (!await confirmDialog({ title: tp("removeTitle"), message: tp("removeMessage", p.name), confirm: tp("remove"), danger: true }) || signal.aborted) return;
    try {
      await ctx.busy(api("DELETE", `${base}/providers/${encodeURIComponent(p.id)}`, { signal }));
      toast(tp("removed", p.name));
    } catch (error) {
      if (signal.aborted) return;
      if (error.status !== 404) toast(errorText(error), "error");
    }
    reload();
  }

  function dismiss() {
    redirect = null;
    renderBanner();
    // Drop ?signup=… from the address without re-mounting.
    history.replaceState(null, "", `#${tenant}/providers`);
  }
  const connect = () => { dismiss(); signup.start(); };

  /** `section` is aria-busy while any of its requests runs. */
  async function fetchInto(section, request, apply, render) {
    section.pending = (section.pending || 0) + 1;
    section.setAttribute("aria-busy", true);
    let data = null, error = null;
    try { data = await request; } catch (e) { error = e; }
    section.setAttribute("aria-busy", --section.pending > 0);
    if (signal.aborted) return;
    apply(data, error);
    render();
  }

  const loadList = () => fetchInto(list, listAll(`${base}/providers`, { signal }),
    (items, error) => { listError = error; providers = items || providers; },
    () => { renderList(); renderBanner(); });

  const loadCreds = (type) => fetchInto(credsSection, api("GET", `${base}/credentials/${type}`, { signal }),
    (data, error) => { creds[type] = { data, error }; },
    renderCreds);

  function reload(fresh) {
    if (signal.aborted) return;
    loadList();
    for (const type of TYPE_ORDER) {
      if (fresh) delete creds[type];
      loadCreds(type);
    }
    if (fresh) renderCreds();
  }

  const renderAll = () => { renderHeader(); renderBanner(); renderList(); renderCreds(); };

  function renderHeader() {
    const busy = signup.running;
    header.replaceChildren(
      h("div", { class: "providers-heading" }, h("h1", {}, tp("title")), note(ctx.tenant ? `${ctx.tenant.name} · ` : "", tp("subtitle"))),
      canWrite
        ? h("div", { class: "toolbar" },
          btn("button-secondary", `+ ${tp("add")}`, () => openForm(), { id: "providers-add" }),
          btn("button-primary", tp(busy ? "running" : "connect"), connect, { id: "providers-connect-meta", disabled: busy, "aria-busy": String(busy) }))
        : h("p", { class: "providers-readonly providers-muted" }, tp("readOnly")));
  }

  function renderBanner() {
    replace(banner, redirect && redirectBanner(redirect, { provider: providers?.find((p) => p.id === redirect.provider), canWrite, onRetry: connect, onDismiss: dismiss }));
  }

  function renderList() {
    replace(list,
      h("h2", {}, tp("instances"), providers && h("span", { class: "badge" }, providers.length)),
      listError ? problemBox(listError, { onRetry: () => { listError = null; renderList(); loadList(); } })
        : !providers ? loading()
          : providers.length ? h("div", { class: "providers-grid" }, providers.map(card))
            : empty(tp("empty")));
  }

  const secret = (masked, unset) => masked ? code(masked) : muted(unset || (canWrite ? "notSet" : "secretHidden"));

  function card(p) {
    const c = p.config || {};
    const type = p.provider_type;
    const isNew = highlight === p.id;
    const small = "button-secondary button-small providers-";
    return h("article", { class: ["providers-card", !p.active && "providers-card-inactive", isNew && "providers-card-new"], dataset: { providerId: p.id, type } },
      h("header", {},
        chip(type),
        h("div", {}, h("h3", { class: "providers-name" }, p.name), h("small", {}, `${typeLabel(type)} · ${tp("prio")} ${p.priority}`)),
        h("div", { class: "providers-badges" },
          isNew && h("span", { class: "badge" }, tp("new")),
          h("span", { class: ["status", !p.active && "status-muted"] }, tp(p.active ? "active" : "inactive")),
          breaker(p.breaker))),
      h("dl", {},
        TYPES[type]?.config.map((f) => (f.required || c[f.name]) && row(f.name, code(c[f.name] ?? "–"))),
        row("api_url", p.api_url ? code(p.api_url) : muted("platformDefault")),
        row("token", secret(p.token_masked)),
        type === "meta" && canWrite && row("app_secret", secret(c.app_secret_masked, "platformDefault")),
        row("updated", formatDateTime(p.updated_at, lang()))),
      canWrite && h("footer", {},
        btn(`${small}test`, tp("test"), () => openTest(p)),
        btn(`${small}edit`, tp("edit"), () => openForm({ provider: p })),
        btn("button-small providers-remove", tp("remove"), () => remove(p))));
  }

  function credsCard(type) {
    const { data: c, error } = creds[type] || {};
    const legacy = c && (isLegacy(c.source?.api_url) || isLegacy(c.source?.token));
    const status = c ? (legacy ? "legacy" : "instance") : error?.code === "no_credentials" ? "none" : error ? "error" : "loading";
    const add = (label, preset, cls = "") => canWrite && btn(`button-secondary button-small ${cls}`, label, () => openForm({ preset }));
    return h("article", { class: ["providers-creds-card", `providers-creds-${status}`], dataset: { type, status } },
      h("header", {}, chip(type), h("h3", {}, typeLabel(type))),
      status === "loading" ? loading()
        : status === "error" ? problemBox(error, { onRetry: () => { delete creds[type]; renderCreds(); loadCreds(type); } })
          : status === "none" ? [note(tp("noCreds")), add(tp("addType", typeLabel(type)), { type })]
            : [
              h("dl", {},
                row("instance", c.provider_id ? c.provider_name ?? c.provider_id : muted("legacyRecord")),
                row("api_url", [c.api_url ? code(c.api_url) : muted("notSet"), " ", source(c.source?.api_url)], "api_url"),
                row("token", [secret(c.token_masked), " ", source(c.source?.token)], "token")),
              c.mixed && note(tp("mixed")),
              !c.api_url && type === "uazapi" && note(tp("noUrl")),
              legacy && h("div", { class: "providers-legacy-warning", role: "note" },
                h("strong", {}, tp("legacyTitle")),
                h("p", {}, tp("legacyText")),
                add(tp("migrate"), { type, api_url: c.api_url || "" }, "providers-migrate")),
            ]);
  }

  function renderCreds() {
    replace(credsSection,
      h("div", { class: "providers-creds-top" },
        h("div", {}, h("h2", {}, tp("credsTitle")), note(tp("credsIntro"))),
        btn("button-secondary button-small", tp("refresh"), () => reload(true), { dataset: null })),
      h("div", { class: "providers-grid" }, TYPE_ORDER.map(credsCard)));
  }

  /** `provider` edits that instance, else `preset` ({type, api_url}) pre-fills a new one. */
  function openForm({ provider, preset = {} } = {}) {
    const editing = Boolean(provider);
    const p = provider || { active: true };
    const config = p.config || {};
    const masked = config.app_secret_masked;
    const draft = { provider_type: p.provider_type || preset.type || "meta", name: p.name ?? "", active: p.active, priority: String(p.priority ?? 0), api_url: p.api_url ?? preset.api_url ?? "" };
    for (const spec of Object.values(TYPES)) for (const f of spec.config) draft[`config.${f.name}`] = String(config[f.name] ?? "");
    let saving = false;
    const buttons = (m) => m.buttons("ui.cancel", saving ? t("ui.saving") : tp(editing ? "save" : "add"), saving);
    // Saving changes only the buttons: a re-render would lose the focus and the error marks.
    const setSaving = (on) => { saving = on; m.form.lastChild.replaceWith(buttons(m)); };

    function render(m) {
      const type = draft.provider_type;
      const spec = TYPES[type];
      const secretField = (name, label, hint, required) => m.field(name, label, hint, { type: "password", autocomplete: "new-password", disabled: name !== "token" && draft.clear_app_secret }, required);
      const check = (name, label, attrs) => h("label", { class: "providers-check", ...attrs }, m.input(name, { type: "checkbox" }), label);
      return [
        tp(editing ? "editTitle" : "add", p.name),
        !editing && h("fieldset", { class: "providers-types", dataset: { field: "provider_type" } },
          h("legend", {}, tp("type")),
          TYPE_ORDER.map((ty) => h("label", { class: ["providers-type", ty === type && "selected"], dataset: { type: ty } },
            h("input", { type: "radio", name: "provider_type", value: ty, checked: ty === type }),
            chip(ty), h("strong", {}, typeLabel(ty)), tp(`hint.${ty}`)))),
        h("div", { class: "grid-form" },
          m.field("name", "name", tp("nameHint"), { maxlength: "100" }, true),
          m.field("priority", "prio", tp("prioHint"), { type: "number", min: "-1000", max: "1000" }),
          m.field("api_url", "f.api_url", spec.urlRequired ? tp("urlUazapi") : tp("urlDefault", type === "meta" ? "Graph" : spec.label),
            { type: "url", placeholder: spec.urlRequired ? "https://" : tp("platformDefault") }, spec.urlRequired),
          secretField("token", "f.token", editing ? tp("keep", p.token_masked) : tp("tokenHint"), !editing),
          spec.config.map((f) => m.field(`config.${f.name}`, `f.${f.name}`, f.hint && tp(f.hint), { inputmode: f.inputmode }, f.required)),
          spec.appSecret && secretField("config.app_secret", "f.app_secret", masked ? tp("keep", masked) : tp("appSecretHint")),
          spec.appSecret && masked && check("clear_app_secret", tp("appSecretClear"))),
        check("active", tp("activeLabel"), { dataset: { field: "active" } }),
        note(tp("secretsNote")),
        h("div", { class: "providers-form-error" }),
        buttons(m),
      ];
    }

    function build() {
      const spec = TYPES[draft.provider_type];
      const v = (k) => String(draft[k] ?? "").trim();
      const errors = ["name", !editing && "token", spec.urlRequired && "api_url", ...spec.config.map((f) => f.required && `config.${f.name}`)]
        .filter((k) => k && !v(k)).map(required);
      const prio = v("priority").replace("−", "-");
      if (!/^(-?\d+)?$/.test(prio)) errors.push({ field: "priority", message: tp("integer") });
      const cfg = {};
      for (const f of spec.config) if (v(`config.${f.name}`)) cfg[f.name] = v(`config.${f.name}`);
      const clearSecret = spec.appSecret && draft.clear_app_secret;
      if (spec.appSecret && !clearSecret && draft["config.app_secret"]) cfg.app_secret = draft["config.app_secret"];
      const url = v("api_url");
      const clear = [editing && !url && p.api_url && "api_url", clearSecret && "app_secret"].filter(Boolean);
      // Fields left undefined are not sent.
      const body = { name: v("name"), active: draft.active, priority: +prio || 0, token: draft.token || undefined, api_url: url || undefined, config: cfg };
      return { errors, body: { ...body, clear: clear.length ? clear : undefined, provider_type: editing ? undefined : draft.provider_type } };
    }

    async function submit() {
      if (saving) return;
      const { form } = m;
      const { body, errors } = build();
      const box = form.querySelector(".providers-form-error");
      box.replaceChildren();
      markFieldErrors(form, errors.length ? invalid(errors) : null);
      if (!errors.length) {
        setSaving(true);
        try {
          const result = await api(editing ? "PATCH" : "POST", `${base}/providers${editing ? `/${encodeURIComponent(p.id)}` : ""}`, { body });
          m.close();
          return saved(result, !editing);
        } catch (error) {
          setSaving(false);
          // 409s name a field; a 422 whose errors all sit next to their inputs needs no box.
          const taken = { provider_name_taken: "name", phone_number_taken: "config.phone_number_id" }[error.code];
          const unmatched = markFieldErrors(form, taken ? invalid([{ field: taken, message: error.problem.detail || error.code }]) : error);
          if (!taken && !(error.status === 422 && !unmatched.length && error.problem.errors?.length)) box.append(problemBox(error));
        }
      }
      form.querySelector("[aria-invalid=true]")?.focus();
    }

    const m = modal(dialogs, "providers-form-dialog", draft, render, submit);
    m.form.addEventListener("input", ({ target }) => {
      if (target.name === "provider_type") { m.relabel(); m.form.elements.name.focus(); }
      if (target.name === "clear_app_secret") m.form.elements["config.app_secret"].disabled = target.checked;
    });
    m.form.querySelector(editing ? "[name=name]" : "[name=provider_type]:checked").focus();
  }

  function openTest(provider) {
    const draft = { to: "", text: tp("defaultText") };
    let sending = false, result = null, failure = null;
    const render = (m) => [
      tp("testTitle", provider.name),
      m.field("to", "to", tp("toHint"), { type: "tel", placeholder: "5511912345678" }),
      m.field("text", "text", null, { tag: "textarea", rows: "3", maxlength: "4096" }),
      provider.provider_type === "meta" && note(tp("windowNote")),
      h("div", { class: "providers-test-result", "aria-live": "polite" },
        failure && problemBox(failure),
        result && h("p", { class: "providers-test-ok", role: "status" },
          h("strong", {}, "✓ ", tp("sentOk", typeLabel(result.provider_type))), " ",
          result.provider_message_id ? [tp("messageId"), " ", code(result.provider_message_id)] : tp("noId"))),
      m.buttons("ui.close", tp(sending ? "sending" : "send"), sending),
    ];

    async function submit() {
      if (sending) return;
      const errors = ["to", "text"].filter((k) => !draft[k].trim()).map(required);
      markFieldErrors(m.form, errors.length ? invalid(errors) : null);
      if (errors.length) return;
      sending = true;
      result = failure = null;
      m.relabel();
      try {
        result = await api("POST", `${base}/providers/${encodeURIComponent(provider.id)}/test-message`, { body: { to: draft.to.trim().replace(/[\s().-]/g, ""), text: draft.text } });
      } catch (error) {
        failure = error;
      }
      sending = false;
      m.relabel();
      markFieldErrors(m.form, failure);
      loadList();
    }

    const m = modal(dialogs, "", draft, render, submit);
    m.form.elements.to.focus();
  }

  renderAll();
  reload();
}
