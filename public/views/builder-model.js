// Flow builder model: node types (glyph, outcomes, default config, JSON schema with x-* extensions),
// summaries, ids, layout, import, export; UI pieces and strings shared with the flows list.

import { h } from "../lib/dom.js";
import { addStrings, t } from "../lib/i18n.js";

// UI pieces shared with the flows list.
export const WRITE = { "data-write": "" };
export const div = (cls, ...kids) => h("div", { class: cls }, ...kids);
export const btn = (label, onclick, cls = "button-secondary", attrs) => h("button", { type: "button", class: `button button-small ${cls}`, onclick, ...attrs }, label);
export const wbtn = (label, onclick, cls, attrs) => btn(label, onclick, cls, { ...WRITE, ...attrs });
export const chip = (text, kind, attrs) => h("span", { class: ["status", kind && `status-${kind}`], ...attrs }, text);
// A <select> of [value, label] pairs (falsy ones skipped); calls onchange(value).
export function select(pairs, value, onchange, attrs) {
	const el = h("select", { ...attrs, onchange: () => onchange(el.value) }, pairs.filter(Boolean).map(([v, label]) => h("option", { value: v }, label)));
	el.value = value ?? "";
	return el;
}

export const NODE_W = 208, NODE_H = 68;
const str = (maxLength, more) => ({ type: "string", maxLength, ...more });
const text = str(4096, { "x-multiline": true });
const vari = str(64, { "x-variable": true });
const int = (minimum, maximum) => ({ type: "integer", minimum, maximum });
const obj = (properties, required) => ({ type: "object", required, properties });
const unary = op => op === "is_set" || op === "is_empty";

// type: [glyph, outcomes, default config, config schema]
const TYPES = {
	start: ["▶", ["next"], {}],
	send_message: ["✉", ["next"], { text: "" }, obj({ text }, ["text"])],
	ask: ["?", ["next"], { question: "", variable: "", validation: "text" }, obj({
		question: text, variable: vari,
		validation: { type: "string", enum: ["text", "number", "email", "choice"] },
		choices: { type: "array", maxItems: 10, items: str(24), "x-show": c => c.validation === "choice" },
		retry_message: str(4096),
	}, ["question", "variable"])],
	condition: ["◆", ["true", "false"], { variable: "", operator: "equals", value: "" }, obj({
		variable: vari,
		operator: { type: "string", enum: ["equals", "not_equals", "contains", "starts_with", "matches_regex", "greater_than", "less_than", "is_set", "is_empty"] },
		value: { type: "string", "x-show": c => !unary(c.operator) },
	}, ["variable", "operator"])],
	set_variable: ["=", ["next"], { variable: "", value: "" }, obj({ variable: vari, value: {} }, ["variable", "value"])],
	handoff: ["☎", ["next"], {}, obj({ message: text, assignee_id: { type: "string", "x-assignee": true } })],
	wait: ["◷", ["next"], { seconds: 60 }, obj({ seconds: int(1, 86400) }, ["seconds"])],
	end: ["■", [], {}],
	module: ["⚙", ["success", "error"], {}],
};
export const BUILTIN_TYPES = Object.keys(TYPES).slice(0, -1);

export const isKnownType = type => Object.hasOwn(TYPES, type);
const info = type => (isKnownType(type) ? TYPES[type] : ["•", [], {}]);
export const glyphOf = type => info(type)[0];
export const outcomesOf = node => info(node.type)[1];
export const typeClass = type => `type-${isKnownType(type) ? type : "unknown"}`;
export const glyph = type => h("span", { class: ["bld-glyph", typeClass(type)], "aria-hidden": "true" }, glyphOf(type));

export function configSchema(node, modules) {
	if (node.type !== "module") return info(node.type)[3] || null;
	const m = modules.get(node.config?.module);
	return obj({
		module: { type: "string", enum: [...modules.keys()], "x-onchange": c => { c.with = defaultConfig("module", c.module, modules).with; } },
		with: m?.with || obj({}),
		save_as: str(64, { "x-identifier": true }),
		timeout_ms: int(100, 300000),
		retry: obj({ attempts: int(1, 5), delay_ms: int(0, 60000) }),
	}, ["module"]);
}

