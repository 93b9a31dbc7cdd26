// PyTake web admin: the shell (sign-in, session, navigation by role, tenant switcher) and the hash
// router that mounts one view module (public/views/*.js) at a time. Every module renders server
// values as text only, keeps tokens out of storage and has no inline code (strict CSP).

import * as session from "./lib/api.js";
import { ProblemError } from "./lib/api.js";
import { h, byId, replace } from "./lib/dom.js";
import { addTable, t, lang, setLang, onLangChange, translateTree } from "./lib/i18n.js";
import { errorText, problemBox, loading } from "./lib/ui.js";

addTable(`
skip|Skip to content|Pular para o conteúdo
language|Language|Idioma
signinHeading|Sign in|Entrar
subtitle|WhatsApp customer service control plane|Central de atendimento via WhatsApp
email|Email|E-mail
password|Password|Senha
signin|Sign in|Entrar
signingIn|Signing in…|Entrando…
whoEmail|Email|E-mail
whoRole|Role|Perfil
whoTenant|Tenant|Organização
platform|Platform|Plataforma
signout|Sign out|Sair
signingOut|Signing out…|Saindo…
footer|PyTake · WhatsApp customer service|PyTake · Atendimento via WhatsApp
tenantSwitch|Tenant|Organização
tenantNone|— choose a tenant —|— escolha uma organização —
working|Working…|Processando…
navLabel|Main|Principal
role.platform_admin|Platform admin|Administrador da plataforma
role.tenant_admin|Tenant admin|Administrador da organização
role.agent|Agent|Atendente
role.viewer|Viewer|Somente leitura
nav.platform|Platform|Plataforma
nav.tenants|Tenants|Organizações
nav.overview|Overview|Visão geral
nav.jobs|Job runs|Execuções de tarefas
nav.tenant|Tenant|Organização
nav.inbox|Inbox|Caixa de entrada
nav.flows|Flows|Fluxos
nav.providers|Providers|Provedores
nav.users|Users|Usuários
nav.settings|Settings|Configurações
nav.audit|Audit log|Auditoria
nav.metrics|Metrics|Métricas
missingFields|Enter your email and password.|Informe seu e-mail e sua senha.
throttled|Too many failed sign-ins. Try again in {0} s.|Muitas tentativas sem sucesso. Tente novamente em {0} s.
throttledNoWait|Too many failed sign-ins. Please wait before trying again.|Muitas tentativas sem sucesso. Aguarde antes de tentar novamente.
retryButton|Try again in {0}s|Tente em {0}s
profileFailed|Signed in, but your profile could not be loaded.|Sessão iniciada, mas não foi possível carregar seu perfil.
logoutFailed|You were signed out on this device, but the server could not confirm it.|Você saiu neste dispositivo, mas o servidor não confirmou o encerramento da sessão.
sessionEnded|Your session has ended. Sign in again.|Sua sessão terminou. Entre novamente.
notFoundView|There is no page at this address.|Não há página neste endereço.
forbiddenView|Your role cannot open this page.|Seu perfil não pode abrir esta página.
viewFailed|This page could not be loaded.|Não foi possível carregar esta página.
`);

// -- permissions

const ADMINS = ["platform_admin", "tenant_admin"];
const PERMISSIONS = {
  "tenants.manage": ["platform_admin"],
  "overview.read": ["platform_admin"],
  "jobs.read": ["platform_admin"],
  "tenant.write": ADMINS,
  "users.write": ADMINS,
  "providers.write": ADMINS,
  "flows.write": ADMINS,
  "audit.read": ADMINS,
  "inbox.act": ["platform_admin", "tenant_admin", "agent"],
  "customers.erase": ADMINS,
};

function can(permission) {
  if (!me) return false;
  const roles = PERMISSIONS[permission];
  if (!roles) throw new Error(`unknown permission ${permission}`);
  return roles.includes(me.role);
}

// -- routes

// Each view module exports `default async function mount(ctx)`; see README "Web admin".
const ROUTES = [
  { path: "/tenants", view: "tenants", nav: "tenants", need: "tenants.manage" },
  { path: "/overview", view: "metrics", nav: "overview", need: "overview.read", mode: "overview" },
  { path: "/jobs", view: "jobs", nav: "jobs", need: "jobs.read" },
  { path: "/tenants/:tenantId/inbox", view: "inbox", nav: "inbox" },
  { path: "/tenants/:tenantId/inbox/:conversationId", view: "inbox", nav: "inbox" },
  { path: "/tenants/:tenantId/flows", view: "flows", nav: "flows" },
  { path: "/tenants/:tenantId/flows/:flowId", view: "builder", nav: "flows" },
  { path: "/tenants/:tenantId/providers", view: "providers", nav: "providers" },
  { path: "/tenants/:tenantId/users", view: "users", nav: "users" },
  { path: "/tenants/:tenantId/settings", view: "settings", nav: "settings" },
  { path: "/tenants/:tenantId/audit", view: "audit", nav: "audit", need: "audit.read" },
  { path: "/tenants/:tenantId/metrics", view: "metrics", nav: "metrics", mode: "tenant" },
];

