// The HTTP client and its session. The access token lives only in this module's memory; the
// refresh token is an HttpOnly cookie, refreshed with `X-PyTake-CSRF: 1` a little before expiry and
// once more on a 401. Refreshes are single-flight and serialized across tabs (Web Locks): a reused
// refresh token revokes the whole session family.

const AUTH = {
  login: "/api/v1/auth/login",
  refresh: "/api/v1/auth/refresh",
  logout: "/api/v1/auth/logout",
  me: "/api/v1/me",
};

export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
  get status() { return this.problem.status; }
  get code() { return this.problem.code; }
}

export class NetworkError extends Error {}

let accessToken = null;
let expiresAt = 0;
let refreshTimer = 0;
let refreshing = null;
const sessionListeners = new Set();

/** fn(event) on "signed-in" / "signed-out" / "refreshed" / "expired". */
export function onSession(fn) {
  sessionListeners.add(fn);
  return () => sessionListeners.delete(fn);
}

function emit(event) {
  for (const fn of [...sessionListeners]) fn(event);
}

async function readProblem(res) {
  const problem = { status: res.status, code: null, detail: null, title: res.statusText, requestId: null, retryAfter: null, errors: [], problems: [], providerError: null };
  try {
    const data = await res.json();
    if (data && typeof data === "object") {
      if (typeof data.code === "string") problem.code = data.code;
      if (typeof data.detail === "string") problem.detail = data.detail;
      if (typeof data.title === "string") problem.title = data.title;
      if (typeof data.request_id === "string") problem.requestId = data.request_id;
      if (Array.isArray(data.errors)) problem.errors = data.errors;
      if (Array.isArray(data.problems)) problem.problems = data.problems;
      if (data.provider_error && typeof data.provider_error === "object") problem.providerError = data.provider_error;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  if (!problem.requestId) problem.requestId = res.headers.get("X-Request-Id");
  const retry = res.headers.get("Retry-After");
  if (retry !== null && /^\d+$/.test(retry.trim())) problem.retryAfter = Number.parseInt(retry.trim(), 10);
  return problem;
}

async function send(url, { method = "GET", body, headers = {}, token, signal } = {}) {
  const all = { Accept: "application/json, application/problem+json", ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  if (token) all.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
      signal,
    });
  } catch (cause) {
    if (cause && cause.name === "AbortError") throw cause;
    throw new NetworkError(String(cause));
  }
  if (res.ok) {
    if (res.status === 204) return { data: null, headers: res.headers, status: res.status };
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        throw new ProblemError({ status: res.status, title: res.statusText, code: "invalid_response" });
      }
    }
    return { data, headers: res.headers, status: res.status };
  }
  throw new ProblemError(await readProblem(res));
}

function adopt(tokens) {
  if (!tokens || typeof tokens.access_token !== "string") {
    throw new ProblemError({ status: 200, title: "Invalid token response", code: "invalid_response" });
  }
  accessToken = tokens.access_token;
  const lifetime = Math.max(5, Number(tokens.expires_in) || 60);
  expiresAt = Date.now() + lifetime * 1000;
  window.clearTimeout(refreshTimer);
  const lead = Math.min(60, lifetime * 0.2);
  refreshTimer = window.setTimeout(() => {
    refresh().catch(() => { /* reported through onSession("expired") */ });
  }, (lifetime - lead) * 1000);
}

function forget() {
  accessToken = null;
  expiresAt = 0;
  window.clearTimeout(refreshTimer);
  refreshTimer = 0;
}

/** Signs in; the refresh token goes to the HttpOnly cookie. */
export async function login(email, password) {
  const { data } = await send(AUTH.login, { method: "POST", body: { email, password, refresh_in_cookie: true } });
  adopt(data);
  emit("signed-in");
}

async function refreshOnce() {
  const run = async () => {
    const { data } = await send(AUTH.refresh, { method: "POST", headers: { "X-PyTake-CSRF": "1" } });
    adopt(data);
  };
  if (navigator.locks && typeof navigator.locks.request === "function") {
    await navigator.locks.request("pytake-refresh", run);
  } else {
    await run();
  }
}

/** Exchanges the cookie for a new access token. Concurrent callers share one request. */
export function refresh() {
  if (!refreshing) {
    refreshing = refreshOnce()
      .then(() => { emit("refreshed"); })
      .catch((error) => {
        if (error instanceof ProblemError && [400, 401, 403].includes(error.status)) {
          const wasSignedIn = accessToken !== null;
          forget();
          if (wasSignedIn) emit("expired");
        }
        throw error;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** On page load: resumes the session held by the refresh cookie, if any. */
export async function resume() {
  try {
    await refresh();
    emit("signed-in");
    return true;
  } catch (error) {
    if (error instanceof ProblemError) return false;
    throw error;
  }
}

export async function logout() {
  const token = accessToken;
  forget();
  try {
    if (token) await send(AUTH.logout, { method: "POST", token });
  } finally {
    emit("signed-out");
  }
}

/**
 * An API call with the session's token: api("GET", "/api/v1/tenants", {query: {limit: 20}}).
 * Resolves to the parsed JSON (null for 204); rejects with ProblemError or NetworkError.
 */
export async function api(method, path, { body, query, signal, headers } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      params.append(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  if (accessToken === null || Date.now() > expiresAt - 2000) {
    try { await refresh(); } catch { /* the call below reports 401 */ }
  }
  try {
    return (await send(url, { method, body, headers, token: accessToken, signal })).data;
  } catch (error) {
    if (error instanceof ProblemError && error.status === 401) {
      await refresh();
      return (await send(url, { method, body, headers, token: accessToken, signal })).data;
    }
    throw error;
  }
}

export async function fetchMe() {
  return api("GET", AUTH.me);
}

/** Follows next_cursor until `max` items (for selects such as the tenant switcher). */
export async function listAll(path, { query = {}, max = 500, signal } = {}) {
  const items = [];
  let cursor;
  do {
    const page = await api("GET", path, { query: { ...query, limit: 100, cursor }, signal });
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
