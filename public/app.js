// PyTake sign-in page.
//
// Rules kept by this module:
// - every value that comes from the server or the user is rendered with textContent;
// - tokens live only in the `session` variable below (memory), never in web storage or cookies;
// - no inline scripts or styles, so the page works under the server's strict CSP.

const API = {
  login: "/api/v1/auth/login",
  logout: "/api/v1/auth/logout",
  me: "/api/v1/me",
};

const SUPPORTED_LANGS = ["en", "pt-BR"];

const STRINGS = {
  en: {
    title: "Sign in · PyTake",
    skip: "Skip to content",
    language: "Language",
    signinHeading: "Sign in",
    subtitle: "WhatsApp customer service control plane",
    email: "Email",
    password: "Password",
    signin: "Sign in",
    signingIn: "Signing in…",
    signedIn: "Signed in",
    whoEmail: "Email",
    whoRole: "Role",
    whoTenant: "Tenant",
    platform: "Platform",
    signout: "Sign out",
    signingOut: "Signing out…",
    footer: "PyTake · WhatsApp customer service",
    roles: {
      platform_admin: "Platform admin",
      tenant_admin: "Tenant admin",
      agent: "Agent",
      viewer: "Viewer",
    },
    // Used only when the server's problem has no `detail`.
    codes: {
      invalid_credentials: "Email or password is incorrect.",
      tenant_inactive: "This account's tenant is suspended or deleted.",
      invalid_request: "The request was not valid.",
      database_unavailable: "The service is temporarily unavailable. Please try again shortly.",
    },
    missingFields: "Enter your email and password.",
    throttled: (n) =>
      `Too many failed sign-ins. Try again in ${n} ${n === 1 ? "second" : "seconds"}` +
      (n >= 90 ? ` (about ${Math.round(n / 60)} minutes).` : "."),
    throttledNoWait: "Too many failed sign-ins. Please wait before trying again.",
    retryButton: (n) => `Try again in ${n}s`,
    network: "Could not reach the server. Check your connection and try again.",
    unexpected: (status) => `Unexpected response from the server (HTTP ${status}).`,
    profileFailed: "Signed in, but your profile could not be loaded.",
    logoutFailed: "You were signed out on this device, but the server could not confirm it.",
    reference: (id) => `Reference: ${id}`,
  },
  "pt-BR": {
    title: "Entrar · PyTake",
    skip: "Pular para o conteúdo",
    language: "Idioma",
    signinHeading: "Entrar",
    subtitle: "Central de atendimento via WhatsApp",
    email: "E-mail",
    password: "Senha",
    signin: "Entrar",
    signingIn: "Entrando…",
    signedIn: "Sessão iniciada",
    whoEmail: "E-mail",
    whoRole: "Perfil",
    whoTenant: "Organização",
    platform: "Plataforma",
    signout: "Sair",
    signingOut: "Saindo…",
    footer: "PyTake · Atendimento via WhatsApp",
    roles: {
      platform_admin: "Administrador da plataforma",
      tenant_admin: "Administrador da organização",
      agent: "Atendente",
      viewer: "Somente leitura",
    },
    // The server writes `detail` in English; in Portuguese known codes are shown translated.
    codes: {
      invalid_credentials: "E-mail ou senha incorretos.",
      tenant_inactive: "A organização desta conta está suspensa ou foi excluída.",
      invalid_request: "A solicitação não é válida.",
      database_unavailable: "O serviço está temporariamente indisponível. Tente novamente em instantes.",
    },
    missingFields: "Informe seu e-mail e sua senha.",
    throttled: (n) =>
      `Muitas tentativas de acesso sem sucesso. Tente novamente em ${n} ${n === 1 ? "segundo" : "segundos"}` +
      (n >= 90 ? ` (cerca de ${Math.round(n / 60)} minutos).` : "."),
    throttledNoWait: "Muitas tentativas de acesso sem sucesso. Aguarde antes de tentar novamente.",
    retryButton: (n) => `Tente em ${n}s`,
    network: "Não foi possível falar com o servidor. Verifique sua conexão e tente novamente.",
    unexpected: (status) => `Resposta inesperada do servidor (HTTP ${status}).`,
    profileFailed: "Sessão iniciada, mas não foi possível carregar seu perfil.",
    logoutFailed: "Você saiu neste dispositivo, mas o servidor não confirmou o encerramento da sessão.",
    reference: (id) => `Referência: ${id}`,
  },
};

// ---------------------------------------------------------------- state (memory only)

