// Hand-written SVG charts of daily figures: grouped bars (or lines for long ranges and for
// durations), axes with labelled ticks, gridlines, a legend, a tooltip that follows the pointer
// and the arrow keys, and a data table for people who prefer (or need) one.

import { h, s, formatNumber, uid } from "../lib/dom.js";
import { addStrings, t, lang } from "../lib/i18n.js";

addStrings({
  en: {
    "chart.showTable": "Show data table",
    "chart.hideTable": "Hide data table",
    "chart.day": "Day",
    "chart.total": "Total",
    "chart.summary": (title, from, to, parts) => `${title}, ${from} to ${to}. ${parts}.`,
    "chart.keys": "Use the left and right arrow keys to read each day.",
    "chart.noValue": "no data",
    "chart.noData": "No data in this range",
  },
  "pt-BR": {
    "chart.showTable": "Mostrar tabela de dados",
    "chart.hideTable": "Ocultar tabela de dados",
    "chart.day": "Dia",
    "chart.total": "Total",
    "chart.summary": (title, from, to, parts) => `${title}, de ${from} a ${to}. ${parts}.`,
    "chart.keys": "Use as setas para a esquerda e para a direita para ler cada dia.",
    "chart.noValue": "sem dados",
    "chart.noData": "Sem dados neste período",
  },
});

