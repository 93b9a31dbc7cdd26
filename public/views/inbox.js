// The agent inbox: #/tenants/:tenantId/inbox[/:conversationId]. Two panes: the conversations list
// (filters, unread badges, cursor pages) and the open conversation (views/inbox-thread.js).
// Both stay live by polling while the view is mounted and the tab is visible; a poll re-renders
// only the rows and messages that changed (scroll position, focus and the reply draft survive).

import { h } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, listAll } from "../lib/api.js";
import { problemBox, loading, toast, errorText } from "../lib/ui.js";
import "./inbox-strings.js";
import { customerName, formatPhone, avatar, shortWhen, fullWhen, icon, reconcile, isAbort } from "./inbox-common.js";
import { createThread } from "./inbox-thread.js";

const POLL_MS = 2500;
const MAX_BACKOFF_MS = 30000;
const PAGE = 25;
/** Filters per tenant, kept in memory so a re-mount (language switch, back button) keeps them. */
const savedFilters = new Map();

function when(c) {
  const n = Date.parse(c.last_message_at);
  return Number.isNaN(n) ? 0 : n;
}

/** List order: most recent first, then by id descending (the API's keyset order). */
function compare(a, b) {
  return when(b) - when(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export default async function mount(ctx) {
  const tenantId = ctx.params.tenantId;
  const me = ctx.me;
  const canBeAssigned = me.tenant_id === tenantId && (me.role === "agent" || me.role === "tenant_admin");
  const filters = { status: "open", bot: "", mine: false, ...(savedFilters.get(tenantId) || {}) };
  if (!canBeAssigned) filters.mine = false;
  const listPath = `/api/v1/tenants/${encodeURIComponent(tenantId)}/conversations`;
  const hashFor = (id) => `#/tenants/${encodeURIComponent(tenantId)}/inbox${id ? `/${encodeURIComponent(id)}` : ""}`;

  let users = [];
  let selectedId = null;
  let thread = null;

  const convs = new Map(); // id → conversation, the loaded part of the filtered list
  const rowCache = new Map();
  let nextCursor = null;
  let listLoaded = false;
  let listGeneration = 0;
  let loadingMore = false;

  // ------------------------------------------------------------------ layout

  const liveText = h("span", { class: "inbox-live-text" });
  const live = h("p", { class: "inbox-live", role: "status" }, h("span", { class: "inbox-live-dot", "aria-hidden": "true" }), liveText);
  const header = h("div", { class: "page-header inbox-header" }, h("h1", {}, t("inbox.title")), live);

  const statusButtons = ["open", "closed", "all"].map((value) => h("button", {
    type: "button", class: "inbox-seg", "aria-pressed": String(filters.status === value), dataset: { filter: "status", value },
    onclick: () => setFilter("status", value),
  }, t(`inbox.filter.${value}`)));
  const botSelect = h("select", { class: "inbox-filter", name: "bot", "aria-label": t("inbox.filter.bot"), dataset: { filter: "bot" } },
    h("option", { value: "" }, t("inbox.filter.botAny")),
    h("option", { value: "paused" }, t("inbox.filter.botPaused")),
    h("option", { value: "active" }, t("inbox.filter.botActive")));
  botSelect.value = filters.bot;
  botSelect.addEventListener("change", () => setFilter("bot", botSelect.value));
  const assigneeSelect = canBeAssigned ? h("select", { class: "inbox-filter", name: "assignee", "aria-label": t("inbox.filter.assignee"), dataset: { filter: "assignee" } },
    h("option", { value: "" }, t("inbox.filter.anyone")),
    h("option", { value: "me" }, t("inbox.filter.me"))) : null;
  if (assigneeSelect) {
    assigneeSelect.value = filters.mine ? "me" : "";
    assigneeSelect.addEventListener("change", () => setFilter("mine", assigneeSelect.value === "me"));
  }

  const listEl = h("ul", { class: "inbox-list", "aria-label": t("inbox.conversations") });
  const moreBtn = h("button", { type: "button", class: "button button-secondary button-small inbox-more", onclick: loadMore }, t("inbox.loadMore"));
  const listFoot = h("div", { class: "inbox-list-foot" });
  const listPane = h("aside", { class: "inbox-list-pane", "aria-label": t("inbox.conversations") },
    h("div", { class: "inbox-filters", role: "group", "aria-label": t("inbox.filters") },
      h("div", { class: "inbox-segmented", role: "group", "aria-label": t("inbox.filter.status") }, statusButtons),
      h("div", { class: "inbox-filter-row" }, botSelect, assigneeSelect)),
    h("div", { class: "inbox-list-scroll" }, listEl, listFoot));
  const threadPane = h("div", { class: "inbox-thread-pane" });
  const layout = h("div", { class: "inbox" }, listPane, threadPane);
  ctx.root.append(header, layout);

  function fit() {
    const top = layout.getBoundingClientRect().top + window.scrollY;
    const footer = document.querySelector(".footer");
    const below = (footer ? footer.offsetHeight : 0) + 20;
    layout.style.height = `${Math.max(440, Math.floor(window.innerHeight - top - below))}px`;
  }
  fit();
  window.addEventListener("resize", fit);

  // ------------------------------------------------------------------ the list

  function query(cursor) {
    return {
      status: filters.status === "all" ? undefined : filters.status,
      bot_paused: filters.bot === "" ? undefined : filters.bot === "paused",
      assignee_id: filters.mine ? me.id : undefined,
      limit: PAGE,
      cursor: cursor || undefined,
    };
  }

  function matches(c) {
    if (filters.status !== "all" && c.status !== filters.status) return false;
    if (filters.bot === "paused" && !c.bot_paused) return false;
    if (filters.bot === "active" && c.bot_paused) return false;
    if (filters.mine && c.assignee_id !== me.id) return false;
    return true;
  }

  function rowSig(c) {
    const cu = c.customer || {};
    return JSON.stringify([cu.profile_name, cu.wa_id, cu.erased, c.status, c.bot_paused, c.assignee_id, c.last_message_at,
      c.unread_count, c.id === selectedId, shortWhen(c.last_message_at), lang()]);
  }

  function rowEl(c) {
    const cu = c.customer || {};
    const unread = Number(c.unread_count) || 0;
    const chips = [];
    if (c.status === "closed") chips.push(h("span", { class: "inbox-chip inbox-chip-muted" }, t("inbox.chip.closed")));
    if (c.bot_paused && c.status !== "closed") chips.push(h("span", { class: "inbox-chip inbox-chip-warn" }, icon("pause"), t("inbox.chip.paused")));
    if (c.assignee_id) chips.push(h("span", { class: "inbox-chip inbox-chip-muted" }, c.assignee_id === me.id ? t("inbox.chip.mine") : t("inbox.chip.assigned")));
    const selected = c.id === selectedId;
    const link = h("a", {
      class: ["inbox-item", unread > 0 && "inbox-item-unread", selected && "inbox-item-selected"],
      href: hashFor(c.id), "aria-current": selected ? "true" : null, dataset: { id: c.id },
    },
    avatar(cu),
    h("span", { class: "inbox-item-main" },
      h("span", { class: "inbox-item-top" },
        h("span", { class: "inbox-item-name", dir: "auto" }, customerName(cu)),
        h("time", { class: "inbox-item-time", datetime: c.last_message_at, title: fullWhen(c.last_message_at) }, shortWhen(c.last_message_at))),
      h("span", { class: "inbox-item-bottom" },
        h("span", { class: "inbox-item-sub" }, cu.erased ? "" : (cu.profile_name ? formatPhone(cu.wa_id) : "")),
        chips,
        unread > 0 ? h("span", { class: "inbox-unread", "aria-label": t("inbox.unread", unread), title: t("inbox.unread", unread), dataset: { count: unread } }, unread > 99 ? "99+" : String(unread)) : null)));
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      select(c.id);
    });
    return h("li", { class: "inbox-row" }, link);
  }

  function emptyRow() {
    const filtered = filters.status !== "open" || filters.bot || filters.mine;
    return h("li", { class: "inbox-list-empty" }, icon("chat", "inbox-empty-icon"), h("p", {}, filtered ? t("inbox.emptyFiltered") : t("inbox.emptyOpen")));
  }

  function renderList() {
    if (!listLoaded) return;
    const sorted = [...convs.values()].sort(compare);
    const wanted = sorted.map((c) => ({ key: c.id, sig: rowSig(c), build: () => rowEl(c) }));
    if (!wanted.length) wanted.push({ key: "empty", sig: JSON.stringify([filters, lang()]), build: emptyRow });
    reconcile(listEl, wanted, rowCache);
    const unread = sorted.reduce((n, c) => n + (Number(c.unread_count) || 0), 0);
    ctx.setTitle(unread > 0 ? t("inbox.titleUnread", unread) : t("inbox.title"));
  }

  function renderFoot() {
    if (!listLoaded) return;
    moreBtn.disabled = loadingMore;
    moreBtn.textContent = loadingMore ? t("inbox.loadingMore") : t("inbox.loadMore");
    if (nextCursor) {
      if (listFoot.firstChild !== moreBtn) listFoot.replaceChildren(moreBtn);
    } else if (listFoot.firstChild) {
      listFoot.replaceChildren();
    }
  }

  async function loadList() {
    const generation = ++listGeneration;
    listLoaded = false;
    convs.clear();
    nextCursor = null;
    reconcile(listEl, [], rowCache);
    listFoot.replaceChildren(loading());
    try {
      const page = await api("GET", listPath, { query: query(null), signal: ctx.signal });
      if (generation !== listGeneration) return;
      for (const c of page.items || []) convs.set(c.id, c);
      nextCursor = page.next_cursor || null;
      listLoaded = true;
      listFoot.replaceChildren();
      renderList();
      renderFoot();
    } catch (error) {
      if (isAbort(error) || generation !== listGeneration) return;
      listFoot.replaceChildren(problemBox(error, { onRetry: loadList }));
    }
  }

  /** Refreshes the first page and merges it: new and changed rows update, rows gone from it leave. */
  async function pollList() {
    if (!listLoaded) return;
    const generation = listGeneration;
    const page = await api("GET", listPath, { query: query(null), signal: ctx.signal });
    if (generation !== listGeneration) return;
    const items = page.items || [];
    const seen = new Set(items.map((c) => c.id));
    const boundary = page.next_cursor && items.length ? items[items.length - 1] : null;
    for (const c of [...convs.values()]) {
      // Within the refreshed window but not in it: it no longer matches the filters.
      if (!seen.has(c.id) && (!boundary || compare(c, boundary) < 0)) convs.delete(c.id);
    }
    for (const c of items) convs.set(c.id, c);
    if (!page.next_cursor) nextCursor = null;
    renderList();
    renderFoot();
  }

  async function loadMore() {
    if (!nextCursor || loadingMore) return;
    const generation = listGeneration;
    loadingMore = true;
    renderFoot();
    try {
      const page = await api("GET", listPath, { query: query(nextCursor), signal: ctx.signal });
      if (generation !== listGeneration) return;
      for (const c of page.items || []) convs.set(c.id, c);
      nextCursor = page.next_cursor || null;
      renderList();
    } catch (error) {
      if (isAbort(error)) return;
      toast(errorText(error), "error");
    } finally {
      loadingMore = false;
      renderFoot();
    }
  }

  function setFilter(key, value) {
    if (filters[key] === value) return;
    filters[key] = value;
    savedFilters.set(tenantId, { ...filters });
    for (const b of statusButtons) b.setAttribute("aria-pressed", String(b.dataset.value === filters.status));
    loadList();
  }

  // ------------------------------------------------------------------ the conversation

  function placeholder() {
    return h("div", { class: "inbox-placeholder" },
      h("div", { class: "inbox-placeholder-art", "aria-hidden": "true" }, icon("chat")),
      h("h2", {}, t("inbox.pick")),
      h("p", {}, t("inbox.pickHint")));
  }

  /** A conversation changed in the open pane (poll or action): its row follows. */
  function onConversation(c) {
    if (!c || !listLoaded) return;
    const known = convs.get(c.id);
    if (matches(c)) {
      if (known || !nextCursor || compare(c, [...convs.values()].sort(compare).pop() || c) <= 0) convs.set(c.id, c);
    } else if (known) {
      convs.delete(c.id);
    }
    renderList();
  }

  function select(id, { push = true } = {}) {
    if (id === selectedId && (thread || (!id && threadPane.firstChild))) return;
    selectedId = id;
    if (thread) thread.destroy();
    thread = null;
    if (id) {
      thread = createThread({
        ctx, tenantId, conversationId: id, initial: convs.get(id) || null, users: () => users, onConversation,
        onBack: () => select(null),
      });
      threadPane.replaceChildren(thread.element);
    } else {
      threadPane.replaceChildren(placeholder());
    }
    layout.classList.toggle("inbox-has-selection", !!id);
    // The address follows the selection without re-mounting the view (no hashchange event).
    if (push && location.hash !== hashFor(id)) history.pushState(history.state, "", hashFor(id));
    renderList();
  }

  // ------------------------------------------------------------------ live updates

  let timer = 0;
  let running = false;
  let failures = 0;

  function setLive(state) {
    live.dataset.state = state;
    if (state === "ok") {
      liveText.textContent = t("inbox.live");
      live.title = t("inbox.liveUpdated", new Date().toLocaleTimeString(lang()));
    } else if (state === "hidden") {
      liveText.textContent = t("inbox.liveHidden");
      live.title = "";
    } else {
      liveText.textContent = t("inbox.liveError");
      live.title = "";
    }
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = 0;
    if (ctx.signal.aborted || document.visibilityState === "hidden") return;
    timer = window.setTimeout(tick, delay);
  }

  async function tick() {
    timer = 0;
    if (running || ctx.signal.aborted) return;
    running = true;
    const open = thread;
    const results = await Promise.allSettled([pollList(), open ? open.poll() : null]);
    running = false;
    if (ctx.signal.aborted) return;
    const failed = results.find((r) => r.status === "rejected" && !isAbort(r.reason));
    if (failed) {
      failures += 1;
      setLive("error");
      console.warn("PyTake inbox: refresh failed", failed.reason);
    } else {
      failures = 0;
      setLive("ok");
    }
    schedule(failures ? Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** failures) : POLL_MS);
  }

  function onVisibility() {
    if (document.visibilityState === "hidden") {
      window.clearTimeout(timer);
      timer = 0;
      setLive("hidden");
    } else {
      setLive(failures ? "error" : "ok");
      schedule(0);
    }
  }
  document.addEventListener("visibilitychange", onVisibility);

  function cleanup() {
    window.clearTimeout(timer);
    timer = 0;
    document.removeEventListener("visibilitychange", onVisibility);
    window.removeEventListener("resize", fit);
    if (thread) thread.destroy();
  }
  ctx.onCleanup(cleanup);
  ctx.signal.addEventListener("abort", cleanup, { once: true });

  // ------------------------------------------------------------------ start

  setLive(document.visibilityState === "hidden" ? "hidden" : "ok");
  select(ctx.params.conversationId || null, { push: false });
  listAll(`/api/v1/tenants/${encodeURIComponent(tenantId)}/users`, { max: 1000, signal: ctx.signal })
    .then((found) => {
      users = found;
      if (thread) thread.refreshUsers();
    })
    .catch((error) => { if (!isAbort(error)) console.warn("PyTake inbox: users could not be listed", error); });
  await loadList();
  schedule(POLL_MS);
}
