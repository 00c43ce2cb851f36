// evo-relay panel: live QR and status per instance, over the relay's own API.
// Plain JavaScript, no library: fetch for /api/instance-management, EventSource for
// /api/events. It renders only what the API and the stream give this token.
"use strict";

(() => {
  const API = "/api/instance-management";
  const TOKEN_KEY = "evo-relay.token";
  const STATUSES = ["STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED", "FAILED"];
  const QR_STATUSES = new Set(["STARTING", "SCAN_QR_CODE"]);
  const TOAST_MS = 6000;
  const MAX_BACKOFF_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: "",
    instances: new Map(), // name -> {instanceName, tenantId, status, reason, qrcode, profileName, wuid, live}
    stream: null,
    lastSeq: null,
    backoff: 500,
    retryTimer: null,
    events: [],
    statusLog: [], // every instance.status applied: {instanceName, status, seq}
  };

  // ---- API ------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(API + path, {
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
    return { ok: response.ok && data.success !== false, status: response.status, data };
  }

  function errorText(data) {
    const message = data.message || "Erro desconhecido";
    return data.code ? `${message} (${data.code})` : message;
  }

  // ---- toasts ---------------------------------------------------------------------------

  function toast(text, kind = "success") {
    const node = document.createElement("div");
    node.className = `toast ${kind}`;
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    node.dataset.kind = kind;
    node.textContent = text;
    node.addEventListener("click", () => node.remove());
    // A modal dialog sits in the top layer: toasts go inside it to stay visible.
    const host = document.querySelector("dialog[open]") || document.body;
    if ($("toasts").parentElement !== host) host.append($("toasts"));
    $("toasts").append(node);
    setTimeout(() => node.remove(), TOAST_MS);
  }

  // ---- instance state -------------------------------------------------------------------

  function itemName(item) {
    return item.instanceName || item.name;
  }

  function upsert(name, fields, fromStream) {
    const known = state.instances.get(name);
    const current = known || { instanceName: name, status: "STARTING", qrcode: null };
    if (known && known.live && !fromStream) {
      // A list fetched while the stream runs may be older than what the stream said:
      // take its details, keep the live status and QR.
      delete fields.status;
      delete fields.qrcode;
      delete fields.reason;
    }
    Object.assign(current, fields);
    if (fromStream) current.live = true;
    if (!QR_STATUSES.has(current.status)) current.qrcode = null;
    state.instances.set(name, current);
    render(current);
    return !known;
  }

  function remove(name) {
    state.instances.delete(name);
    const card = cardFor(name);
    if (card) card.remove();
    updateCount();
  }

  function detailsOf(item) {
    const fields = {};
    for (const key of ["status", "tenantId", "profileName", "wuid", "number", "ownerJid"]) {
      if (item[key] !== undefined && item[key] !== null) fields[key] = item[key];
    }
    const reason = item.reason ?? item.statusReason;
    if (reason !== undefined) fields.reason = reason;
    if (item.qrcode !== undefined) fields.qrcode = item.qrcode;
    return fields;
  }

  async function loadInstances() {
    const result = await api("GET", "/instances");
    if (!result.ok) {
      toast(errorText(result.data), "error");
      return result;
    }
    const list = result.data.instances || result.data.data || [];
    const seen = new Set();
    for (const item of list) {
      const name = itemName(item);
      seen.add(name);
      upsert(name, detailsOf(item), false);
    }
    for (const [name, instance] of state.instances) {
      if (!seen.has(name) && !instance.live) remove(name);
    }
    updateCount();
    return result;
  }

  // ---- rendering ------------------------------------------------------------------------

  function cardFor(name) {
    return $("instances").querySelector(`li[data-instance="${CSS.escape(name)}"]`);
  }

  function newCard(name) {
    const card = $("card-template").content.firstElementChild.cloneNode(true);
    card.dataset.instance = name;
    card.querySelector(".name").textContent = name;
    card.querySelector(".qr-img").alt = `QR code para parear ${name}`;
    for (const button of card.querySelectorAll("button[data-action]")) {
      button.setAttribute("aria-label", `${button.textContent} ${name}`);
      button.addEventListener("click", () => onAction(name, button.dataset.action, button));
    }
    const cards = [...$("instances").children];
    const next = cards.find((other) => other.dataset.instance.localeCompare(name) > 0);
    $("instances").insertBefore(card, next || null);
    return card;
  }

  function phoneNumber(instance) {
    const jid = instance.wuid || instance.ownerJid || instance.number;
    if (!jid) return "—";
    const digits = String(jid).split("@")[0].split(":")[0];
    return /^\d+$/.test(digits) ? `+${digits}` : digits;
  }

  function render(instance) {
    const card = cardFor(instance.instanceName) || newCard(instance.instanceName);
    const status = STATUSES.includes(instance.status) ? instance.status : "STOPPED";
    card.dataset.status = instance.status;
    const badge = card.querySelector(".badge");
    badge.dataset.status = status;
    badge.textContent = instance.status;
    badge.setAttribute("aria-label", `Status: ${instance.status}`);
    card.querySelector(".tenant").textContent = instance.tenantId ? `tenant ${instance.tenantId}` : "";
    card.querySelector(".reason").textContent = instance.reason ? `motivo: ${instance.reason}` : "";

    const qr = instance.qrcode || {};
    const showQr = QR_STATUSES.has(instance.status) && Boolean(qr.base64 || qr.pairingCode);
    card.querySelector(".qr").hidden = !showQr;
    const img = card.querySelector(".qr-img");
    img.hidden = !qr.base64;
    if (qr.base64 && img.getAttribute("src") !== qr.base64) img.src = qr.base64;
    if (!showQr) img.removeAttribute("src");
    card.querySelector(".pairing").hidden = !qr.pairingCode;
    card.querySelector(".pairing-code").textContent = qr.pairingCode || "";

    const working = instance.status === "WORKING";
    card.querySelector(".profile").hidden = !working;
    card.querySelector(".profile-name").textContent = instance.profileName || "—";
    card.querySelector(".profile-number").textContent = phoneNumber(instance);
    updateCount();
  }

  function updateCount() {
    const count = state.instances.size;
    $("instance-count").textContent = state.token ? `(${count})` : "";
    $("empty").hidden = count > 0;
    $("empty").textContent = state.token
      ? "Nenhuma instância neste tenant."
      : "Entre com um token para ver as instâncias do seu tenant.";
  }

  // ---- live stream ----------------------------------------------------------------------

  function setStreamState(value, text) {
    const node = $("stream-state");
    node.dataset.state = value;
    node.textContent = text;
  }

  function parsed(event) {
    const seq = Number.parseInt(event.lastEventId, 10);
    if (Number.isFinite(seq)) state.lastSeq = Math.max(state.lastSeq ?? seq, seq);
    try {
      return JSON.parse(event.data);
    } catch (_err) {
      console.warn("evo-relay: unreadable event", event.type);
      return null;
    }
  }

  const handlers = {
    "instances.snapshot"(data) {
      const seen = new Set();
      for (const item of data.instances || []) {
        seen.add(item.instanceName);
        upsert(item.instanceName, detailsOf(item), true);
      }
      for (const name of [...state.instances.keys()]) if (!seen.has(name)) remove(name);
      if (data.seq !== undefined && data.seq !== null) state.lastSeq = data.seq;
      loadDetails();
    },
    "instance.status"(data) {
      state.statusLog.push({ instanceName: data.instanceName, status: data.status, seq: data.seq });
      const fields = { status: data.status, reason: data.reason };
      if (data.tenantId) fields.tenantId = data.tenantId;
      if (upsert(data.instanceName, fields, true)) loadDetails();
    },
    "qrcode.updated"(envelope) {
      const qr = envelope.data && envelope.data.qrcode;
      const instance = state.instances.get(envelope.instance);
      if (!qr || !instance) return;
      upsert(envelope.instance, { qrcode: qr }, true);
    },
    "connection.update"(envelope) {
      const data = envelope.data || {};
      if (data.state === "open" && state.instances.has(envelope.instance)) {
        upsert(envelope.instance, { wuid: data.wuid, profileName: data.profileName }, true);
      }
    },
    // Evolution's own lifecycle events: the instance is gone upstream (another tab or tool).
    "remove.instance"(envelope) {
      remove(envelope.instance);
    },
    "instance.delete"(envelope) {
      remove(envelope.instance);
    },
    // The token expired: the relay ends the stream; ask for a new token instead of retrying.
    "session.expired"() {
      closeStream();
      setStreamState("idle", "sessão expirada");
      toast("Sua sessão expirou: cole um novo token para continuar.", "error");
    },
  };

  let detailsPending = null;
  function loadDetails() {
    // Tenant, profile and number come from the list; coalesce bursts into one request.
    if (!detailsPending) {
      detailsPending = loadInstances().finally(() => {
        detailsPending = null;
      });
    }
  }

  function openStream() {
    closeStream();
    const params = new URLSearchParams({ token: state.token });
    if (state.lastSeq !== null) params.set("lastEventId", String(state.lastSeq));
    const source = new EventSource(`/api/events?${params}`);
    state.stream = source;
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        const data = parsed(event);
        if (data && state.stream === source) handle(data);
      });
    }
    source.onopen = () => {
      state.backoff = 500;
      setStreamState("live", "ao vivo");
    };
    source.onerror = () => {
      if (state.stream !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): retry ourselves with the last id.
        scheduleReconnect();
      } else {
        // The browser reconnects by itself and sends Last-Event-ID.
        setStreamState("reconnecting", "reconectando…");
      }
    };
  }

  function closeStream() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (state.stream) state.stream.close();
    state.stream = null;
  }

  function scheduleReconnect() {
    closeStream();
    setStreamState("reconnecting", "reconectando…");
    const delay = state.backoff;
    state.backoff = Math.min(state.backoff * 2, MAX_BACKOFF_MS);
    state.retryTimer = setTimeout(async () => {
      const check = await loadInstances();
      if (check.status === 401 || check.status === 403) {
        setStreamState("idle", "token recusado");
        return;
      }
      openStream();
    }, delay);
  }

  // ---- actions --------------------------------------------------------------------------

  const ACTIONS = {
    connect: (name) => api("POST", `/connect/${encodeURIComponent(name)}`, {}),
    restart: (name) => api("POST", `/restart/${encodeURIComponent(name)}`),
    logout: (name) => api("POST", `/logout/${encodeURIComponent(name)}`),
    delete: (name) => api("DELETE", `/delete/${encodeURIComponent(name)}`),
  };
  function afterAction(action, name, data) {
    if (action === "delete") return remove(name);
    // The status itself comes from the stream (instance.status), in order; the reply may be
    // older than an event already shown. From the reply: profile details and a fresh QR.
    if (!data.instance || !state.instances.has(name)) return;
    const fields = detailsOf(data.instance);
    delete fields.status;
    delete fields.reason;
    if (!(fields.qrcode && (fields.qrcode.base64 || fields.qrcode.pairingCode))) {
      delete fields.qrcode;
    }
    upsert(name, fields, true);
  }

  async function onAction(name, action, button) {
    if (action === "websocket") return openWebsocketDialog(name);
    if (action === "delete" && !(await confirmDelete(name))) return;
    const buttons = button.closest(".actions").querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const result = await ACTIONS[action](name);
      if (result.ok) {
        toast(result.data.message || "Feito");
        afterAction(action, name, result.data);
      } else {
        toast(errorText(result.data), "error");
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function confirmDelete(name) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = `A instância ${name} será removida do Evolution e do relay.`;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
        once: true,
      });
    });
  }

  // ---- websocket dialog -----------------------------------------------------------------

  async function eventNames() {
    if (!state.events.length) {
      const response = await fetch("/panel/events.json");
      state.events = (await response.json()).events;
    }
    return state.events;
  }

  function checkEvents(events) {
    const chosen = new Set(events);
    for (const box of $("ws-list").querySelectorAll("input")) box.checked = chosen.has(box.value);
  }

  function showEffective(websocket) {
    const events = (websocket && websocket.events) || [];
    $("ws-effective").textContent = events.length ? events.join(", ") : "—";
    $("ws-effective-count").textContent = websocket ? `(${events.length})` : "";
  }

  async function openWebsocketDialog(name) {
    const dialog = $("ws-dialog");
    dialog.dataset.instance = name;
    $("ws-name").textContent = name;
    const list = $("ws-list");
    list.replaceChildren();
    for (const event of await eventNames()) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "events";
      box.value = event;
      label.append(box, ` ${event}`);
      list.append(label);
    }
    showEffective(null);
    dialog.showModal();
    const result = await api("GET", `/websocket/${encodeURIComponent(name)}`);
    if (!result.ok) return toast(errorText(result.data), "error");
    const websocket = result.data.websocket;
    $("ws-enabled").checked = websocket ? Boolean(websocket.enabled) : true;
    checkEvents(websocket ? websocket.events : []);
    showEffective(websocket);
  }

  async function saveWebsocket(event) {
    if (event.submitter && event.submitter.value === "close") return;
    event.preventDefault();
    const name = $("ws-dialog").dataset.instance;
    const events = [...$("ws-list").querySelectorAll("input:checked")].map((box) => box.value);
    const body = { enabled: $("ws-enabled").checked, events };
    $("ws-save").disabled = true;
    try {
      const result = await api("POST", `/websocket/${encodeURIComponent(name)}`, body);
      if (!result.ok) return toast(errorText(result.data), "error");
      toast(result.data.message || "WebSocket configurado");
      const websocket = result.data.websocket || { enabled: body.enabled, events: result.data.events };
      checkEvents(websocket.events || []);
      showEffective(websocket);
    } finally {
      $("ws-save").disabled = false;
    }
  }

  // ---- token and create -----------------------------------------------------------------

  function describeToken(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(payload));
      const tenant = claims.tenantId ? `tenant ${claims.tenantId}` : "todos os tenants";
      return `${claims.sub || "?"} · ${claims.role || "?"} · ${tenant}`;
    } catch (_err) {
      return "token não legível (o relay decide)";
    }
  }

  async function useToken(token) {
    closeStream();
    state.token = token.trim();
    state.lastSeq = null;
    state.backoff = 500;
    state.instances.clear();
    $("instances").replaceChildren();
    updateCount();
    if (!state.token) return;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("principal").hidden = false;
    $("principal").textContent = describeToken(state.token);
    setStreamState("reconnecting", "conectando…");
    const result = await loadInstances();
    if (result.status === 401 || result.status === 403) {
      setStreamState("idle", "token recusado");
      return;
    }
    openStream();
  }

  async function createInstance(event) {
    event.preventDefault();
    const form = event.target;
    const body = { instanceName: form.instanceName.value.trim() };
    if (form.tenantId.value.trim()) body.tenantId = form.tenantId.value.trim();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const result = await api("POST", "/instances", body);
      if (!result.ok) return toast(errorText(result.data), "error");
      toast(result.data.message || `Instância ${body.instanceName} registrada`);
      form.reset();
      await loadInstances();
    } finally {
      submit.disabled = false;
    }
  }

  function tokenFromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    // Keep the token out of the address bar and history; sessionStorage survives a reload.
    if (token) history.replaceState(null, "", location.pathname + location.search);
    return token;
  }

  function start() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      useToken($("token-input").value);
    });
    $("create-form").addEventListener("submit", createInstance);
    $("ws-form").addEventListener("submit", saveWebsocket);
    $("ws-all").addEventListener("click", () => checkEvents(state.events));
    $("ws-none").addEventListener("click", () => checkEvents([]));
    const token = tokenFromHash() || sessionStorage.getItem(TOKEN_KEY);
    updateCount();
    if (token) {
      $("token-input").value = token;
      useToken(token);
    }
  }

  // Test and debugging hooks: drop the stream as a network failure would, then resume.
  window.__panel = {
    dropStream() {
      closeStream();
      setStreamState("reconnecting", "desconectado (teste)");
    },
    resumeStream() {
      openStream();
    },
    get lastSeq() {
      return state.lastSeq;
    },
    get statusLog() {
      return state.statusLog.slice();
    },
    get streamOpen() {
      return Boolean(state.stream && state.stream.readyState === EventSource.OPEN);
    },
  };

  start();
})();
