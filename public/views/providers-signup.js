// Providers page: Meta Embedded Signup as a checklist (session → SDK → FB.login popup, whose FINISH
// message names the WABA → the server's steps), and the redirect flow's outcome banner.

import { h, formatDateTime } from "../lib/dom.js";
import { lang } from "../lib/i18n.js";
import { api, ProblemError } from "../lib/api.js";
import { errorText, problemBox } from "../lib/ui.js";
import { tp, tpMaybe } from "./providers-i18n.js";

const SERVER_STEPS = ["exchange_code", "debug_token", "phone_numbers", "register", "subscribe", "store"];
const STEPS = ["session", "sdk", "login", "waba", ...SERVER_STEPS];
const GLYPH = { ok: "✓", done: "✓", failed: "✕", cancelled: "–" };
const button = (key, onclick, write) => h("button", { class: `button button-small button-${write ? "primary" : "secondary"}`, type: "button", dataset: { write: write ? "" : null }, onclick }, tp(key));
const head = (attrs, status, lines, buttons) => h("div", { ...attrs, class: ["providers-head", attrs.class] },
  h("span", { class: status === "running" ? "spinner" : `providers-badge providers-badge-${status}`, "aria-hidden": "true" }, status === "failed" ? "!" : GLYPH[status]),
  h("div", {}, lines),
  h("div", { class: "toolbar" }, buttons));
const digits = (v) => /^\d{1,32}$/.test(v) && typeof v !== "object" ? String(v) : undefined;
/** A failure found in the browser: no server problem to show. */
const fail = (message, cancelled) => Object.assign(new Error(message), { local: true, cancelled });

// Resolves with window.FB once the SDK (one <script data-pytake-sdk>) is ready.
const loadSdk = (url) => new Promise((resolve, reject) => {
  const ready = () => typeof window.FB?.login === "function";
  const script = () => document.querySelector("script[data-pytake-sdk]");
  const done = (failure) => ready() ? resolve(window.FB) : failure && (script()?.remove(), reject(fail(tp(failure))));
  if (ready()) return done();
  const previous = window.fbAsyncInit;
  window.fbAsyncInit = () => { if (typeof previous === "function") previous(); done(); };
  script()?.remove();
  // The real SDK calls fbAsyncInit; a stand-in may only define window.FB.
  document.head.append(h("script", {
    src: url, async: true, crossorigin: "anonymous", dataset: { pytakeSdk: "" },
    onload: () => { done(); setTimeout(() => done("sdkFailed"), 1500); }, onerror: () => done("sdkFailed"),
  }));
  setTimeout(() => done("sdkTimeout"), 20000);
});

