// Metrics: a tenant's daily figures (mode "tenant") or every tenant's summed (mode "overview"),
// for the last 7/30/90 days or a custom range, as totals cards and SVG charts.

import { h, replace, formatNumber, formatDateTime } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { addStrings, t, lang } from "../lib/i18n.js";
import { loading, empty, markFieldErrors, problemBox } from "../lib/ui.js";
import { chart } from "./metrics-chart.js";

addStrings({
  en: {
    "metrics.title": "Metrics",
    "metrics.overviewTitle": "Platform overview",
    "metrics.subtitle": (name) => `How ${name}'s customer service is doing, day by day.`,
    "metrics.overviewSubtitle": "Every tenant's figures summed per day.",
    "metrics.range": "Range",
    "metrics.last": (n) => `${n} days`,
    "metrics.custom": "Custom",
    "metrics.from": "From",
    "metrics.to": "To",
    "metrics.apply": "Apply",
    "metrics.refresh": "Refresh",
    "metrics.timezone": (tz) => `Days in ${tz}`,
    "metrics.overviewZone": "Each tenant's days are in its own time zone",
    "metrics.computed": (when) => `Figures include activity up to ${when}`,
    "metrics.notComputed": "Not computed yet: the scheduler's metrics job has not run.",
    "metrics.empty": "No activity in this range yet. Figures appear here once customers write and the metrics job has run.",
    "metrics.messagesIn": "Messages in",
    "metrics.messagesOut": "Messages out",
    "metrics.started": "Conversations started",
    "metrics.closed": "Conversations closed",
    "metrics.handoffs": "Handoffs to agents",
    "metrics.followups": "Follow-ups sent",
    "metrics.flows": "Flows completed",
    "metrics.responded": (n) => `${n} answered`,
    "metrics.frAvg": "Avg. first response",
    "metrics.frMedian": "Median first response",
    "metrics.tenantsActive": (n) => (n === 1 ? "tenant with activity" : "tenants with activity"),
    "metrics.chart.messages": "Messages",
    "metrics.chart.conversations": "Conversations",
    "metrics.chart.automation": "Follow-ups and flows",
    "metrics.chart.firstResponse": "Time to first response",
    "metrics.firstResponseNote": "From a conversation's start to its first reply (bot or agent), on the day it started.",
    "metrics.cards": "Totals for the range",
    "metrics.rangeLabel": (from, to) => `${from} – ${to}`,
  },
  "pt-BR": {
    "metrics.title": "Métricas",
    "metrics.overviewTitle": "Visão geral da plataforma",
    "metrics.subtitle": (name) => `Como está o atendimento de ${name}, dia a dia.`,
    "metrics.overviewSubtitle": "Os números de todas as organizações somados por dia.",
    "metrics.range": "Período",
    "metrics.last": (n) => `${n} dias`,
    "metrics.custom": "Personalizado",
    "metrics.from": "De",
    "metrics.to": "Até",
    "metrics.apply": "Aplicar",
    "metrics.refresh": "Atualizar",
    "metrics.timezone": (tz) => `Dias no fuso ${tz}`,
    "metrics.overviewZone": "Os dias de cada organização seguem o fuso dela",
    "metrics.computed": (when) => `Os números incluem a atividade até ${when}`,
    "metrics.notComputed": "Ainda não calculado: a tarefa de métricas do agendador não rodou.",
    "metrics.empty": "Nenhuma atividade neste período ainda. Os números aparecem aqui quando clientes escrevem e a tarefa de métricas roda.",
    "metrics.messagesIn": "Mensagens recebidas",
    "metrics.messagesOut": "Mensagens enviadas",
    "metrics.started": "Conversas iniciadas",
    "metrics.closed": "Conversas encerradas",
    "metrics.handoffs": "Transferências para atendentes",
    "metrics.followups": "Follow-ups enviados",
    "metrics.flows": "Fluxos concluídos",
    "metrics.responded": (n) => `${n} respondidas`,
    "metrics.frAvg": "1ª resposta (média)",
    "metrics.frMedian": "1ª resposta (mediana)",
    "metrics.tenantsActive": (n) => (n === 1 ? "organização com atividade" : "organizações com atividade"),
    "metrics.chart.messages": "Mensagens",
    "metrics.chart.conversations": "Conversas",
    "metrics.chart.automation": "Follow-ups e fluxos",
    "metrics.chart.firstResponse": "Tempo até a primeira resposta",
    "metrics.firstResponseNote": "Do início da conversa até a primeira resposta (robô ou atendente), no dia em que começou.",
    "metrics.cards": "Totais do período",
    "metrics.rangeLabel": (from, to) => `${from} – ${to}`,
  },
});