// A new node's config (a module's: the first value of each required enum).
export function defaultConfig(type, module, modules) {
	if (type !== "module") return structuredClone(info(type)[2]);
	const s = modules.get(module)?.with || {}, w = {};
	for (const k of s.required || []) {
		const e = s.properties?.[k]?.enum;
		if (Array.isArray(e) && e.length) w[k] = e[0];
	}
	return { module, with: w };
}

export const typeLabel = n => String((n.type === "module" && n.config?.module) || (isKnownType(n.type) ? T(`type.${n.type}`) : n.type));
export const nodeName = (n, l = typeLabel(n).replace(/\s+/g, " ")) => `${n.id} · ${l.length > 18 ? `${l.slice(0, 17)}…` : l}`;

const txt = v => (v == null ? "" : typeof v === "string" ? v : JSON.stringify(v));

function seconds(n) {
	n = Number(n) || 0;
	if (n >= 3600 && n % 60 === 0) return `${Math.floor(n / 3600)} h${n % 3600 ? ` ${(n % 3600) / 60} min` : ""}`;
	return n >= 60 && n % 60 === 0 ? `${n / 60} min` : `${n} s`;
}

export function summaryOf(n) {
	const c = n.config || {}, w = c.with || {}, none = T("sum.empty");
	switch (n.type) {
		case "start": case "end": return T(`sum.${n.type}`);
		case "send_message": return txt(c.text) || none;
		case "ask": return c.question ? txt(c.question) + (c.variable ? ` → ${c.variable}` : "") : none;
		case "condition": return c.variable ? `${c.variable} ${String(c.operator || "").replace(/_/g, " ")} ${unary(c.operator) ? "" : txt(c.value)}`.trim() : none;
		case "set_variable": return c.variable ? `${c.variable} = ${txt(c.value)}` : none;
		case "module": return (w.url ? `${w.method ? `${w.method} ` : ""}${w.url}` : w.operation ? `${w.operation}${w.key ? ` ${txt(w.key)}` : ""}` : txt(w.prompt))
			|| (c.save_as ? `→ ${c.save_as}` : T("sum.module"));
		case "handoff": return txt(c.message) || T("sum.handoff");
		case "wait": return seconds(c.seconds);
	}
	return T("code.unknown_node_type");
}

// An unused id from `base` (a type or module name), added to `taken`.
export function newId(taken, base) {
	const stem = String(base).replace(/\W/g, "_").slice(0, 50) || "node";
	for (let i = 1, id; ; i++) if (!taken.has((id = `${stem}_${i}`))) return taken.add(id) && id;
}

// Variables set in the flow, and the built-in ones (FlowValidator.builtInVariables).
export function knownVariables(def) {
	const names = new Set(["customer_name", "customer_phone", "last_message"]);
	for (const { type, config: c } of def.nodes) {
		const v = c && (type === "ask" || type === "set_variable" ? c.variable : type === "module" ? c.save_as : "");
		if (v && typeof v === "string") names.add(v);
	}
	return [...names].sort();
}

const isPos = p => p && Number.isFinite(p.x) && Number.isFinite(p.y);

// Columns by distance from the start (unreached last); onlyMissing keeps positions.
export function layout(def, onlyMissing) {
	const start = def.nodes.find(n => n.type === "start") || def.nodes[0], queue = start ? [start.id] : [];
	const depth = new Map(queue.map(id => [id, 0])), rows = new Map();
	for (const id of queue) for (const e of def.edges) if (e.from === id && !depth.has(e.to)) { depth.set(e.to, depth.get(id) + 1); queue.push(e.to); }
	const loose = Math.max(-1, ...depth.values()) + 1;
	for (const n of def.nodes) {
		const d = depth.get(n.id) ?? loose, row = rows.get(d) || 0;
		rows.set(d, row + 1);
		if (!onlyMissing || !isPos(n.position)) n.position = { x: d * (NODE_W + 72), y: row * (NODE_H + 44) };
	}
}

