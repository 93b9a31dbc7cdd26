// Daily metrics of a tenant (mode "tenant") or of all tenants (mode "overview"): totals and SVG
// charts with a legend, a tooltip (pointer and arrow keys) and a data table.

import { h, s, replace, formatNumber, formatDateTime } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t, lang } from "../lib/i18n.js";
import { loading, empty, markFieldErrors, problemBox } from "../lib/ui.js";
import { strings, el, btn, heading, toolbar, sub } from "./admin-common.js";

strings("mx", `
lead|{}'s customer service, day by day.|O atendimento de {}, dia a dia.
overviewLead|All tenants, summed per day.|Todas as organizações, somadas por dia.
range|Range|Período
days|{} days|{} dias
custom|Custom|Personalizado
from|From|De
to|To|Até
apply|Apply|Aplicar
zone|Days in {}|Dias no fuso {}
ownZones|Days in each tenant's zone|Dias no fuso de cada organização
computed|Activity up to {}|Atividade até {}
notComputed|Not computed yet.|Ainda não calculado.
empty|No activity in this range.|Nenhuma atividade no período.
messages_in|Messages in|Mensagens recebidas
messages_out|Messages out|Mensagens enviadas
conversations_started|Conversations started|Conversas iniciadas
conversations_closed|Conversations closed|Conversas encerradas
handoffs|Handoffs|Transferências
followups_sent|Follow-ups sent|Follow-ups enviados
flows_completed|Flows completed|Fluxos concluídos
first_response_avg_seconds|Avg. first response|1ª resposta (média)
first_response_median_seconds|Median first response|1ª resposta (mediana)
answered|{} answered|{} respondidas
active|tenants with activity|organizações com atividade
active1|tenant with activity|organização com atividade
messages|Messages|Mensagens
conversations|Conversations|Conversas
automation|Automation|Automação
first_response|First response|Primeira resposta
frNote|From a conversation's start to its first reply.|Do início da conversa à primeira resposta.
cards|Totals|Totais
chart|{}, {} to {}. {}. Arrow keys read each day.|{}, de {} a {}. {}. Setas leem cada dia.
table|Table|Tabela
day|Day|Dia
total|Total
none|no data|sem dados
`);

const COUNTS = ["messages_in", "messages_out", "conversations_started", "conversations_closed", "handoffs", "followups_sent", "flows_completed"];
const AVG = "first_response_avg_seconds";
const W = 600, H = 240, L = 50, T = 14, PW = W - L - 12, PH = H - T - 30, B = T + PH;

const today = (timeZone) => new Intl.DateTimeFormat("en-CA", { timeZone: timeZone || undefined }).format(new Date());
const addDays = (day, n) => new Date(Date.parse(day) + n * 864e5).toISOString().slice(0, 10);
// "2026-11-02" in the page's language, read in UTC so the day does not shift.
const dayLabel = (day, opts = { month: "short", day: "numeric" }) => new Date(day).toLocaleDateString(lang(), { timeZone: "UTC", ...opts });
function seconds(v) {
  if (v == null) return "–";
  const [x, unit] = v < 120 ? [v, "s"] : v < 7200 ? [v / 60, "min"] : [v / 3600, "h"];
  return `${formatNumber(x, lang(), { maximumFractionDigits: 1 })} ${unit}`;
}

