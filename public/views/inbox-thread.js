// The open conversation: header (handover, assignee, close, erase), the history (the newest WINDOW
// messages, earlier ones on demand) and the reply box. Replies show at once as local bubbles.

import { h, replace } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { api, ProblemError, NetworkError } from "../lib/api.js";
import { errorText, problemBox, loading, empty, toast, dialog, confirmDialog } from "../lib/ui.js";
import { T, customerName, phone, avatar, badge, when, fullTime, icon, reconcile, isAbort, str } from "./inbox-common.js";

const WINDOW = 50;
const MAX = 4096;
const GLYPH = { pending: "clock", sent: "check", delivered: "checks", read: "checks", failed: "alert" };
const KIND = { image: "media", video: "media", sticker: "media", audio: "media", document: "media", location: "pin", interactive: "chat", button: "chat", contacts: "person" };
const drafts = new Map(); // unsent replies per conversation (memory only)
const order = (a, b) => (Date.parse(a.occurred_at) || 0) - (Date.parse(b.occurred_at) || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const join = (text, code) => [text, code && `(${code})`].filter(Boolean).join(" ");
const assignable = (u) => u.role === "agent" || u.role === "tenant_admin";

/** → {element, poll(), refreshUsers(), destroy()}; onConversation(conv) hears every new state. */
export function createThread({ ctx, tenantId, id, initial, users, onConversation, onBack }) {
  const { me } = ctx;
  const canAct = ctx.can("inbox.act");
  const canErase = ctx.can("customers.erase");
  const controller = new AbortController();
  const { signal } = controller;
  const base = `/api/v1/tenants/${encodeURIComponent(tenantId)}/conversations/${encodeURIComponent(id)}`;
  let conv = initial || null;
  const messages = new Map();
  let temps = []; // our replies not read back yet, shaped like messages
  let seq = 0;
  let tail = null; // cursor of the newest page
  let shown = WINDOW;
  const nodes = new Map();
  let loaded = false;
  let acting = false;
  let generation = 0; // a full reload drops older reads

  const nameId = `inbox-name-${id}`;
  const btn = (action, onclick, ...content) => h("button", {
    class: "button button-small button-secondary inbox-action", "data-write": true, dataset: { action }, onclick }, content);
  const handoverBtn = btn("handover", toggleBot);
  const picker = h("select", { class: "inbox-assign", "data-write": true, dataset: { action: "assign" }, "aria-label": T("assignee"), onchange: () => assign(picker.value) });
  const closeBtn = btn("close", closeConversation, icon("lock"), T("close"));
  const eraseBtn = btn("erase", eraseCustomer, icon("trash"), T("erase"));
  const avatarSlot = h("span");
  const who = h("div", { class: "inbox-thread-who" });
  const earlierBtn = h("button", { class: "inbox-earlier-button", onclick: showEarlier }, T("earlier"));
  const startNote = h("p", { class: "inbox-start" }, T("start"));
  const earlier = h("div", { class: "inbox-earlier" });
  const list = h("ol", { class: "inbox-messages", "aria-relevant": "additions" });
  const jump = h("button", { class: "inbox-jump", hidden: true, onclick: () => toBottom() }, T("newMessages"));
  const scroller = h("div", { class: "inbox-scroll", tabindex: "0", "aria-labelledby": nameId, onscroll: () => { if (nearBottom()) jump.hidden = true; } }, loading());
  const input = canAct && h("textarea", {
    class: "inbox-input", rows: "1", "data-write": true, placeholder: T("replyHint"), "aria-label": T("reply"), value: drafts.get(id) || "",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.isComposing) { e.preventDefault(); submit(); } },
    oninput: () => { drafts.set(id, input.value); fitInput(); },
  });
  const counter = h("p", { class: "inbox-counter", "aria-live": "polite" });
  const composer = canAct && h("form", { class: "inbox-composer", onsubmit: (e) => { e.preventDefault(); submit(); } },
    h("div", {}, input, h("button", { class: "button button-primary inbox-send", "data-write": true, "aria-label": T("send"), title: T("send") }, icon("send"))),
    counter);
  const note = h("p", { class: "inbox-note" });
  const foot = h("footer", {}, composer, note);
  const element = h("section", { class: "inbox-thread", "aria-labelledby": nameId },
    h("header", { class: "inbox-thread-head" },
      h("button", { class: "inbox-back", onclick: onBack, "aria-label": T("convs") }, icon("back")), avatarSlot, who,
      (canAct || canErase) && h("div", { class: "inbox-thread-actions", role: "group", "aria-label": T("actions") },
        canAct && [handoverBtn, picker, closeBtn], canErase && eraseBtn)),
    h("div", {}, scroller, jump),
    foot);

  /** Grows the reply box; answers (and says) whether it is over the limit. */
  function fitInput() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 180)}px`;
    const over = [...input.value].length - MAX;
    counter.textContent = over > 0 ? T("tooLong", over) : "";
    return over > 0;
  }

  const userLabel = (user, unknown = "unknownUser") => {
    const found = users().find((u) => u.id === user);
    return user === me.id ? T("you") : found ? String(found.email) : T(unknown);
  };

  let headSig;
  /** Updates the header and notes when their content changed; `title` replaces the name. */
  function updateHead(title) {
    const c = conv?.customer || {};
    const sig = JSON.stringify([conv && [c, conv.status, conv.bot_paused, conv.assignee_id], users().length, lang(), title]);
    if (sig === headSig) return;
    headSig = sig;
    const closed = conv?.status === "closed";
    const paused = !!conv?.bot_paused;
    const assignee = conv?.assignee_id;
    avatarSlot.replaceChildren(conv ? avatar(c) : "");
    who.replaceChildren(h("h2", { class: "inbox-thread-name", id: nameId }, title || customerName(c)),
      conv && h("p", { class: "inbox-thread-meta" },
        !c.erased && phone(c.wa_id),
        badge(closed ? "status-muted" : "", T(closed ? "closed" : "open")),
        !closed && badge(paused ? "inbox-warn" : "status-muted", icon("bot"), T(paused ? "botHuman" : "botActive")),
        assignee && badge("status-muted", T("assignedTo", assignee === me.id ? T("you").toLowerCase() : userLabel(assignee)))));
    handoverBtn.hidden = picker.hidden = closeBtn.hidden = !conv || closed;
    eraseBtn.hidden = !conv || !!c.erased;
    handoverBtn.replaceChildren(icon(paused ? "play" : "pause"), T(paused ? "resume" : "takeOver"));
    handoverBtn.setAttribute("aria-pressed", paused);
    const people = users().filter(assignable).sort((a, b) => (b.id === me.id) - (a.id === me.id));
    replace(picker, h("option", { value: "", disabled: paused && !!assignee }, T(paused && assignee ? "unassignedPaused" : "unassigned")),
      people.map((u) => h("option", { value: u.id }, u.id === me.id ? T("me", String(u.email)) : String(u.email))),
      assignee && !people.some((u) => u.id === assignee) && h("option", { value: assignee }, T("unknownUser")));
    picker.value = assignee || "";
    const text = c.erased ? "erasedNote" : closed ? "closedNote" : conv && !canAct && "readOnly";
    note.textContent = text ? T(text) : "";
    note.hidden = !text;
    if (composer) composer.hidden = closed || !!c.erased;
  }

  function content(m) {
    const p = typeof m.payload === "object" && m.payload || {};
    const body = str(m.body);
    const type = str(m.type) || "text";
    const part = Object.hasOwn(p, type) && typeof p[type] === "object" && p[type] || {};
    const sys = (text) => h("p", { class: "inbox-msg-text inbox-msg-sys" }, text);
    if (p.erased === true && !body) return sys(T("msgErased"));
    if (type === "reaction") return sys(T("type.reaction", str(part.emoji)));
    const [lat, lon] = [part.latitude, part.longitude].map(Number);
    const text = body || (type === "location" && isFinite(lat) && isFinite(lon) ? `${lat.toFixed(5)}, ${lon.toFixed(5)}` : "");
    const label = type === "text" ? null
      : type === "audio" ? T(part.voice === true ? "type.voice" : "type.audio")
        : type === "document" ? str(part.filename) || T("type.document")
          : T(KIND[type] ? `type.${type}` : "type.other", type);
    return [label && h("p", { class: "inbox-msg-kind" }, icon(KIND[type] || "chat"), label),
      text ? h("p", { class: "inbox-msg-text", dir: "auto" }, text) : !label && sys(T("noText"))];
  }

  /** `first`: starts a run of messages from one sender, which names them. */
  function bubble(m, first) {
    const out = m.direction === "outbound";
    const st = GLYPH[m.status] ? m.status : "sent";
    const failed = m.status === "failed";
    const link = (label, onclick, write) => h("button", { class: "inbox-link", "data-write": write, onclick }, label);
    return h("li", { class: ["inbox-msg", out ? "inbox-msg-out" : "inbox-msg-in", first && "inbox-msg-first", failed && "inbox-msg-failed"], dataset: { status: m.status } },
      h("div", { class: "inbox-bubble" },
        h("p", { class: first ? "inbox-msg-sender" : "visually-hidden" },
          out ? (m.sent_by ? userLabel(m.sent_by, "agent") : T("bot")) : customerName(conv?.customer)),
        content(m),
        h("p", { class: "inbox-msg-meta" },
          h("time", { datetime: m.occurred_at, title: fullTime(m.occurred_at) }, when(m.occurred_at, "time")),
          out && h("span", { class: `inbox-status inbox-status-${st}` }, icon(GLYPH[st]), T(`st.${st}`))),
        failed && h("p", { class: "inbox-msg-error", role: "note" }, icon("alert"),
          m.local ? T("notSent", m.error) : T("failedWith", join(str(m.error_title), m.error_code) || T("st.failed")),
          m.local && !m.maybeStored && [link(t("ui.retry"), () => send(m), true), link(T("discard"), () => { drop(m); render(); })])));
  }

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 96;
  const toBottom = () => { scroller.scrollTop = scroller.scrollHeight; jump.hidden = true; };

  /** Keeps the reader's place: follows new messages only from the bottom. */
  function render(bottom) {
    const stick = bottom || nearBottom();
    const last = list.lastElementChild;
    const all = [...messages.values()].sort(order);
    const wanted = [];
    let lastDay, lastSender;
    for (const m of all.slice(-shown).concat(temps)) {
      const day = when(m.occurred_at, "day");
      if (day !== lastDay) {
        wanted.push({ key: `day ${day}`, sig: day, build: () => h("li", { class: "inbox-day", role: "separator" }, h("span", {}, day)) });
        lastDay = day;
        lastSender = null;
      }
      const first = lastSender !== (lastSender = `${m.direction}:${m.sent_by}`);
      const sig = JSON.stringify([m, users().length, customerName(conv?.customer), first, lang()]);
      wanted.push({ key: m.id, sig, build: () => bubble(m, first) });
    }
    if (!wanted.length) wanted.push({ key: "", sig: lang(), build: () => h("li", { class: "empty" }, T("noMessages")) });
    reconcile(list, wanted, nodes);
    const top = all.length > shown ? earlierBtn : all.length ? startNote : null;
    if (earlier.firstChild !== top) replace(earlier, top);
    if (stick) toBottom();
    else if (list.lastElementChild !== last) jump.hidden = false;
  }

  /** Screen readers hear new messages only, not the history or earlier pages. */
  function quietly(fn) {
    list.removeAttribute("aria-live");
    fn();
    list.setAttribute("aria-live", "polite");
  }

  function showEarlier() {
    const below = scroller.scrollHeight - scroller.scrollTop;
    shown += WINDOW;
    quietly(render);
    scroller.scrollTop = scroller.scrollHeight - below;
  }

  const drop = (temp) => { temps = temps.filter((x) => x !== temp); };

  function merge(items) {
    for (const m of items) {
      // Our reply, read back before its POST answered (or after it failed), replaces the local one.
      if (!messages.has(m.id) && m.direction === "outbound" && m.sent_by === me.id) {
        drop(temps.find((x) => (x.status === "pending" || x.maybeStored) && x.body === m.body));
      }
      messages.set(m.id, m);
    }
  }

  async function read(cursor, reload) {
    const mine = reload ? ++generation : generation;
    const items = [];
    const pages = async () => {
      for (let page; !page || page.next_cursor;) {
        if (page) cursor = page.next_cursor;
        page = await api("GET", `${base}/messages`, { query: { limit: 100, cursor }, signal });
        items.push(...(page.items || []));
      }
    };
    const [c] = await Promise.all([api("GET", base, { signal }), pages()]);
    if (mine !== generation) return;
    // Erased meanwhile: every body is gone, read all again.
    if (!reload && c.customer?.erased && !conv.customer?.erased) return read(null, true);
    if (reload) messages.clear();
    merge(items);
    tail = cursor;
    setConv(c);
    if (!loaded) scroller.replaceChildren(earlier, list);
    loaded = true;
    reload ? quietly(() => render(true)) : render();
  }

  async function start() {
    updateHead(!conv && t("ui.loading"));
    try {
      await read(null, true);
      if (input) fitInput();
    } catch (error) {
      if (isAbort(error)) return;
      const notFound = error.status === 404;
      scroller.replaceChildren(notFound ? empty(T("notFound")) : problemBox(error, { onRetry: () => { scroller.replaceChildren(loading()); start(); } }));
      if (notFound) updateHead(T("noName"));
      if (!conv) foot.hidden = true;
    }
  }

  const poll = async () => { if (loaded) await read(tail); };

  async function send(temp) {
    drop(temp);
    temps.push(Object.assign(temp, { status: "pending", error: null, maybeStored: false, occurred_at: new Date().toISOString() }));
    render(true);
    try {
      const m = await ctx.busy(api("POST", `${base}/messages`, { body: { text: temp.body }, signal }));
      drop(temp);
      merge([m]);
    } catch (error) {
      if (isAbort(error)) return;
      // Provider failures (5xx) are stored as failed messages: the next read shows them.
      const stored = error instanceof NetworkError || error.status >= 500;
      const pe = error instanceof ProblemError && error.problem.providerError;
      Object.assign(temp, { status: "failed", maybeStored: stored, error: (pe && join(pe.message, pe.code)) || errorText(error) });
      if (stored || error.code === "conversation_closed") poll().catch(() => {}); // failures show in the inbox's poll
    }
    render(true);
  }

  function submit() {
    const body = input.value;
    if (!body.trim() || fitInput()) return;
    input.value = "";
    drafts.delete(id);
    fitInput();
    send({ id: `local-${++seq}`, local: true, direction: "outbound", sent_by: me.id, type: "text", body });
    input.focus();
  }

  /** One action at a time; toasts done() or the error. */
  async function act(run, done) {
    if (acting) return;
    acting = true;
    try {
      await ctx.busy(run());
      toast(done());
    } catch (error) {
      if (isAbort(error)) return;
      toast(errorText(error), "error");
      try { setConv(await api("GET", base, { signal })); } catch { /* the poll reports it */ }
    } finally {
      acting = false;
      headSig = null; // the picker may show a choice that failed
      updateHead();
    }
  }

  function setConv(c) {
    conv = c;
    updateHead();
    onConversation(c);
  }

  const post = async (path, body) => setConv(await api("POST", `${base}/${path}`, { body, signal }));
  const handover = (paused, assignee_id) => post("handover", { paused, assignee_id });

  function toggleBot() {
    const pausing = !conv.bot_paused;
    // Taking over an unassigned conversation assigns it to whoever took it, if they can be.
    const self = pausing && users().some((u) => u.id === me.id && assignable(u)) ? me.id : undefined;
    act(() => handover(pausing, conv.assignee_id || self), () => T(pausing ? "pausedToast" : "resumedToast"));
  }

  function assign(user) {
    act(() => handover(!!conv.bot_paused, user || undefined),
      () => (user ? `${T("assignedTo", user === me.id ? String(me.email) : userLabel(user))}.` : T("unassignedToast")));
  }

  async function closeConversation() {
    if (await confirmDialog({ title: T("closeTitle"), message: T("closeMsg"), confirm: T("closeOk") })) act(() => post("close"), () => T("closedToast"));
  }

  async function eraseCustomer() {
    const c = conv.customer;
    const answer = await dialog({
      title: T("eraseTitle"),
      className: "inbox-erase-dialog",
      body: [
        h("p", {}, T("eraseIntro", customerName(c) + (c.wa_id ? ` (${phone(c.wa_id)})` : ""))),
        h("p", {}, T("eraseAfter")),
        h("p", { class: "inbox-erase-warning" }, icon("alert"), T("eraseWarn")),
      ],
      buttons: [{ value: "cancel", label: t("ui.cancel") }, { value: "erase", label: T("eraseOk"), kind: "danger" }],
    });
    if (answer === "erase") {
      act(() => api("POST", `/api/v1/tenants/${encodeURIComponent(tenantId)}/customers/${encodeURIComponent(c.id)}/erase`, { signal })
        .then(() => read(null, true)), () => T("erasedToast"));
    }
  }

  start();
  return {
    element,
    poll,
    refreshUsers() { updateHead(); if (loaded) render(); },
    destroy: () => controller.abort(),
  };
}
