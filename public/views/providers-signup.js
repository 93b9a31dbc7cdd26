// Providers page: Meta Embedded Signup from the browser (JS SDK + popup), shown as a checklist of
// its steps, and the outcome of the redirect flow (#/…/providers?signup=ok|failed&…).
//
// Flow: POST signup-sessions → load the SDK from `sdk_url` (one <script> element) → FB.init →
// FB.login (the popup) → Meta posts {type: "WA_EMBEDDED_SIGNUP", event: "FINISH", data: {waba_id,
// phone_number_id}} to this window and the login callback gets `code` → POST embedded-signup, which
// exchanges the code, checks the token, finds and registers the number and subscribes the app.

import { h, replace, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, ProblemError } from "../lib/api.js";
import { errorText, problemBox } from "../lib/ui.js";
import "./providers-i18n.js";

const META_ORIGINS = ["https://www.facebook.com", "https://web.facebook.com"];
const SERVER_STEPS = ["exchange_code", "debug_token", "phone_numbers", "register", "subscribe", "store"];
const STEPS = ["session", "sdk", "login", "waba", ...SERVER_STEPS];
const SDK_TIMEOUT_MS = 20000;
const FINISH_WAIT_MS = 8000;

// ------------------------------------------------------------------ the SDK

let sdk = null; // {url, promise}

function isMetaHost(url) {
  try {
    const host = new URL(url).hostname;
    return host === "facebook.net" || host.endsWith(".facebook.net") || host === "facebook.com" || host.endsWith(".facebook.com");
  } catch {
    return false;
  }
}

/** Origins whose postMessage may carry the signup's FINISH event. */
export function allowedMessageOrigins(sdkUrl) {
  const allowed = new Set(META_ORIGINS);
  if (!isMetaHost(sdkUrl)) {
    // A stand-in SDK (tests, a self-hosted mirror): it posts from its own origin or from this page.
    try { allowed.add(new URL(sdkUrl, location.href).origin); } catch { /* not a URL: nothing more */ }
    allowed.add(location.origin);
  }
  return allowed;
}

/** Loads the SDK once (one <script> element) and resolves with window.FB. */
function loadSdk(url) {
  if (sdk && sdk.url === url) return sdk.promise;
  const promise = new Promise((resolve, reject) => {
    let settled = false;
    let timer = 0;
    const finish = (error) => {
      if (settled) return;
      if (!error && !(window.FB && typeof window.FB.login === "function")) return; // not ready yet
      settled = true;
      window.clearTimeout(timer);
      if (error) reject(error);
      else resolve(window.FB);
    };
    if (window.FB && typeof window.FB.login === "function") { finish(); return; }
    const previous = window.fbAsyncInit;
    window.fbAsyncInit = function fbAsyncInit() {
      if (typeof previous === "function") previous();
      finish();
    };
    let script = document.querySelector("script[data-pytake-sdk]");
    if (!script || script.getAttribute("src") !== url) {
      if (script) script.remove();
      script = h("script", { src: url, async: true, crossorigin: "anonymous", dataset: { pytakeSdk: "" } });
      document.head.append(script);
    }
    script.addEventListener("load", () => {
      // The real SDK calls fbAsyncInit; a stand-in may only define window.FB.
      finish();
      window.setTimeout(() => finish(window.FB ? null : new Error(t("providers.signup.sdkFailed"))), 1500);
    });
    script.addEventListener("error", () => finish(new Error(t("providers.signup.sdkFailed"))));
    timer = window.setTimeout(() => finish(new Error(t("providers.signup.sdkTimeout"))), SDK_TIMEOUT_MS);
  });
  sdk = { url, promise };
  promise.catch(() => {
    if (sdk && sdk.promise === promise) sdk = null;
    const script = document.querySelector("script[data-pytake-sdk]");
    if (script) script.remove();
  });
  return promise;
}

/** Meta posts its events as an object or, in older SDK versions, as a JSON string. */
function signupEvent(data) {
  let value = data;
  if (typeof value === "string") {
    if (!value.includes("WA_EMBEDDED_SIGNUP")) return null;
    try { value = JSON.parse(value); } catch { return null; }
  }
  if (!value || typeof value !== "object" || value.type !== "WA_EMBEDDED_SIGNUP") return null;
  return { event: String(value.event || ""), data: value.data && typeof value.data === "object" ? value.data : {} };
}

