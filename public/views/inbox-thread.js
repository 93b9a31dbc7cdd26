// The conversation pane of the inbox: header with handover/assign/close/erase, the message history
// (oldest first, the latest WINDOW shown, earlier ones on demand) and the agent's reply box.
// Everything a customer sent is rendered as text.

import { h } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, ProblemError, NetworkError } from "../lib/api.js";
import { errorText, problemBox, loading, toast, dialog, confirmDialog } from "../lib/ui.js";
import {
  customerName, formatPhone, avatar, timeOf, fullWhen, dayKey, dayLabel, icon, reconcile, isAbort,
} from "./inbox-common.js";

const PAGE = 100; // messages per request
const WINDOW = 50; // messages shown at first, and added by "show earlier"
const MAX_TEXT = 4096;
const STATUSES = ["received", "pending", "sent", "delivered", "read", "failed"];

/** Unsent replies per conversation, kept in memory while the page lives (not in web storage). */
const drafts = new Map();

function msgTime(m) {
  const n = Date.parse(m.occurred_at);
  return Number.isNaN(n) ? 0 : n;
}

function compareMessages(a, b) {
  return msgTime(a) - msgTime(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function str(value) {
  return typeof value === "string" ? value : "";
}

/** The provider's own words for a failed send, from the problem answer. */
function providerFailure(error) {
  if (error instanceof ProblemError && error.problem.providerError) {
    const pe = error.problem.providerError;
    const detail = [pe.message, pe.code && `(${pe.code})`].filter(Boolean).join(" ");
    if (detail) return detail;
  }
  return errorText(error);
}

/**
 * createThread({ctx, tenantId, conversationId, initial, users, onConversation, onBack})
 * → {element, poll(), destroy(), conversation()}.
 * `users()` returns the tenant's users (for sender names and the assignee picker);
 * `onConversation(conv)` is told about every new state of the conversation.
 */
export function createThread({ ctx, tenantId, conversationId, initial, users, onConversation, onBack }) {
  const me = ctx.me;
  const canAct = ctx.can("inbox.act");
  const canErase = ctx.can("customers.erase");
  const controller = new AbortController();
  const signal = controller.signal;
  const stop = () => controller.abort();
  ctx.signal.addEventListener("abort", stop, { once: true });
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}/conversations/${encodeURIComponent(conversationId)}`;

  let conv = initial || null;
  const messages = new Map(); // id → message
  let order = []; // ids, oldest first
  let tailCursor = null; // the cursor of the page holding the newest messages (null: the first page)
  let shown = WINDOW;
  let temps = []; // replies not yet known by the server: {key, body, status, error, maybeStored, at}
  let tempSeq = 0;
  const nodes = new Map();
  let loaded = false;
  let acting = false;
  let generation = 0; // bumped by every full reload: older reads are dropped

  // ------------------------------------------------------------------ elements

  const nameEl = h("h2", { class: "inbox-thread-name", id: `inbox-thread-name-${conversationId}` });
  const phoneEl = h("span", { class: "inbox-thread-phone" });
  const statusChip = h("span", { class: "inbox-chip", dataset: { role: "status" } });
  const botChip = h("span", { class: "inbox-chip", dataset: { role: "bot" } });
  const assigneeChip = h("span", { class: "inbox-chip inbox-chip-muted", dataset: { role: "assignee" } });
  const avatarSlot = h("span", { class: "inbox-thread-avatar" });

  const handoverBtn = canAct ? h("button", { type: "button", class: "button button-secondary button-small inbox-action", "data-write": true, dataset: { action: "handover" }, onclick: toggleBot }) : null;
  const assignSelect = canAct ? h("select", { class: "inbox-assign", "data-write": true, dataset: { action: "assign" }, "aria-label": t("inbox.assign"), onchange: assign }) : null;
  const closeBtn = canAct ? h("button", { type: "button", class: "button button-secondary button-small inbox-action", "data-write": true, dataset: { action: "close" }, title: t("inbox.closeHint"), onclick: closeConversation }, icon("lock"), t("inbox.close")) : null;
  const eraseBtn = canErase ? h("button", { type: "button", class: "button button-small inbox-action inbox-action-danger", "data-write": true, dataset: { action: "erase" }, onclick: eraseCustomer }, icon("trash"), t("inbox.erase")) : null;

  const head = h("header", { class: "inbox-thread-head" },
    h("button", { type: "button", class: "inbox-back", onclick: () => onBack && onBack(), "aria-label": t("inbox.back") }, icon("back")),
    avatarSlot,
    h("div", { class: "inbox-thread-who" }, nameEl, h("p", { class: "inbox-thread-meta" }, phoneEl, statusChip, botChip, assigneeChip)),
    (canAct || canErase) ? h("div", { class: "inbox-thread-actions", role: "group", "aria-label": t("inbox.actions") },
      handoverBtn, assignSelect ? h("label", { class: "inbox-assign-wrap" }, icon("person"), assignSelect) : null, closeBtn, eraseBtn) : null);

  const earlierBtn = h("button", { type: "button", class: "inbox-earlier-button", onclick: showEarlier }, t("inbox.earlier"));
  const startNote = h("p", { class: "inbox-start" }, t("inbox.start"));
  const earlier = h("div", { class: "inbox-earlier" });
  // Announced to screen readers once loaded: new messages only, not the history or earlier pages.
  const list = h("ol", { class: "inbox-messages", "aria-relevant": "additions" });
  const scroller = h("div", { class: "inbox-scroll", tabindex: "0", "aria-labelledby": nameEl.id }, loading());
  const jump = h("button", { type: "button", class: "inbox-jump", hidden: true, onclick: () => { scrollToBottom(); } }, t("inbox.newMessages"), icon("down"));
  scroller.addEventListener("scroll", () => { if (nearBottom()) jump.hidden = true; }, { passive: true });

  const input = canAct ? h("textarea", {
    class: "inbox-input", rows: "1", "data-write": true, name: "reply", placeholder: t("inbox.replyPlaceholder"), "aria-label": t("inbox.replyLabel"),
    value: drafts.get(conversationId) || "",
  }) : null;
  const sendBtn = canAct ? h("button", { type: "submit", class: "inbox-send", "data-write": true, "aria-label": t("inbox.send"), title: t("inbox.send") }, icon("send")) : null;
  const counter = h("p", { class: "inbox-counter", "aria-live": "polite" });
  const composer = canAct ? h("form", { class: "inbox-composer", onsubmit: (event) => { event.preventDefault(); submit(); } },
    h("div", { class: "inbox-composer-row" }, input, sendBtn), counter) : null;
  const note = h("p", { class: "inbox-note" });
  const foot = h("footer", { class: "inbox-thread-foot" }, composer, note);

  const element = h("section", { class: "inbox-thread", "aria-labelledby": nameEl.id, dataset: { conversationId } },
    head, h("div", { class: "inbox-scroll-wrap" }, scroller, jump), foot);

  if (input) {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
        event.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", () => {
      if (input.value) drafts.set(conversationId, input.value);
      else drafts.delete(conversationId);
      grow();
      updateCounter();
    });
  }

  function grow() {
    if (!input) return;
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 180)}px`;
  }

  function updateCounter() {
    if (!input) return;
    const n = Array.from(input.value).length;
    counter.textContent = n > MAX_TEXT ? t("inbox.tooLong", n - MAX_TEXT) : "";
    counter.hidden = n <= MAX_TEXT;
  }

  // ------------------------------------------------------------------ header

  function userLabel(id) {
    if (!id) return "";
    if (id === me.id) return t("inbox.sender.you");
    const user = users().find((u) => u.id === id);
    return user ? String(user.email) : t("inbox.unknownUser");
  }

  let headSig = "";
  function updateHead() {
    if (!conv) return;
    const c = conv.customer || {};
    const sig = JSON.stringify([c.profile_name, c.wa_id, c.erased, conv.status, conv.bot_paused, conv.assignee_id, users().length, acting, lang()]);
    if (sig === headSig) return;
    headSig = sig;
    nameEl.textContent = customerName(c);
    avatarSlot.replaceChildren(avatar(c, "lg"));
    phoneEl.textContent = c.erased ? "" : formatPhone(c.wa_id);
    phoneEl.hidden = !phoneEl.textContent;
    const closed = conv.status === "closed";
    statusChip.className = ["inbox-chip", closed ? "inbox-chip-muted" : "inbox-chip-ok"].join(" ");
    statusChip.textContent = closed ? t("inbox.status.closed") : t("inbox.status.open");
    botChip.className = ["inbox-chip", conv.bot_paused ? "inbox-chip-warn" : "inbox-chip-muted"].join(" ");
    botChip.replaceChildren(icon("bot"), conv.bot_paused ? t("inbox.botPaused") : t("inbox.botActive"));
    botChip.hidden = closed;
    assigneeChip.textContent = !conv.assignee_id ? "" : conv.assignee_id === me.id ? t("inbox.assignedToYou") : t("inbox.assignedTo", userLabel(conv.assignee_id));
    assigneeChip.hidden = !conv.assignee_id;

    if (handoverBtn) {
      handoverBtn.hidden = closed;
      handoverBtn.disabled = acting;
      handoverBtn.replaceChildren(icon(conv.bot_paused ? "play" : "pause"), conv.bot_paused ? t("inbox.resumeBot") : t("inbox.pauseBot"));
      handoverBtn.title = conv.bot_paused ? t("inbox.resumeBotHint") : t("inbox.pauseBotHint");
      handoverBtn.setAttribute("aria-pressed", String(!!conv.bot_paused));
    }
    if (assignSelect) {
      assignSelect.parentElement.hidden = closed;
      assignSelect.disabled = acting;
      fillAssignees();
    }
    if (closeBtn) {
      closeBtn.hidden = closed;
      closeBtn.disabled = acting;
    }
    if (eraseBtn) {
      eraseBtn.hidden = !!c.erased;
      eraseBtn.disabled = acting;
    }
    updateFoot();
  }

  function fillAssignees() {
    const current = conv.assignee_id || "";
    const options = [h("option", { value: "", disabled: conv.bot_paused && !!current }, conv.bot_paused && current ? t("inbox.unassignedPaused") : t("inbox.unassigned"))];
    const people = users().filter((u) => u.role === "tenant_admin" || u.role === "agent");
    const mine = people.find((u) => u.id === me.id);
    if (mine) options.push(h("option", { value: mine.id }, t("inbox.me", String(mine.email))));
    for (const u of people) if (u.id !== me.id) options.push(h("option", { value: u.id }, String(u.email)));
    if (current && !people.some((u) => u.id === current)) options.push(h("option", { value: current }, t("inbox.unknownUser")));
    if (document.activeElement === assignSelect && assignSelect.options.length === options.length) {
      // Do not rebuild under the user's pointer; keep the value in step.
      assignSelect.value = current;
      return;
    }
    assignSelect.replaceChildren(...options);
    assignSelect.value = current;
  }

  function updateFoot() {
    if (!conv) return;
    const erased = conv.customer && conv.customer.erased;
    const closed = conv.status === "closed";
    let text = "";
    if (erased) text = t("inbox.erasedNote");
    else if (closed) text = t("inbox.closedNote");
    else if (!canAct) text = t("inbox.readOnly");
    note.textContent = text;
    note.hidden = !text;
    note.className = ["inbox-note", erased && "inbox-note-erased"].filter(Boolean).join(" ");
    if (composer) composer.hidden = closed || !!erased;
  }

  // ------------------------------------------------------------------ messages

  function senderLabel(m) {
    if (m.direction === "inbound") return customerName(conv && conv.customer);
    if (!m.sent_by) return t("inbox.sender.bot");
    if (m.sent_by === me.id) return t("inbox.sender.you");
    const user = users().find((u) => u.id === m.sent_by);
    return user ? String(user.email) : t("inbox.sender.agent");
  }

  function content(m) {
    const payload = m.payload && typeof m.payload === "object" ? m.payload : {};
    const body = str(m.body);
    if (payload.erased === true && !body) {
      return h("p", { class: "inbox-msg-text inbox-msg-erased" }, t("inbox.messageErased"));
    }
    const type = str(m.type) || "text";
    const own = Object.prototype.hasOwnProperty.call(payload, type) ? payload[type] : null;
    const part = own && typeof own === "object" ? own : {};
    let label = null;
    let extra = "";
    switch (type) {
      case "text":
        break;
      case "image": case "video": case "sticker":
        label = [icon("media"), t(`inbox.type.${type}`)];
        break;
      case "audio":
        label = [icon("mic"), part.voice === true ? t("inbox.type.voice") : t("inbox.type.audio")];
        break;
      case "document":
        label = [icon("doc"), str(part.filename) || t("inbox.type.document")];
        break;
      case "location": {
        label = [icon("pin"), t("inbox.type.location")];
        const lat = Number(part.latitude);
        const lon = Number(part.longitude);
        if (!body && Number.isFinite(lat) && Number.isFinite(lon)) extra = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
        break;
      }
      case "interactive": case "button":
        label = [icon("chat"), t(`inbox.type.${type}`)];
        break;
      case "contacts":
        label = [icon("person"), t("inbox.type.contacts")];
        break;
      case "reaction":
        return h("p", { class: "inbox-msg-text inbox-msg-system" }, t("inbox.type.reaction", str(part.emoji)));
      default:
        label = [icon("chat"), t("inbox.type.other", type)];
    }
    const text = body || extra;
    return [
      label ? h("p", { class: "inbox-msg-kind" }, label) : null,
      text ? h("p", { class: "inbox-msg-text", dir: "auto" }, text)
        : (label ? null : h("p", { class: "inbox-msg-text inbox-msg-system" }, t("inbox.noText"))),
    ];
  }

  function statusEl(status) {
    const known = STATUSES.includes(status) ? status : "sent";
    const glyph = { pending: "clock", sent: "check", delivered: "checks", read: "checks", failed: "alert" }[known] || "check";
    return h("span", { class: ["inbox-status", `inbox-status-${known}`], title: t(`inbox.st.${known}`) },
      icon(glyph), h("span", { class: "inbox-status-text" }, t(`inbox.st.${known}`)));
  }

  function messageSig(m, first) {
    return JSON.stringify([m.status, m.body, m.error_code, m.error_title, m.payload && m.payload.erased, senderLabel(m), first, lang()]);
  }

  function senderKind(m) {
    if (m.direction === "inbound") return "customer";
    return m.sent_by ? "agent" : "bot";
  }

  /** A bubble; `first` is whether it starts a run of messages from the same sender (which names them). */
  function bubble({ key, direction, status, sender, kind, first, body, when, error, local, failed }) {
    const out = direction === "outbound";
    return h("li", {
      class: ["inbox-msg", out ? "inbox-msg-out" : "inbox-msg-in", first ? "inbox-msg-first" : "inbox-msg-cont", failed && "inbox-msg-failed", local && "inbox-msg-local"],
      dataset: { id: key, status, direction, sender: kind },
    },
    h("div", { class: "inbox-bubble", title: first ? null : sender },
      first ? h("p", { class: "inbox-msg-sender" }, sender) : h("p", { class: "visually-hidden" }, sender),
      body,
      h("p", { class: "inbox-msg-meta" },
        h("time", { datetime: when, title: fullWhen(when) }, timeOf(when)),
        out ? statusEl(status) : null),
      error ? h("p", { class: "inbox-msg-error", role: "note" }, icon("alert"), error) : null,
      local));
  }

  function messageEl(m, first) {
    const failed = m.status === "failed";
    const why = [str(m.error_title), m.error_code ? `(${m.error_code})` : ""].filter(Boolean).join(" ");
    return bubble({
      key: m.id, direction: m.direction, status: m.status, sender: senderLabel(m), kind: senderKind(m), first, body: content(m), when: m.occurred_at,
      failed, error: failed ? t("inbox.failedWith", why || t("inbox.st.failed")) : null,
    });
  }

  function tempEl(temp, first) {
    const failed = temp.status === "failed";
    const actions = failed && !temp.maybeStored ? h("div", { class: "inbox-msg-actions" },
      h("button", { type: "button", class: "inbox-link", "data-write": true, onclick: () => retry(temp) }, t("inbox.retry")),
      h("button", { type: "button", class: "inbox-link", onclick: () => discard(temp) }, t("inbox.discard"))) : null;
    return bubble({
      key: temp.key, direction: "outbound", status: temp.status, sender: t("inbox.sender.you"), kind: "agent", first,
      body: h("p", { class: "inbox-msg-text", dir: "auto" }, temp.body), when: temp.at, failed,
      error: failed ? t("inbox.notSent", temp.error) : null, local: actions,
    });
  }

  function daySep(iso) {
    return h("li", { class: "inbox-day", role: "separator" }, h("span", {}, dayLabel(iso)));
  }

  function renderMessages() {
    const ids = order.slice(Math.max(0, order.length - shown));
    const wanted = [];
    let lastDay = null;
    let lastSender = null;
    const addDay = (iso) => {
      const key = dayKey(iso);
      if (key === lastDay) return;
      lastDay = key;
      lastSender = null;
      wanted.push({ key: `day:${key}`, sig: `${dayLabel(iso)}`, build: () => daySep(iso) });
    };
    const starts = (who) => {
      const first = who !== lastSender;
      lastSender = who;
      return first;
    };
    for (const id of ids) {
      const m = messages.get(id);
      addDay(m.occurred_at);
      const first = starts(`${m.direction}:${m.sent_by || ""}`);
      wanted.push({ key: id, sig: messageSig(m, first), build: () => messageEl(m, first) });
    }
    for (const temp of temps) {
      addDay(temp.at);
      const first = starts(`outbound:${me.id}`);
      wanted.push({ key: temp.key, sig: JSON.stringify([temp.status, temp.error, temp.maybeStored, first, lang()]), build: () => tempEl(temp, first) });
    }
    if (!wanted.length) wanted.push({ key: "empty", sig: lang(), build: () => h("li", { class: "inbox-empty-thread" }, t("inbox.noMessages")) });
    reconcile(list, wanted, nodes);
    const top = order.length > shown ? earlierBtn : (order.length ? startNote : null);
    if (earlier.firstChild !== top) earlier.replaceChildren(...(top ? [top] : []));
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 96;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    jump.hidden = true;
  }

  /** Re-renders keeping the reader's place: follows new messages only when already at the bottom. */
  function render({ forceBottom = false } = {}) {
    const stick = forceBottom || nearBottom();
    const lastBefore = list.lastElementChild;
    renderMessages();
    if (stick) scrollToBottom();
    else if (list.lastElementChild !== lastBefore) jump.hidden = false;
  }

  function showEarlier() {
    const before = scroller.scrollHeight;
    const top = scroller.scrollTop;
    shown += WINDOW;
    list.removeAttribute("aria-live");
    renderMessages();
    list.setAttribute("aria-live", "polite");
    scroller.scrollTop = top + (scroller.scrollHeight - before);
  }

  function merge(items) {
    let appended = false;
    for (const m of items) {
      if (!m || typeof m.id !== "string") continue;
      if (!messages.has(m.id)) {
        // Our own reply, seen before its POST answered (or after it failed): it takes the local one's place.
        if (m.direction === "outbound" && m.sent_by === me.id) {
          const temp = temps.find((x) => (x.status === "pending" || x.maybeStored) && x.body === m.body);
          if (temp) temps = temps.filter((x) => x !== temp);
        }
        order.push(m.id);
        appended = true;
      }
      messages.set(m.id, m);
    }
    if (appended) order.sort((a, b) => compareMessages(messages.get(a), messages.get(b)));
  }

  /** Reads pages from `cursor` to the end; answers the items and the cursor of the last page. */
  async function readFrom(cursor) {
    const items = [];
    let tail = cursor;
    for (;;) {
      const page = await api("GET", `${base}/messages`, { query: { limit: PAGE, cursor: tail || undefined }, signal });
      items.push(...(page.items || []));
      if (!page.next_cursor) break;
      tail = page.next_cursor;
    }
    return { items, tail };
  }

  function setConv(next) {
    const erasedNow = next && next.customer && next.customer.erased && !(conv && conv.customer && conv.customer.erased);
    conv = next;
    updateHead();
    if (onConversation) onConversation(conv);
    return erasedNow;
  }

  async function loadAll() {
    const mine = ++generation;
    const [c, read] = await Promise.all([api("GET", base, { signal }), readFrom(null)]);
    if (mine !== generation) return;
    messages.clear();
    order = [];
    merge(read.items);
    tailCursor = read.tail;
    setConv(c);
    if (!loaded) {
      loaded = true;
      scroller.replaceChildren(earlier, list);
    }
    list.removeAttribute("aria-live");
    render({ forceBottom: true });
    list.setAttribute("aria-live", "polite");
  }

  async function start() {
    if (conv) updateHead();
    else {
      nameEl.textContent = t("ui.loading");
      updateFoot();
    }
    try {
      await loadAll();
      if (input) { grow(); updateCounter(); }
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      const notFound = error instanceof ProblemError && error.status === 404;
      scroller.replaceChildren(notFound ? h("div", { class: "inbox-thread-error" }, h("p", {}, t("inbox.notFound")))
        : problemBox(error, { onRetry: () => { scroller.replaceChildren(loading()); start(); } }));
      if (notFound) { nameEl.textContent = t("inbox.unknownCustomer"); }
      if (!conv) foot.hidden = true;
    }
  }

  async function poll() {
    if (!loaded || signal.aborted) return;
    const mine = generation;
    const [c, read] = await Promise.all([api("GET", base, { signal }), readFrom(tailCursor)]);
    if (signal.aborted || mine !== generation) return;
    if (setConv(c)) {
      await loadAll(); // erased elsewhere: every body is gone
      return;
    }
    merge(read.items);
    tailCursor = read.tail;
    render();
  }

  // ------------------------------------------------------------------ actions

  async function send(temp) {
    render({ forceBottom: true });
    try {
      const m = await ctx.busy(api("POST", `${base}/messages`, { body: { text: temp.body }, signal }));
      temps = temps.filter((x) => x !== temp);
      merge([m]);
      render({ forceBottom: true });
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      // Provider failures (502/503/504) are stored as failed messages: the next read shows them.
      const stored = error instanceof NetworkError || (error instanceof ProblemError && error.status >= 500);
      temp.status = "failed";
      temp.maybeStored = stored;
      temp.error = providerFailure(error);
      render({ forceBottom: true });
      if (error instanceof ProblemError && error.code === "conversation_closed") poll().catch(() => {});
      if (stored) {
        try {
          await poll();
        } catch { /* the inbox's poll reports connection problems */ }
      }
    }
  }

  function submit() {
    if (!input) return;
    const text = input.value;
    if (!text.trim()) return;
    if (Array.from(text).length > MAX_TEXT) {
      updateCounter();
      return;
    }
    input.value = "";
    drafts.delete(conversationId);
    grow();
    updateCounter();
    const temp = { key: `local-${++tempSeq}`, body: text, status: "pending", error: null, maybeStored: false, at: new Date().toISOString() };
    temps.push(temp);
    send(temp);
    input.focus();
  }

  function retry(temp) {
    temp.status = "pending";
    temp.error = null;
    temp.maybeStored = false;
    temp.at = new Date().toISOString();
    temps = temps.filter((x) => x !== temp).concat(temp);
    send(temp);
  }

  function discard(temp) {
    temps = temps.filter((x) => x !== temp);
    render();
  }

  async function act(run) {
    if (acting) return;
    acting = true;
    headSig = "";
    updateHead();
    try {
      await ctx.busy(run());
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      toast(errorText(error), "error");
      try { setConv(await api("GET", base, { signal })); } catch { /* reported by the poll */ }
    } finally {
      acting = false;
      headSig = "";
      updateHead();
    }
  }

  function handover(paused, assigneeId) {
    const body = { paused };
    if (assigneeId) body.assignee_id = assigneeId;
    return api("POST", `${base}/handover`, { body, signal });
  }

  function toggleBot() {
    act(async () => {
      const pausing = !conv.bot_paused;
      // Taking over an unassigned conversation assigns it to the agent who took it, when they can be assigned.
      const selfAssignable = users().some((u) => u.id === me.id && (u.role === "agent" || u.role === "tenant_admin"));
      const assignee = conv.assignee_id || (pausing && selfAssignable ? me.id : null);
      setConv(await handover(pausing, assignee));
      toast(pausing ? t("inbox.paused") : t("inbox.resumed"));
    });
  }

  function assign() {
    const value = assignSelect.value;
    act(async () => {
      setConv(await handover(!!conv.bot_paused, value || null));
      toast(value ? t("inbox.assignedToast", userLabel(value) === t("inbox.sender.you") ? String(me.email) : userLabel(value)) : t("inbox.unassignedToast"));
    });
  }

  async function closeConversation() {
    const ok = await confirmDialog({ title: t("inbox.closeTitle"), message: t("inbox.closeMessage"), confirm: t("inbox.closeConfirm") });
    if (!ok) return;
    act(async () => {
      setConv(await api("POST", `${base}/close`, { signal }));
      toast(t("inbox.closed"));
    });
  }

  async function eraseCustomer() {
    const who = customerName(conv.customer);
    const phone = conv.customer && conv.customer.wa_id ? ` (${formatPhone(conv.customer.wa_id)})` : "";
    const answer = await dialog({
      title: t("inbox.eraseTitle"),
      className: "inbox-erase-dialog",
      body: [
        h("p", {}, t("inbox.eraseIntro", who + phone)),
        h("ul", { class: "inbox-erase-list" }, h("li", {}, t("inbox.eraseItem1")), h("li", {}, t("inbox.eraseItem2"))),
        h("p", {}, t("inbox.eraseItem3")),
        h("p", { class: "inbox-erase-warning" }, icon("alert"), t("inbox.eraseWarning")),
      ],
      buttons: [
        { value: "cancel", label: t("ui.cancel") },
        { value: "erase", label: t("inbox.eraseConfirm"), kind: "danger" },
      ],
    });
    if (answer !== "erase") return;
    act(async () => {
      await api("POST", `/api/v1/tenants/${encodeURIComponent(tenantId)}/customers/${encodeURIComponent(conv.customer.id)}/erase`, { signal });
      await loadAll();
      toast(t("inbox.erased"));
    });
  }

  start();

  return {
    element,
    poll,
    conversation: () => conv,
    /** The users list arrived or changed: names and the assignee picker follow. */
    refreshUsers() {
      headSig = "";
      updateHead();
      if (loaded) render();
    },
    destroy() {
      ctx.signal.removeEventListener("abort", stop);
      controller.abort();
    },
  };
}