const TENANT_NAV = ["inbox", "flows", "providers", "users", "settings", "audit", "metrics"]
  .map((id) => ({ id, path: id, need: id === "audit" ? "audit.read" : null }));

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [pathPart, queryPart = ""] = raw.split("?");
  const path = pathPart.replace(/\/+$/, "") || "/";
  return { path, query: new URLSearchParams(queryPart) };
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const route of ROUTES) {
    const segs = route.path.split("/").filter(Boolean);
    if (segs.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < segs.length; i++) {
      if (segs[i].startsWith(":")) params[segs[i].slice(1)] = decodeURIComponent(parts[i]);
      else if (segs[i] !== parts[i]) { ok = false; break; }
    }
    if (ok) return { route, params };
  }
  return null;
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function homeHash() {
  if (!me) return "#/";
  if (me.role === "platform_admin") return currentTenantId ? `#/tenants/${currentTenantId}/inbox` : "#/tenants";
  if (me.role === "viewer") return `#/tenants/${me.tenant_id}/metrics`;
  return `#/tenants/${me.tenant_id}/inbox`;
}

// -- state

/** @type {{id: string, email: string, role: string, tenant_id: string | null} | null} */
let me = null;
let currentTenantId = null;
/** Tenants known to the switcher (platform_admin) or the user's own tenant. */
let tenants = [];
let mounted = null; // {controller, cleanups, langHandler, key}
let pending = false;
let retryUntil = 0;
let retryTimer = 0;
let currentError = null;
let busyCount = 0;

// els.signinForm is #signin-form, and so on.
const els = Object.fromEntries("app main nav view signin-form signin-panel signin-heading email password signin error whoami whoami-email whoami-role whoami-tenant signout lang tenant-picker tenant-switch busy"
  .split(" ").map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), byId(id)]));

// -- rendering the shell

function renderButtons() {
  const now = Date.now();
  const throttled = retryUntil > now;
  const signingIn = pending && !me;
  const signingOut = pending && !!me;
  els.signin.disabled = pending || throttled;
  els.signin.setAttribute("aria-busy", String(signingIn));
  if (signingIn) els.signin.textContent = t("signingIn");
  else if (throttled) els.signin.textContent = t("retryButton", Math.ceil((retryUntil - now) / 1000));
  else els.signin.textContent = t("signin");
  els.signinForm.setAttribute("aria-busy", String(signingIn));
  els.email.readOnly = signingIn;
  els.password.readOnly = signingIn;
  els.signout.disabled = signingOut;
  els.signout.textContent = signingOut ? t("signingOut") : t("signout");
}

function renderWhoami() {
  els.whoami.hidden = !me;
  const own = me && tenants.find((x) => x.id === me.tenant_id);
  els.whoamiEmail.textContent = me ? String(me.email ?? "") : "";
  els.whoamiRole.textContent = me ? t(`role.${me.role}`) : "";
  els.whoamiTenant.textContent = !me ? "" : me.tenant_id == null ? t("platform") : String(own ? own.name : me.tenant_id);
}

function signInErrorMessage(err) {
  if (err.kind === "key") return t(err.key);
  const p = err.error.problem || {};
  if (p.code === "login_throttled" || p.status === 429) {
    return p.retryAfter != null ? t("throttled", p.retryAfter) : t("throttledNoWait");
  }
  return errorText(err.error);
}

function renderError() {
  els.error.replaceChildren();
  if (!currentError) return;
  els.error.append(h("p", { class: "error-message" }, signInErrorMessage(currentError)));
  const p = currentError.error && currentError.error.problem;
  if (p && p.requestId) els.error.append(h("p", { class: "error-reference" }, t("ui.reference", String(p.requestId))));
}

function showError(err) {
  currentError = err;
  renderError();
}

function clearError() {
  currentError = null;
  renderError();
  els.email.removeAttribute("aria-invalid");
  els.password.removeAttribute("aria-invalid");
}

function renderTenantSwitch() {
  const show = !!me && me.role === "platform_admin";
  els.tenantPicker.hidden = !show;
  if (!show) return;
  const options = [h("option", { value: "" }, t("tenantNone"))];
  for (const tenant of tenants) {
    options.push(h("option", { value: tenant.id }, `${tenant.name} (${tenant.slug})`));
  }
  els.tenantSwitch.replaceChildren(...options);
  els.tenantSwitch.value = currentTenantId || "";
}