const digits = (v) => (typeof v === "string" || typeof v === "number") && /^[0-9]{1,32}$/.test(String(v)) ? String(v) : null;

// ------------------------------------------------------------------ the checklist

/**
 * The signup controller. `onConnected(provider)` runs after a successful signup; `onChange()`
 * after every state change. `element` is the checklist section (empty until started).
 */
export function createSignup({ base, signal, onChange, onConnected }) {
  const element = h("section", { class: "section providers-signup", id: "providers-signup", hidden: true, "aria-live": "polite" });
  let run = null; // {id, steps: {step: {state, detail}}, status, error, message, provider}
  let runCounter = 0;
  let removeListener = null;

  function stop() {
    if (removeListener) { removeListener(); removeListener = null; }
  }
  signal.addEventListener("abort", stop);

  function set(step, state, detail) {
    run.steps[step] = { state, detail: detail === undefined ? run.steps[step].detail : detail };
  }

  function changed() {
    render();
    if (onChange) onChange();
  }

  function failAt(step, error, message) {
    const index = STEPS.indexOf(step);
    for (const s of STEPS.slice(0, index)) if (run.steps[s].state !== "ok") set(s, "ok");
    const pe = error instanceof ProblemError ? error.problem.providerError : null;
    set(step, "failed", message || (pe && pe.message ? String(pe.message) : error ? errorText(error) : null));
    for (const s of STEPS.slice(index + 1)) set(s, "skipped", null);
    run.status = "failed";
    run.error = error || null;
    stop();
  }

  function cancelAt(step, message) {
    set(step, "cancelled", message);
    for (const s of STEPS.slice(STEPS.indexOf(step) + 1)) set(s, "skipped", null);
    run.status = "cancelled";
    stop();
  }

  async function start() {
    if (run && run.status === "running") return;
    stop();
    const mine = ++runCounter;
    run = { id: mine, status: "running", steps: {}, error: null, provider: null };
    for (const s of STEPS) run.steps[s] = { state: "pending", detail: null };
    const alive = () => run && run.id === mine && !signal.aborted;
    set("session", "running");
    changed();

    // 1. A session: app id, config id, graph version, SDK URL and the one-use state.
    let session;
    try {
      session = await api("POST", `${base}/meta/signup-sessions`, { signal });
    } catch (error) {
      if (!alive()) return;
      const known = error instanceof ProblemError && error.code === "meta_not_configured";
      failAt("session", error, known ? t("providers.signup.code.meta_not_configured") : null);
      changed();
      return;
    }
    if (!alive()) return;
    set("session", "ok", t("providers.signup.expires", formatDateTime(session.expires_at, lang())));
    set("sdk", "running");
    changed();

    // 2. The SDK.
    let FB;
    try {
      FB = await loadSdk(String(session.sdk_url));
      FB.init({ appId: String(session.app_id), version: String(session.graph_version), xfbml: false, autoLogAppEvents: false });
    } catch (error) {
      if (!alive()) return;
      failAt("sdk", null, error && error.message ? error.message : t("providers.signup.sdkFailed"));
      changed();
      return;
    }
    if (!alive()) return;
    let sdkOrigin = "";
    try { sdkOrigin = new URL(String(session.sdk_url), location.href).host; } catch { /* shown without */ }
    set("sdk", "ok", sdkOrigin || null);
    set("login", "running");
    changed();

    // 3. Login (popup) and the FINISH message, in either order.
    const allowed = allowedMessageOrigins(String(session.sdk_url));
    let finish = null;
    let finishWaiter = null;
    let metaProblem = null;
    const onMessage = (event) => {
      if (!allowed.has(event.origin)) return;
      const parsed = signupEvent(event.data);
      if (!parsed || !alive()) return;
      if (parsed.event.startsWith("FINISH")) {
        const waba = digits(parsed.data.waba_id);
        if (!waba) return;
        finish = { waba_id: waba, phone_number_id: digits(parsed.data.phone_number_id), business_id: digits(parsed.data.business_id) };
        if (run.steps.waba.state !== "ok") {
          set("waba", "ok", t("providers.signup.wabaDetail", finish.waba_id, finish.phone_number_id));
          changed();
        }
        if (finishWaiter) finishWaiter();
      } else if (parsed.event === "CANCEL") {
        metaProblem = { cancelled: true, message: parsed.data.current_step ? `${t("providers.signup.cancelText")} (${String(parsed.data.current_step)})` : t("providers.signup.cancelText") };
      } else if (parsed.event === "ERROR") {
        metaProblem = { cancelled: false, message: t("providers.signup.metaError", String(parsed.data.error_message || parsed.data.error_id || "?")) };
      }
    };
    window.addEventListener("message", onMessage);
    removeListener = () => window.removeEventListener("message", onMessage);

    const login = await new Promise((resolve) => {
      // A plain function: Meta's SDK refuses async callbacks.
      const callback = function (response) { resolve(response || {}); };
      try {
        FB.login(callback, {
          config_id: String(session.config_id),
          response_type: "code",
          override_default_response_type: true,
          extras: { setup: {}, featureType: "", sessionInfoVersion: "3" },
        });
      } catch (error) {
        resolve({ error });
      }
    });
    if (!alive()) return;
    const code = login && login.authResponse && typeof login.authResponse.code === "string" ? login.authResponse.code : "";
    if (login.error) {
      failAt("login", null, String(login.error.message || login.error));
      changed();
      return;
    }
    if (!code) {
      if (metaProblem && !metaProblem.cancelled) failAt("login", null, metaProblem.message);
      else cancelAt("login", metaProblem ? metaProblem.message : t("providers.signup.cancelText"));
      changed();
      return;
    }
    set("login", "ok");
    if (!finish) set("waba", "running");
    changed();

    // 4. Which WABA and number were chosen (usually already posted before the callback).
    if (!finish) {
      await new Promise((resolve) => {
        const timer = window.setTimeout(resolve, FINISH_WAIT_MS);
        finishWaiter = () => { window.clearTimeout(timer); resolve(); };
      });
      if (!alive()) return;
      if (!finish) {
        failAt("waba", null, metaProblem ? metaProblem.message : t("providers.signup.noWaba"));
        changed();
        return;
      }
    }
    stop();

    // 5. The server's steps, in one call.
    set(SERVER_STEPS[0], "running");
    changed();
    const body = { code, state: String(session.state), waba_id: finish.waba_id };
    if (finish.phone_number_id) body.phone_number_id = finish.phone_number_id;
    if (finish.business_id) body.business_id = finish.business_id;
    let provider;
    try {
      provider = await api("POST", `${base}/meta/embedded-signup`, { body, signal });
    } catch (error) {
      if (!alive()) return;
      const step = serverStepOf(error);
      failAt(step, error);
      changed();
      return;
    }
    if (!alive()) return;
    for (const s of SERVER_STEPS) set(s, "ok", null);
    set("store", "ok", String(provider.name ?? ""));
    run.status = "done";
    run.provider = provider;
    changed();
    if (onConnected) onConnected(provider);
  }

  function serverStepOf(error) {
    const pe = error instanceof ProblemError ? error.problem.providerError : null;
    if (pe && SERVER_STEPS.includes(pe.step)) return pe.step;
    if (error instanceof ProblemError && ["phone_number_taken", "provider_name_taken"].includes(error.code)) return "store";
    return SERVER_STEPS[0];
  }

  function dismiss() {
    stop();
    run = null;
    changed();
  }

  function render() {
    element.hidden = !run;
    if (!run) { element.replaceChildren(); return; }
    const titles = { running: "providers.signup.running", done: "providers.signup.done", failed: "providers.signup.failed", cancelled: "providers.signup.cancelled" };
    const failedStep = STEPS.find((s) => run.steps[s].state === "failed");
    element.dataset.status = run.status;
    replace(element,
      h("div", { class: "providers-signup-head" },
        h("span", { class: ["providers-signup-badge", `providers-signup-${run.status}`], "aria-hidden": "true" },
          run.status === "done" ? "✓" : run.status === "running" ? "" : run.status === "cancelled" ? "–" : "!"),
        h("div", {},
          h("h2", {}, t(titles[run.status])),
          failedStep ? h("p", { class: "providers-signup-failed-at" }, t("providers.signup.failedAt", t(`providers.signup.step.${failedStep}`))) : null,
          run.status === "running" ? h("p", { class: "providers-signup-intro" }, t("providers.signup.intro")) : null),
        h("div", { class: "toolbar" },
          run.status === "failed" || run.status === "cancelled"
            ? h("button", { class: "button button-primary button-small", type: "button", dataset: { write: "" }, onclick: () => start() }, t("providers.signup.retry"))
            : null,
          run.status !== "running"
            ? h("button", { class: "button button-secondary button-small", type: "button", onclick: dismiss }, t("providers.signup.dismiss"))
            : null)),
      checklist(STEPS.map((s) => ({ step: s, ...run.steps[s] }))),
      run.error ? problemBox(run.error) : null);
  }

  return { element, start, render, get running() { return Boolean(run && run.status === "running"); } };
}

