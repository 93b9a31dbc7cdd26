// Runs of pytake-scheduler's jobs (platform_admin), newest first, filtered by job and status,
// refreshed every few seconds while the page is open and visible.

import { h, formatNumber } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { addStrings, t, lang } from "../lib/i18n.js";
import { cursorTable, statusPill, when } from "./tenants.js";

addStrings({
  en: {
    "jobs.title": "Job runs",
    "jobs.subtitle": "Every run of the scheduler's periodic jobs: when it ran, where, what it counted and how it ended.",
    "jobs.job": "Job",
    "jobs.trigger": "Trigger",
    "jobs.status": "Status",
    "jobs.scheduled": "Scheduled for",
    "jobs.started": "Started",
    "jobs.finished": "Finished",
    "jobs.duration": "Duration",
    "jobs.owner": "Owner",
    "jobs.counts": "Counts",
    "jobs.error": "Error",
    "jobs.allJobs": "All jobs",
    "jobs.allStatuses": "All statuses",
    "jobs.job.metrics": "Metrics",
    "jobs.job.followup": "Follow-ups",
    "jobs.trigger.schedule": "Schedule",
    "jobs.trigger.manual": "Manual",
    "jobs.status.running": "Running",
    "jobs.status.succeeded": "Succeeded",
    "jobs.status.failed": "Failed",
    "jobs.status.abandoned": "Abandoned",
    "jobs.takeover": (id) => `took over run #${id}`,
    "jobs.auto": "Auto-refresh",
    "jobs.updated": (time) => `Updated ${time}`,
    "jobs.empty": "No job has run yet. pytake-scheduler records every run here.",
    "jobs.run": (id) => `Run #${id}`,
  },
  "pt-BR": {
    "jobs.title": "Execuções de tarefas",
    "jobs.subtitle": "Cada execução das tarefas periódicas do agendador: quando rodou, onde, o que contou e como terminou.",
    "jobs.job": "Tarefa",
    "jobs.trigger": "Origem",
    "jobs.status": "Situação",
    "jobs.scheduled": "Agendada para",
    "jobs.started": "Início",
    "jobs.finished": "Fim",
    "jobs.duration": "Duração",
    "jobs.owner": "Réplica",
    "jobs.counts": "Contagens",
    "jobs.error": "Erro",
    "jobs.allJobs": "Todas as tarefas",
    "jobs.allStatuses": "Todas as situações",
    "jobs.job.metrics": "Métricas",
    "jobs.job.followup": "Follow-ups",
    "jobs.trigger.schedule": "Agenda",
    "jobs.trigger.manual": "Manual",
    "jobs.status.running": "Em execução",
    "jobs.status.succeeded": "Concluída",
    "jobs.status.failed": "Falhou",
    "jobs.status.abandoned": "Abandonada",
    "jobs.takeover": (id) => `assumiu a execução #${id}`,
    "jobs.auto": "Atualizar automaticamente",
    "jobs.updated": (time) => `Atualizado às ${time}`,
    "jobs.empty": "Nenhuma tarefa rodou ainda. O pytake-scheduler registra cada execução aqui.",
    "jobs.run": (id) => `Execução #${id}`,
  },
});

const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const JOBS = ["metrics", "followup"];
const STATUSES = ["running", "succeeded", "failed", "abandoned"];

export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${formatNumber(s, lang(), { maximumFractionDigits: 1 })} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function duration(run) {
  if (run.counts && Number.isFinite(run.counts.duration_ms)) return run.counts.duration_ms;
  if (!run.finished_at) return Date.now() - Date.parse(run.started_at);
  return Date.parse(run.finished_at) - Date.parse(run.started_at);
}

