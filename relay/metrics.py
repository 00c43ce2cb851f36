"""Prometheus metrics, in a registry owned by the app (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "relay_http_requests", "HTTP requests served", ["method", "status"], registry=r
        )
        self.upstream_calls = Histogram(
            "relay_upstream_call_seconds",
            "Evolution HTTP calls: latency by route template and outcome",
            ["route", "outcome"],
            registry=r,
        )
        self.upstream_up = Gauge(
            "relay_upstream_up",
            "1 while the Socket.IO subscription to the Evolution server is connected",
            ["server"],
            registry=r,
        )
        self.events_received = Counter(
            "relay_events_received", "Evolution events received", ["event"], registry=r
        )
        self.events_dropped = Counter(
            "relay_events_dropped", "Evolution events dropped", ["reason"], registry=r
        )
        self.deliveries = Counter(
            "relay_deliveries", "Events emitted to frontend rooms", ["transport"], registry=r
        )
        self.status_writes = Counter(
            "relay_status_writes", "Status and QR writes to Postgres", registry=r
        )
        self.status_backlog = Gauge(
            "relay_status_backlog", "Instances with a status write pending", registry=r
        )
        self.status_unchanged = Counter(
            "relay_status_unchanged",
            "Status intents that changed nothing (not written)",
            registry=r,
        )
        self.status_shed = Counter(
            "relay_status_shed",
            "Queued status transitions dropped past the per-instance backlog limit",
            registry=r,
        )
        self.task_restarts = Counter(
            "relay_task_restarts",
            "Background tasks restarted after a failure",
            ["task"],
            registry=r,
        )
        self.tasks_down = Gauge(
            "relay_tasks_down", "Supervised background tasks not running", registry=r
        )
        self.reconciliations = Counter(
            "relay_reconciliations",
            "Status reconciliations by outcome (live: events were recent, so none was read)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.clients = Gauge("relay_clients", "Connected frontends", ["transport"], registry=r)
        self.sessions_ended = Counter(
            "relay_sessions_ended",
            "Live sessions the relay ended: token expired, or never authenticated",
            ["transport", "reason"],
            registry=r,
        )
        self.upstream_namespaces = Gauge(
            "relay_upstream_namespaces",
            "Evolution namespaces subscribed",
            ["server"],
            registry=r,
        )
        self.fast_path = Gauge(
            "relay_fast_path",
            "1 when a component uses its fast path over library internals, 0 when the "
            "library versions are untested and it uses the stock path (relay.internals)",
            ["component"],
            registry=r,
        )
        # the cluster (RELAY_REDIS_URL)
        self.bus_up = Gauge(
            "relay_bus_up", "1 while this node reads the cluster bus (Redis)", registry=r
        )
        self.bus_events = Counter(
            "relay_bus_events", "Live events through the cluster bus", ["direction"], registry=r
        )
        self.bus_dropped = Counter(
            "relay_bus_dropped",
            "Live events the bus could not take (Redis down); statuses are still written",
            registry=r,
        )
        self.cluster_leader = Gauge(
            "relay_cluster_leader",
            "1 while this node follows the Evolution server and writes its statuses",
            ["server"],
            registry=r,
        )
        self.status_fenced = Counter(
            "relay_status_fenced",
            "Status writes refused because this node no longer leads the instance's server",
            registry=r,
        )

    def observe_upstream_call(self, route: str, outcome: str, seconds: float) -> None:
        """One Evolution HTTP call (``relay.evolution.transport``): route template such as
        ``/instance/connect/{name}``; outcome ``2xx``/``3xx``/``4xx``/``5xx``, ``timeout`` or
        ``unreachable``."""
        self.upstream_calls.labels(route, outcome).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
