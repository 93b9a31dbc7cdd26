// pytake-scheduler's job runs (platform_admin), newest first; refreshed every 5 s while visible.

import { h, formatNumber } from "../lib/dom.js";
import { api } from "../lib/api.js";
import { t, lang } from "../lib/i18n.js";
import { strings, el, btn, heading, toolbar, cursorTable, pill, filterSelect, when, sub, muted } from "./admin-common.js";

strings("jobs", `
lead|The scheduler's periodic jobs.|As tarefas periódicas do agendador.
job|Job|Tarefa
scheduled|Scheduled|Agendada
started|Started|Início
finished|Finished|Fim
duration|Duration|Duração
owner|Owner|Réplica
counts|Counts|Contagens
error|Error|Erro
metrics|Metrics|Métricas
followup|Follow-ups
schedule|Schedule|Agenda
manual|Manual
running|Running|Em execução
succeeded|Succeeded|Concluída
failed|Failed|Falhou
abandoned|Abandoned|Abandonada
takeover|took over run #{}|assumiu a execução #{}
auto|Auto-refresh|Atualizar sozinho
updated|Updated {}|Atualizado às {}
empty|No job has run yet.|Nenhuma tarefa rodou ainda.
run|Run #{}|Execução #{}
`);

const JOBS = ["metrics", "followup"], STATUSES = ["running", "succeeded", "failed", "abandoned"];
const known = (list, v) => (list.includes(v) ? t(`jobs.${v}`) : String(v));
const num = (v, digits) => formatNumber(v, lang(), { maximumFractionDigits: digits });

function duration(ms) {
  if (!(ms >= 0)) return "–";
  const s = ms / 1000, m = Math.floor(s / 60);
  return ms < 1000 ? `${Math.round(ms)} ms` : s < 60 ? `${num(s, 1)} s` : m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export default async function mount(ctx) {
  let job = ctx.query.get("job") || "", status = ctx.query.get("status") || "";
  const updated = el("span.adm-sub");
  const auto = h("input", { type: "checkbox", checked: true, name: "auto-refresh" });

  const table = cursorTable({
    name: "jobs",
    columns: ["job", "status", "scheduled", "started", "duration", "owner", "counts", "error"].map((c) => t(c === "status" ? "admin.status" : `jobs.${c}`)),
    loadPage: async (cursor) => {
      const page = await api("GET", "/api/v1/jobs/runs", { query: { limit: 25, cursor, job, status }, signal: ctx.signal });
      updated.textContent = t("jobs.updated", new Date().toLocaleTimeString(lang()));
      return page;
    },
    emptyText: "jobs.empty",
    renderRow: (run) => {
      const { duration_ms: ms, ...rest } = run.counts || {}, counts = Object.entries(rest);
      return h("tr", { dataset: { runId: run.id, job: run.job, status: run.status } },
        h("td", h("b", known(JOBS, run.job)), sub(t("jobs.run", run.id), " · ", t(`jobs.${run.trigger}`)), run.takeover_of && sub(t("jobs.takeover", run.takeover_of))),
        h("td", pill(run.status, known(STATUSES, run.status))),
        el("td.adm-nowrap", when(run.scheduled_for)),
        el("td.adm-nowrap", when(run.started_at), run.finished_at && sub(t("jobs.finished"), " ", when(run.finished_at))),
        el("td.adm-nowrap.adm-num", duration(Number.isFinite(ms) ? ms : (Date.parse(run.finished_at) || Date.now()) - Date.parse(run.started_at))),
        el("td.mono.adm-sub", run.owner),
        h("td", counts.length ? el("dl.adm-counts", counts.map(([k, v]) =>
          h("div", h("dt", k.replaceAll("_", " ")), h("dd", num(v))))) : muted()),
        el("td.adm-wrap.adm-error", run.error || muted()));
    },
  });

  const timer = setInterval(() => auto.checked && !document.hidden && table.refresh(), 5000);
  ctx.onCleanup(() => clearInterval(timer));

  ctx.root.append(
    heading(t("nav.jobs"), t("jobs.lead")),
    toolbar(
      filterSelect("job", t("jobs.job"), JOBS, "jobs.", job, (v) => { job = v; table.reload(); }),
      filterSelect("status", t("admin.status"), STATUSES, "jobs.", status, (v) => { status = v; table.reload(); }),
      el("span.adm-spacer"), updated,
      el("label.adm-check", auto, t("jobs.auto")),
      btn(t("admin.refresh"), () => table.refresh(false))),
    table.element);
}
