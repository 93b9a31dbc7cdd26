// Providers page (#/tenants/:tenantId/providers): the tenant's WhatsApp provider instances (list,
// create, edit, remove, test send), how credentials resolve per provider type (instance or legacy
// tenant columns), and connecting a number with Meta's Embedded Signup.
//
// Secrets are write-only: the API returns them masked (last 4 characters), and not at all to agents
// and viewers; forms send a secret only when one is typed.

import { h, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, listAll, ProblemError } from "../lib/api.js";
import { problemBox, loading, empty, toast, confirmDialog, errorText } from "../lib/ui.js";
import "./providers-i18n.js";
import { TYPE_ORDER, typeLabel, typeChip, openProviderForm, openTestMessage } from "./providers-form.js";
import { createSignup, redirectOutcome, redirectBanner } from "./providers-signup.js";

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}`;
  const canWrite = ctx.can("providers.write");
  const state = {
    providers: null, // null while loading
    listError: null,
    creds: Object.fromEntries(TYPE_ORDER.map((type) => [type, { status: "loading" }])),
    listPending: 0,
    credsPending: 0,
    redirect: redirectOutcome(ctx.query),
    highlight: null,
  };
  if (state.redirect && state.redirect.ok) state.highlight = state.redirect.provider;
  const dialogs = new Set();

  const header = h("div", { class: "page-header providers-header" });
  const banner = h("div", { class: "providers-banner-slot" });
  const signup = createSignup({
    base,
    signal: ctx.signal,
    onConnected: (provider) => {
      state.highlight = provider.id;
      toast(t("providers.created", provider.name));
      reload();
    },
    onChange: () => renderHeader(),
  });
  const listSection = h("section", { class: "providers-list-section", "aria-labelledby": "providers-list-title" });
  const credsSection = h("section", { class: "section providers-creds", id: "providers-creds", "aria-labelledby": "providers-creds-title" });
  ctx.root.replaceChildren(header, banner, signup.element, listSection, credsSection);

  ctx.onCleanup(() => { for (const d of [...dialogs]) d.close(); });
  ctx.keepOnLanguageChange(() => {
    ctx.setTitle(t("nav.providers"));
    renderAll();
    signup.render();
    for (const d of dialogs) d.relabel();
  });

  // ---------------------------------------------------------------- actions

  function track(handle) {
    dialogs.add(handle);
    return handle;
  }

  function openForm(options) {
    let handle = null;
    handle = track(openProviderForm({
      base,
      canSeeSecrets: canWrite,
      ...options,
      onClose: () => dialogs.delete(handle),
      onSaved: (provider, created) => {
        state.highlight = provider.id;
        toast(created ? t("providers.created", provider.name) : t("providers.saved", provider.name));
        reload();
      },
    }));
  }

  function openTest(provider) {
    let handle = null;
    handle = track(openTestMessage({ base, provider, onClose: () => dialogs.delete(handle), onSent: () => loadProviders() }));
  }

  async function remove(provider) {
    const ok = await confirmDialog({
      title: t("providers.removeTitle"),
      message: t("providers.removeMessage", provider.name),
      confirm: t("providers.remove"),
      danger: true,
    });
    if (!ok || ctx.signal.aborted) return;
    try {
      await ctx.busy(api("DELETE", `${base}/providers/${encodeURIComponent(provider.id)}`, { signal: ctx.signal }));
      toast(t("providers.removed", provider.name));
    } catch (error) {
      if (ctx.signal.aborted) return;
      if (!(error instanceof ProblemError && error.status === 404)) {
        toast(errorText(error), "error");
      }
    }
    reload();
  }

  function dismissRedirect() {
    state.redirect = null;
    renderBanner();
    // Drop ?signup=… from the address without re-mounting.
    history.replaceState(null, "", `#/tenants/${encodeURIComponent(tenantId)}/providers`);
  }

  // ---------------------------------------------------------------- loading

  async function loadProviders() {
    state.listPending += 1;
    listSection.setAttribute("aria-busy", "true");
    try {
      const items = await listAll(`${base}/providers`, { signal: ctx.signal });
      if (ctx.signal.aborted) return;
      state.providers = items;
      state.listError = null;
    } catch (error) {
      if (ctx.signal.aborted || (error && error.name === "AbortError")) return;
      state.listError = error;
    } finally {
      state.listPending -= 1;
    }
    renderList();
    renderBanner();
  }

  async function loadCreds(type) {
    state.credsPending += 1;
    credsSection.setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", `${base}/credentials/${type}`, { signal: ctx.signal });
      if (ctx.signal.aborted) return;
      state.creds[type] = { status: "ok", data };
    } catch (error) {
      if (ctx.signal.aborted || (error && error.name === "AbortError")) return;
      state.creds[type] = error instanceof ProblemError && error.code === "no_credentials" ? { status: "none" } : { status: "error", error };
    } finally {
      state.credsPending -= 1;
    }
    renderCreds();
  }

  function reload() {
    if (ctx.signal.aborted) return;
    loadProviders();
    for (const type of TYPE_ORDER) loadCreds(type);
  }

  // ---------------------------------------------------------------- rendering

  function renderAll() {
    renderHeader();
    renderBanner();
    renderList();
    renderCreds();
  }

  function renderHeader() {
    const tenantName = ctx.tenant ? String(ctx.tenant.name) : "";
    header.replaceChildren(
      h("div", { class: "providers-heading" },
        h("h1", {}, t("providers.title")),
        h("p", { class: "providers-subtitle" }, tenantName ? `${tenantName} · ${t("providers.subtitle")}` : t("providers.subtitle"))),
      canWrite
        ? h("div", { class: "toolbar" },
          h("button", {
            class: "button button-secondary providers-add", id: "providers-add", type: "button", dataset: { write: "" },
            onclick: () => openForm({}),
          }, "+ ", t("providers.add")),
          h("button", {
            class: "button button-primary providers-connect", id: "providers-connect-meta", type: "button", dataset: { write: "" },
            disabled: signup.running, "aria-busy": signup.running ? "true" : null,
            onclick: () => { state.redirect = null; renderBanner(); signup.start(); },
          }, signup.running ? t("providers.signup.running") : t("providers.connectMeta")))
        : h("p", { class: "providers-readonly" }, t("providers.readOnly")));
  }

  function renderBanner() {
    if (!state.redirect) { banner.replaceChildren(); return; }
    const provider = state.redirect.ok && state.providers ? state.providers.find((p) => p.id === state.redirect.provider) : null;
    banner.replaceChildren(redirectBanner(state.redirect, {
      provider,
      canWrite,
      onRetry: () => { dismissRedirect(); signup.start(); },
      onDismiss: dismissRedirect,
    }));
  }

  function renderList() {
    listSection.setAttribute("aria-busy", String(state.listPending > 0));
    const title = h("h2", { id: "providers-list-title", class: "providers-section-title" }, t("providers.instances"),
      state.providers ? h("span", { class: "providers-count" }, String(state.providers.length)) : null);
    if (state.listError) {
      listSection.replaceChildren(title, problemBox(state.listError, { onRetry: () => { state.listError = null; renderList(); loadProviders(); } }));
      return;
    }
    if (!state.providers) {
      listSection.replaceChildren(title, loading());
      return;
    }
    if (state.providers.length === 0) {
      listSection.replaceChildren(title, empty(t("providers.empty")));
      return;
    }
    listSection.replaceChildren(title, h("div", { class: "providers-grid", id: "providers-list" }, state.providers.map(card)));
  }

  function row(label, value, attrs = {}) {
    return h("div", { class: "providers-row", ...attrs }, h("dt", {}, label), h("dd", {}, value));
  }

  function secret(masked) {
    if (masked) return h("code", { class: "providers-secret" }, String(masked));
    return h("span", { class: "providers-muted" }, canWrite ? t("providers.notSet") : t("providers.secretHidden"));
  }

  function breakerBadge(breaker) {
    if (!breaker) return null;
    if (breaker.state === "open") {
      const at = breaker.retry_at ? new Date(breaker.retry_at).toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : null;
      return h("span", { class: "status status-bad providers-breaker" }, t("providers.breaker.open", at));
    }
    if (breaker.state === "half_open") return h("span", { class: "status status-bad providers-breaker" }, t("providers.breaker.half_open"));
    if (breaker.consecutive_failures > 0) return h("span", { class: "status status-muted providers-breaker" }, t("providers.breaker.failures", breaker.consecutive_failures));
    return null;
  }

  function card(p) {
    const config = p.config || {};
    const type = p.provider_type;
    const rows = [];
    if (type === "meta") {
      if (config.display_phone_number) rows.push(row(t("providers.field.phone"), h("span", { class: "providers-phone" }, String(config.display_phone_number))));
      rows.push(row(t("providers.field.phone_number_id"), h("code", {}, String(config.phone_number_id ?? "–"))));
      if (config.waba_id) rows.push(row(t("providers.field.waba"), h("code", {}, String(config.waba_id))));
      if (config.business_id) rows.push(row(t("providers.field.business_id"), h("code", {}, String(config.business_id))));
    } else if (type === "uazapi") {
      if (config.instance) rows.push(row(t("providers.field.instance"), h("code", {}, String(config.instance))));
    } else if (type === "lancepilot") {
      rows.push(row(t("providers.field.workspace_id"), h("code", {}, String(config.workspace_id ?? "–"))));
    }
    rows.push(row(t("providers.field.api_url"), p.api_url
      ? h("span", { class: "providers-url" }, String(p.api_url))
      : h("span", { class: "providers-muted" }, t("providers.platformDefault"))));
    rows.push(row(t("providers.field.token"), secret(p.token_masked), { dataset: { secret: "token" } }));
    if (type === "meta" && canWrite) {
      rows.push(row(t("providers.field.app_secret"), config.app_secret_masked
        ? h("code", { class: "providers-secret" }, String(config.app_secret_masked))
        : h("span", { class: "providers-muted" }, t("providers.appSecretDefault"))));
    }
    rows.push(row(t("providers.field.updated"), formatDateTime(p.updated_at, lang())));

    const isNew = state.highlight && state.highlight === p.id;
    return h("article", { class: ["providers-card", !p.active && "providers-card-inactive", isNew && "providers-card-new"], dataset: { providerId: p.id, type } },
      h("header", { class: "providers-card-head" },
        typeChip(type),
        h("div", { class: "providers-card-title" },
          h("h3", { class: "providers-name" }, String(p.name ?? "")),
          h("p", { class: "providers-card-sub" }, typeLabel(type), " · ", t("providers.priority", p.priority))),
        h("div", { class: "providers-card-badges" },
          isNew ? h("span", { class: "badge providers-new" }, t("providers.new")) : null,
          h("span", { class: ["status", p.active ? "providers-status-active" : "status-muted"], dataset: { active: String(Boolean(p.active)) } },
            p.active ? t("providers.active") : t("providers.inactive")),
          breakerBadge(p.breaker))),
      h("dl", { class: "providers-details" }, rows),
      canWrite
        ? h("footer", { class: "providers-card-actions" },
          h("button", { class: "button button-secondary button-small providers-test", type: "button", dataset: { write: "" }, onclick: () => openTest(p) }, t("providers.test")),
          h("span", { class: "providers-spacer" }),
          h("button", { class: "button button-secondary button-small providers-edit", type: "button", dataset: { write: "" }, onclick: () => openForm({ provider: p }) }, t("providers.edit")),
          h("button", { class: "button button-small providers-remove", type: "button", dataset: { write: "" }, onclick: () => remove(p) }, t("providers.remove")))
        : null);
  }

  function sourcePill(source) {
    if (!source) return h("span", { class: "providers-source providers-source-none", dataset: { source: "none" } }, t("providers.source.none"));
    const legacy = source !== "client_providers";
    return h("span", { class: ["providers-source", legacy ? "providers-source-legacy" : "providers-source-instance"], dataset: { source } },
      t(`providers.source.${source}`), " ", h("code", {}, source));
  }

  function credsCard(type) {
    const entry = state.creds[type];
    const head = h("header", { class: "providers-creds-head" }, typeChip(type), h("h3", {}, typeLabel(type)));
    let body;
    if (entry.status === "loading") {
      body = loading();
    } else if (entry.status === "error") {
      body = problemBox(entry.error, { onRetry: () => { state.creds[type] = { status: "loading" }; renderCreds(); loadCreds(type); } });
    } else if (entry.status === "none") {
      body = [
        h("p", { class: "providers-creds-empty" }, t("providers.creds.none")),
        canWrite
          ? h("button", { class: "button button-secondary button-small", type: "button", dataset: { write: "" }, onclick: () => openForm({ preset: { type } }) },
            t("providers.creds.addType", typeLabel(type)))
          : null,
      ];
    } else {
      const c = entry.data;
      const src = c.source || {};
      const legacy = [src.api_url, src.token].some((s) => s && s !== "client_providers");
      body = [
        h("dl", { class: "providers-details" },
          row(t("providers.creds.instance"), c.provider_id
            ? h("span", { class: "providers-creds-instance" }, String(c.provider_name ?? c.provider_id))
            : h("span", { class: "providers-muted" }, t("providers.creds.legacyRecord"))),
          row(t("providers.field.api_url"), h("div", { class: "providers-creds-value" },
            c.api_url ? h("span", { class: "providers-url" }, String(c.api_url)) : h("span", { class: "providers-muted" }, t("providers.notSet")),
            sourcePill(src.api_url)), { dataset: { cred: "api_url" } }),
          row(t("providers.field.token"), h("div", { class: "providers-creds-value" }, secret(c.token_masked), sourcePill(src.token)), { dataset: { cred: "token" } })),
        c.mixed ? h("p", { class: "providers-creds-note" }, t("providers.creds.mixed")) : null,
        !c.api_url && type === "uazapi" ? h("p", { class: "providers-creds-note" }, t("providers.creds.noUrl")) : null,
        legacy
          ? h("div", { class: "providers-legacy-warning", role: "note" },
            h("span", { class: "providers-warning-icon", "aria-hidden": "true" }, "!"),
            h("div", {},
              h("strong", {}, t("providers.creds.legacyTitle")),
              h("p", {}, t("providers.creds.legacyText")),
              canWrite
                ? h("button", {
                  class: "button button-secondary button-small providers-migrate", type: "button", dataset: { write: "" },
                  onclick: () => openForm({ preset: { type, api_url: c.api_url || "" } }),
                }, t("providers.creds.migrate"))
                : null))
          : null,
      ];
    }
    const status = entry.status === "ok"
      ? ([entry.data.source?.api_url, entry.data.source?.token].some((s) => s && s !== "client_providers") ? "legacy" : "instance")
      : entry.status;
    return h("article", { class: ["providers-creds-card", `providers-creds-card-${status}`], dataset: { type, status } }, head, body);
  }

  function renderCreds() {
    credsSection.setAttribute("aria-busy", String(state.credsPending > 0));
    credsSection.replaceChildren(
      h("div", { class: "providers-creds-top" },
        h("div", {},
          h("h2", { id: "providers-creds-title" }, t("providers.creds.title")),
          h("p", { class: "providers-subtitle" }, t("providers.creds.intro"))),
        h("button", {
          class: "button button-secondary button-small", type: "button",
          onclick: () => { for (const type of TYPE_ORDER) { state.creds[type] = { status: "loading" }; loadCreds(type); } renderCreds(); },
        }, t("providers.refresh"))),
      h("div", { class: "providers-creds-grid" }, TYPE_ORDER.map(credsCard)));
  }

  renderAll();
  reload();
}