/** A chart of days[i][key] for `keys`: bars, or lines for long ranges and for durations (format). */
function chart(name, days, keys, format) {
  const fmt = format || ((v) => formatNumber(v, lang())), n = days.length, band = PW / n, bars = !format && n <= 45;
  const label = (k) => t(`mx.${k}`), cell = (d, k, none) => (d[k] == null ? none : fmt(d[k]));
  const sum = (k) => fmt(days.reduce((a, d) => a + (d[k] || 0), 0));
  // A round axis maximum and step for about four gridlines.
  const max = Math.max(0, ...days.flatMap((d) => keys.map((k) => d[k] || 0)));
  const mag = 10 ** Math.floor(Math.log10(max / 4 || 1)), norm = max / 4 / mag;
  let step = max ? (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag : 1;
  if (!format) step = Math.max(1, Math.round(step));
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const y = (v) => B - (v / top) * PH, cx = (i) => L + band * (i + 0.5);

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "mx-svg", role: "img", tabindex: "0",
    "aria-label": t("mx.chart", label(name), dayLabel(days[0].day), dayLabel(days[n - 1].day), keys.map((k) => (format ? label(k) : `${label(k)}: ${sum(k)}`)).join("; ")) });
  const g = s("g", { "aria-hidden": "true" });
  const text = (x, yy, anchor, cls, content) => g.append(s("text", { x, y: yy, "text-anchor": anchor, class: `mx-tick ${cls}` }, content));
  for (let v = 0; v <= top + 1e-9; v += step) {
    g.append(s("line", { x1: L, x2: L + PW, y1: y(v), y2: y(v), class: v ? "mx-grid" : "mx-axis" }));
    text(L - 8, y(v) + 4, "end", "mx-tick-y", fmt(v));
  }
  for (let i = 0; i < n; i += Math.ceil(n / 8)) text(cx(i), H - 8, "middle", "", dayLabel(days[i].day));
  if (!max && format) text(L + PW / 2, T + PH / 2, "middle", "", t("mx.none"));
  keys.forEach((k, j) => {
    const cls = `mx-s${j}`, gw = Math.min(band * 0.72, 26 * keys.length), bw = gw / keys.length;
    let path = "";
    days.forEach((d, i) => {
      const v = d[k], dataset = { series: k, day: d.day, value: v ?? 0 };
      if (bars) {
        const height = Math.max(v > 0 ? 1.5 : 0, B - y(v || 0));
        g.append(s("rect", { class: ["mx-bar", cls], x: cx(i) - gw / 2 + j * bw + 0.5, y: B - height, width: Math.max(1, bw - 1), height, rx: 2, dataset }));
      } else if (v == null) {
        path += " "; // a gap: the next point starts a new segment
      } else {
        path += `${/\d$/.test(path) ? "L" : "M"}${cx(i)},${y(v)}`;
        g.append(s("circle", { cx: cx(i), cy: y(v), r: n > 45 ? 1.6 : 3, class: ["mx-dot", cls], dataset }));
      }
    });
    if (path.trim()) g.prepend(s("path", { d: path, class: ["mx-line", cls] }));
  });
  const hits = days.map((d, i) => s("rect", { class: "mx-hit", x: L + band * i, y: T, width: band, height: PH, onpointerenter: () => show(i) }));
  svg.append(g, ...hits);

  const tip = el("div.mx-tooltip", { role: "status", "aria-live": "polite", hidden: true });
  const swatch = (j, line) => el(`span.mx-swatch.mx-s${j}${line ? ".mx-swatch-line" : ""}`);
  let active = -1;
  function show(i) {
    active = i;
    tip.hidden = i < 0;
    hits.forEach((r, k) => r.classList.toggle("mx-on", k === i));
    if (i < 0) return;
    const d = days[i], f = cx(i) / W;
    tip.replaceChildren(el("p.mx-tooltip-day", dayLabel(d.day, { dateStyle: "full" })),
      h("dl", keys.map((k, j) => h("div", h("dt", swatch(j), label(k)), h("dd", cell(d, k, t("mx.none")))))));
    tip.classList.toggle("mx-tooltip-left", f > 0.6);
    tip.style.left = `${f * 100}%`;
  }
  svg.onpointerleave = svg.onblur = () => show(-1);
  svg.onfocus = () => { // start on the last day with data
    let i = n - 1;
    while (i > 0 && keys.every((k) => !days[i][k])) i--;
    show(i);
  };
  svg.onkeydown = (e) => {
    const b = active < 0 ? n - 1 : active, i = { ArrowLeft: b - 1, ArrowRight: b + 1, Home: 0, End: n - 1, Escape: -1 }[e.key];
    if (i === undefined) return;
    e.preventDefault();
    show(e.key === "Escape" ? -1 : Math.min(n - 1, Math.max(0, i)));
  };

  const cells = (tag, f) => keys.map((k) => el(`${tag}.adm-num`, f(k)));
  return el("figure.section.mx-chart", { dataset: { chart: name } }, h("figcaption", h("h3", label(name))),
    el("ul.mx-legend", keys.map((k, j) => h("li", swatch(j, !bars), label(k), " ", format ? null : h("strong", sum(k))))),
    el("div.mx-plot", svg, tip),
    h("details", el("summary.mx-toggle", t("mx.table")), h("div", el("table.data.mx-table", el("caption.visually-hidden", label(name)),
      h("thead", h("tr", h("th", t("mx.day")), cells("th", label))),
      h("tbody", days.map((d) => h("tr", h("td", dayLabel(d.day, { weekday: "short", month: "short", day: "numeric" })), cells("td", (k) => cell(d, k, "–"))))),
      format ? null : h("tfoot", h("tr", h("th", t("mx.total")), cells("td", sum)))))));
}