function navLink(hash, label, active, id) {
  return h("a", { href: hash, class: ["nav-link", active && "active"], "aria-current": active ? "page" : null, dataset: { nav: id } }, label);
}

function renderNav(activeNav) {
  const groups = [];
  if (me.role === "platform_admin") {
    groups.push(h("div", { class: "nav-group" },
      h("p", { class: "nav-heading" }, t("nav.platform")),
      navLink("#/tenants", t("nav.tenants"), activeNav === "tenants", "tenants"),
      navLink("#/overview", t("nav.overview"), activeNav === "overview", "overview"),
      navLink("#/jobs", t("nav.jobs"), activeNav === "jobs", "jobs")));
  }
  const tenantId = currentTenantId;
  if (tenantId) {
    const tenant = tenants.find((x) => x.id === tenantId);
    const links = TENANT_NAV.filter((item) => !item.need || can(item.need))
      .map((item) => navLink(`#/tenants/${tenantId}/${item.path}`, t(`nav.${item.id}`), activeNav === item.id, item.id));
    groups.push(h("div", { class: "nav-group" },
      h("p", { class: "nav-heading" }, tenant ? String(tenant.name) : t("nav.tenant")), links));
  }
  replace(els.nav, groups);
}

function setBusy(delta) {
  busyCount = Math.max(0, busyCount + delta);
  els.busy.hidden = busyCount === 0;
}

// -- views

function unmount() {
  if (!mounted) return;
  mounted.controller.abort();
  for (const fn of mounted.cleanups.reverse()) {
    try { fn(); } catch (error) { console.warn("PyTake: cleanup failed", error); }
  }
  mounted = null;
}

async function loadTenants() {
  if (!me) return;
  try {
    if (me.role === "platform_admin") {
      tenants = await session.listAll("/api/v1/tenants", { max: 1000 });
    } else if (me.tenant_id) {
      tenants = [await session.api("GET", `/api/v1/tenants/${me.tenant_id}`)];
    }
  } catch (error) {
    console.warn("PyTake: tenants could not be listed", error);
  }
}

async function route() {
  if (!me) return;
  const { path, query } = parseHash();
  if (path === "/") {
    // The Embedded Signup redirect lands here when it cannot name the tenant: its outcome
    // belongs to the providers page of the tenant being worked on.
    const tenant = currentTenantId || me.tenant_id;
    if (query.has("signup") && tenant) location.replace(`#/tenants/${tenant}/providers?${query}`);
    else location.replace(homeHash());
    return;
  }
  const found = match(path);
  unmount();
  const controller = new AbortController();
  const cleanups = [];
  const key = location.hash;
  mounted = { controller, cleanups, langHandler: null, key };

  if (!found) {
    renderNav(null);
    replace(els.view, h("div", { class: "view-message" }, h("h1", {}, t("notFoundView")), h("a", { href: homeHash() }, "PyTake")));
    return;
  }
  const { route: r, params } = found;
  if (params.tenantId) {
    if (me.role !== "platform_admin" && params.tenantId !== me.tenant_id) {
      location.replace(homeHash());
      return;
    }
    if (currentTenantId !== params.tenantId) {
      currentTenantId = params.tenantId;
      if (me.role === "platform_admin" && !tenants.some((x) => x.id === currentTenantId)) await loadTenants();
      renderTenantSwitch();
    }
  }
  renderNav(r.nav);
  if (r.need && !can(r.need)) {
    replace(els.view, h("div", { class: "view-message" }, h("h1", {}, t("forbiddenView"))));
    return;
  }
  replace(els.view, loading());
  let module;
  try {
    module = await import(`./views/${r.view}.js`);
  } catch (error) {
    console.error("PyTake: view failed to load", error);
    replace(els.view, h("div", { class: "view-message" }, h("h1", {}, t("viewFailed")), problemBox(error)));
    return;
  }
  if (mounted === null || mounted.controller !== controller) return; // navigated away meanwhile
  const root = h("div", { class: ["view-root", `view-${r.view}`] });
  replace(els.view, root);
  const ctx = {
    root,
    params,
    query,
    mode: r.mode,
    me,
    tenant: tenants.find((x) => x.id === params.tenantId) || null,
    tenants,
    can,
    navigate,
    signal: controller.signal,
    onCleanup: (fn) => cleanups.push(fn),
    setTitle: (text) => { document.title = text ? `${text} · PyTake` : "PyTake"; },
    keepOnLanguageChange: (fn) => { mounted.langHandler = fn; },
    refreshTenants: async () => { await loadTenants(); renderTenantSwitch(); renderNav(r.nav); renderWhoami(); },
    busy: async (promise) => { setBusy(1); try { return await promise; } finally { setBusy(-1); } },
  };
  ctx.setTitle(t(`nav.${r.nav}`));
  try {
    await module.default(ctx);
  } catch (error) {
    if (controller.signal.aborted) return;
    console.error("PyTake: view failed", error);
    if (error instanceof ProblemError && error.status === 401) return; // the session handler takes over
    root.replaceChildren(problemBox(error, { onRetry: () => route() }));
  }
}

