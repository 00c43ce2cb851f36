// The live stream: one EventSource on /api/events, resumed from the last seq it saw.
// Named SSE events come in; each one the panel listens to leaves as onEvent(name, data).
// An event the panel does not name is never listened to, so it is ignored.
//
// Resume: while the connection drops and comes back, the browser itself reconnects and sends
// Last-Event-ID. When it gives up (an HTTP error), the stream checks the token and reopens
// with ?lastEventId=, backing off; a refused token ends it ("refused").

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10000;
const SNAPSHOT = "instances.snapshot";

export class Stream {
  // events: the names to listen to; onEvent(name, data); onState(state) with state one of
  // "connecting", "live", "reconnecting", "refused"; check(): resolves false when the token
  // is refused.
  constructor({ events, onEvent, onState, check }) {
    this.events = events;
    this.onEvent = onEvent;
    this.onState = onState;
    this.check = check;
    this.token = "";
    this.lastSeq = null;
    this.source = null;
    this.backoff = MIN_BACKOFF_MS;
    this.retryTimer = null;
    this.generation = 0; // bumped by stop(): a retry that was waiting then does nothing
  }

  start(token) {
    this.stop();
    this.token = token;
    this.lastSeq = null;
    this.backoff = MIN_BACKOFF_MS;
    this.onState("connecting");
    this.open();
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closeSource();
  }

  open() {
    const params = new URLSearchParams({ token: this.token });
    if (this.lastSeq !== null) params.set("lastEventId", String(this.lastSeq));
    const source = new EventSource(`/api/events?${params}`);
    this.source = source;
    for (const name of this.events) {
      source.addEventListener(name, (event) => {
        if (this.source !== source) return;
        this.track(name, event.lastEventId);
        const data = parse(event);
        if (data !== null) this.onEvent(name, data);
      });
    }
    source.onopen = () => {
      if (this.source !== source) return;
      this.backoff = MIN_BACKOFF_MS;
      this.onState("live");
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) this.retry();
      else this.onState("reconnecting"); // the browser retries, sending Last-Event-ID
    };
  }

  // A SUPERADMIN's stream carries no ids (it mixes tenants' seqs): it resumes from a snapshot.
  track(name, lastEventId) {
    const seq = Number.parseInt(lastEventId, 10);
    if (!Number.isFinite(seq)) return;
    // The snapshot's id is the relay's position: after a relay restart it may be lower.
    this.lastSeq = name === SNAPSHOT ? seq : Math.max(this.lastSeq ?? seq, seq);
  }

  retry() {
    this.closeSource();
    this.onState("reconnecting");
    const generation = this.generation;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      const accepted = await this.check();
      if (generation !== this.generation) return;
      if (accepted) this.open();
      else this.onState("refused");
    }, delay);
  }

  closeSource() {
    if (this.source) this.source.close();
    this.source = null;
  }
}

function parse(event) {
  if (!event.data) return {}; // e.g. session.expired may carry nothing
  try {
    return JSON.parse(event.data);
  } catch (_err) {
    console.warn("evo-relay: unreadable event", event.type);
    return null;
  }
}