/** @type {{accessToken: string, refreshToken: string, expiresAt: number} | null} */
let session = null;
/** @type {{id: string, email: string, role: string, tenant_id: string | null} | null} */
let me = null;
let lang = pickInitialLanguage();
let pending = false; // a sign-in or sign-out request is in flight
let retryUntil = 0; // epoch ms until which sign-in is throttled
let retryTimer = 0;
/** The error currently shown, kept abstract so it can be re-rendered in another language. */
let currentError = null;

// ---------------------------------------------------------------- elements

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
};

const els = {
  form: $("signin-form"),
  signinPanel: $("signin-panel"),
  signinHeading: $("signin-heading"),
  email: $("email"),
  password: $("password"),
  signin: $("signin"),
  error: $("error"),
  whoami: $("whoami"),
  whoamiHeading: $("whoami-heading"),
  whoamiEmail: $("whoami-email"),
  whoamiRole: $("whoami-role"),
  whoamiTenant: $("whoami-tenant"),
  signout: $("signout"),
  lang: $("lang"),
};

// ---------------------------------------------------------------- i18n

function pickInitialLanguage() {
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    const lower = String(tag).toLowerCase();
    if (lower === "pt" || lower.startsWith("pt-")) return "pt-BR";
    if (lower === "en" || lower.startsWith("en-")) return "en";
  }
  return "en";
}

function t(key) {
  const table = STRINGS[lang] || STRINGS.en;
  return key in table ? table[key] : STRINGS.en[key];
}

function roleLabel(role) {
  const roles = t("roles");
  return Object.prototype.hasOwnProperty.call(roles, role) ? roles[role] : String(role);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  els.lang.value = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const value = t(el.dataset.i18n);
    if (typeof value === "string") el.textContent = value;
  }
  renderButtons();
  renderWhoami();
  renderError();
}

// ---------------------------------------------------------------- rendering

function renderButtons() {
  const now = Date.now();
  const throttled = retryUntil > now;
  const signingIn = pending && !session;
  const signingOut = pending && !!session;

  els.signin.disabled = pending || throttled;
  els.signin.setAttribute("aria-busy", String(signingIn));
  if (signingIn) {
    els.signin.textContent = t("signingIn");
  } else if (throttled) {
    els.signin.textContent = t("retryButton")(Math.ceil((retryUntil - now) / 1000));
  } else {
    els.signin.textContent = t("signin");
  }
  els.form.setAttribute("aria-busy", String(signingIn));
  els.email.readOnly = signingIn;
  els.password.readOnly = signingIn;

  els.signout.disabled = signingOut;
  els.signout.setAttribute("aria-busy", String(signingOut));
  els.signout.textContent = signingOut ? t("signingOut") : t("signout");
}

function renderWhoami() {
  if (!me) {
    els.whoamiEmail.textContent = "";
    els.whoamiRole.textContent = "";
    els.whoamiTenant.textContent = "";
    return;
  }
  els.whoamiEmail.textContent = String(me.email ?? "");
  els.whoamiRole.textContent = roleLabel(me.role);
  els.whoamiTenant.textContent = me.tenant_id == null ? t("platform") : String(me.tenant_id);
}

/**
 * currentError shapes:
 *   {kind: "problem", code, detail, title, status, requestId, retryAfter}
 *   {kind: "key", key}            a plain message from the dictionary
 */
function errorMessage(err) {
  if (err.kind === "key") return t(err.key);
  if (err.code === "login_throttled" || err.status === 429) {
    return err.retryAfter != null ? t("throttled")(err.retryAfter) : t("throttledNoWait");
  }
  const codes = t("codes");
  const translated = err.code && Object.prototype.hasOwnProperty.call(codes, err.code) ? codes[err.code] : null;
  // English shows the server's own detail; other languages prefer the translated text of a known code.
  if (lang !== "en" && translated) return translated;
  if (err.detail) return String(err.detail);
  if (translated) return translated;
  if (err.title) return String(err.title);
  return t("unexpected")(err.status);
}

function renderError() {
  const box = els.error;
  box.replaceChildren();
  if (!currentError) return;
  const message = document.createElement("p");
  message.className = "error-message";
  message.textContent = errorMessage(currentError);
  box.append(message);
  if (currentError.requestId) {
    const ref = document.createElement("p");
    ref.className = "error-reference";
    ref.textContent = t("reference")(String(currentError.requestId));
    box.append(ref);
  }
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

function showView(signedIn) {
  els.signinPanel.hidden = signedIn;
  els.whoami.hidden = !signedIn;
}

// ---------------------------------------------------------------- HTTP

class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
}