// -- session

async function enter() {
  try {
    me = await session.fetchMe();
  } catch (error) {
    me = null;
    showView(false);
    showError({ kind: "key", key: "profileFailed", error });
    return;
  }
  if (me.role !== "platform_admin") currentTenantId = me.tenant_id;
  await loadTenants();
  showView(true);
  renderWhoami();
  renderTenantSwitch();
  await route();
}

function showView(signedIn) {
  els.main.hidden = signedIn;
  els.signinPanel.hidden = signedIn;
  els.app.hidden = !signedIn;
  renderWhoami();
  renderTenantSwitch();
}

function leave(message) {
  unmount();
  me = null;
  tenants = [];
  currentTenantId = null;
  els.view.replaceChildren();
  els.nav.replaceChildren();
  showView(false);
  if (message) showError({ kind: "key", key: message });
  renderButtons();
}

session.onSession((event) => {
  if (event === "expired" && me) leave("sessionEnded");
});

function stopRetryCountdown() {
  window.clearInterval(retryTimer);
  retryTimer = 0;
  retryUntil = 0;
  renderButtons();
}

function startRetryCountdown(seconds) {
  retryUntil = Date.now() + seconds * 1000;
  window.clearInterval(retryTimer);
  retryTimer = window.setInterval(() => {
    if (Date.now() >= retryUntil) stopRetryCountdown();
    else renderButtons();
  }, 1000);
  renderButtons();
}

async function signIn(event) {
  event.preventDefault();
  if (pending || retryUntil > Date.now()) return;
  const email = els.email.value.trim();
  const password = els.password.value;
  if (!email || !password) {
    showError({ kind: "key", key: "missingFields" });
    (email ? els.password : els.email).focus();
    return;
  }
  clearError();
  pending = true;
  renderButtons();
  try {
    await session.login(email, password);
  } catch (error) {
    pending = false;
    showError({ kind: "problem", error });
    const p = error instanceof ProblemError ? error.problem : null;
    if (p && p.status === 429 && p.retryAfter) startRetryCountdown(p.retryAfter);
    if (p && p.code === "invalid_credentials") {
      els.email.setAttribute("aria-invalid", "true");
      els.password.setAttribute("aria-invalid", "true");
    }
    renderButtons();
    els.password.value = "";
    els.password.focus();
    return;
  }
  pending = false;
  els.password.value = "";
  renderButtons();
  await enter();
  if (me) els.view.focus();
}

async function signOut() {
  if (pending || !me) return;
  pending = true;
  renderButtons();
  let failed = false;
  try {
    await session.logout();
  } catch (error) {
    failed = true;
    console.warn("PyTake: sign out was not confirmed", error);
  }
  pending = false;
  leave(failed ? "logoutFailed" : null);
  clearError();
  if (failed) showError({ kind: "key", key: "logoutFailed" });
  els.signinHeading.focus();
}

function applyLanguage() {
  document.documentElement.lang = lang();
  els.lang.value = lang();
  translateTree(document);
  renderButtons();
  renderWhoami();
  renderError();
  renderTenantSwitch();
  if (!me) {
    document.title = `${t("signinHeading")} · PyTake`;
    return;
  }
  if (mounted && mounted.langHandler) {
    const { route: r } = match(parseHash().path) || {};
    if (r) renderNav(r.nav);
    mounted.langHandler(lang());
  } else {
    route();
  }
}

// -- start

els.signinForm.addEventListener("submit", signIn);
els.signout.addEventListener("click", signOut);
els.lang.addEventListener("change", () => setLang(els.lang.value));
els.tenantSwitch.addEventListener("change", () => {
  const id = els.tenantSwitch.value;
  currentTenantId = id || null;
  if (!id) { navigate("#/tenants"); return; }
  const { path } = parseHash();
  const m = match(path);
  const section = m && m.params.tenantId ? m.route.nav : "inbox";
  const item = TENANT_NAV.find((x) => x.id === section) || TENANT_NAV[0];
  navigate(`#/tenants/${id}/${item.path}`);
});
window.addEventListener("hashchange", () => { if (me) route(); });
onLangChange(applyLanguage);

applyLanguage();
(async () => {
  let resumed = false;
  try {
    resumed = await session.resume();
  } catch (error) {
    console.warn("PyTake: could not resume the session", error);
  }
  if (resumed) await enter();
  renderButtons();
})();

// Errors that escape a view are shown, not swallowed.
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof ProblemError && event.reason.status === 401) return;
  console.error("PyTake: unhandled", event.reason);
});