function stepIcon(state) {
  if (state === "running") return h("span", { class: "spinner", "aria-hidden": "true" });
  const glyph = { ok: "✓", failed: "✕", cancelled: "–", skipped: "", pending: "" }[state] || "";
  return h("span", { class: "providers-step-icon", "aria-hidden": "true" }, glyph);
}

/** items: [{step, state, detail}] */
export function checklist(items) {
  return h("ol", { class: "providers-checklist" }, items.map((item) =>
    h("li", { class: ["providers-step", `providers-step-${item.state}`], dataset: { step: item.step, state: item.state } },
      stepIcon(item.state),
      h("div", { class: "providers-step-text" },
        h("span", { class: "providers-step-label" }, t(`providers.signup.step.${item.step}`)),
        h("span", { class: "visually-hidden" }, ` — ${t(`providers.signup.state.${item.state}`)}`),
        item.detail ? h("span", { class: "providers-step-detail" }, String(item.detail)) : null))));
}

// ------------------------------------------------------------------ redirect outcome

/** What the redirect flow reported in the hash query, or null. */
export function redirectOutcome(query) {
  const signup = query.get("signup");
  if (signup === "ok") return { ok: true, provider: query.get("provider") || null };
  if (signup === "failed") return { ok: false, step: query.get("step") || null, code: query.get("code") || null };
  return null;
}