export function createSignup({ base, signal, onChange, onConnected }) {
  const element = h("section", { class: "section providers-signup", id: "providers-signup", hidden: true, "aria-live": "polite" });
  let run = null; // {status, steps: {step: {state, detail}}, error}
  let unlisten = null;
  const stop = () => { unlisten?.(); unlisten = null; };
  signal.addEventListener("abort", stop);
  const changed = () => { render(); onChange(); };

  async function start() {
    if (run?.status === "running") return;
    stop();
    const mine = run = { status: "running", steps: Object.fromEntries(STEPS.map((s) => [s, { state: "pending" }])) };
    const alive = () => run === mine && !signal.aborted;
    const set = (s, state, detail = mine.steps[s].detail) => { mine.steps[s] = { state, detail }; };
    let step = "session";
    const next = (s, detail) => { set(step, "ok", detail); set(step = s, "running"); changed(); };
    set(step, "running");
    changed();
    try {
      const session = await api("POST", `${base}/meta/signup-sessions`, { signal });
      if (!alive()) return;
      next("sdk", tp("expires", formatDateTime(session.expires_at, lang())));
      const url = new URL(session.sdk_url, location.href);
      const FB = await loadSdk(session.sdk_url);
      FB.init({ appId: String(session.app_id), version: String(session.graph_version), xfbml: false, autoLogAppEvents: false });
      if (!alive()) return;
      next("login", url.host);

      // Login and the FINISH message come in either order. Only Meta's origins may post it, or a
      // stand-in SDK's (tests, a mirror), which posts from its own origin or from this page.
      const origins = ["https://www.facebook.com", "https://web.facebook.com"];
      if (!/(^|\.)facebook\.(net|com)$/.test(url.hostname)) origins.push(url.origin, location.origin);
      let finish = null, gotFinish = null, problem = null;
      const onMessage = ({ origin, data: m }) => {
        if (!origins.includes(origin) || !alive()) return;
        // An object, or JSON in older SDK versions.
        try { if (typeof m === "string") m = JSON.parse(m); } catch { return; }
        if (m?.type !== "WA_EMBEDDED_SIGNUP") return;
        const d = Object(m.data);
        if (String(m.event).startsWith("FINISH") && digits(d.waba_id)) {
          finish = { waba_id: digits(d.waba_id), phone_number_id: digits(d.phone_number_id), business_id: digits(d.business_id) };
          if (mine.steps.waba.state !== "ok") { set("waba", "ok", tp("wabaDetail", finish.waba_id, finish.phone_number_id)); changed(); }
          gotFinish?.();
        } else if (m.event === "CANCEL") {
          problem = fail(tp("cancelText") + (d.current_step ? ` (${d.current_step})` : ""), true);
        } else if (m.event === "ERROR") {
          problem = fail(tp("metaError", String(d.error_message || d.error_id || "?")));
        }
      };
      window.addEventListener("message", onMessage);
      unlisten = () => window.removeEventListener("message", onMessage);
      const login = await new Promise((resolve) => {
        try {
          // A plain function: Meta's SDK refuses async callbacks.
          FB.login(function (response) { resolve(response || {}); }, {
            config_id: String(session.config_id), response_type: "code", override_default_response_type: true,
            extras: { setup: {}, featureType: "", sessionInfoVersion: "3" },
          });
        } catch (error) { resolve({ error }); }
      });
      if (!alive()) return;
      if (login.error) throw fail(String(login.error.message || login.error));
      const code = login.authResponse?.code;
      if (!code || typeof code !== "string") throw problem || fail(tp("cancelText"), true);
      if (!finish) {
        next("waba");
        await new Promise((resolve) => { gotFinish = resolve; setTimeout(resolve, 8000); });
        if (!alive()) return;
        if (!finish) throw fail(problem ? problem.message : tp("noWaba"));
      }
      stop();
      next("exchange_code");
      const body = { code, state: String(session.state), ...finish };
      const provider = await api("POST", `${base}/meta/embedded-signup`, { body, signal });
      if (!alive()) return;
      for (const s of SERVER_STEPS) set(s, "ok", null);
      set("store", "ok", provider.name);
      mine.status = "done";
      changed();
      onConnected(provider);
    } catch (error) {
      if (!alive()) return;
      stop();
      const pe = error instanceof ProblemError ? error.problem.providerError : null;
      // The server names its failing step; a taken number or name fails storing.
      if (step === "exchange_code") step = SERVER_STEPS.includes(pe?.step) ? pe.step : /_taken$/.test(error?.code) ? "store" : step;
      const at = STEPS.indexOf(step);
      STEPS.forEach((s, i) => i < at ? set(s, "ok") : i > at && set(s, "skipped", null));
      mine.status = error?.cancelled ? "cancelled" : "failed";
      set(step, mine.status, pe?.message || tpMaybe(`code.${error?.code}`) || errorText(error));
      mine.error = error?.local ? null : error;
      changed();
    }
  }

  function render() {
    element.hidden = !run;
    if (!run) return element.replaceChildren();
    const { status, steps } = run;
    const failed = STEPS.find((s) => steps[s].state === "failed");
    element.dataset.status = status;
    element.replaceChildren(
      head({}, status, [
        h("h2", {}, tp(status)),
        failed && h("p", { class: "providers-bad" }, tp("failedAt", tp(`step.${failed}`))),
        status === "running" && h("p", { class: "providers-muted" }, tp("intro")),
      ], status !== "running" && [status !== "done" && button("retry", start, true), button("dismiss", () => { run = null; changed(); })]),
      h("ol", { class: "providers-checklist" }, STEPS.map((s) => {
        const { state, detail } = steps[s];
        return h("li", { class: `providers-step providers-step-${state}`, dataset: { step: s, state } },
          h("span", { class: state === "running" ? "spinner" : "providers-step-icon", "aria-hidden": "true" }, GLYPH[state]),
          h("div", {},
            h("span", {}, tp(`step.${s}`)),
            h("span", { class: "visually-hidden" }, ` — ${tp(`state.${state}`)}`),
            detail && h("small", {}, detail)));
      })),
      run.error ? problemBox(run.error) : "");
  }

  return { element, start, render, get running() { return run?.status === "running"; } };
}

export function redirectOutcome(query) {
  const signup = query.get("signup");
  return /^(ok|failed)$/.test(signup) && { ok: signup === "ok", provider: query.get("provider"), step: query.get("step"), code: query.get("code") };
}

export function redirectBanner({ ok, step, code }, { provider, canWrite, onRetry, onDismiss }) {
  const why = code && tpMaybe(`code.${code}`);
  return head({ class: `providers-banner providers-banner-${ok ? "ok" : "failed"}`, id: "providers-redirect", role: ok ? "status" : "alert", dataset: { outcome: ok ? "ok" : "failed" } },
    ok ? "done" : "failed", [
      h("strong", {}, ok ? tp("redirectOk", provider?.name) : tp("failed")),
      step && h("p", {}, tp("failedAt", tpMaybe(`step.${step}`) || step)),
      why && h("p", {}, why),
      code && h("p", { class: "providers-muted" }, tp("codeLabel", code)),
    ], [!ok && canWrite && button("retry", onRetry, true), button("dismiss", onDismiss)]);
}
