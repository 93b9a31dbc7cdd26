// Shared pieces of the inbox: names, avatars, times, icons and keyed DOM reconciliation.
// Customer names, numbers and messages are attacker-controlled: they only ever become text nodes.

import { h, s, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";

export function customerName(customer) {
  if (!customer) return t("inbox.unknownCustomer");
  if (customer.erased) return t("inbox.erasedCustomer");
  const name = typeof customer.profile_name === "string" ? customer.profile_name.trim() : "";
  if (name) return name;
  if (customer.wa_id) return formatPhone(customer.wa_id);
  return t("inbox.unknownCustomer");
}

export function formatPhone(waId) {
  if (!waId) return "";
  const digits = String(waId);
  return /^\d+$/.test(digits) ? `+${digits}` : digits;
}

function hash(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) n = (n * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(n);
}

function initials(name) {
  const words = name.replace(/[^\p{L}\p{N}\s]/gu, " ").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "";
  const first = Array.from(words[0])[0] || "";
  const last = words.length > 1 ? Array.from(words[words.length - 1])[0] || "" : "";
  return (first + last).toUpperCase();
}

/** A round avatar with the customer's initials (or a person icon), colored from their id. */
export function avatar(customer, size = "") {
  const erased = !customer || customer.erased;
  const name = erased ? "" : (customer.profile_name || "");
  const letters = initials(name);
  const color = `inbox-avatar-c${hash(String(customer && customer.id || "")) % 8}`;
  return h("span", { class: ["inbox-avatar", size && `inbox-avatar-${size}`, erased ? "inbox-avatar-erased" : color], "aria-hidden": "true" },
    letters || icon("person"));
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

export function timeOf(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(lang(), { hour: "numeric", minute: "2-digit" });
}

/** Short list time: "14:05" today, "Yesterday", a weekday this week, else a short date. */
export function shortWhen(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  if (sameDay(d, now)) return timeOf(iso);
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(d, yesterday)) return t("inbox.yesterday");
  if (now - d < 6 * 86400000 && d < now) return d.toLocaleDateString(lang(), { weekday: "short" });
  return d.toLocaleDateString(lang(), { day: "2-digit", month: "2-digit", year: "2-digit" });
}

/** Day separator label: "Today", "Yesterday" or a full date. */
export function dayLabel(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  if (sameDay(d, now)) return t("inbox.today");
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(d, yesterday)) return t("inbox.yesterday");
  return d.toLocaleDateString(lang(), { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function dayKey(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "?";
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function fullWhen(iso) {
  return formatDateTime(iso, lang());
}

const ICONS = {
  person: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8Zm0 2c-3.3 0-8 1.7-8 5v1h16v-1c0-3.3-4.7-5-8-5Z"],
  clock: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18Zm0 2a7 7 0 1 1 0 14 7 7 0 0 1 0-14Zm-1 2v6l5 3 1-1.6-4-2.4V7h-2Z"],
  check: [{ stroke: "M4.5 12.5l4.5 4.5L19.5 6.5" }],
  checks: [{ stroke: "M1.5 12.5l4.5 4.5L16.5 6.5" }, { stroke: "M11.5 16l1 1L23 6.5" }],
  alert: ["M12 2 1 21h22L12 2Zm0 4.3L19.5 19h-15L12 6.3ZM11 10v5h2v-5h-2Zm0 6v2h2v-2h-2Z"],
  send: ["M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9Z"],
  bot: ["M11 2h2v2.1A7 7 0 0 1 19 11v6a3 3 0 0 1-3 3H8a3 3 0 0 1-3-3v-6a7 7 0 0 1 6-6.9V2Zm1 4a5 5 0 0 0-5 5v6a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1v-6a5 5 0 0 0-5-5Zm-3 5.5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3Zm6 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3Z"],
  pause: ["M7 5h4v14H7V5Zm6 0h4v14h-4V5Z"],
  play: ["M8 5v14l11-7L8 5Z"],
  lock: ["M12 2a5 5 0 0 0-5 5v3H5v12h14V10h-2V7a5 5 0 0 0-5-5Zm-3 5a3 3 0 1 1 6 0v3H9V7Z"],
  trash: ["M9 3h6l1 2h4v2H4V5h4l1-2Zm-3 6h12l-1 12H7L6 9Z"],
  back: ["M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20v-2Z"],
  down: ["M12 16.5 5 9.5l1.4-1.4 5.6 5.6 5.6-5.6L19 9.5Z"],
  chat: ["M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2Zm2 5v2h12V8H6Zm0 4v2h8v-2H6Z"],
  media: ["M4 4h16v16H4V4Zm2 2v9l3.5-4.5 2.5 3 3.5-4.5L18 14V6H6Z"],
  pin: ["M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7Zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5Z"],
  doc: ["M6 2h8l6 6v14H6V2Zm7 1.5V9h5.5L13 3.5Z"],
  mic: ["M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9h-2Z"],
};

export function icon(name, cls) {
  return s("svg", { class: ["inbox-icon", cls], viewBox: "0 0 24 24", width: "16", height: "16", "aria-hidden": "true", focusable: "false" },
    (ICONS[name] || []).map((d) => (typeof d === "string"
      ? s("path", { d, fill: "currentColor" })
      : s("path", { d: d.stroke, fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" }))));
}

/**
 * Keyed reconciliation: makes `parent`'s children exactly `wanted` ([{key, sig, build(), update(el)}])
 * in order, reusing the element of each key; an element is rebuilt only when its sig changed.
 * `cache` (Map key → {el, sig}) carries the elements between calls. Nodes that did not change are
 * not touched (scroll position, focus and text selection survive).
 */
export function reconcile(parent, wanted, cache) {
  const keep = new Set();
  let cursor = parent.firstChild;
  for (const item of wanted) {
    keep.add(item.key);
    let entry = cache.get(item.key);
    if (!entry) {
      entry = { el: item.build(), sig: item.sig };
      cache.set(item.key, entry);
    } else if (entry.sig !== item.sig) {
      if (item.update) {
        item.update(entry.el);
      } else {
        const fresh = item.build();
        entry.el.replaceWith(fresh);
        if (cursor === entry.el) cursor = fresh;
        entry.el = fresh;
      }
      entry.sig = item.sig;
    }
    if (entry.el !== cursor) parent.insertBefore(entry.el, cursor);
    else cursor = cursor.nextSibling;
  }
  // Everything from the cursor on is unwanted: stale keys and placeholders (empty states…).
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
  for (const [key, entry] of cache) {
    if (!keep.has(key)) {
      entry.el.remove();
      cache.delete(key);
    }
  }
}

export function isAbort(error) {
  return error && error.name === "AbortError";
}
