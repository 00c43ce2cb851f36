// What the page says about its connection: the stream's state in the top bar, the banner while
// an Evolution server is down, and the banner when the session has expired.

const STREAM_TEXT = {
  idle: "desconectado",
  connecting: "conectando…",
  live: "ao vivo",
  reconnecting: "reconectando…",
  refused: "token recusado",
  expired: "sessão expirada",
};

const $ = (id) => document.getElementById(id);

export function streamState(state) {
  const node = $("stream-state");
  node.dataset.state = state;
  node.textContent = STREAM_TEXT[state] || state;
}

// servers: the names of the Evolution servers that are down; empty hides the banner.
export function upstream(servers) {
  const named = servers.filter((server) => server && server !== "default");
  $("upstream-servers").textContent = named.length ? ` (${named.join(", ")})` : "";
  $("upstream-banner").hidden = servers.length === 0;
}

export function session(expired) {
  $("session-banner").hidden = !expired;
}
