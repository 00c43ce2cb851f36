// Everything the panel says in Portuguese: statuses, reasons, audit actions, dates and
// relative times. The raw codes (WORKING, "api:logout", ...) stay available for tooltips, so
// support can read them. Reasons are those of docs/live-events.md ("Instance statuses").

export const STATUS_LABELS = {
  WORKING: "Conectado",
  SCAN_QR_CODE: "Aguardando leitura do QR",
  STARTING: "Iniciando",
  STOPPED: "Desconectado",
  FAILED: "Falha",
};

export function statusLabel(status) {
  return STATUS_LABELS[status] || status || "—";
}

const REASONS = {
  connecting: "Conectando ao WhatsApp",
  qrcode: "QR code gerado",
  open: "Conectado ao WhatsApp",
  logout: "Sessão encerrada (logout)",
  "logged out (401)": "Sessão encerrada no celular",
  "api:create": "Criada pelo painel",
  "api:adopt": "Adotada do Evolution pelo painel",
  "api:connect": "Conexão iniciada pelo painel",
  "api:restart": "Reiniciada pelo painel",
  "api:logout": "Desconectado pelo painel",
  "reconciled: open": "Conectado (conferido no Evolution)",
  "reconciled: connecting": "Conectando (conferido no Evolution)",
  "reconciled: close": "Desconectado (conferido no Evolution)",
  "missing upstream": "Não existe mais no Evolution",
  "removed upstream": "Removida no Evolution",
  test: "Teste",
  "demo seed": "Instância de demonstração",
  "bench setup": "Criada pelo benchmark",
};

// Baileys' disconnect codes, as Evolution passes them on in connection.update's statusReason.
const CLOSE_CODES = {
  403: "acesso negado pelo WhatsApp (número banido ou bloqueado)",
  408: "a conexão expirou",
  411: "versão do WhatsApp incompatível",
  428: "a conexão foi fechada",
  440: "a sessão foi aberta em outro lugar",
  500: "sessão inválida",
  503: "WhatsApp indisponível",
  515: "reinício necessário",
};

// The reason in plain words; an unknown one is returned as it is.
export function reasonText(reason) {
  if (!reason) return "";
  if (REASONS[reason]) return REASONS[reason];
  const closed = /^closed \(([^)]*)\)$/.exec(reason);
  if (closed) {
    const why = CLOSE_CODES[closed[1]];
    if (why) return `Conexão encerrada: ${why}`;
    return `Conexão encerrada pelo WhatsApp${/^\d+$/.test(closed[1]) ? ` (código ${closed[1]})` : ""}`;
  }
  if (/^refused \(/.test(reason)) {
    return /QR limit/i.test(reason) ? "Limite de QR atingido" : "Conexão recusada pelo WhatsApp";
  }
  return reason;
}

export const CONNECTION_STATES = { open: "aberta", connecting: "conectando", close: "fechada" };

const ACTIONS = {
  create: "Criação",
  connect: "Conexão",
  restart: "Reinício",
  logout: "Desconexão",
  delete: "Exclusão",
  "websocket.set": "WebSocket configurado",
  "webhook.set": "Webhook configurado",
};

export function actionLabel(action) {
  return ACTIONS[action] || action;
}

// An audit row's detail in a few words: its facts, or its error code.
export function auditDetail(detail) {
  if (!detail || typeof detail !== "object") return "";
  const parts = [];
  if (detail.code) parts.push(`erro ${detail.code}${detail.status ? ` (HTTP ${detail.status})` : ""}`);
  if (detail.adopted) parts.push("adotada");
  if (detail.alreadyLoggedOut) parts.push("já estava desconectada");
  if (detail.alreadyGone) parts.push("já não existia no Evolution");
  if (detail.alreadyOpen) parts.push("já estava conectada");
  if (detail.pairingCode) parts.push("com código de pareamento");
  if (typeof detail.enabled === "boolean") parts.push(detail.enabled ? "ativado" : "desativado");
  if (typeof detail.events === "number") parts.push(`${detail.events} eventos`);
  return parts.join(" · ");
}

// Made on first use (or by warmUp, when the page is idle): building a locale's formatter costs
// tens of milliseconds, which would otherwise lengthen the page's first task.
let DATE_TIME = null;
let TIME = null;

export function warmUp() {
  DATE_TIME ??= new Intl.DateTimeFormat("pt-BR", { dateStyle: "short", timeStyle: "medium" });
  TIME ??= new Intl.DateTimeFormat("pt-BR", { timeStyle: "short" });
}

function asDate(value) {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

// "29/11/2026, 17:03:12"
export function formatDate(value) {
  const date = asDate(value);
  if (!date) return "—";
  warmUp();
  return DATE_TIME.format(date);
}

// "17:03"
export function formatTime(value) {
  const date = asDate(value);
  if (!date) return "—";
  warmUp();
  return TIME.format(date);
}

// "agora", "há 12 s", "há 2 min", "há 3 h", "há 2 dias"
export function relativeTime(value, now = Date.now()) {
  const date = asDate(value);
  if (!date) return "—";
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 5) return "agora";
  if (seconds < 60) return `há ${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `há ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `há ${hours} h`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "há 1 dia" : `há ${days} dias`;
}

// 1234 -> "1.234", as pt-BR writes it (without building a locale's number formatter).
export function number(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
}

// "0:42"
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

// "ABCD-1234", as WhatsApp shows a pairing code.
export function pairingText(code) {
  const clean = String(code || "").replace(/[^A-Za-z0-9]/g, "");
  return clean.length === 8 ? `${clean.slice(0, 4)}-${clean.slice(4)}` : clean;
}

export function phoneNumber(wuid) {
  if (!wuid) return "—";
  const digits = String(wuid).split("@")[0].split(":")[0];
  return /^\d+$/.test(digits) ? `+${digits}` : digits;
}
