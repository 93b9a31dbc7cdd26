// Shared pieces of the inbox: strings, names, avatars, times, icons and keyed DOM reconciliation.
// Customer names, numbers and messages are attacker-controlled: they only ever become text nodes.

import { h, s, formatDateTime } from "../lib/dom.js";
import { addStrings, t, lang } from "../lib/i18n.js";

// Registered as "inbox.<key>". Rows: key|English|Brazilian Portuguese; {0} stands for the argument.
const STRINGS = `
title|Inbox|Caixa de entrada
live|Live|Ao vivo
liveError|Connection problem — retrying…|Sem conexão — tentando de novo…
convs|Conversations|Conversas
actions|Actions|Ações
filters|Filters|Filtros
status|Status|Situação
f.open|Open|Abertas
f.closed|Closed|Encerradas
f.all|All|Todas
open|Open|Aberta
closed|Closed|Encerrada
bot|Bot|Robô
botAny|Bot: any|Robô: qualquer
botPaused|Bot paused|Robô pausado
botActive|Bot active|Robô ativo
botHuman|Bot paused — a person answers|Robô pausado — uma pessoa responde
assignee|Assignee|Responsável
anyone|Assigned: anyone|Responsável: qualquer
toMe|Assigned to me|Atribuídas a mim
mine|Mine|Minha
assigned|Assigned|Atribuída
emptyOpen|No open conversations. New ones show up here live.|Nenhuma conversa aberta. As novas aparecem aqui ao vivo.
emptyFiltered|No conversations match these filters.|Nenhuma conversa corresponde a estes filtros.
unread|{0} unread messages|{0} mensagens não lidas
unread1|{0} unread message|{0} mensagem não lida
erasedName|Erased customer|Cliente apagado
noName|Unknown customer|Cliente desconhecido
today|Today|Hoje
yesterday|Yesterday|Ontem
pick|Select a conversation|Selecione uma conversa
pickHint|Pick one on the left to read, reply or take over from the bot.|Escolha uma à esquerda para ler, responder ou assumir no lugar do robô.
takeOver|Take over|Assumir
resume|Resume bot|Retomar robô
unassigned|Unassigned|Sem responsável
unassignedPaused|Unassigned (resume the bot first)|Sem responsável (retome o robô antes)
me|Me ({0})|Eu ({0})
unknownUser|Unknown user|Usuário desconhecido
assignedTo|Assigned to {0}|Atribuída a {0}
unassignedToast|Unassigned.|Responsável removido.
close|Close|Encerrar
closeTitle|Close this conversation?|Encerrar esta conversa?
closeMsg|If the customer writes again, a new conversation starts.|Se o cliente escrever de novo, uma nova conversa começa.
closeOk|Close conversation|Encerrar conversa
closedToast|Conversation closed.|Conversa encerrada.
pausedToast|Bot paused: you are in charge.|Robô pausado: você assumiu.
resumedToast|The bot answers again.|O robô voltou a responder.
erase|Erase customer|Apagar cliente
eraseTitle|Erase this customer's personal data?|Apagar os dados pessoais deste cliente?
eraseIntro|This removes the name and number of {0} and the text and media of all their messages.|Isto remove o nome e o número de {0} e o texto e as mídias de todas as suas mensagens.
eraseAfter|Their conversations close; counts stay for metrics and the audit log records it.|As conversas são encerradas; as contagens ficam para as métricas e a auditoria registra.
eraseWarn|This cannot be undone.|Não é possível desfazer.
eraseOk|Erase permanently|Apagar definitivamente
erasedToast|Personal data erased.|Dados pessoais apagados.
erasedNote|Personal data erased: messages are kept only as counts.|Dados pessoais apagados: as mensagens ficam só como contagens.
closedNote|This conversation is closed.|Esta conversa está encerrada.
readOnly|Read-only: your role cannot reply.|Somente leitura: seu perfil não pode responder.
reply|Reply|Resposta
replyHint|Reply — Enter sends, Shift+Enter adds a line|Resposta — Enter envia, Shift+Enter quebra a linha
send|Send|Enviar
tooLong|{0} characters over the 4096 limit|{0} caracteres acima do limite de 4096
earlier|Show earlier messages|Mostrar mensagens anteriores
start|Start of the conversation|Início da conversa
noMessages|No messages yet.|Ainda não há mensagens.
newMessages|New messages ↓|Novas mensagens ↓
you|You|Você
agent|Agent|Atendente
st.pending|Sending…|Enviando…
st.sent|Sent|Enviada
st.delivered|Delivered|Entregue
st.read|Read|Lida
st.failed|Failed|Falhou
failedWith|Not delivered: {0}|Não entregue: {0}
notSent|Not sent: {0}|Não enviada: {0}
discard|Discard|Descartar
type.image|Photo|Foto
type.video|Video|Vídeo
type.audio|Audio|Áudio
type.voice|Voice message|Mensagem de voz
type.document|Document|Documento
type.sticker|Sticker|Figurinha
type.location|Location|Localização
type.interactive|Choice|Escolha
type.button|Button|Botão
type.contacts|Contact card|Cartão de contato
type.reaction|Reacted {0}|Reagiu {0}
type.other|Unsupported message ({0})|Mensagem não suportada ({0})
msgErased|Message erased|Mensagem apagada
noText|(no text)|(sem texto)
notFound|No such conversation in this tenant.|Esta conversa não existe nesta organização.`;
const rows = STRINGS.trim().split("\n").map((row) => row.split("|"));
const table = (i) => Object.fromEntries(rows.map((r) => [`inbox.${r[0]}`, r[i]]));
addStrings({ en: table(1), "pt-BR": table(2) });