/** The banner for a redirect outcome. `provider` is the connected provider when known. */
export function redirectBanner(outcome, { provider, canWrite, onRetry, onDismiss }) {
  const dismiss = h("button", { class: "button button-secondary button-small", type: "button", onclick: onDismiss }, t("providers.signup.dismiss"));
  if (outcome.ok) {
    return h("div", { class: "providers-banner providers-banner-ok", id: "providers-redirect", role: "status", dataset: { outcome: "ok" } },
      h("span", { class: "providers-signup-badge providers-signup-done", "aria-hidden": "true" }, "✓"),
      h("div", { class: "providers-banner-text" },
        h("strong", {}, provider ? t("providers.signup.redirectOkNamed", String(provider.name ?? "")) : t("providers.signup.redirectOk"))),
      dismiss);
  }
  const step = outcome.step;
  const stepKey = step && `providers.signup.step.${step}`;
  const stepText = stepKey && t(stepKey) !== stepKey ? t(stepKey) : step;
  const codeKey = outcome.code && `providers.signup.code.${outcome.code}`;
  const explanation = codeKey && t(codeKey) !== codeKey ? t(codeKey) : null;
  return h("div", { class: "providers-banner providers-banner-failed", id: "providers-redirect", role: "alert", dataset: { outcome: "failed" } },
    h("span", { class: "providers-signup-badge providers-signup-failed", "aria-hidden": "true" }, "!"),
    h("div", { class: "providers-banner-text" },
      h("strong", {}, t("providers.signup.redirectFailed")),
      stepText ? h("p", { class: "providers-banner-step" }, t("providers.signup.failedAt", stepText)) : null,
      explanation ? h("p", {}, explanation) : null,
      outcome.code ? h("p", { class: "providers-banner-code" }, t("providers.signup.codeLabel", outcome.code)) : null),
    h("div", { class: "toolbar" },
      canWrite ? h("button", { class: "button button-primary button-small", type: "button", dataset: { write: "" }, onclick: onRetry }, t("providers.signup.retry")) : null,
      dismiss));
}