const PRESETS = [7, 30, 90];
const COUNTS = ["messages_in", "messages_out", "conversations_started", "conversations_closed", "handoffs", "followups_sent", "flows_completed"];

/** Today (YYYY-MM-DD) in a time zone; the browser's own when none is given. */
export function today(timeZone) {
  const parts = { year: "numeric", month: "2-digit", day: "2-digit" };
  try {
    return new Intl.DateTimeFormat("en-CA", timeZone ? { timeZone, ...parts } : parts).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

export function addDays(day, delta) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + delta);
  return d.toISOString().slice(0, 10);
}

export function formatSeconds(v) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return "–";
  const n = Number(v);
  const l = lang();
  if (n < 120) return `${formatNumber(n, l, { maximumFractionDigits: 1 })} s`;
  if (n < 7200) return `${formatNumber(n / 60, l, { maximumFractionDigits: 1 })} min`;
  return `${formatNumber(n / 3600, l, { maximumFractionDigits: 1 })} h`;
}

export default async function mount(ctx) {
  const overview = ctx.mode === "overview";
  const tenantId = ctx.params.tenantId;
  const tenantName = ctx.tenant ? ctx.tenant.name : tenantId;
  let zone = overview ? null : (ctx.tenant && ctx.tenant.timezone) || null;

  let preset = Number(ctx.query.get("days")) || 7;
  let from = ctx.query.get("from");
  let to = ctx.query.get("to");
  let custom = Boolean(from && to);
  if (!PRESETS.includes(preset)) preset = 7;

  const presetButtons = PRESETS.map((n) => h("button", { class: "mx-seg", type: "button", dataset: { range: n }, onclick: () => { custom = false; preset = n; sync(); load(); } }, t("metrics.last", n)));
  const customButton = h("button", { class: "mx-seg", type: "button", dataset: { range: "custom" }, onclick: () => { custom = true; sync(); fromInput.focus(); } }, t("metrics.custom"));
  const fromInput = h("input", { type: "date", name: "from" });
  const toInput = h("input", { type: "date", name: "to" });
  const customForm = h("form", { class: "mx-custom", novalidate: true },
    h("div", { class: "mx-date", dataset: { field: "from" } }, h("label", {}, h("span", {}, t("metrics.from")), fromInput), h("p", { class: "field-error" })),
    h("div", { class: "mx-date", dataset: { field: "to" } }, h("label", {}, h("span", {}, t("metrics.to")), toInput), h("p", { class: "field-error" })),
    h("button", { class: "button button-secondary button-small", type: "submit" }, t("metrics.apply")));
  customForm.addEventListener("submit", (event) => {
    event.preventDefault();
    from = fromInput.value;
    to = toInput.value;
    load();
  });

  const meta = h("p", { class: "mx-meta" });
  const content = h("div", { class: "mx-content" }, loading());

  function range() {
    if (custom && from && to) return { from, to };
    const end = today(zone);
    return { from: addDays(end, -(preset - 1)), to: end };
  }

  function sync() {
    for (const b of presetButtons) b.setAttribute("aria-pressed", String(!custom && Number(b.dataset.range) === preset));
    customButton.setAttribute("aria-pressed", String(custom));
    customForm.hidden = !custom;
    const r = range();
    fromInput.value = r.from;
    toInput.value = r.to;
    fromInput.max = today(zone);
    toInput.max = today(zone);
  }

  let generation = 0;
  async function load() {
    const mine = ++generation;
    const r = range();
    markFieldErrors(customForm, null);
    content.setAttribute("aria-busy", "true");
    if (!content.querySelector(".mx-cards")) content.replaceChildren(loading());
    try {
      const path = overview ? "/api/v1/metrics/overview" : `/api/v1/tenants/${tenantId}/metrics/daily`;
      const report = await api("GET", path, { query: r, signal: ctx.signal });
      if (mine !== generation) return;
      if (!overview && report.timezone && report.timezone !== zone) {
        // The first range was cut in a guessed zone: ask again with the tenant's own "today".
        const first = zone === null;
        zone = report.timezone;
        if (first && !custom) { sync(); load(); return; }
      }
      render(report);
    } catch (error) {
      if (mine !== generation || ctx.signal.aborted) return;
      content.removeAttribute("aria-busy");
      const unmatched = markFieldErrors(customForm, error);
      if (!(error.problem && error.problem.errors && error.problem.errors.length && unmatched.length === 0)) {
        content.replaceChildren(problemBox(error, { onRetry: load }));
      } else {
        content.replaceChildren();
      }
    }
  }

  function card(key, label, value, extra) {
    return h("div", { class: "mx-card", dataset: { metric: key } },
      h("p", { class: "mx-card-label" }, label),
      h("p", { class: "mx-card-value", dataset: { value: value === null || value === undefined ? "" : value } },
        extra && extra.format ? extra.format(value) : formatNumber(value, lang())),
      extra && extra.note ? h("p", { class: "mx-card-note" }, extra.note) : null);
  }

  function render(report) {
    content.removeAttribute("aria-busy");
    const tot = report.totals;
    replace(meta,
      h("span", { class: "mx-meta-range", dataset: { from: report.from, to: report.to } }, t("metrics.rangeLabel", formatDay(report.from), formatDay(report.to))),
      overview ? h("span", { class: "mx-meta-tenants", dataset: { value: report.tenants ?? 0 } },
        h("strong", {}, formatNumber(report.tenants ?? 0, lang())), " ", t("metrics.tenantsActive", report.tenants ?? 0)) : null,
      h("span", { class: "mx-meta-zone", dataset: { timezone: report.timezone || "" } }, report.timezone ? t("metrics.timezone", report.timezone.replaceAll("_", " ")) : t("metrics.overviewZone")),
      h("span", { class: "mx-meta-computed", dataset: { computedThrough: report.computed_through || "" } },
        report.computed_through ? t("metrics.computed", formatDateTime(report.computed_through, lang())) : t("metrics.notComputed")));

    const cards = h("section", { class: "mx-cards", "aria-label": t("metrics.cards") },
      card("messages_in", t("metrics.messagesIn"), tot.messages_in),
      card("messages_out", t("metrics.messagesOut"), tot.messages_out),
      card("conversations_started", t("metrics.started"), tot.conversations_started),
      card("conversations_closed", t("metrics.closed"), tot.conversations_closed),
      card("handoffs", t("metrics.handoffs"), tot.handoffs),
      card("followups_sent", t("metrics.followups"), tot.followups_sent),
      card("flows_completed", t("metrics.flows"), tot.flows_completed),
      card("first_response_avg_seconds", t("metrics.frAvg"), tot.first_response_avg_seconds,
        { format: formatSeconds, note: t("metrics.responded", formatNumber(tot.responded_conversations, lang())) }));

    const days = report.days || [];
    const activity = days.some((d) => COUNTS.some((k) => Number(d[k]) > 0) || d.first_response_avg_seconds != null);
    if (!activity) {
      content.replaceChildren(cards, h("div", { class: "mx-empty" }, empty(report.computed_through ? t("metrics.empty") : t("metrics.notComputed"))));
      return;
    }
    const frSeries = overview
      ? [{ key: "first_response_avg_seconds", label: t("metrics.frAvg") }]
      : [{ key: "first_response_median_seconds", label: t("metrics.frMedian") }, { key: "first_response_avg_seconds", label: t("metrics.frAvg") }];
    content.replaceChildren(cards, h("div", { class: "mx-charts" },
      chart({ name: "messages", title: t("metrics.chart.messages"), days,
        series: [{ key: "messages_in", label: t("metrics.messagesIn") }, { key: "messages_out", label: t("metrics.messagesOut") }] }),
      chart({ name: "conversations", title: t("metrics.chart.conversations"), days,
        series: [{ key: "conversations_started", label: t("metrics.started") }, { key: "conversations_closed", label: t("metrics.closed") },
          { key: "handoffs", label: t("metrics.handoffs") }] }),
      chart({ name: "automation", title: t("metrics.chart.automation"), days,
        series: [{ key: "followups_sent", label: t("metrics.followups") }, { key: "flows_completed", label: t("metrics.flows") }] }),
      h("div", { class: "mx-chart-cell" },
        chart({ name: "first_response", title: t("metrics.chart.firstResponse"), days, kind: "lines", integer: false, totals: false, format: formatSeconds, series: frSeries }),
        h("p", { class: "mx-note" }, t("metrics.firstResponseNote")))));
  }

  ctx.root.append(
    h("div", { class: "page-header" },
      h("div", { class: "adm-heading" },
        h("h1", {}, overview ? t("metrics.overviewTitle") : t("metrics.title")),
        h("p", { class: "adm-lead" }, overview ? t("metrics.overviewSubtitle") : t("metrics.subtitle", tenantName))),
      h("button", { class: "button button-secondary button-small", type: "button", onclick: () => load() }, "↻ ", t("metrics.refresh"))),
    h("div", { class: "toolbar mx-toolbar" },
      h("div", { class: "mx-segmented", role: "group", "aria-label": t("metrics.range") }, presetButtons, customButton),
      customForm),
    meta,
    content);
  if (overview) ctx.setTitle(t("metrics.overviewTitle"));
  sync();
  await load();
}

function formatDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return String(day);
  return d.toLocaleDateString(lang(), { timeZone: "UTC", dateStyle: "medium" });
}
