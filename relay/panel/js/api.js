// HTTP to the relay's management API with the session's token, and the toasts that report
// each outcome. Data leaves to /api/instance-management; replies come back as {ok, status, data}.
// A 401 on a call made with a token that used to work means the session is over: onExpired().

const BASE = "/api/instance-management";
const TOAST_MS = 6000;

export class Api {
  constructor() {
    this.token = "";
    this.onExpired = () => {};
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, data: { message: `Relay inacessível: ${err.message}` } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (_err) {
      data = { message: `Resposta inválida do relay (HTTP ${response.status})` };
    }
    if (response.status === 401) this.onExpired();
    return { ok: response.ok && data.success !== false, status: response.status, data };
  }

  list() {
    return this.call("GET", "/instances");
  }

  create(body) {
    return this.call("POST", "/instances", body);
  }

  // connect, restart, logout, delete; connect takes an optional {number} (a pairing code).
  act(action, name, body) {
    const path = `/${action}/${encodeURIComponent(name)}`;
    if (action === "delete") return this.call("DELETE", path);
    return this.call("POST", path, action === "connect" ? body || {} : undefined);
  }

  status(name) {
    return this.call("GET", `/status/${encodeURIComponent(name)}`);
  }

  audit(name, limit = 50) {
    const query = new URLSearchParams({ instanceName: name, limit: String(limit) });
    return this.call("GET", `/audit?${query}`);
  }

  websocket(name) {
    return this.call("GET", `/websocket/${encodeURIComponent(name)}`);
  }

  setWebsocket(name, body) {
    return this.call("POST", `/websocket/${encodeURIComponent(name)}`, body);
  }

  webhook(name) {
    return this.call("GET", `/webhook/${encodeURIComponent(name)}`);
  }

  setWebhook(name, body) {
    return this.call("POST", `/webhook/${encodeURIComponent(name)}`, body);
  }

  // The Evolution servers the relay follows (SUPERADMIN; a relay without the route says 404).
  servers() {
    return this.call("GET", "/servers");
  }
}

export function refused(result) {
  return result.status === 401 || result.status === 403;
}

export function errorText(data) {
  const message = data.message || "Erro desconhecido";
  return data.code ? `${message} (${data.code})` : message;
}

// kind: "success", "error" or "info".
export function toast(text, kind = "success") {
  const region = document.getElementById("toasts");
  const node = document.createElement("div");
  node.className = `toast ${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.dataset.kind = kind;
  node.textContent = text;
  node.addEventListener("click", () => node.remove());
  // A modal dialog sits in the top layer: toasts go inside it to stay visible.
  const host = document.querySelector("dialog[open]") || document.body;
  if (region.parentElement !== host) host.append(region);
  region.append(node);
  setTimeout(() => node.remove(), TOAST_MS);
}

export function toastResult(result, fallback) {
  if (result.ok) toast(result.data.message || fallback);
  else toast(errorText(result.data), "error");
  return result.ok;
}
