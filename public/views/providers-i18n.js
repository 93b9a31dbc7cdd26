// Providers page strings, "key|English|Portuguese" → "providers.<key>", read with tp("key"). {0}, {1}
// are arguments; a [part] shows only when its arguments are given.

import { addStrings, t, has } from "../lib/i18n.js";

const TABLE = `
title|WhatsApp providers|Provedores de WhatsApp
subtitle|The WhatsApp connections of this tenant.|As conexões de WhatsApp desta organização.
add|Add provider|Adicionar provedor
connect|Connect with Meta|Conectar com a Meta
readOnly|Read only: tenant admins make changes.|Somente leitura: administradores fazem alterações.
instances|Provider instances|Instâncias de provedor
empty|No provider yet: connect a number with Meta or add one.|Nenhum provedor ainda: conecte um número com a Meta ou adicione um.
active|Active|Ativo
inactive|Inactive|Inativo
prio|Priority|Prioridade
f.display_phone_number|Display phone number|Número exibido
f.phone_number_id|Phone number ID|ID do número
f.waba_id|WABA ID|ID da WABA
f.business_id|Business ID|ID do negócio
f.instance|Instance|Instância
f.workspace_id|Workspace ID|ID do workspace
f.api_url|API URL|URL da API
f.token|Token|Token
f.app_secret|App secret|Segredo do app
f.updated|Updated|Atualizado
platformDefault|Platform default|Padrão da plataforma
notSet|Not set|Não definido
secretHidden|Hidden for your role|Oculto para o seu perfil
breaker.open|Circuit open[ · retry at {0}]|Circuito aberto[ · nova tentativa às {0}]
breaker.half_open|Circuit half-open · testing|Circuito semiaberto · testando
breaker.closed|Recent failures: {0}|Falhas recentes: {0}
test|Send test message|Enviar mensagem de teste
edit|Edit|Editar
remove|Remove|Remover
removeTitle|Remove this provider?|Remover este provedor?
removeMessage|“{0}” will stop sending and receiving. Stored conversations are kept.|“{0}” deixará de enviar e receber. As conversas armazenadas são mantidas.
removed|Removed “{0}”.|“{0}” removido.
saved|Saved “{0}”.|“{0}” salvo.
created|Added “{0}”.|“{0}” adicionado.
new|New|Novo

hint.meta|Hosted by Meta: the number ID and a system user token.|Hospedada pela Meta: ID do número e token de sistema.
hint.uazapi|A uazapiGO server: its URL and token.|Um servidor uazapiGO: URL e token.
hint.lancepilot|A LancePilot workspace: its ID and an API token.|Um workspace LancePilot: ID e token de API.
editTitle|Edit “{0}”|Editar “{0}”
type|Provider|Provedor
name|Name|Nome
nameHint|Shown to your team.|Visível para a sua equipe.
activeLabel|Active: use it for sends|Ativo: usar nos envios
prioHint|The active instance with the highest priority sends.|Envia a instância ativa de maior prioridade.
urlDefault|Leave empty to use the platform's {0} API.|Deixe vazio para usar a API {0} da plataforma.
urlUazapi|e.g. https://acme.uazapi.com|por exemplo https://acme.uazapi.com
tokenHint|Stored encrypted, never shown again.|Guardado criptografado, nunca mais exibido.
keep|Leave empty to keep the current value[ ({0})].|Deixe vazio para manter o valor atual[ ({0})].
phoneIdHint|Digits, from Meta's WhatsApp Manager.|Dígitos, do Gerenciador do WhatsApp da Meta.
appSecretHint|Optional: verifies this number's webhooks.|Opcional: valida os webhooks deste número.
appSecretClear|Remove this app secret|Remover este segredo do app
instanceHint|Optional instance name.|Nome da instância (opcional).
save|Save changes|Salvar alterações
required|Required.|Obrigatório.
integer|Enter a whole number.|Informe um número inteiro.
secretsNote|Secrets are stored encrypted and shown masked.|Segredos ficam criptografados e aparecem mascarados.

testTitle|Send a test message through “{0}”|Enviar mensagem de teste por “{0}”
to|To|Para
toHint|E.g. 5511912345678.|Por exemplo 5511912345678.
text|Message|Mensagem
defaultText|Hello from PyTake! This is a test message.|Olá do PyTake! Esta é uma mensagem de teste.
send|Send|Enviar
sending|Sending…|Enviando…
sentOk|Accepted by {0}.|Aceita por {0}.
messageId|Message id:|ID da mensagem:
noId|No message id.|Sem ID de mensagem.
windowNote|Meta only delivers free text to people who wrote in the last 24 hours.|A Meta só entrega texto livre a quem escreveu nas últimas 24 horas.

credsTitle|Credential resolution|Resolução de credenciais
credsIntro|What sends use now: the active instance with the highest priority, else legacy tenant columns.|O que os envios usam agora: a instância ativa de maior prioridade, senão colunas antigas da organização.
legacyRecord|Legacy tenant record|Cadastro antigo da organização
noCreds|No credentials: sends fail.|Sem credenciais: os envios falham.
addType|Add a {0} instance|Adicionar instância {0}
legacyTitle|Still on legacy credentials|Ainda usa credenciais antigas
legacyText|Sends use legacy tenant columns. An instance takes precedence, keeps its token encrypted and can be tested and switched off.|Os envios usam colunas antigas da organização. Uma instância tem precedência, guarda o token criptografado e pode ser testada e desligada.
migrate|Move to a provider instance|Mover para uma instância
mixed|URL and token come from different places.|URL e token vêm de lugares diferentes.
noUrl|No API URL: sends would fail.|Sem URL de API: os envios falhariam.
srcInstance|Provider instance|Instância de provedor
srcLegacy|Legacy column|Coluna antiga
refresh|Refresh|Atualizar

intro|Choose the business account and number in Meta's window; PyTake does the rest.|Escolha a conta comercial e o número na janela da Meta; o PyTake faz o resto.
running|Connecting…|Conectando…
done|WhatsApp number connected|Número de WhatsApp conectado
failed|The connection did not finish|A conexão não foi concluída
cancelled|Signup cancelled|Cadastro cancelado
retry|Try again|Tentar de novo
dismiss|Dismiss|Dispensar
step.session|Session created|Sessão criada
step.sdk|Meta SDK loaded|SDK da Meta carregado
step.login|Logged in with Meta|Login com a Meta feito
step.waba|Business account chosen|Conta comercial escolhida
step.exchange_code|Code exchanged for a token|Código trocado por um token
step.debug_token|Access verified|Acesso verificado
step.phone_numbers|Number found|Número encontrado
step.register|Number registered|Número registrado
step.subscribe|App subscribed to the account's webhooks|App inscrito nos webhooks da conta
step.store|Provider saved|Provedor salvo
step.state|Signup session checked|Sessão de cadastro verificada
step.authorize|Authorized in Meta's window|Autorizado na janela da Meta
state.pending|Waiting|Aguardando
state.running|In progress|Em andamento
state.ok|Done|Concluído
state.failed|Failed|Falhou
state.skipped|Not reached|Não alcançado
state.cancelled|Cancelled|Cancelado
expires|Valid until {0}|Válida até {0}
wabaDetail|Account {0}[ · number {1}]|Conta {0}[ · número {1}]
cancelText|Meta's window was closed. Nothing was connected.|A janela da Meta foi fechada. Nada foi conectado.
sdkFailed|Meta's SDK did not load: is connect.facebook.net blocked?|O SDK da Meta não carregou: connect.facebook.net está bloqueado?
sdkTimeout|Meta's SDK did not start.|O SDK da Meta não iniciou.
noWaba|Meta did not say which account was chosen.|A Meta não informou a conta escolhida.
metaError|Meta reported an error: {0}|A Meta informou um erro: {0}
failedAt|Failed at: {0}|Falhou em: {0}
redirectOk|Connected through Meta[: “{0}”].|Conectado pela Meta[: “{0}”].
code.access_denied|You cancelled in Meta's window.|Você cancelou na janela da Meta.
code.signup_state_invalid|The signup session expired, was used, or began in another browser.|A sessão de cadastro expirou, já foi usada ou começou em outro navegador.
code.signup_step_failed|Meta refused a step. Try again, or check the account in WhatsApp Manager.|A Meta recusou uma etapa. Tente de novo ou confira a conta no Gerenciador do WhatsApp.
code.phone_number_taken|This number belongs to another tenant.|Este número pertence a outra organização.
code.meta_not_configured|Meta signup is not configured (META_APP_ID, META_APP_SECRET, META_CONFIG_ID).|O cadastro pela Meta não está configurado (META_APP_ID, META_APP_SECRET, META_CONFIG_ID).
codeLabel|Code: {0}|Código: {0}
`;

const fill = (text, args) => text
  .replace(/\[(.*?)\]/g, (_, part) => [...part.matchAll(/\{(\d)\}/g)].every(([, i]) => args[i]) ? part : "")
  .replace(/\{(\d)\}/g, (_, i) => args[i]);
const en = {}, pt = {};
for (const line of TABLE.split("\n")) {
  const [key, ...texts] = line.split("|");
  if (!key) continue;
  [en, pt].forEach((strings, i) => {
    const text = texts[i];
    strings[`providers.${key}`] = text.includes("{") ? (...args) => fill(text, args) : text;
  });
}
addStrings({ en, "pt-BR": pt });

export const tp = (key, ...args) => t(`providers.${key}`, ...args);
// null for server codes and steps without a text.
export const tpMaybe = (key, ...args) => has(`providers.${key}`) ? tp(key, ...args) : null;