export default async function mount(ctx) {
  const overview = ctx.mode === "overview", q = ctx.query;
  let zone = overview ? null : ctx.tenant?.timezone || null;
  let preset = [7, 30, 90].includes(+q.get("days")) ? +q.get("days") : 7;
  let from = q.get("from"), to = q.get("to"), custom = Boolean(from && to);

  const segs = [7, 30, 90, "custom"].map((r) => el("button.mx-seg", { type: "button", dataset: { range: r }, onclick: () => {
    custom = !+r;
    if (r > 0) preset = r;
    sync();
    custom ? fromInput.focus() : load();
  } }, +r ? t("mx.days", r) : t("mx.custom")));
  const dates = ["from", "to"].map((name) => h("input", { type: "date", name })), [fromInput, toInput] = dates;
  const form = el("form.adm-row", { novalidate: true, onsubmit: (e) => { e.preventDefault(); [from, to] = dates.map((i) => i.value); load(); } },
    dates.map((i) => h("div", { dataset: { field: i.name } }, el("label.mx-date", t(`mx.${i.name}`), i), el("p.field-error"))), el("button.button.button-secondary.button-small", t("mx.apply")));
  const meta = el("p.mx-meta"), content = el("div.mx-content");

  function range() {
    if (custom && from && to) return { from, to };
    const end = today(zone);
    return { from: addDays(end, 1 - preset), to: end };
  }
  function sync() {
    for (const b of segs) b.setAttribute("aria-pressed", b.dataset.range === (custom ? "custom" : String(preset)));
    form.hidden = !custom;
    ({ from: fromInput.value, to: toInput.value } = range());
    fromInput.max = toInput.max = today(zone);
  }

  let gen = 0;
  async function load() {
    const mine = ++gen;
    markFieldErrors(form, null);
    content.setAttribute("aria-busy", "true");
    if (!content.querySelector(".mx-cards")) content.replaceChildren(loading());
    try {
      const r = await api("GET", overview ? "/api/v1/metrics/overview" : `/api/v1/tenants/${ctx.params.tenantId}/metrics/daily`, { query: range(), signal: ctx.signal });
      if (mine !== gen) return;
      if (!overview && r.timezone !== zone) {
        // The first range was cut in a guessed zone: ask again with the tenant's own "today".
        const first = !zone;
        zone = r.timezone;
        if (first && !custom) { sync(); return load(); }
      }
      render(r);
    } catch (error) {
      if (mine !== gen || ctx.signal.aborted) return;
      content.removeAttribute("aria-busy");
      // Errors about the dates show next to them; anything else replaces the content.
      const unmatched = markFieldErrors(form, error);
      content.replaceChildren(error.problem?.errors?.length && !unmatched.length ? "" : problemBox(error, { onRetry: load }));
    }
  }

  function render(r) {
    content.removeAttribute("aria-busy");
    const tot = r.totals, l = lang(), n = r.tenants ?? 0, day = (d) => dayLabel(d, { dateStyle: "medium" }), at = r.computed_through;
    replace(meta,
      el("span.mx-meta-range", { dataset: { from: r.from, to: r.to } }, `${day(r.from)} – ${day(r.to)}`),
      overview && el("span.mx-meta-tenants", { dataset: { value: n } }, h("strong", formatNumber(n, l)), " ", t(n === 1 ? "mx.active1" : "mx.active")),
      el("span.mx-meta-zone", { dataset: { timezone: r.timezone || "" } }, r.timezone ? t("mx.zone", r.timezone.replaceAll("_", " ")) : t("mx.ownZones")),
      el("span.mx-meta-computed", { dataset: { computedThrough: at || "" } }, t(at ? "mx.computed" : "mx.notComputed", formatDateTime(at, l))));

    const card = (key, note) => el("div.section.mx-card", { dataset: { metric: key } }, el("p.mx-label", t(`mx.${key}`)),
      el("p.mx-card-value", { dataset: { value: tot[key] ?? "" } }, note ? seconds(tot[key]) : formatNumber(tot[key], l)), note && sub(note));
    const cards = el("section.mx-cards", { "aria-label": t("mx.cards") }, COUNTS.map((k) => card(k)), card(AVG, t("mx.answered", formatNumber(tot.responded_conversations, l))));
    const days = r.days || [];
    if (!days.some((d) => COUNTS.some((k) => d[k] > 0) || d[AVG] != null)) {
      return content.replaceChildren(cards, el("div.mx-empty", empty(t(at ? "mx.empty" : "mx.notComputed"))));
    }
    content.replaceChildren(cards, el("div.mx-charts", chart("messages", days, COUNTS.slice(0, 2)), chart("conversations", days, COUNTS.slice(2, 5)),
      chart("automation", days, COUNTS.slice(5)),
      h("div", chart("first_response", days, overview ? [AVG] : ["first_response_median_seconds", AVG], seconds), sub(t("mx.frNote")))));
  }

  ctx.root.append(
    heading(t(overview ? "nav.overview" : "nav.metrics"), t(overview ? "mx.overviewLead" : "mx.lead", ctx.tenant?.name ?? ctx.params.tenantId), btn(t("admin.refresh"), load)),
    toolbar(el("div.mx-segs", { role: "group", "aria-label": t("mx.range") }, segs), form),
    meta, content);
  if (overview) ctx.setTitle(t("nav.overview"));
  sync();
  await load();
}