class NetworkError extends Error {}

async function request(url, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
    });
  } catch (cause) {
    throw new NetworkError(String(cause));
  }
  if (res.ok) {
    if (res.status === 204) return null;
    try {
      return await res.json();
    } catch {
      throw new ProblemError({ kind: "problem", status: res.status, title: res.statusText });
    }
  }
  throw new ProblemError(await readProblem(res));
}

async function readProblem(res) {
  const problem = { kind: "problem", status: res.status, code: null, detail: null, title: res.statusText, requestId: null, retryAfter: null };
  try {
    const data = await res.json();
    if (data && typeof data === "object") {
      if (typeof data.code === "string") problem.code = data.code;
      if (typeof data.detail === "string") problem.detail = data.detail;
      if (typeof data.title === "string") problem.title = data.title;
      if (typeof data.request_id === "string") problem.requestId = data.request_id;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  if (!problem.requestId) problem.requestId = res.headers.get("X-Request-Id");
  const retry = res.headers.get("Retry-After");
  if (retry !== null && /^\d+$/.test(retry.trim())) problem.retryAfter = Number.parseInt(retry.trim(), 10);
  return problem;
}

function toDisplayError(error) {
  if (error instanceof ProblemError) return error.problem;
  if (error instanceof NetworkError) return { kind: "key", key: "network" };
  console.warn("PyTake: unexpected error", error);
  return { kind: "key", key: "network" };
}

// ---------------------------------------------------------------- throttling countdown

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

// ---------------------------------------------------------------- actions

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

  let tokens;
  try {
    tokens = await request(API.login, { method: "POST", body: { email, password } });
  } catch (error) {
    pending = false;
    const shown = toDisplayError(error);
    showError(shown);
    if (shown.kind === "problem" && shown.status === 429 && shown.retryAfter) startRetryCountdown(shown.retryAfter);
    if (shown.code === "invalid_credentials") {
      els.email.setAttribute("aria-invalid", "true");
      els.password.setAttribute("aria-invalid", "true");
    }
    renderButtons();
    els.password.value = "";
    els.password.focus();
    return;
  }

  if (!tokens || typeof tokens.access_token !== "string") {
    pending = false;
    showError({ kind: "problem", status: 200, title: null, detail: null, code: null });
    renderButtons();
    return;
  }

  session = {
    accessToken: tokens.access_token,
    refreshToken: typeof tokens.refresh_token === "string" ? tokens.refresh_token : "",
    expiresAt: Date.now() + (Number(tokens.expires_in) || 0) * 1000,
  };
  els.password.value = "";

  try {
    me = await request(API.me, { token: session.accessToken });
  } catch (error) {
    // Could not load the profile: drop the tokens and stay on the form.
    session = null;
    me = null;
    pending = false;
    const shown = toDisplayError(error);
    showError(shown.kind === "key" ? shown : { kind: "key", key: "profileFailed" });
    renderButtons();
    els.email.focus();
    return;
  }

  pending = false;
  renderWhoami();
  renderButtons();
  showView(true);
  els.whoamiHeading.focus();
}

async function signOut() {
  if (pending || !session) return;
  clearError();
  pending = true;
  renderButtons();

  const { accessToken, refreshToken } = session;
  let failed = false;
  try {
    await request(API.logout, {
      method: "POST",
      token: accessToken,
      body: refreshToken ? { refresh_token: refreshToken } : {},
    });
  } catch (error) {
    // 401 means the access token already expired; the local session is dropped either way.
    failed = !(error instanceof ProblemError && error.problem.status === 401);
  }

  session = null;
  me = null;
  pending = false;
  renderWhoami();
  renderButtons();
  showView(false);
  if (failed) showError({ kind: "key", key: "logoutFailed" });
  els.email.focus();
}

function onLanguageChange() {
  const value = els.lang.value;
  lang = SUPPORTED_LANGS.includes(value) ? value : "en";
  applyLanguage();
}

// ---------------------------------------------------------------- start

els.form.addEventListener("submit", signIn);
els.signout.addEventListener("click", signOut);
els.lang.addEventListener("change", onLanguageChange);
for (const input of [els.email, els.password]) {
  input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
}
// The server throttles per account (and per address): another email may still be allowed,
// and the server has the final word anyway.
els.email.addEventListener("input", () => {
  if (retryUntil) stopRetryCountdown();
});

applyLanguage();
showView(false);
renderButtons(); // enables the submit button now that the script is running
