// Shared widgets: problem messages, toasts, confirmation dialogs, loading and empty states,
// cursor pagination, and labelled form fields with per-field errors.

import { h, uid } from "./dom.js";
import { addTable, t, has } from "./i18n.js";
import { ProblemError, NetworkError } from "./api.js";

addTable(`
ui.loading|Loading…|Carregando…
ui.empty|Nothing here yet.|Nada aqui ainda.
ui.cancel|Cancel|Cancelar
ui.confirm|Confirm|Confirmar
ui.close|Close|Fechar
ui.saving|Saving…|Salvando…
ui.retry|Retry|Tentar de novo
ui.more|Load more|Carregar mais
ui.fieldErrors|Check these fields:|Verifique estes campos:
ui.reference|Reference: {0}|Referência: {0}
ui.network|Could not reach the server. Check your connection and try again.|Não foi possível falar com o servidor. Verifique sua conexão e tente novamente.
ui.unexpected|Unexpected response from the server (HTTP {0}).|Resposta inesperada do servidor (HTTP {0}).
ui.throttled|Too many requests. Try again in {0} s.|Muitas solicitações. Tente novamente em {0} s.
code.invalid_credentials|Email or password is incorrect.|E-mail ou senha incorretos.
code.tenant_inactive|This account's tenant is suspended or deleted.|A organização desta conta está suspensa ou foi excluída.
code.database_unavailable|The service is temporarily unavailable. Please try again shortly.|O serviço está temporariamente indisponível. Tente novamente em instantes.
code.forbidden|Your role does not allow this.|Seu perfil não permite esta ação.
code.not_found|Not found: it may have been deleted, or it belongs to another tenant.|Não encontrado: pode ter sido excluído ou pertencer a outra organização.
`);

/** The message for an error: a translated stable code, else the server's detail. */
export function errorText(error) {
  if (error instanceof NetworkError) return t("ui.network");
  if (!(error instanceof ProblemError)) return String(error && error.message ? error.message : error);
  const p = error.problem;
  if (p.status === 429 && p.retryAfter != null && p.code !== "login_throttled") return t("ui.throttled", p.retryAfter);
  const key = p.code ? `code.${p.code}` : null;
  // English shows the server's own detail (most precise); other languages prefer a translation.
  if (key && has(key) && (document.documentElement.lang !== "en" || !p.detail)) return t(key);
  if (p.detail) return p.detail;
  if (key && has(key)) return t(key);
  return p.title || t("ui.unexpected", p.status);
}

/** A block describing an error: message, field errors, flow problems and the request reference. */
export function problemBox(error, { onRetry } = {}) {
  const box = h("div", { class: "problem", role: "alert" });
  box.append(h("p", { class: "problem-message" }, errorText(error)));
  if (error instanceof ProblemError) {
    const p = error.problem;
    if (p.errors && p.errors.length) {
      box.append(h("ul", { class: "problem-fields" }, p.errors.map((e) => h("li", {}, h("code", {}, String(e.field)), " ", String(e.message)))));
    }
    if (p.providerError) {
      const pe = p.providerError;
      const parts = [pe.provider_type, pe.step && `step ${pe.step}`, pe.code && `code ${pe.code}`, pe.http_status && `HTTP ${pe.http_status}`, pe.message].filter(Boolean);
      box.append(h("p", { class: "problem-provider" }, parts.join(" · ")));
    }
    if (p.requestId) box.append(h("p", { class: "problem-ref" }, t("ui.reference", p.requestId)));
  }
  if (onRetry) box.append(h("button", { class: "button button-secondary", type: "button", onclick: onRetry }, t("ui.retry")));
  return box;
}

/** Marks the inputs named by a 422's `errors` (by data-field) and returns the unmatched ones. */
export function markFieldErrors(form, error) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  if (!(error instanceof ProblemError)) return [];
  const unmatched = [];
  for (const e of error.problem.errors || []) {
    const field = form.querySelector(`[data-field="${CSS.escape(String(e.field))}"]`);
    if (!field) { unmatched.push(e); continue; }
    const input = field.querySelector("input, select, textarea");
    if (input) input.setAttribute("aria-invalid", "true");
    const slot = field.querySelector(".field-error");
    if (slot) slot.textContent = String(e.message);
  }
  return unmatched;
}

/**
 * A labelled field: field({label, name, input}) where input is an element (input/select/textarea).
 * `name` is the API's field path, used to show 422 errors next to it.
 */
export function field({ label, name, input, hint }) {
  const id = input.id || uid("f");
  input.id = id;
  if (name && !input.name) input.name = name;
  const hintId = hint ? uid("hint") : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field", dataset: { field: name || "" } },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "field-hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", "aria-live": "polite" }));
}

export function loading(text) {
  return h("div", { class: "loading", role: "status", "aria-live": "polite" },
    h("span", { class: "spinner", "aria-hidden": "true" }), text || t("ui.loading"));
}

export function empty(text) {
  return h("div", { class: "empty" }, text || t("ui.empty"));
}

let toastHost = null;
/** A short message at the bottom of the page; kind is "ok" or "error". */
export function toast(text, kind = "ok") {
  if (!toastHost) {
    toastHost = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastHost);
  }
  const el = h("div", { class: ["toast", `toast-${kind}`] }, text);
  toastHost.append(el);
  window.setTimeout(() => el.remove(), kind === "error" ? 8000 : 3500);
}

/**
 * A modal dialog (<dialog>) with content and buttons; resolves with the clicked button's value
 * ("cancel" when dismissed). confirmDialog() is the common yes/no case.
 */
export function dialog({ title, body, buttons, className }) {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: ["dialog", className], "aria-labelledby": "dialog-title" });
    const form = h("form", { method: "dialog" },
      h("h2", { id: "dialog-title", class: "dialog-title" }, title),
      h("div", { class: "dialog-body" }, body),
      h("div", { class: "dialog-buttons" }, buttons.map((b) =>
        h("button", { class: ["button", b.kind === "danger" ? "button-danger" : b.kind === "primary" ? "button-primary" : "button-secondary"], value: b.value, type: "submit", dataset: { value: b.value } }, b.label))));
    dlg.append(form);
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue || "cancel");
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export async function confirmDialog({ title, message, confirm, danger = false }) {
  const answer = await dialog({
    title,
    body: h("p", {}, message),
    buttons: [
      { value: "cancel", label: t("ui.cancel") },
      { value: "ok", label: confirm || t("ui.confirm"), kind: danger ? "danger" : "primary" },
    ],
  });
  return answer === "ok";
}
