// Providers page: provider types, the create/edit form and the test-message dialog. Both are
// modal <dialog>s that stay open on errors (422 field errors appear next to their inputs) and can
// re-render their labels on a language switch without losing what was typed.

import { h, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { api, ProblemError } from "../lib/api.js";
import { field, markFieldErrors, problemBox } from "../lib/ui.js";
import "./providers-i18n.js";

export const TYPE_ORDER = ["meta", "uazapi", "lancepilot"];

/** Per type: config fields (API names), whether api_url is required. */
export const TYPES = {
  meta: {
    monogram: "M",
    apiUrlRequired: false,
    config: [
      { name: "phone_number_id", label: "providers.field.phone_number_id", required: true, inputmode: "numeric", hint: "providers.form.phoneIdHint" },
      { name: "display_phone_number", label: "providers.form.displayPhone", inputmode: "tel" },
      { name: "waba_id", label: "providers.field.waba_id", inputmode: "numeric" },
      { name: "business_id", label: "providers.field.business_id", inputmode: "numeric" },
    ],
    appSecret: true,
  },
  uazapi: {
    monogram: "U",
    apiUrlRequired: true,
    config: [{ name: "instance", label: "providers.field.instance", hint: "providers.form.instanceHint" }],
  },
  lancepilot: {
    monogram: "LP",
    apiUrlRequired: false,
    config: [{ name: "workspace_id", label: "providers.field.workspace_id", required: true }],
  },
};

export function typeLabel(type) {
  return TYPES[type] ? t(`providers.type.${type}`) : String(type);
}

/** A small coloured monogram for a provider type. */
export function typeChip(type) {
  const known = TYPES[type];
  return h("span", { class: ["providers-chip", `providers-chip-${known ? type : "other"}`], "aria-hidden": "true" }, known ? known.monogram : "?");
}

// ------------------------------------------------------------------ modal

/** A modal dialog the caller fills; closing removes it. */
export function modal({ className, onClose }) {
  const titleId = uid("providers-dialog-title");
  const heading = h("h2", { class: "dialog-title", id: titleId });
  const body = h("div", { class: "providers-dialog-body" });
  const closeButton = h("button", { class: "providers-dialog-x", type: "button", "aria-label": t("ui.close"), onclick: () => dlg.close() }, "×");
  const dlg = h("dialog", { class: ["dialog", "providers-dialog", className], "aria-labelledby": titleId },
    h("div", { class: "providers-dialog-head" }, heading, closeButton), body);
  dlg.addEventListener("close", () => {
    dlg.remove();
    if (onClose) onClose();
  });
  document.body.append(dlg);
  dlg.showModal();
  return {
    dlg, heading, body,
    close: () => { if (dlg.open) dlg.close(); },
    relabelClose: () => closeButton.setAttribute("aria-label", t("ui.close")),
  };
}

function localErrors(errors) {
  return new ProblemError({ status: 422, code: "validation_failed", title: "", detail: null, errors, problems: [], providerError: null, requestId: null });
}

function setBusy(button, busy, label) {
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
  if (label) button.textContent = label;
}

// ------------------------------------------------------------------ create / edit

/**
 * Opens the provider form. `provider` edits that instance; otherwise `preset` ({type, api_url})
 * pre-fills a new one. Resolves nothing; calls onSaved(provider, created) after a successful save.
 * Returns {relabel(), close()}.
 */
export function openProviderForm({ base, provider, preset, canSeeSecrets, onSaved, onClose }) {
  const editing = Boolean(provider);
  const config = (provider && provider.config) || {};
  const draft = {
    provider_type: editing ? provider.provider_type : (preset && preset.type) || "meta",
    name: editing ? String(provider.name ?? "") : "",
    active: editing ? Boolean(provider.active) : true,
    priority: editing ? String(provider.priority ?? 0) : "0",
    api_url: editing ? String(provider.api_url ?? "") : (preset && preset.api_url) || "",
    token: "",
    app_secret: "",
    clear_app_secret: false,
    config: {},
  };
  for (const type of TYPE_ORDER) for (const f of TYPES[type].config) draft.config[f.name] = editing && config[f.name] != null ? String(config[f.name]) : "";

  const m = modal({ className: "providers-form-dialog", onClose });
  let form = null;
  let errorSlot = null;
  let submitButton = null;
  let saving = false;

  function bind(input, get, set) {
    input.value = get();
    input.addEventListener("input", () => set(input.value));
    return input;
  }

  function textInput(name, get, set, attrs = {}) {
    return bind(h("input", { type: "text", name, autocomplete: "off", spellcheck: "false", ...attrs }), get, set);
  }

  function typePicker() {
    const options = TYPE_ORDER.map((type) => {
      const radio = h("input", { type: "radio", name: "provider_type", value: type, checked: draft.provider_type === type });
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        draft.provider_type = type;
        render();
        const first = form.querySelector("input[name=name]");
        if (first) first.focus();
      });
      return h("label", { class: ["providers-type-option", draft.provider_type === type && "selected"], dataset: { type } },
        radio, typeChip(type),
        h("span", { class: "providers-type-text" },
          h("strong", {}, typeLabel(type)),
          h("span", {}, t(`providers.typeHint.${type}`))));
    });
    return h("fieldset", { class: "providers-type-picker", dataset: { field: "provider_type" } },
      h("legend", {}, t("providers.form.type")), options, h("p", { class: "field-error", "aria-live": "polite" }));
  }

  function render() {
    const type = draft.provider_type;
    const spec = TYPES[type];
    m.heading.textContent = editing ? t("providers.form.editTitle", provider.name) : t("providers.form.createTitle");
    m.relabelClose();

    const active = h("input", { type: "checkbox", name: "active", checked: draft.active });
    active.addEventListener("change", () => { draft.active = active.checked; });

    const tokenHint = editing
      ? (provider.token_masked ? t("providers.form.tokenKeep", provider.token_masked) : t("providers.form.tokenKeepHidden"))
      : t(`providers.form.token.${type}`);

    const configFields = spec.config.map((f) => field({
      label: t(f.label) + (f.required ? " *" : ""),
      name: `config.${f.name}`,
      input: textInput(`config.${f.name}`, () => draft.config[f.name], (v) => { draft.config[f.name] = v; },
        { inputmode: f.inputmode || null }),
      hint: f.hint ? t(f.hint) : null,
    }));

    let appSecret = null;
    if (spec.appSecret) {
      const masked = editing && config.app_secret_masked;
      const secretInput = bind(h("input", { type: "password", name: "config.app_secret", autocomplete: "new-password" }),
        () => draft.app_secret, (v) => { draft.app_secret = v; });
      appSecret = [field({
        label: t("providers.field.app_secret"),
        name: "config.app_secret",
        input: secretInput,
        hint: masked ? t("providers.form.appSecretKeep", masked) : t("providers.form.appSecretHint"),
      })];
      if (masked) {
        const clear = h("input", { type: "checkbox", name: "clear_app_secret", checked: draft.clear_app_secret });
        clear.addEventListener("change", () => { draft.clear_app_secret = clear.checked; secretInput.disabled = clear.checked; });
        secretInput.disabled = draft.clear_app_secret;
        appSecret.push(h("label", { class: "providers-check" }, clear, t("providers.form.appSecretClear")));
      }
    }

    errorSlot = h("div", { class: "providers-form-error" });
    submitButton = h("button", { class: "button button-primary", type: "submit", dataset: { write: "" } },
      editing ? t("providers.form.save") : t("providers.form.create"));
    const cancel = h("button", { class: "button button-secondary", type: "button", onclick: () => m.close() }, t("ui.cancel"));

    form = h("form", { class: "providers-form", novalidate: true, onsubmit: submit },
      editing ? null : typePicker(),
      h("div", { class: "providers-form-grid" },
        field({ label: t("providers.form.name") + " *", name: "name",
          input: textInput("name", () => draft.name, (v) => { draft.name = v; }, { maxlength: "100" }), hint: t("providers.form.nameHint") }),
        field({ label: t("providers.form.priority"), name: "priority",
          input: bind(h("input", { type: "number", name: "priority", min: "-1000", max: "1000", step: "1" }), () => draft.priority, (v) => { draft.priority = v; }),
          hint: t("providers.form.priorityHint") }),
        field({ label: t("providers.field.api_url") + (spec.apiUrlRequired ? " *" : ""), name: "api_url",
          input: textInput("api_url", () => draft.api_url, (v) => { draft.api_url = v; }, { type: "url", inputmode: "url", placeholder: spec.apiUrlRequired ? "https://" : t("providers.platformDefault") }),
          hint: t(`providers.form.apiUrl.${type}`) }),
        field({ label: t("providers.field.token") + (editing ? "" : " *"), name: "token",
          input: bind(h("input", { type: "password", name: "token", autocomplete: "new-password" }), () => draft.token, (v) => { draft.token = v; }),
          hint: tokenHint }),
        configFields,
        appSecret),
      h("label", { class: "providers-check providers-active-toggle", dataset: { field: "active" } }, active, t("providers.form.active")),
      h("p", { class: "providers-form-note" }, t("providers.form.secretsNote")),
      errorSlot,
      h("div", { class: "dialog-buttons" }, cancel, submitButton));
    if (!canSeeSecrets) form.querySelector(".providers-form-note").hidden = true;
    m.body.replaceChildren(form);
    if (saving) setBusy(submitButton, true, t("ui.saving"));
  }

  function buildBody() {
    const type = draft.provider_type;
    const spec = TYPES[type];
    const errors = [];
    const name = draft.name.trim();
    if (!name) errors.push({ field: "name", message: t("providers.form.required") });
    const priorityText = String(draft.priority).trim();
    let priority = 0;
    if (priorityText !== "") {
      if (!/^[-−]?\d+$/.test(priorityText)) errors.push({ field: "priority", message: t("providers.form.integer") });
      else priority = Number.parseInt(priorityText.replace("−", "-"), 10);
    }
    const apiUrl = draft.api_url.trim();
    if (spec.apiUrlRequired && !apiUrl) errors.push({ field: "api_url", message: t("providers.form.required") });
    if (!editing && !draft.token) errors.push({ field: "token", message: t("providers.form.required") });
    const cfg = {};
    for (const f of spec.config) {
      const value = draft.config[f.name].trim();
      if (value) cfg[f.name] = value;
      else if (f.required) errors.push({ field: `config.${f.name}`, message: t("providers.form.required") });
    }
    if (spec.appSecret && draft.app_secret && !draft.clear_app_secret) cfg.app_secret = draft.app_secret;

    const body = { name, active: draft.active, priority };
    if (draft.token) body.token = draft.token;
    if (editing) {
      const clear = [];
      if (apiUrl) body.api_url = apiUrl;
      else if (provider.api_url) clear.push("api_url");
      if (spec.appSecret && draft.clear_app_secret) clear.push("app_secret");
      if (clear.length) body.clear = clear;
      body.config = cfg;
    } else {
      body.provider_type = type;
      if (apiUrl) body.api_url = apiUrl;
      if (Object.keys(cfg).length) body.config = cfg;
    }
    return { body, errors };
  }

  async function submit(event) {
    event.preventDefault();
    if (saving) return;
    errorSlot.replaceChildren();
    const { body, errors } = buildBody();
    if (errors.length) {
      markFieldErrors(form, localErrors(errors));
      const first = form.querySelector("[aria-invalid=true]");
      if (first) first.focus();
      return;
    }
    markFieldErrors(form, null);
    saving = true;
    setBusy(submitButton, true, t("ui.saving"));
    try {
      const saved = editing
        ? await api("PATCH", `${base}/providers/${encodeURIComponent(provider.id)}`, { body })
        : await api("POST", `${base}/providers`, { body });
      saving = false;
      m.close();
      onSaved(saved, !editing);
    } catch (error) {
      saving = false;
      setBusy(submitButton, false, editing ? t("providers.form.save") : t("providers.form.create"));
      if (error instanceof ProblemError && error.status === 409) {
        const fieldName = { provider_name_taken: "name", phone_number_taken: "config.phone_number_id" }[error.code];
        if (fieldName) {
          markFieldErrors(form, localErrors([{ field: fieldName, message: error.problem.detail || error.code }]));
          return;
        }
      }
      const unmatched = markFieldErrors(form, error);
      const onlyFields = error instanceof ProblemError && error.status === 422 && unmatched.length === 0 && (error.problem.errors || []).length > 0;
      if (!onlyFields) errorSlot.replaceChildren(problemBox(error));
      const first = form.querySelector("[aria-invalid=true]");
      if (first) first.focus();
    }
  }

  render();
  const first = form.querySelector(editing ? "input[name=name]" : "input[name=provider_type]:checked");
  if (first) first.focus();
  return { relabel: render, close: () => m.close() };
}