const W = 600;
const H = 240;
const M = { top: 14, right: 12, bottom: 30, left: 50 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

/** "2026-11-02" as a date in the page's language (the day itself, no time zone shift). */
export function dayLabel(day, options = { month: "short", day: "numeric" }) {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return String(day);
  return d.toLocaleDateString(lang(), { timeZone: "UTC", ...options });
}

export function niceScale(max, integer) {
  if (!(max > 0)) return { max: 1, step: integer ? 1 : 0.5 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

/**
 * chart({title, days, series: [{key, label}], kind: "bars" | "lines", format(v), integer, totals})
 * days: [{day, [key]: number | null}]. Returns a <figure>.
 */
export function chart({ title, days, series, kind = "bars", format, integer = true, totals = true, name }) {
  const fmt = format || ((v) => formatNumber(v, lang()));
  const n = days.length;
  const asBars = kind === "bars" && n <= 45;
  const values = days.flatMap((d) => series.map((sr) => d[sr.key])).filter((v) => v !== null && v !== undefined);
  const scale = niceScale(Math.max(0, ...values), integer);
  const band = PLOT_W / Math.max(1, n);
  const y = (v) => M.top + PLOT_H - (v / scale.max) * PLOT_H;
  const cx = (i) => M.left + band * (i + 0.5);

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "mx-svg", role: "img", tabindex: "0", focusable: "true", dataset: { chart: name || "" } });
  const sum = (key) => days.reduce((acc, d) => acc + (Number(d[key]) || 0), 0);
  const from = n ? dayLabel(days[0].day) : "";
  const to = n ? dayLabel(days[n - 1].day) : "";
  const parts = series.map((sr) => totals ? `${sr.label}: ${fmt(sum(sr.key))}` : sr.label).join("; ");
  svg.setAttribute("aria-label", `${t("chart.summary", title, from, to, parts)} ${t("chart.keys")}`);

  // Gridlines and the value axis.
  const grid = s("g", { class: "mx-grid", "aria-hidden": "true" });
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    const yy = y(v);
    grid.append(
      s("line", { x1: M.left, x2: W - M.right, y1: yy, y2: yy, class: v === 0 ? "mx-axis" : "mx-gridline" }),
      s("text", { x: M.left - 8, y: yy, class: "mx-tick mx-tick-y", "text-anchor": "end", "dominant-baseline": "middle" }, fmt(v)));
  }
  // Day axis: at most ~8 labels.
  const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) {
    grid.append(
      s("line", { x1: cx(i), x2: cx(i), y1: M.top + PLOT_H, y2: M.top + PLOT_H + 4, class: "mx-axis" }),
      s("text", { x: cx(i), y: H - 8, class: "mx-tick mx-tick-x", "text-anchor": "middle" }, dayLabel(days[i].day)));
  }
  svg.append(grid);

  const guide = s("rect", { class: "mx-guide", x: 0, y: M.top, width: band, height: PLOT_H, visibility: "hidden", "aria-hidden": "true" });
  svg.append(guide);

  const data = s("g", { class: "mx-data", "aria-hidden": "true" });
  if (asBars) {
    const groupW = Math.min(band * 0.72, 26 * series.length);
    const barW = groupW / series.length;
    days.forEach((d, i) => {
      series.forEach((sr, j) => {
        const v = Number(d[sr.key]) || 0;
        const top = y(v);
        const height = Math.max(v > 0 ? 1.5 : 0, M.top + PLOT_H - top);
        data.append(s("rect", {
          class: ["mx-bar", `mx-s${j}`], x: cx(i) - groupW / 2 + j * barW + 0.5, y: M.top + PLOT_H - height,
          width: Math.max(1, barW - 1), height, rx: Math.min(2, barW / 4),
          dataset: { series: sr.key, day: d.day, value: v },
        }));
      });
    });
  } else {
    series.forEach((sr, j) => {
      let path = "";
      let pen = false;
      days.forEach((d, i) => {
        const v = d[sr.key];
        if (v === null || v === undefined) { pen = false; return; }
        path += `${pen ? "L" : "M"}${cx(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (path) data.append(s("path", { d: path, class: ["mx-line", `mx-s${j}`], dataset: { series: sr.key } }));
      days.forEach((d, i) => {
        const v = d[sr.key];
        if (v === null || v === undefined) return;
        data.append(s("circle", { cx: cx(i), cy: y(v), r: n > 45 ? 1.6 : 3, class: ["mx-dot", `mx-s${j}`], dataset: { series: sr.key, day: d.day, value: v } }));
      });
    });
  }
  svg.append(data);
  if (values.length === 0) {
    svg.append(s("text", { x: M.left + PLOT_W / 2, y: M.top + PLOT_H / 2, class: "mx-nodata", "text-anchor": "middle", "dominant-baseline": "middle" }, t("chart.noData")));
  }

  // Hover targets: one band per day, each with a native tooltip too.
  const hits = s("g", { class: "mx-hits" });
  days.forEach((d, i) => {
    const text = `${dayLabel(d.day, { weekday: "short", month: "short", day: "numeric" })}: ` +
      series.map((sr) => `${sr.label} ${d[sr.key] === null || d[sr.key] === undefined ? t("chart.noValue") : fmt(d[sr.key])}`).join(", ");
    hits.append(s("rect", { class: "mx-hit", x: M.left + band * i, y: M.top, width: band, height: PLOT_H, dataset: { index: i } }, s("title", {}, text)));
  });
  svg.append(hits);

  // Tooltip (pointer and keyboard).
  const tip = h("div", { class: "mx-tooltip", role: "status", "aria-live": "polite", hidden: true });
  const plot = h("div", { class: "mx-plot" }, svg, tip);
  let active = -1;
  function show(i) {
    if (i < 0 || i >= n) return hide();
    active = i;
    const d = days[i];
    guide.setAttribute("x", String(M.left + band * i));
    guide.setAttribute("width", String(band));
    guide.setAttribute("visibility", "visible");
    tip.replaceChildren(
      h("p", { class: "mx-tooltip-day" }, dayLabel(d.day, { weekday: "long", month: "long", day: "numeric", year: "numeric" })),
      h("dl", {}, series.map((sr, j) => h("div", {},
        h("dt", {}, h("span", { class: ["mx-swatch", `mx-s${j}`], "aria-hidden": "true" }), sr.label),
        h("dd", {}, d[sr.key] === null || d[sr.key] === undefined ? t("chart.noValue") : fmt(d[sr.key]))))));
    tip.hidden = false;
    const fraction = cx(i) / W;
    tip.classList.toggle("mx-tooltip-left", fraction > 0.6);
    tip.style.left = `${(fraction * 100).toFixed(2)}%`;
  }
  function hide() {
    active = -1;
    tip.hidden = true;
    guide.setAttribute("visibility", "hidden");
  }
  svg.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    if (!box.width) return;
    const x = ((event.clientX - box.left) / box.width) * W;
    const i = Math.floor((x - M.left) / band);
    if (i !== active) show(i);
  });
  svg.addEventListener("pointerleave", hide);
  svg.addEventListener("blur", hide);
  svg.addEventListener("focus", () => {
    let last = n - 1;
    while (last > 0 && series.every((sr) => !days[last][sr.key])) last -= 1;
    show(last);
  });
  svg.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
    if (event.key === "Escape") { hide(); return; }
    if (!(event.key in moves)) return;
    event.preventDefault();
    const step = moves[event.key];
    const next = step === -Infinity ? 0 : step === Infinity ? n - 1 : Math.min(n - 1, Math.max(0, (active < 0 ? n - 1 : active) + step));
    show(next);
  });

  // Legend, table toggle, data table.
  const legend = h("ul", { class: "mx-legend" }, series.map((sr, j) => h("li", {},
    h("span", { class: ["mx-swatch", `mx-s${j}`, asBars ? "" : "mx-swatch-line"], "aria-hidden": "true" }),
    sr.label,
    totals ? h("span", { class: "mx-legend-total" }, fmt(sum(sr.key))) : null)));
  const tableId = uid("mx-table");
  const table = h("div", { class: "mx-table-wrap", id: tableId, hidden: true },
    h("table", { class: "data mx-table" },
      h("caption", { class: "visually-hidden" }, title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("chart.day")), series.map((sr) => h("th", { scope: "col", class: "adm-num" }, sr.label)))),
      h("tbody", {}, days.map((d) => h("tr", {},
        h("th", { scope: "row" }, dayLabel(d.day, { weekday: "short", month: "short", day: "numeric" })),
        series.map((sr) => h("td", { class: "adm-num" }, d[sr.key] === null || d[sr.key] === undefined ? "–" : fmt(d[sr.key])))))),
      totals ? h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, t("chart.total")), series.map((sr) => h("td", { class: "adm-num" }, fmt(sum(sr.key)))))) : null));
  const toggle = h("button", { class: "button button-secondary button-small mx-toggle", type: "button", "aria-expanded": "false", "aria-controls": tableId });
  toggle.textContent = t("chart.showTable");
  toggle.addEventListener("click", () => {
    const open = table.hidden;
    table.hidden = !open;
    plot.hidden = open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? t("chart.hideTable") : t("chart.showTable");
  });

  return h("figure", { class: "mx-chart", dataset: { chart: name || "" } },
    h("figcaption", { class: "mx-head" }, h("h3", { class: "mx-title" }, title), toggle),
    legend,
    plot,
    table);
}