// Reads a builder export, an API Flow or FlowVersion, or bare {nodes, edges}; else throws.
export function parseImport(json) {
	let d;
	try { d = JSON.parse(json); } catch { throw new Error(T("imp.notJson")); }
	const def = Array.isArray(d?.nodes) ? d : d?.definition, s = v => typeof v === "string";
	if (!def || !Array.isArray(def.nodes) || !Array.isArray(def.edges) || !def.nodes.every(n => n && s(n.id) && s(n.type))
		|| !def.edges.every(e => e && s(e.from) && s(e.to) && s(e.outcome))) throw new Error(T("imp.notFlow"));
	const clean = {
		nodes: def.nodes.map(n => ({
			id: n.id, type: n.type, config: n.config && typeof n.config === "object" ? n.config : {},
			...(isPos(n.position) && { position: { x: n.position.x, y: n.position.y } }),
		})),
		edges: def.edges.map(e => ({ from: e.from, outcome: e.outcome, to: e.to })),
	};
	layout(clean, true);
	const tr = d.trigger;
	return {
		name: s(d.name) && d.name.trim() ? d.name.trim().slice(0, 200) : null,
		trigger: tr && typeof tr === "object" && s(tr.type) ? tr : undefined,
		definition: clean,
		test_cases: Array.isArray(d.test_cases) ? d.test_cases.filter(c => c && typeof c === "object") : undefined,
	};
}