// ------------------------------------------------------------------ test message

/** The "send test message" dialog of one provider. Returns {relabel(), close()}. */
export function openTestMessage({ base, provider, onClose, onSent }) {
  const m = modal({ className: "providers-test-dialog", onClose });
  const draft = { to: "", text: t("providers.test.defaultText"), result: null, error: null };
  let sending = false;
  let form;

  function resultBox() {
    if (draft.error) return problemBox(draft.error);
    if (!draft.result) return null;
    const r = draft.result;
    return h("div", { class: "providers-test-ok", role: "status" },
      h("span", { class: "providers-ok-icon", "aria-hidden": "true" }, "✓"),
      h("div", {},
        h("p", { class: "providers-test-ok-title" }, t("providers.test.ok", typeLabel(r.provider_type))),
        r.provider_message_id
          ? h("p", {}, t("providers.test.messageId"), " ", h("code", { class: "providers-message-id" }, String(r.provider_message_id)))
          : h("p", {}, t("providers.test.noId"))));
  }

  function render() {
    m.heading.textContent = t("providers.testTitle", provider.name);
    m.relabelClose();
    const to = h("input", { type: "tel", name: "to", autocomplete: "off", inputmode: "tel", placeholder: "5511912345678", value: draft.to });
    to.addEventListener("input", () => { draft.to = to.value; });
    const text = h("textarea", { name: "text", rows: "3", maxlength: "4096" });
    text.value = draft.text;
    text.addEventListener("input", () => { draft.text = text.value; });
    const send = h("button", { class: "button button-primary", type: "submit", dataset: { write: "" } }, sending ? t("providers.test.sending") : t("providers.test.send"));
    if (sending) setBusy(send, true);
    form = h("form", { class: "providers-form", novalidate: true, onsubmit: submit },
      field({ label: t("providers.test.to"), name: "to", input: to, hint: t("providers.test.toHint") }),
      field({ label: t("providers.test.text"), name: "text", input: text }),
      provider.provider_type === "meta" ? h("p", { class: "providers-form-note" }, t("providers.test.windowNote")) : null,
      h("div", { class: "providers-test-result", "aria-live": "polite" }, resultBox()),
      h("div", { class: "dialog-buttons" },
        h("button", { class: "button button-secondary", type: "button", onclick: () => m.close() }, t("ui.close")),
        send));
    m.body.replaceChildren(form);
    return { to, send };
  }

  async function submit(event) {
    event.preventDefault();
    if (sending) return;
    const errors = [];
    if (!draft.to.trim()) errors.push({ field: "to", message: t("providers.form.required") });
    if (!draft.text.trim()) errors.push({ field: "text", message: t("providers.form.required") });
    if (errors.length) { markFieldErrors(form, localErrors(errors)); return; }
    markFieldErrors(form, null);
    sending = true;
    draft.result = null;
    draft.error = null;
    render();
    try {
      draft.result = await api("POST", `${base}/providers/${encodeURIComponent(provider.id)}/test-message`,
        { body: { to: draft.to.trim().replace(/[\s().-]/g, ""), text: draft.text } });
    } catch (error) {
      draft.error = error;
    }
    sending = false;
    render();
    if (draft.error) markFieldErrors(form, draft.error);
    if (onSent) onSent();
  }

  const { to } = render();
  to.focus();
  return { relabel: render, close: () => m.close() };
}