export const T = (key, arg) => t(`inbox.${key}`).replace("{0}", () => arg);
export const isAbort = (e) => e?.name === "AbortError";
export const str = (v) => (typeof v === "string" ? v : "");
export const phone = (waId) => (/^\d+$/.test(waId) ? `+${waId}` : String(waId || ""));
export const fullTime = (iso) => formatDateTime(iso, lang());
export const badge = (cls, ...content) => h("span", { class: `badge ${cls}` }, content);

export const customerName = (c) => (c?.erased ? T("erasedName") : str(c?.profile_name).trim() || (c?.wa_id ? phone(c.wa_id) : T("noName")));

/** A round avatar: the customer's initials (or a person icon), in a color derived from their id. */
export function avatar(c) {
  const ok = c && !c.erased;
  const words = str(ok && c.profile_name).match(/[\p{L}\p{N}]+/gu) || [];
  const el = h("span", { class: ["inbox-avatar", !ok && "inbox-avatar-erased"], "aria-hidden": "true" },
    words.length ? (words.length > 1 ? [words[0], words.at(-1)] : words).map((w) => [...w][0].toUpperCase()).join("") : icon("person"));
  let n = 0;
  for (const ch of String(ok && c.id || "")) n = (n * 31 + ch.charCodeAt(0)) % 360;
  if (ok) el.style.background = `hsl(${n} 45% 42%)`;
  return el;
}

/** As `kind`: "time"; "list" (a time today, "Yesterday", a weekday, a date); "day" ("Today", "Yesterday", a full date). */
export function when(iso, kind) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const midnight = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate());
  const ago = Math.round((midnight(new Date()) - midnight(d)) / 864e5);
  if (kind === "time" || (kind === "list" && !ago)) return d.toLocaleTimeString(lang(), { hour: "numeric", minute: "2-digit" });
  if (ago === 0 || ago === 1) return T(ago ? "yesterday" : "today");
  return d.toLocaleDateString(lang(), kind === "day" ? { dateStyle: "full" } : ago > 0 && ago < 6 ? { weekday: "short" } : { dateStyle: "short" });
}

const ICONS = {
  person: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8Zm0 2c-3.3 0-8 1.7-8 5v1h16v-1c0-3.3-4.7-5-8-5Z",
  clock: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18Zm0 2a7 7 0 1 1 0 14 7 7 0 0 1 0-14Zm-1 2v6l5 3 1-1.6-4-2.4V7h-2Z",
  check: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4Z",
  checks: "M18 7l-1.4-1.4-6.3 6.3 1.4 1.4L18 7Zm4.2-1.4L11.7 16.2 7.5 12l-1.4 1.4 5.6 5.6 12-12-1.4-1.4ZM.4 13.4 6 19l1.4-1.4L1.8 12 .4 13.4Z",
  alert: "M12 2 1 21h22L12 2Zm0 4.3L19.5 19h-15L12 6.3ZM11 10v5h2v-5h-2Zm0 6v2h2v-2h-2Z",
  send: "M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9Z",
  bot: "M11 2h2v3h5a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h5ZM8 10v3h3v-3Zm5 0v3h3v-3Z",
  pause: "M7 5h4v14H7V5Zm6 0h4v14h-4V5Z",
  play: "M8 5v14l11-7L8 5Z",
  lock: "M7 10V7a5 5 0 0 1 10 0v3h2v12H5V10Zm2 0h6V7a3 3 0 0 0-6 0Z",
  trash: "M9 3h6l1 2h4v2H4V5h4l1-2Zm-3 6h12l-1 12H7L6 9Z",
  back: "M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20v-2Z",
  chat: "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2Zm2 5v2h12V8H6Zm0 4v2h8v-2H6Z",
  media: "M4 4h16v16H4V4Zm2 2v9l3.5-4.5 2.5 3 3.5-4.5L18 14V6H6Z",
  pin: "M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7Zm0 9.5a2.5 2.5 0 1 1 0-5 2.5 2.5 0 0 1 0 5Z",
};

// Holes are drawn as inner subpaths (even-odd filling).
export const icon = (name) => s("svg", { class: "inbox-icon", viewBox: "0 0 24 24", width: 16, height: 16, "aria-hidden": "true" },
  s("path", { d: ICONS[name], fill: "currentColor", "fill-rule": "evenodd" }));

/** Makes `parent`'s children those of `wanted` ([{key, sig, build()}]), reusing each key's element in `cache`
 * unless its sig changed: untouched nodes keep scroll, focus and selection. */
export function reconcile(parent, wanted, cache) {
  const old = new Map(cache);
  cache.clear();
  wanted.forEach(({ key, sig, build }, i) => {
    let e = old.get(key);
    if (!e || e.sig !== sig) e = { el: build(), sig };
    cache.set(key, e);
    const at = parent.childNodes[i];
    if (at !== e.el) parent.insertBefore(e.el, at || null);
  });
  while (parent.childNodes.length > wanted.length) parent.lastChild.remove();
}
