// The agent inbox (#/tenants/:tenantId/inbox[/:conversationId]): the conversations list beside the open
// conversation (inbox-thread.js). Both poll and re-render only what changed: scroll, focus and drafts survive.

import { h, replace } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, listAll } from "../lib/api.js";
import { problemBox, loading, toast, errorText } from "../lib/ui.js";
import { T, customerName, phone, avatar, badge, when, fullTime, icon, reconcile, isAbort } from "./inbox-common.js";
import { createThread } from "./inbox-thread.js";

const POLL = 2500;
const savedFilters = new Map(); // per tenant: they survive a re-mount (language switch…)
const at = (c) => Date.parse(c.last_message_at) || 0;
/** List order: newest first, then by id descending (the API's keyset order). */
const compare = (a, b) => at(b) - at(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export default async function mount(ctx) {
  const { tenantId } = ctx.params;
  const { me, signal } = ctx;
  const assignable = me.tenant_id === tenantId && (me.role === "agent" || me.role === "tenant_admin");
  const filters = { status: "open", bot: "", mine: "", ...savedFilters.get(tenantId) };
  if (!assignable) filters.mine = "";
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}`;
  const hashFor = (id) => `#/tenants/${encodeURIComponent(tenantId)}/inbox${id ? `/${encodeURIComponent(id)}` : ""}`;

  let users = [];
  let selected = null;
  let thread = null;
  const convs = new Map(); // id → conversation: the loaded part of the filtered list
  const rows = new Map();
  let next = null;
  let loaded = false;
  let generation = 0; // new filters drop older reads
  let loadingMore = false;

  const live = h("span", { role: "status" });
  const statusButtons = ["open", "closed", "all"].map((value) => h("button", {
    class: "inbox-seg", "aria-pressed": String(filters.status === value), dataset: { filter: "status", value }, onclick: () => setFilter("status", value),
  }, T(`f.${value}`)));
  const select = (name, key, value, options) => {
    const el = h("select", { name, "aria-label": T(name), dataset: { filter: name }, onchange: () => setFilter(key, el.value) },
      Object.entries(options).map(([v, k]) => h("option", { value: v }, T(k))));
    el.value = value;
    return el;
  };
  const listEl = h("ul", { class: "inbox-list", "aria-label": T("convs") });
  const moreBtn = h("button", { class: "button button-secondary button-small inbox-more", onclick: loadMore });
  const listFoot = h("div", { class: "inbox-list-foot" });
  const threadPane = h("div", { class: "inbox-pane" });
  const layout = h("div", { class: "inbox" },
    h("aside", { class: "inbox-pane inbox-list-pane", "aria-label": T("convs") },
      h("div", { class: "inbox-filters", role: "group", "aria-label": T("filters") },
        h("div", { class: "inbox-segmented", role: "group", "aria-label": T("status") }, statusButtons),
        select("bot", "bot", filters.bot, { "": "botAny", paused: "botPaused", active: "botActive" }),
        assignable && select("assignee", "mine", filters.mine, { "": "anyone", me: "toMe" })),
      h("div", { class: "inbox-list-scroll" }, listEl, listFoot)),
    threadPane);
  ctx.root.append(h("div", { class: "page-header inbox-header" }, h("h1", {}, T("title")), live), layout);

  // Empty values are left out of the query.
  const getPage = (cursor) => api("GET", `${base}/conversations`, { signal, query: {
    status: filters.status.replace("all", ""), bot_paused: filters.bot && filters.bot === "paused", assignee_id: filters.mine && me.id, limit: 25, cursor,
  } });
  const matches = (c) => (filters.status === "all" || c.status === filters.status)
    && (!filters.bot || !!c.bot_paused === (filters.bot === "paused")) && (!filters.mine || c.assignee_id === me.id);

  function rowEl(c) {
    const cu = c.customer || {};
    const unread = Number(c.unread_count) || 0;
    const label = T(unread === 1 ? "unread1" : "unread", unread);
    // A plain click opens it in place; other clicks (new tab…) follow the link.
    const onclick = (e) => { if (!(e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey)) { e.preventDefault(); open(c.id); } };
    return h("li", {}, h("a", {
      class: ["inbox-item", unread && "inbox-item-unread", c.id === selected && "inbox-item-selected"],
      href: hashFor(c.id), "aria-current": c.id === selected && "true", dataset: { id: c.id }, onclick,
    },
    avatar(cu),
    h("span", { class: "inbox-item-main" },
      h("span", {},
        h("span", { class: "inbox-item-name", dir: "auto" }, customerName(cu)),
        h("time", { datetime: c.last_message_at, title: fullTime(c.last_message_at) }, when(c.last_message_at, "list"))),
      h("span", {},
        h("span", { class: "inbox-item-sub" }, !cu.erased && cu.profile_name && phone(cu.wa_id)),
        c.status === "closed" ? badge("status-muted", T("closed")) : c.bot_paused && badge("inbox-warn", icon("pause"), T("botPaused")),
        c.assignee_id && badge("status-muted", T(c.assignee_id === me.id ? "mine" : "assigned")),
        unread > 0 && h("span", { class: "badge inbox-unread", "aria-label": label }, unread > 99 ? "99+" : unread)))));
  }

  function renderList() {
    if (!loaded) return;
    const sorted = [...convs.values()].sort(compare);
    const wanted = sorted.map((c) => ({
      key: c.id, build: () => rowEl(c), sig: JSON.stringify([c, c.id === selected, when(c.last_message_at, "list"), lang()]),
    }));
    const filtered = filters.status !== "open" || filters.bot || filters.mine;
    if (!wanted.length) wanted.push({ key: "", sig: JSON.stringify([filters, lang()]), build: () => h("li", { class: "empty" }, T(filtered ? "emptyFiltered" : "emptyOpen")) });
    reconcile(listEl, wanted, rows);
    const unread = sorted.reduce((n, c) => n + (Number(c.unread_count) || 0), 0);
    ctx.setTitle(unread ? `(${unread}) ${T("title")}` : T("title"));
    moreBtn.disabled = loadingMore;
    moreBtn.textContent = t(loadingMore ? "ui.loading" : "ui.more");
    if (!next || listFoot.firstChild !== moreBtn) replace(listFoot, next && moreBtn);
  }

  async function loadList() {
    const mine = ++generation;
    loaded = false;
    convs.clear();
    next = null;
    reconcile(listEl, [], rows);
    listFoot.replaceChildren(loading());
    try {
      await pollList(true);
    } catch (error) {
      if (!isAbort(error) && mine === generation) listFoot.replaceChildren(problemBox(error, { onRetry: loadList }));
    }
  }

  /** Merges a fresh first page: rows gone from its window leave. */
  async function pollList(first) {
    if (!loaded && !first) return;
    const mine = generation;
    const page = await getPage();
    if (mine !== generation) return;
    const items = page.items || [];
    const seen = new Set(items.map((c) => c.id));
    const last = page.next_cursor && items[items.length - 1];
    for (const c of convs.values()) if (!seen.has(c.id) && (!last || compare(c, last) < 0)) convs.delete(c.id);
    for (const c of items) convs.set(c.id, c);
    if (!next || !last) next = page.next_cursor;
    loaded = true;
    renderList();
  }

  async function loadMore() {
    if (loadingMore) return;
    const mine = generation;
    loadingMore = true;
    renderList();
    try {
      const page = await getPage(next);
      if (mine === generation) {
        for (const c of page.items || []) convs.set(c.id, c);
        next = page.next_cursor;
      }
    } catch (error) {
      if (!isAbort(error)) toast(errorText(error), "error");
    }
    loadingMore = false;
    renderList();
  }

  function setFilter(key, value) {
    if (filters[key] === value) return;
    filters[key] = value;
    savedFilters.set(tenantId, { ...filters });
    for (const b of statusButtons) b.setAttribute("aria-pressed", b.dataset.value === filters.status);
    loadList();
  }

  /** The open conversation changed (poll or action): its row follows. */
  function onConversation(c) {
    if (!loaded) return;
    if (!matches(c)) convs.delete(c.id);
    else if (convs.has(c.id) || !next || compare(c, [...convs.values()].sort(compare).pop()) <= 0) convs.set(c.id, c);
    renderList();
  }

  function open(id, push = true) {
    if (id === selected && threadPane.firstChild) return;
    selected = id;
    thread?.destroy();
    thread = id && createThread({ ctx, tenantId, id, initial: convs.get(id), users: () => users, onConversation, onBack: () => open(null) });
    threadPane.replaceChildren(thread ? thread.element : h("div", { class: "inbox-placeholder" },
      icon("chat"), h("h2", {}, T("pick")), T("pickHint")));
    layout.classList.toggle("inbox-has-selection", !!id);
    // The address follows without re-mounting the view (pushState fires no hashchange).
    if (push && location.hash !== hashFor(id)) history.pushState(history.state, "", hashFor(id));
    renderList();
  }

  // Live updates: a poll every POLL ms while the tab is visible, backing off while failing.

  let timer = 0;
  let running = false;
  let failures = 0;

  function schedule(delay) {
    clearTimeout(timer);
    live.className = `badge inbox-live status-${failures ? "bad" : "ok"}`;
    live.textContent = T(failures ? "liveError" : "live");
    if (!signal.aborted && !document.hidden) timer = setTimeout(tick, delay);
  }

  async function tick() {
    if (running || signal.aborted) return;
    running = true;
    const results = await Promise.allSettled([pollList(), thread?.poll()]);
    running = false;
    const failed = results.find((r) => r.status === "rejected" && !isAbort(r.reason));
    failures = failed ? failures + 1 : 0;
    if (failed) console.warn("PyTake inbox: refresh failed", failed.reason);
    schedule(Math.min(30000, POLL * 2 ** failures));
  }

  const onVisibility = () => schedule(0);
  document.addEventListener("visibilitychange", onVisibility);
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    thread?.destroy();
  });

  open(ctx.params.conversationId || null, false);
  listAll(`${base}/users`, { max: 1000, signal }).then((found) => {
    users = found;
    thread?.refreshUsers();
  }, (error) => { if (!isAbort(error)) console.warn("PyTake inbox: users could not be listed", error); });
  schedule(POLL);
  await loadList();
}
