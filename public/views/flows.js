// Flows of a tenant (#/tenants/:tenantId/flows): list (live version, draft problems), create,
// import a JSON file, export, delete.

import { api } from "../lib/api.js";
import { h, replace, formatDateTime } from "../lib/dom.js";
import { t, lang } from "../lib/i18n.js";
import { problemBox, loading, empty, toast, confirmDialog, markFieldErrors, errorText } from "../lib/ui.js";
import { T, tr, parseImport, exportFlow, btn, wbtn, chip, div } from "./builder-model.js";
import { schemaForm, FLOW } from "./builder-panels.js";

export default async function mount(ctx) {
	const enc = encodeURIComponent, path = `/tenants/${enc(ctx.params.tenantId)}/flows`, base = `/api/v1${path}`, canWrite = ctx.can("flows.write");
	const F = (k, ...a) => tr(`flows.${k}`, ...a);
	const open = id => `#${path}/${enc(id)}`;
	const create = body => ctx.busy(api("POST", base, { body }));
	const file = h("input", { type: "file", accept: "application/json,.json", hidden: true, id: "flows-import-file" });
	const createHost = h("div"), list = h("div", { id: "flows-list" });
	ctx.setTitle(F("title"));
	replace(ctx.root,
		div("page-header", div("flows-heading", h("h1", F("title")), h("p", F("sub"))),
			canWrite && div("toolbar", wbtn(F("import"), () => file.click(), undefined, { id: "flows-import" }), wbtn(F("new"), showCreate, "button-primary", { id: "flows-new" }))),
		createHost, list, file);

	function showCreate() {
		if (createHost.firstChild) return;
		const flow = { name: "", trigger: { type: "default" } }, fields = h("div");
		const draw = () => {
			replace(fields, schemaForm(flow, FLOW, { onChange: (c, redraw) => redraw && draw() }));
			fields.querySelector("label").htmlFor = fields.querySelector("input").id = "flows-name";
		};
		draw();
		const submit = wbtn(F("create"), null, "button-primary", { type: "submit", id: "flows-create" }), errors = h("div");
		const form = h("form", { class: "section", onsubmit: async e => {
			e.preventDefault();
			replace(errors);
			submit.disabled = true;
			try {
				ctx.navigate(open((await create({ ...flow, name: flow.name.trim() })).id));
			} catch (error) {
				if (markFieldErrors(form, error).length || !error.problem?.errors.length) replace(errors, problemBox(error));
				submit.disabled = false;
			}
		} }, h("h2", F("new")), fields, errors, div("toolbar", submit, btn(t("ui.cancel"), () => replace(createHost))));
		replace(createHost, form);
		form.querySelector("input").focus();
	}

	// Import creates the flow from the file and opens it; a name already taken gets a number.
	file.onchange = async () => {
		const f = file.files[0];
		file.value = "";
		if (!f) return;
		try {
			const p = parseImport(await f.text()), stem = p.name || f.name.replace(/(\.flow)?\.json$/i, "") || "Imported flow";
			for (let n = 1; ; n++) {
				try {
					const flow = await create({ ...p, name: n === 1 ? stem : `${stem} (${n})`.slice(0, 200) });
					toast(F("imported", flow.name));
					return ctx.navigate(open(flow.id));
				} catch (error) {
					if (error.code !== "flow_name_taken" || n === 6) throw error;
				}
			}
		} catch (error) {
			toast(T("imp.failed", errorText(error)), "error");
		}
	};

	function row(flow) {
		const trg = flow.trigger || {}, v = flow.published_version, problems = (flow.problems || []).length;
		const el = h("tr", { dataset: { flowId: flow.id } },
			h("td", h("a", { href: open(flow.id), class: "flows-name" }, flow.name), div("flows-muted", F("nodes", (flow.definition?.nodes || []).length))),
			h("td", { class: "flows-muted" }, trg.type === "keywords" ? F("tKeywords", (trg.keywords || []).join(", ")) : trg.type === "regex" ? F("tRegex", trg.pattern) : F("tDefault")),
			h("td", chip(v ? F("live", v) : T("notLive"), !v && "muted"), " ", chip(problems ? F("problems", problems) : F("ready"), problems ? "bad" : "muted")),
			h("td", { class: "flows-muted" }, formatDateTime(flow.updated_at, lang())),
			h("td", { class: "flows-actions" },
				btn(T("export"), () => exportFlow(flow)),
				canWrite && wbtn(F("delete"), () => remove(flow, el), "button-secondary flows-delete", { dataset: { action: "delete" } })));
		return el;
	}

	async function remove(flow, el) {
		if (!(await confirmDialog({ title: F("delTitle", flow.name), message: F("delMsg"), confirm: F("delete"), danger: true }))) return;
		try {
			await ctx.busy(api("DELETE", `${base}/${enc(flow.id)}`));
			el.remove();
			toast(F("deleted", flow.name));
			if (!list.querySelector("tbody tr")) load();
		} catch (error) {
			toast(errorText(error), "error");
		}
	}

	async function load() {
		replace(list, loading());
		const tbody = h("tbody"), footer = div("paged-footer");
		let cursor = null;
		async function page() {
			const data = await api("GET", base, { query: { limit: 50, cursor }, signal: ctx.signal });
			tbody.append(...data.items.map(row));
			cursor = data.next_cursor;
			replace(footer, cursor && btn(t("ui.more"), e => {
				e.currentTarget.disabled = true;
				page().catch(error => replace(footer, problemBox(error, { onRetry: page })));
			}));
			return data.items.length;
		}
		try {
			const any = await page();
			if (!ctx.signal.aborted) replace(list, any ? [h("table", { class: "data" }, h("thead", h("tr", F("col").split(",").map((c, i) => h("th", { class: i > 3 && "flows-actions" }, c)))), tbody), footer] : empty(F("empty")));
		} catch (error) {
			if (!ctx.signal.aborted) replace(list, problemBox(error, { onRetry: load }));
		}
	}

	await load();
}
