// Shared widgets: problem messages, toasts, confirmation dialogs, loading and empty states,
// cursor pagination, and labelled form fields with per-field errors.

import { h, uid } from "./dom.js";
import { addStrings, t, has } from "./i18n.js";
import { ProblemError, NetworkError } from "./api.js";

addStrings({
  en: {
    "ui.loading": "Loading…",
    "ui.empty": "Nothing here yet.",
    "ui.more": "Load more",
    "ui.cancel": "Cancel",
    "ui.confirm": "Confirm",
    "ui.close": "Close",
    "ui.save": "Save",
    "ui.saving": "Saving…",
    "ui.saved": "Saved.",
    "ui.retry": "Retry",
    "ui.reference": (id) => `Reference: ${id}`,
    "ui.network": "Could not reach the server. Check your connection and try again.",
    "ui.unexpected": (status) => `Unexpected response from the server (HTTP ${status}).`,
    "ui.throttled": (n) => `Too many requests. Try again in ${n} s.`,
    "ui.fieldErrors": "Check these fields:",
    "code.invalid_credentials": "Email or password is incorrect.",
    "code.tenant_inactive": "This account's tenant is suspended or deleted.",
    "code.database_unavailable": "The service is temporarily unavailable. Please try again shortly.",
    "code.forbidden": "Your role does not allow this.",
    "code.not_found": "Not found: it may have been deleted, or it belongs to another tenant.",
    "code.session_expired": "Your session has ended. Sign in again.",
  },
  "pt-BR": {
    "ui.loading": "Carregando…",
    "ui.empty": "Nada aqui ainda.",
    "ui.more": "Carregar mais",
    "ui.cancel": "Cancelar",
    "ui.confirm": "Confirmar",
    "ui.close": "Fechar",
    "ui.save": "Salvar",
    "ui.saving": "Salvando…",
    "ui.saved": "Salvo.",
    "ui.retry": "Tentar de novo",
    "ui.reference": (id) => `Referência: ${id}`,
    "ui.network": "Não foi possível falar com o servidor. Verifique sua conexão e tente novamente.",
    "ui.unexpected": (status) => `Resposta inesperada do servidor (HTTP ${status}).`,
    "ui.throttled": (n) => `Muitas solicitações. Tente novamente em ${n} s.`,
    "ui.fieldErrors": "Verifique estes campos:",
    "code.invalid_credentials": "E-mail ou senha incorretos.",
    "code.tenant_inactive": "A organização desta conta está suspensa ou foi excluída.",
    "code.database_unavailable": "O serviço está temporariamente indisponível. Tente novamente em instantes.",
    "code.forbidden": "Seu perfil não permite esta ação.",
    "code.not_found": "Não encontrado: pode ter sido excluído ou pertencer a outra organização.",
    "code.session_expired": "Sua sessão terminou. Entre novamente.",
  },
});

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

/**
 * A list with cursor pages: loadPage(cursor) resolves {items, next_cursor}; renderItems(items)
 * returns nodes to append. Returns {element, reload()}.
 */
export function pagedList({ loadPage, renderItems, emptyText, container }) {
  const host = container || h("div", { class: "paged" });
  const list = h("div", { class: "paged-items" });
  const footer = h("div", { class: "paged-footer" });
  host.replaceChildren(list, footer);
  let cursor = null;
  let generation = 0;
  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) { cursor = null; list.replaceChildren(); }
    footer.replaceChildren(loading());
    try {
      const page = await loadPage(cursor);
      if (mine !== generation) return;
      const items = page.items || [];
      if (reset && items.length === 0) list.replaceChildren(empty(emptyText));
      else list.append(...[renderItems(items)].flat());
      cursor = page.next_cursor || null;
      footer.replaceChildren(cursor ? h("button", { class: "button button-secondary", type: "button", onclick: () => load(false) }, t("ui.more")) : "");
    } catch (error) {
      if (mine !== generation) return;
      footer.replaceChildren(problemBox(error, { onRetry: () => load(reset) }));
    }
  }
  load(true);
  return { element: host, reload: () => load(true) };
}