export function exportFlow(f) {
	const data = { format: "pytake.flow", format_version: 1, name: f.name, trigger: f.trigger, definition: f.definition, test_cases: f.test_cases || [] };
	const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
	const slug = String(f.name || "flow").normalize("NFKD").replace(/[^\w-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase().slice(0, 60);
	h("a", { href: url, download: `${slug || "flow"}.flow.json` }).click();
	setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Strings: "key=English|Português" lines under [group]s ("flows.*", "bld.*"; no "|": one text for
// both). "{0:node/nodes}": argument 0 with a noun in number.
const S = `
[flows]
title=Flows|Fluxos
sub=Automated WhatsApp conversations.|Conversas automáticas no WhatsApp.
new=New flow|Novo fluxo
import=Import JSON|Importar JSON
create=Create and open|Criar e abrir
col=Name,Trigger,Status,Updated,Actions|Nome,Gatilho,Situação,Atualizado,Ações
tDefault=Default flow|Fluxo padrão
tKeywords=Keywords: {0}|Palavras-chave: {0}
tRegex=Matches /{0}/|Casa com /{0}/
live=Live · v{0}|No ar · v{0}
problems={0:problem/problems}|{0:problema/problemas}
ready=Draft ready|Rascunho pronto
nodes={0:node/nodes}|{0:nó/nós}
delete=Delete|Excluir
delTitle=Delete “{0}”?|Excluir “{0}”?
delMsg=Running conversations finish their version.|Conversas em curso terminam na sua versão.
deleted=“{0}” deleted.|“{0}” excluído.
empty=No flows yet.|Ainda não há fluxos.
imported=Imported “{0}”.|“{0}” importado.
[bld]
back=← Flows|← Fluxos
saveState=Save state|Salvamento
panels=Panels|Painéis
undo=Undo (Ctrl+Z)|Desfazer (Ctrl+Z)
redo=Redo (Ctrl+Shift+Z)|Refazer (Ctrl+Shift+Z)
delete=Delete (Del)|Excluir (Del)
tidy=Arrange|Organizar
import=Import|Importar
importT=Replace the draft with a file|Trocar o rascunho por um arquivo
export=Export|Exportar
exportT=Download the draft|Baixar o rascunho
validate=Check|Verificar
validateT=Save and validate|Salvar e validar
save=Save|Salvar
saveT=Ctrl+S
publish=Publish|Publicar
publishT=Check, test, publish|Verificar, testar, publicar
zoomIn=Zoom in|Aproximar
zoomOut=Zoom out|Afastar
zoom100=100%
fit=Fit|Ajustar
fitT=Show all|Mostrar tudo
canvas=Flow canvas|Área do fluxo
panHint=Drag: pan · Shift+drag: select · Wheel: zoom|Arrastar: mover · Shift+arrastar: selecionar · Roda: zoom
empty=Drag a node here from the palette.|Arraste um nó da paleta.
nodes=Nodes|Nós
modules=Modules|Módulos
noModules=None.|Nenhum.
notLive=Not published|Não publicado
revision=Draft revision {0}|Revisão {0} do rascunho
readOnly=Read-only|Somente leitura
unsaved=Unsaved changes|Alterações não salvas
allSaved=All changes saved|Tudo salvo
cfChip=Not saved: conflict|Não salvo: conflito
saved=Draft saved.|Rascunho salvo.
savedBad=Saved, with {0:problem/problems}.|Salvo, com {0:problema/problemas}.
valid=No problems.|Nenhum problema.
published=Published as version {0}.|Publicado como versão {0}.
pubInvalid=Not published: {0:problem/problems}.|Não publicado: {0:problema/problemas}.
pubTests=Not published: {0:test fails/tests fail}.|Não publicado: {0:teste falha/testes falham}.
overwrote=Overwritten.|Sobrescrito.
reloaded=Loaded theirs; undo restores yours.|Carregado o deles; desfazer traz o seu.
copied=Copied {0:node/nodes}.|{0:nó copiado/nós copiados}.
pasted=Pasted {0:node/nodes}.|{0:nó colado/nós colados}.
restored=Unsaved changes restored.|Alterações não salvas restauradas.
newer=The draft changed since.|O rascunho mudou desde então.
discard=Discard|Descartar
nodeId=Node id|Id do nó
idLength=1–64 characters.|1–64 caracteres.
idTaken=“{0}” is taken.|“{0}” já existe.
configJson=Configuration (JSON)|Configuração (JSON)
noConfig=No settings.|Sem configuração.
links=Connections|Conexões
then=Then ({0})|Depois ({0})
noLink=— not connected —|— sem conexão —
output=Output: {0}.|Saída: {0}.
duplicate=Duplicate|Duplicar
delNodes=Delete {0:node/nodes}|Excluir {0:nó/nós}
delEdge=Delete connection|Excluir conexão
edge=Connection|Conexão
edgeText=From {0}, on “{1}”, to {2}.|De {0}, em “{1}”, para {2}.
multi={0:node/nodes} selected|{0:nó selecionado/nós selecionados}
settings=Flow settings|Configurações do fluxo
setHint=Select a node to edit it.|Selecione um nó para editá-lo.
keyList=Drag background or middle button: pan;Wheel, +, −: zoom;Shift+click: add to selection;Shift+drag: select area;Drag port to node: connect;Delete: remove;Ctrl+C/V/D: copy/paste/duplicate;Ctrl+Z/Shift+Z/S: undo/redo/save|Arrastar fundo ou botão do meio: mover;Roda, +, −: zoom;Shift+clique: somar à seleção;Shift+arrastar: selecionar área;Arrastar porta até nó: conectar;Delete: remover;Ctrl+C/V/D: copiar/colar/duplicar;Ctrl+Z/Shift+Z/S: desfazer/refazer/salvar
[bld.cf]
title=Draft conflict|Conflito no rascunho
msg=It was saved by someone else since you opened it.|Outra pessoa o salvou depois que você o abriu.
detail=Server: revision {0} ({1}).|Servidor: revisão {0} ({1}).
safe=Your changes are kept.|Suas alterações são mantidas.
cancel=Keep editing|Continuar editando
reload=Load theirs|Carregar o deles
overwrite=Overwrite with mine|Sobrescrever com o meu
[bld.imp]
title=Import a flow|Importar um fluxo
msg=Replace the canvas with {0:node/nodes}? You can undo.|Substituir o fluxo por {0:nó/nós}? Dá para desfazer.
done=Imported.|Importado.
failed=Not imported: {0}|Não importado: {0}
notJson=not JSON.|não é JSON.
notFlow=not a flow.|não é um fluxo.
[bld.tab]
inspector=Details|Detalhes
problems=Problems|Problemas
simulator=Simulator|Simulador
tests=Tests|Testes
versions=Versions|Versões
[bld.type]
start=Start|Início
send_message=Send message|Enviar mensagem
ask=Ask|Perguntar
condition=Condition|Condição
set_variable=Set variable|Definir variável
module=Module|Módulo
handoff=Hand over|Transferir
wait=Wait|Esperar
end=End|Fim
[bld.sum]
start=Conversation starts|A conversa começa
end=Flow ends|O fluxo termina
empty=Not configured yet|Ainda não configurado
module=Choose a module|Escolha um módulo
handoff=To an agent|Para um atendente
[bld.out]
next=next|próximo
true=true|verdadeiro
false=false|falso
success=success|sucesso
error=error|erro
[bld.field]
text=Message|Mensagem
question=Question|Pergunta
variable=Variable|Variável
validation=Answer type|Tipo de resposta
choices=Choices|Opções
retry_message=If invalid, say|Se inválida, dizer
operator=Operator|Operador
value=Value|Valor
module=Module|Módulo
with=Module settings|Configuração do módulo
save_as=Save result as|Salvar resultado como
timeout_ms=Timeout (ms)|Tempo limite (ms)
retry=Retry|Novas tentativas
attempts=Attempts|Tentativas
delay_ms=Delay (ms)|Intervalo (ms)
message=Message|Mensagem
assignee_id=Agent|Atendente
seconds=Seconds|Segundos
name=Name|Nome
trigger=Trigger|Gatilho
type=Starts|Começa
keywords=Keywords|Palavras-chave
pattern=Regular expression|Expressão regular
[bld.hint.send_message]
text=Variables: {{customer_name}}…|Variáveis: {{customer_name}}…
[bld.hint.ask]
choices=3: buttons; 10: a list.|3: botões; 10: uma lista.
[bld.hint.module]
timeout_ms=Default 10000.|Padrão 10000.
[bld.enum.validation]
text=Any text|Qualquer texto
number=Number|Número
email=Email|E-mail
choice=One of the choices|Uma das opções
[bld.enum.operator]
equals=equals|é igual a
not_equals=does not equal|é diferente de
contains=contains|contém
starts_with=starts with|começa com
matches_regex=matches regex|casa com regex
greater_than=is greater than|é maior que
less_than=is less than|é menor que
is_set=is set|está definida
is_empty=is empty|está vazia
[bld.enum.type]
default=By default|Por padrão
keywords=1st message has a keyword|1ª mensagem tem palavra-chave
regex=1st message matches|1ª mensagem casa com
[bld.f]
choose=— choose —|— escolha —
notSet=— not set —|— não definido —
anyAgent=Any agent|Qualquer atendente
notNumber=Enter a number.|Informe um número.
badJson=Invalid JSON.|JSON inválido.
range={0}–{1}
remove=Remove|Remover
add=+ Add|+ Adicionar
json=Text or JSON (42, true…)|Texto ou JSON (42, true…)
[bld.pr]
title=Problems ({0})|Problemas ({0})
flow=Flow|Fluxo
tests=Test cases|Casos de teste
gone=(node deleted)|(nó excluído)
stale=Outdated: check again.|Desatualizados: verifique de novo.
load=In the saved draft.|No rascunho salvo.
save=Found when saving.|Achados ao salvar.
validate=Found by the check.|Achados na verificação.
publish=Reported when publishing.|Informados ao publicar.
[bld.code]
missing_start=No start|Sem início
multiple_start=Several starts|Vários inícios
duplicate_node=Duplicate id|Id repetido
invalid_node_id=Bad id|Id inválido
unknown_node_type=Unknown type|Tipo desconhecido
dangling_edge=Broken connection|Conexão quebrada
duplicate_edge=Duplicate connection|Conexão repetida
unknown_outcome=Unknown outcome|Saída desconhecida
missing_outcome=Not connected|Sem conexão
unreachable_node=Unreachable|Inalcançável
undefined_variable=Undefined variable|Variável indefinida
invalid_config=Configuration|Configuração
unknown_module=Unknown module|Módulo desconhecido
invalid_module_config=Module settings|Configuração do módulo
invalid_trigger=Trigger|Gatilho
test_failed=Test failed|Teste falhou
[bld.sim]
hint=Chat as a customer; nothing is sent.|Converse como cliente; nada é enviado.
version=Version {0}|Versão {0}
restart=Restart|Recomeçar
ph=Type a customer message…|Mensagem do cliente…
send=Send|Enviar
empty=Say something.|Diga algo.
thinking=Answering…|Respondendo…
showNode=Show node|Mostrar nó
full=50 messages at most.|No máximo 50 mensagens.
notSaved=Save first.|Salve antes.
vars=Variables|Variáveis
toTest=Save as test|Salvar como teste
caseName=Simulation {0}|Simulação {0}
caseAdded=Test added.|Teste adicionado.
[bld.sim.st]
not_started=Not started|Não começou
awaiting_input=Waiting for the customer|Esperando o cliente
waiting=Waiting (timer)|Esperando (tempo)
handed_off=Handed over|Transferido
completed=Flow completed|Fluxo concluído
failed=Flow failed|O fluxo falhou
[bld.ts]
title=Test cases ({0})|Casos de teste ({0})
hint=Failing tests block publishing.|Testes com falha impedem publicar.
run=Run tests|Rodar testes
summary={0} of {1} passed|{0} de {1} passaram
stale=Edited since.|Editados desde então.
empty=No tests.|Sem testes.
add=+ Add test|+ Adicionar teste
newName=Test {0}|Teste {0}
describe=Description|Descrição
messages=Customer messages|Mensagens do cliente
replies=Replies contain|As respostas contêm
endsAt=Ends at node|Termina no nó
expect=Expected|Esperado
startVars=Starting variables|Variáveis iniciais
pass=Pass|Passou
fail=Fail|Falhou
path=Path: {0}|Caminho: {0}
[bld.v]
hint=Conversations keep their version.|Conversas mantêm sua versão.
none=Nothing published yet.|Nada publicado ainda.
live=Live|No ar
copyOf=Rollback to {0}|Volta à {0}
simulate=Simulate|Simular
load=Open in draft|Abrir no rascunho
loadTitle=Open version {0} in the draft?|Abrir a versão {0} no rascunho?
loadMsg=You can undo.|Dá para desfazer.
rollback=Roll back|Voltar para esta
rbTitle=Roll back to version {0}?|Voltar para a versão {0}?
rbMsg=It is published as version {1}.|Ela é publicada como versão {1}.
rolledBack=Version {0} is live.|A versão {0} está no ar.
`;

const en = {}, pt = {};
let group = "";
for (const line of S.split("\n")) {
	if (line[0] === "[") group = line.slice(1, -1);
	else if (line) {
		const i = line.indexOf("="), key = `${group}.${line.slice(0, i)}`;
		[en[key], pt[key] = en[key]] = line.slice(i + 1).split("|");
	}
}
addStrings({ en, "pt-BR": pt });

export const tr = (key, ...a) => t(key).replace(/\{(\d)(?::([^/}]*)\/([^}]*))?\}/g, (_, i, one, many) => (one ? `${a[i]} ${a[i] === 1 ? one : many}` : a[i]));
// tr() of a builder key ("bld." left out).
export const T = (k, ...a) => tr(`bld.${k}`, ...a);