export default async function mount(ctx) {
  let job = ctx.query.get("job") || "";
  let status = ctx.query.get("status") || "";

  const jobSelect = h("select", { class: "adm-filter", name: "job", "aria-label": t("jobs.job") },
    h("option", { value: "" }, t("jobs.allJobs")),
    JOBS.map((j) => h("option", { value: j }, t(`jobs.job.${j}`))));
  jobSelect.value = job;
  const statusSelect = h("select", { class: "adm-filter", name: "status", "aria-label": t("jobs.status") },
    h("option", { value: "" }, t("jobs.allStatuses")),
    STATUSES.map((s) => h("option", { value: s }, t(`jobs.status.${s}`))));
  statusSelect.value = status;
  jobSelect.addEventListener("change", () => { job = jobSelect.value; table.reload(); });
  statusSelect.addEventListener("change", () => { status = statusSelect.value; table.reload(); });

  const updated = h("span", { class: "adm-muted adm-updated", "aria-live": "off" });
  const auto = h("input", { type: "checkbox", checked: true, name: "auto-refresh" });

  const table = cursorTable({
    className: "jobs-table",
    caption: t("jobs.title"),
    columns: [
      { label: t("jobs.job") },
      { label: t("jobs.status") },
      { label: t("jobs.scheduled") },
      { label: t("jobs.started") },
      { label: t("jobs.duration") },
      { label: t("jobs.owner") },
      { label: t("jobs.counts") },
      { label: t("jobs.error") },
    ],
    loadPage: async (cursor) => {
      const page = await api("GET", "/api/v1/jobs/runs", { query: { limit: PAGE_SIZE, cursor, job, status }, signal: ctx.signal });
      updated.textContent = t("jobs.updated", new Date().toLocaleTimeString(lang()));
      return page;
    },
    emptyText: t("jobs.empty"),
    renderRow: (run) => {
      const counts = Object.entries(run.counts || {}).filter(([k]) => k !== "duration_ms");
      return h("tr", { dataset: { runId: run.id, job: run.job, status: run.status } },
        h("td", {},
          h("span", { class: "adm-strong" }, JOBS.includes(run.job) ? t(`jobs.job.${run.job}`) : String(run.job)),
          h("div", { class: "adm-sub" }, t("jobs.run", run.id), " · ", t(`jobs.trigger.${run.trigger}`)),
          run.takeover_of ? h("div", { class: "adm-sub" }, t("jobs.takeover", run.takeover_of)) : null),
        h("td", {}, statusPill(run.status, STATUSES.includes(run.status) ? t(`jobs.status.${run.status}`) : String(run.status))),
        h("td", { class: "adm-nowrap" }, when(run.scheduled_for)),
        h("td", { class: "adm-nowrap" }, when(run.started_at),
          run.finished_at ? h("div", { class: "adm-sub" }, t("jobs.finished"), " ", when(run.finished_at)) : null),
        h("td", { class: "adm-nowrap adm-num" }, formatDuration(duration(run))),
        h("td", {}, h("span", { class: "mono adm-owner", title: String(run.owner) }, String(run.owner))),
        h("td", {}, counts.length
          ? h("dl", { class: "adm-counts" }, counts.map(([k, v]) => h("div", {}, h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, formatNumber(v, lang())))))
          : h("span", { class: "adm-muted" }, "–")),
        h("td", { class: "adm-error-cell" }, run.error ? h("span", { class: "adm-error-text", title: String(run.error) }, String(run.error)) : h("span", { class: "adm-muted" }, "–")));
    },
  });

  const timer = window.setInterval(() => {
    if (auto.checked && !document.hidden) table.refresh(true);
  }, REFRESH_MS);
  ctx.onCleanup(() => window.clearInterval(timer));

  ctx.root.append(
    h("div", { class: "page-header" },
      h("div", { class: "adm-heading" }, h("h1", {}, t("jobs.title")), h("p", { class: "adm-lead" }, t("jobs.subtitle")))),
    h("div", { class: "toolbar adm-toolbar" }, jobSelect, statusSelect,
      h("span", { class: "adm-spacer" }),
      updated,
      h("label", { class: "adm-check" }, auto, " ", t("jobs.auto")),
      h("button", { class: "button button-secondary button-small", type: "button", onclick: () => table.refresh(false) }, "↻ ", t("admin.refresh"))),
    table.element);
}
