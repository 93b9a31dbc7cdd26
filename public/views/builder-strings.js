// Strings of the flows list ("flows.*") and the builder ("bld.*"): "key=English|Português" lines
// under [group] headings (one text serves both languages when there is no "|"). "{0}" is an
// argument; "{0:node/nodes}" is it with a singular or plural noun.

import { addStrings, t } from "../lib/i18n.js";

const S = `
[flows]
title=Flows|Fluxos
sub=Automated WhatsApp conversations: draft, test, publish.|Conversas automáticas no WhatsApp: rascunho, teste, publicação.
new=New flow|Novo fluxo
import=Import JSON|Importar JSON
create=Create and open|Criar e abrir
col=Name,Trigger,Status,Updated,Actions|Nome,Gatilho,Situação,Atualizado,Ações
tDefault=Default flow|Fluxo padrão
tKeywords=Keywords: {0}|Palavras-chave: {0}
tRegex=Matches /{0}/|Corresponde a /{0}/
live=Live · v{0}|No ar · v{0}
never=Never published|Nunca publicado
problems={0:problem/problems}|{0:problema/problemas}
ready=Draft ready|Rascunho pronto
nodes={0:node/nodes}|{0:nó/nós}
delete=Delete|Excluir
delTitle=Delete “{0}”?|Excluir “{0}”?
delMsg=Running conversations finish their version.|As conversas em andamento terminam na sua versão.
deleted=“{0}” was deleted.|“{0}” foi excluído.
empty=No flows yet.|Ainda não há fluxos.
imported=Imported “{0}”.|“{0}” foi importado.
[bld]
back=← Flows|← Fluxos
saveState=Save state|Salvamento
panels=Panels|Painéis
undo=Undo (Ctrl+Z)|Desfazer (Ctrl+Z)
redo=Redo (Ctrl+Shift+Z)|Refazer (Ctrl+Shift+Z)
delete=Delete (Del)|Excluir (Del)
tidy=Arrange|Organizar
import=Import|Importar
importT=Replace the draft with a file|Substituir o rascunho por um arquivo
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
panHintRo=Drag: pan · Wheel: zoom|Arrastar: mover · Roda: zoom
empty=Drag a node here from the palette.|Arraste um nó da paleta para cá.
nodes=Nodes|Nós
modules=Modules|Módulos
noModules=None.|Nenhum.
live=Live: version {0}|No ar: versão {0}
notLive=Not published|Não publicado
revision=Draft revision {0}|Revisão {0} do rascunho
readOnly=Read-only|Somente leitura
unsaved=Unsaved changes|Alterações não salvas
allSaved=All changes saved|Tudo salvo
conflictChip=Not saved: conflict|Não salvo: conflito
saved=Draft saved.|Rascunho salvo.
savedBad=Saved, with {0:problem/problems}.|Salvo, com {0:problema/problemas}.
valid=No problems.|Nenhum problema.
invalid={0:problem/problems}.|{0:problema/problemas}.
published=Published as version {0}.|Publicado como versão {0}.
pubInvalid=Not published: {0:problem/problems}.|Não publicado: {0:problema/problemas}.
pubTests=Not published: {0:test case fails/test cases fail}.|Não publicado: {0:caso de teste falha/casos de teste falham}.
overwritten=Overwritten.|Sobrescrito.
reloaded=Loaded theirs; undo brings yours back.|O deles foi carregado; desfazer traz o seu.
copied=Copied {0:node/nodes}.|{0:nó copiado/nós copiados}.
pasted=Pasted {0:node/nodes}.|{0:nó colado/nós colados}.
restored=Unsaved changes restored.|Alterações não salvas restauradas.
restoredNewer=The draft changed since.|O rascunho mudou desde então.
discard=Discard|Descartar
nodeId=Node id|Id do nó
idLength=1 to 64 characters.|De 1 a 64 caracteres.
idTaken=“{0}” is taken.|“{0}” já existe.
configJson=Configuration (JSON)|Configuração (JSON)
noConfig=No settings.|Sem configuração.
connections=Connections|Conexões
then=Then ({0})|Depois ({0})
notConnected=— not connected —|— sem conexão —
output=Output: {0}.|Saída: {0}.
duplicate=Duplicate|Duplicar
delNode=Delete node|Excluir nó
delNodes=Delete {0:node/nodes}|Excluir {0:nó/nós}
delEdge=Delete connection|Excluir conexão
edge=Connection|Conexão
edgeText=From {0}, on “{1}”, to {2}.|De {0}, em “{1}”, para {2}.
multi={0:node/nodes} selected|{0:nó selecionado/nós selecionados}
settings=Flow settings|Configurações do fluxo
settingsHint=Select a node to edit it.|Selecione um nó para editá-lo.
trigger=Trigger|Gatilho
keyList=Drag the background or with the middle button: pan;Wheel, + and −: zoom;Shift+click: add to the selection;Shift+drag: select an area;Drag a port onto a node: connect;Delete: remove;Ctrl+C, V, D: copy, paste, duplicate;Ctrl+Z, Shift+Z, S: undo, redo, save|Arrastar o fundo ou com o botão do meio: mover;Roda, + e −: zoom;Shift+clique: somar à seleção;Shift+arrastar: selecionar uma área;Arrastar uma porta até um nó: conectar;Delete: remover;Ctrl+C, V, D: copiar, colar, duplicar;Ctrl+Z, Shift+Z, S: desfazer, refazer, salvar
[bld.cf]
title=Someone else saved this draft|Outra pessoa salvou este rascunho
msg=It was saved by someone else since you opened it.|Ele foi salvo por outra pessoa depois que você o abriu.
detail=The server has revision {0} ({1}).|O servidor tem a revisão {0} ({1}).
safe=Your changes are kept until you choose.|Suas alterações ficam até você escolher.
keep=Keep editing|Continuar editando
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
unknown=Unknown node type|Tipo de nó desconhecido
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
keywords=First message has a keyword|A 1ª mensagem tem uma palavra-chave
regex=First message matches|A 1ª mensagem corresponde
[bld.f]
choose=— choose —|— escolha —
notSet=— not set —|— não definido —
anyAgent=Any agent|Qualquer atendente
notNumber=Enter a number.|Informe um número.
badJson=Invalid JSON.|JSON inválido.
range={0}–{1}
key=Name|Nome
value=Value|Valor
remove=Remove|Remover
add=+ Add|+ Adicionar
json=Text, or JSON such as 42 or true|Texto, ou JSON como 42 ou true
[bld.pr]
title=Problems ({0})|Problemas ({0})
none=No problems found.|Nenhum problema encontrado.
flow=Flow|Fluxo
tests=Test cases|Casos de teste
gone=(node deleted)|(nó excluído)
stale=Outdated: check again.|Desatualizados: verifique de novo.
load=In the saved draft.|No rascunho salvo.
save=Found when saving.|Encontrados ao salvar.
validate=Found by the check.|Encontrados na verificação.
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
title=Simulator|Simulador
hint=Chat as a customer; nothing is sent.|Converse como cliente; nada é enviado.
version=Version {0}|Versão {0}
restart=Restart|Recomeçar
ph=Type a customer message…|Digite uma mensagem do cliente…
send=Send|Enviar
empty=Say something.|Diga algo.
thinking=Answering…|Respondendo…
showNode=Show node|Mostrar nó
full=50 messages at most.|No máximo 50 mensagens.
notSaved=Save first.|Salve antes.
path={0:node/nodes} run|{0:nó/nós}
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
hint=Failing tests block publishing.|Testes falhando impedem a publicação.
run=Run tests|Rodar testes
summary={0} of {1} passed|{0} de {1} passaram
stale=Edited since.|Editados desde então.
empty=No tests.|Sem testes.
add=+ Add test|+ Adicionar teste
newName=Test {0}|Teste {0}
remove=Remove|Remover
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
title=Versions|Versões
hint=Conversations keep their version.|As conversas mantêm a sua versão.
none=Nothing published yet.|Nada publicado ainda.
live=Live|No ar
copyOf=Rollback to {0}|Volta à {0}
meta={0} · {1:node/nodes}|{0} · {1:nó/nós}
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
	else if (line && line[0] !== "#") {
		const i = line.indexOf("="), key = `${group}.${line.slice(0, i)}`;
		[en[key], pt[key] = en[key]] = line.slice(i + 1).split("|");
	}
}
addStrings({ en, "pt-BR": pt });

/** A translation with its arguments filled in. */
export const tr = (key, ...a) => t(key).replace(/\{(\d)(?::([^/}]*)\/([^}]*))?\}/g, (_, i, one, many) => (one ? `${a[i]} ${a[i] === 1 ? one : many}` : a[i]));
/** tr() of a builder key ("bld." left out). */
export const T = (k, ...a) => tr(`bld.${k}`, ...a);
