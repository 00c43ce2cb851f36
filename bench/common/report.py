"""The Markdown table (latest.md): the figures of each scenario, their targets, met or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common.stats import ratio

RELAY, NODE, PYSIO = "evo-relay", "node-peer", "python-socketio"
Row = tuple[str, str, Any, Any, Any, str, bool | None]
"""(scenario, figure, evo-relay, Node peer, python-socketio, target, met)."""
OldRow = tuple[str, str, Any, Any, str, bool | None]
"""The evo-relay-only rows: (scenario, figure, evo-relay, None, target, met)."""


def _get(data: dict[str, Any], server: str, *keys: str) -> Any:
    value: Any = (data.get("servers") or {}).get(server)
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _three(d: dict[str, Any], *keys: str) -> tuple[Any, Any, Any]:
    return _get(d, RELAY, *keys), _get(d, NODE, *keys), _get(d, PYSIO, *keys)


def _vs_node(values: tuple[Any, Any, Any], bound: float, *, at_most: bool) -> bool | None:
    """evo-relay / Node within ``bound`` (≤ when ``at_most``, else ≥); None without both."""
    r = ratio(values[0], values[1]) if all(isinstance(v, int | float) for v in values[:2]) else None
    if r is None:
        return None
    return r <= bound if at_most else r >= bound


def _backlog_growing(samples: list[float] | None) -> bool | None:
    if not samples:
        return None
    return len(samples) >= 3 and samples[-1] > 20 and samples[-1] >= 1.5 * max(samples[0], 1)


def _fanout(d: dict[str, Any]) -> list[Row]:
    eff = _three(d, "at_max", "deliveries_per_cpu_s")
    p99 = _three(d, "at_half", "latency", "p99_ms")
    return [
        ("fanout", "deliveries per server CPU-second, at max", *eff, "≥ 1.5× Node",
         _vs_node(eff, 1.5, at_most=False)),
        ("fanout", "latency p99 ms, at 50% of max", *p99, "≤ 50 ms",
         None if p99[0] is None else p99[0] <= 50),
        ("fanout", "max sustained rate, events/s (×1,000 clients)",
         *_three(d, "max_sustained_rate"), "", None),
        ("fanout", "deliveries/s received at max", *_three(d, "max_sustained_deliveries_per_s"),
         "", None),
        ("fanout", "server CPU µs per delivery, at max",
         *_three(d, "at_max", "cpu_us_per_delivery"), "", None),
        ("fanout", "of which in the kernel (system time: the sends), at max",
         *_three(d, "at_max", "kernel_us_per_delivery"), "", None),
        ("fanout", "load clients' CPU (cores), at max",
         *_three(d, "at_max", "load_clients_cpu_share"), "", None),
        ("fanout", "whole machine busy (share of all cores), at max",
         *_three(d, "at_max", "machine_busy_share"), "", None),
        ("fanout", "deliveries per server CPU-second, at 50% of max",
         *_three(d, "at_half", "deliveries_per_cpu_s"), "", None),
        ("fanout", "latency p50 ms, at 50% of max", *_three(d, "at_half", "latency", "p50_ms"),
         "", None),
        ("fanout", "latency max ms, at 50% of max", *_three(d, "at_half", "latency", "max_ms"),
         "", None),
    ]  # fmt: skip


def _tenants(d: dict[str, Any]) -> list[Row]:
    us = _three(d, "cpu_us_per_delivery")
    p99 = _three(d, "latency", "p99_ms")
    samples = _get(d, RELAY, "backlog_samples")
    growing = _backlog_growing(samples)
    backlog = f"{samples[0]:.0f} → {samples[-1]:.0f}" if samples else None
    p99_ok = None if p99[0] is None else p99[0] <= 50 and growing is not True
    return [
        ("tenants", "server CPU µs per delivery (the relay's own; Postgres apart)", *us,
         "≤ 1.0× Node", _vs_node(us, 1.0, at_most=True)),
        ("tenants", "latency p99 ms", *p99, "≤ 50 ms, no growing backlog", p99_ok),
        ("tenants", "DB backlog (first → last sample)", backlog, None, None, "not growing",
         None if growing is None else not growing),
        ("tenants", "events/s sent (mix)", *_three(d, "events_per_s"), "", None),
        ("tenants", "deliveries/s received", *_three(d, "deliveries_per_s"), "", None),
        ("tenants", "delivered share", *_three(d, "delivered_share"), "", None),
        ("tenants", "server CPU share (cores)", *_three(d, "server_cpu_share"), "", None),
        ("tenants", "whole machine busy (share of all cores)", *_three(d, "machine_busy_share"),
         "", None),
        ("tenants", "latency p50 ms", *_three(d, "latency", "p50_ms"), "", None),
        ("tenants", "latency max ms", *_three(d, "latency", "max_ms"), "", None),
        ("tenants", "DB status writes/s", _get(d, RELAY, "db_status_writes_per_s"), None, None,
         "", None),
    ]  # fmt: skip


def _idle(d: dict[str, Any]) -> list[Row]:
    n = d.get("clients")
    connected = _three(d, "connect", "connected")
    rss = _three(d, "rss_per_client_kb")
    cpu = _three(d, "idle_cpu_share")
    connect = _three(d, "connect_cpu_ms_per_client")
    return [
        ("idle", "clients connected", *connected, f"all {_fmt(n)}",
         None if connected[0] is None else connected[0] == n),
        ("idle", "RSS per idle connection, KB", *rss, "≤ 1.0× Node",
         _vs_node(rss, 1.0, at_most=True)),
        ("idle", "idle CPU share (cores)", *cpu, "≤ 3× Node", _vs_node(cpu, 3.0, at_most=True)),
        ("idle", "server CPU ms per connect", *connect, "≤ 1.0× Node",
         _vs_node(connect, 1.0, at_most=True)),
        ("idle", "seconds to connect all", *_three(d, "connect", "seconds"), "", None),
        ("idle", "accept-queue overflows while connecting", *_three(d, "listen_overflows"), "",
         None),
    ]  # fmt: skip


def _storm(d: dict[str, Any]) -> list[Row]:
    n = d.get("clients")
    last = _three(d, "last_snapshot_s")
    snaps = _three(d, "snapshots")
    ok = _vs_node(last, 1.0, at_most=True)
    if ok is not None and _get(d, RELAY, "failed"):
        ok = False
    return [
        ("storm", f"seconds until every snapshot ({_fmt(n)} clients reconnect at once)", *last,
         "≤ 1.0× Node", ok),
        ("storm", "snapshots received", *snaps, f"all {_fmt(n)}",
         None if snaps[0] is None else snaps[0] == n),
        ("storm", "accept-queue overflows (TcpExt ListenOverflows)",
         *_three(d, "listen_overflows"), "", None),
        ("storm", "server CPU s for the storm", *_three(d, "server_cpu_s"), "", None),
    ]  # fmt: skip


def _loop_storm(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, *keys: str, target: str = "", met: bool | None = None) -> Row:
        return ("loop-storm", figure, _get(d, RELAY, *keys), None, None, target, met)

    n = _get(d, RELAY, "instances_looping")
    rate = _get(d, RELAY, "rate_per_instance")
    head = f"{_fmt(n)} instances looping at {_fmt(rate)} ev/s" if n else "looping"
    return [
        one(f"relay CPU (cores), {head}", "relay_cpu_share", target="< 1 core",
            met=_get(d, RELAY, "cpu_met")),
        one("DB writes beyond real status changes (max of status writes, history rows, − real)",
            "extra_writes", target="0", met=_get(d, RELAY, "writes_met")),
        one("other tenant's events, latency p99 ms", "other_tenant_latency", "p99_ms",
            target="≤ 50 ms", met=_get(d, RELAY, "other_met")),
        one("GET /instances p99 ms during the storm", "api_p99_ms", target="≤ 50 ms",
            met=_get(d, RELAY, "api_met")),
        one("events/s offered (simulator loops)", "events_per_s_offered"),
        one("events/s the relay received", "events_per_s_received"),
        one("simulator CPU (cores) meanwhile", "simulator_cpu_share"),
        one("whole machine busy (share of all cores) meanwhile", "machine_busy_share"),
        one("status writes (relay_status_writes_total), loops' start → end", "status_writes"),
        one("status_history rows inserted, same span", "history_rows"),
        one("real status changes (one per looping instance)", "real_status_changes"),
        one("other tenant's events, latency p50 ms", "other_tenant_latency", "p50_ms"),
        one("GET /instances p50 ms", "api_p50_ms"),
        one("seconds to subscribe every namespace before the storm", "subscribe_s"),
    ]  # fmt: skip


def _ingest(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, key: str, target: str = "", met: bool | None = None) -> Row:
        return ("ingest", figure, _get(d, RELAY, key), None, None, target, met)

    ceiling = _get(d, RELAY, "ceiling_events_per_cpu_s")
    return [
        one("ingest ceiling: events per relay CPU-second (parse, route, record; no client)",
            "ceiling_events_per_cpu_s", "a figure (no bound)", None if ceiling is None else True),
        one("highest rate kept up with, events/s", "max_kept_up_per_s"),
        one("relay CPU (cores) at that rate", "relay_cpu_at_max"),
        one("what bounded the rate", "limited_by"),
    ]  # fmt: skip


def _resubscribe(d: dict[str, Any]) -> list[Row]:
    t = _get(d, RELAY, "statuses_true_s")
    return [
        ("resubscribe", "seconds until every stored status is true", t, None, "≤ 10 s",
         None if t is None else t <= 10),
        ("resubscribe", "seconds until every namespace is resubscribed",
         _get(d, RELAY, "namespaces_s"), None, "", None),
        ("resubscribe", "initial subscription of every namespace, s",
         _get(d, RELAY, "initial_subscribe_s"), None, "", None),
        ("resubscribe", "DB status writes/s while recovering",
         _get(d, RELAY, "db_status_writes_per_s"), None, "", None),
        ("resubscribe", "DB backlog max", _get(d, RELAY, "db_backlog_max"), None, "", None),
    ]  # fmt: skip


def _micro(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, *keys: str) -> Row:
        return ("micro", figure, _get(d, RELAY, *keys), None, "", None)

    fan = ("fanout_micro", "us_per_delivery")
    return [
        one(
            "fan-out µs/delivery, python-socketio's emit (deflate off)",
            *fan,
            "deflate off",
            "stock",
        ),
        one("fan-out µs/delivery, Hub.publish (deflate off)", *fan, "deflate off", "fast"),
        one(
            "fan-out µs/delivery, python-socketio's emit (deflate on)", *fan, "deflate on", "stock"
        ),
        one("fan-out µs/delivery, Hub.publish (deflate on)", *fan, "deflate on", "fast"),
        one("end-to-end latency p50 ms (python-socketio clients)", "e2e_latency", "p50_ms"),
        one("end-to-end latency p99 ms (python-socketio clients)", "e2e_latency", "p99_ms"),
        one("POST /restart p50 ms", "restart_latency", "p50_ms"),
        one("POST /restart p99 ms", "restart_latency", "p99_ms"),
    ]


def _first_qr(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for mode in ("instance", "global"):
        figures = _get(d, RELAY, mode) or {}
        met = figures.get("met")
        missed = len(figures["missed"]) if "missed" in figures else None
        rows += [
            ("first-qr", f"{mode} mode: seconds from POST /connect to the first QR, p50",
             figures.get("p50_s"), None, "≤ 1.2 s", met),
            ("first-qr", f"{mode} mode: the same, p99", figures.get("p99_s"), None, "≤ 1.5 s",
             met),
            ("first-qr", f"{mode} mode: connects without a QR within {d.get('deadline_s')} s",
             missed, None, "0", None if missed is None else missed == 0),
        ]  # fmt: skip
    return rows


def _recovery_part(d: dict[str, Any], part: str, label: str) -> list[Row]:
    figures = _get(d, RELAY, part) or {}
    for state in ("skipped", "error"):
        if state in figures:
            return [("recovery", f"{label}: {state}: {figures[state]}", None, None, "",
                     None if state == "skipped" else False)]  # fmt: skip
    t = figures.get("statuses_true_s")
    return [
        ("recovery", f"{label}: seconds until every stored status is true", t, None, "≤ 3 s",
         figures.get("met")),
        ("recovery", f"{label}: wrong statuses at the end", figures.get("wrong_at_end"), None,
         "0", None if figures.get("wrong_at_end") is None else figures["wrong_at_end"] == 0),
    ]  # fmt: skip


def _recovery(d: dict[str, Any]) -> list[Row]:
    sim = _get(d, RELAY, "simulator-restart") or {}
    rows = _recovery_part(d, "simulator-restart", "simulator restart (from HTTP up)")
    if "statuses_true_s" in sim:
        rows += [
            ("recovery", "simulator restart: clients' upstream.status down, s after it stopped",
             sim.get("clients_saw_down_s"), None, "", None),
            ("recovery", "simulator restart: clients' upstream.status up, s after HTTP up",
             sim.get("clients_saw_up_s"), None, "", None),
        ]  # fmt: skip
    return rows + _recovery_part(d, "postgres-restart", "Postgres restart (from Postgres up)")


def _loop_writes(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, key: str, target: str = "", met: bool | None = None) -> Row:
        return ("loop-writes", figure, _get(d, RELAY, key), None, target, met)

    n = _get(d, RELAY, "instances")
    target = f"≤ {n} (one per instance)" if n else ""
    return [
        one("status writes (relay_status_writes_total) in the window", "status_writes", target,
            _get(d, RELAY, "writes_met")),
        one("status writes per second", "status_writes_per_s"),
        one("instances row updates per second (n_tup_upd)", "row_updates_per_s"),
        one("instance.status events a client received in the window", "instance_status_events",
            target, _get(d, RELAY, "statuses_met")),
        one("instance.status events per second", "instance_status_per_s"),
        one("loop events (connection.update) a client received", "loop_events_received"),
    ]  # fmt: skip


def _panel(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, key: str, target: str = "", met: bool | None = None) -> Row:
        return ("panel", figure, _get(d, RELAY, key), None, target, met)

    n = _get(d, RELAY, "instances")
    size = f"{n:,}" if isinstance(n, int) else "N"
    rate = _get(d, RELAY, "rate")
    longest = _get(d, RELAY, "longest_task_ms")
    long_met = _get(d, RELAY, "long_tasks_met")
    return [
        one(f"first render of {size} instances, ms from navigation", "first_render_ms",
            "≤ 500 ms", _get(d, RELAY, "render_met")),
        one("snapshot received and applied, ms from navigation", "snapshot_ms"),
        one("long tasks (> 50 ms) while loading", "loading_long_tasks", "0",
            None if long_met is None else _get(d, RELAY, "loading_long_tasks") == 0),
        one(f"instance.status events/s the page received (sent: {rate:g}/s)"
            if isinstance(rate, int | float) else "instance.status events/s the page received",
            "instance_status_per_s"),
        one("long tasks (> 50 ms) under that load", "long_tasks", "0",
            None if long_met is None else _get(d, RELAY, "long_tasks") == 0),
        ("panel", "longest task under load, ms", longest if longest is not None else "< 50",
         None, "≤ 50 ms", None if long_met is None else longest is None),
        one("search under load: typed → the one row shown, ms", "search_ms"),
        one("counts equal the relay's after the load, s", "caught_up_s"),
    ]  # fmt: skip


def _fleet(d: dict[str, Any]) -> list[Row]:
    def one(figure: str, *keys: str, target: str = "", met: bool | None = None) -> Row:
        return ("fleet", figure, _get(d, RELAY, *keys), None, target, met)

    n = _get(d, RELAY, "instances")
    size = f"{n:,}" if isinstance(n, int) else "N"
    other = _get(d, RELAY, "restart", "other_stayed_true")
    return [
        one(f"start → {size} namespaces joined and statuses true (2 servers), s",
            "subscribe", "subscribed_s"),
        one("start → /readyz, s", "ready_s"),
        one("one server restarted: statuses true, s after it answers HTTP", "restart",
            "statuses_true_s", target="≤ 3 s", met=_get(d, RELAY, "restart", "met")),
        one("the other server's wrong statuses meanwhile (max)", "restart", "other_wrong_max",
            target="0", met=other),
        one("the restarted server's namespaces back, s after it answers HTTP", "restart",
            "namespaces_back_s"),
        one("relay RSS per followed instance, KB", "memory", "kb_per_instance"),
        one("relay RSS following 0 instances, KB", "memory", "rss_empty_kb"),
        one("relay RSS following all instances, KB", "memory", "rss_following_kb"),
    ]  # fmt: skip


def _cluster(d: dict[str, Any]) -> list[OldRow]:
    def one(figure: str, *keys: str, target: str = "", met: bool | None = None) -> OldRow:
        return ("cluster", figure, _get(d, RELAY, *keys), None, target, met)

    rows: list[OldRow] = []
    for part, shape in (("fanout", "fan-out, 1 tenant"), ("tenants", "tenants mix")):
        for variant, label in (("single", "without Redis"), ("bus", "with the Redis bus")):
            rows += [
                one(f"{shape}: server CPU µs per delivery, {label}",
                    "bus", part, variant, "cpu_us_per_delivery"),
                one(f"{shape}: latency p99 ms, {label}", "bus", part, variant, "latency", "p99_ms"),
            ]  # fmt: skip
        rows += [
            one(f"{shape}: CPU µs per delivery added by the bus", "bus", part,
                "added_cpu_us_per_delivery"),
            one(f"{shape}: p99 ms added by the bus", "bus", part, "added_p99_ms"),
            one(f"{shape}: redis-server CPU (cores)", "bus", part, "bus", "redis_cpu_share"),
        ]  # fmt: skip
    rounds = _get(d, RELAY, "failover", "rounds") or []
    for i, r in enumerate(rounds):
        ok = r.get("statuses_true_s")
        rows += [
            ("cluster", f"failover {i + 1} ({r.get('nodes_before')} nodes): leader flips, s",
             r.get("leader_flip_s"), None, "", None),
            ("cluster", f"failover {i + 1}: statuses true again, s", ok, None, "≤ 5 s",
             None if ok is None else ok <= 5),
        ]  # fmt: skip
    rows += [
        one(
            "bus event CPU on a follower with no client, µs per event",
            "paper",
            "follower_us_per_event",
        ),
        one(
            "event CPU on the leader (ingest, write, publish, read back), µs",
            "paper",
            "leader_us_per_event",
        ),
        one("on paper: nodes for 100,000 panels at 2,000 events/s", "paper", "plan", "nodes"),
        one(
            "on paper: the leader's CPU share (cores), panels spread evenly",
            "paper",
            "plan",
            "leader_cpu_share",
        ),
        one("on paper: RSS per node, MB", "paper", "plan", "rss_mb_per_node"),
        one(
            "on paper: nodes if the leader serves no panel",
            "paper",
            "plan_leader_without_panels",
            "nodes",
        ),
    ]
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row] | list[OldRow]]] = {
    "fanout": _fanout, "tenants": _tenants, "idle": _idle, "storm": _storm,
    "loop-storm": _loop_storm, "ingest": _ingest,
    "resubscribe": _resubscribe, "first-qr": _first_qr, "recovery": _recovery,
    "loop-writes": _loop_writes, "micro": _micro, "panel": _panel, "fleet": _fleet,
    "cluster": _cluster,
}  # fmt: skip

COLUMNS = "| scenario | figure | evo-relay | Node peer | python-socketio | evo-relay / Node |"


def _rows(name: str, data: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for row in ROWS[name](data):
        if len(row) == 6:
            scenario, figure, a, b, target, met = row
            out.append((scenario, figure, a, b, None, target, met))
        else:
            out.append(row)  # type: ignore[arg-type]
    return out


def _line(row: Row, with_target: bool) -> str:
    scenario, figure, a, b, c, target, met = row
    r = ratio(a, b) if isinstance(a, int | float) and isinstance(b, int | float) else None
    cells = f"| {scenario} | {figure} | {_fmt(a)} | {_fmt(b)} | {_fmt(c)} | "
    cells += "" if r is None else f"{r:.2f}"
    if with_target:
        verdict = "—" if met is None else ("met" if met else "**unmet**")
        return cells + f" | {target} | {verdict} |"
    return cells + " |"


def profiles(results: dict[str, dict[str, Any]]) -> list[str]:
    """The flame-graph section: a link per recording and its top frames, or py-spy's error."""
    lines = ["", "## Flame graphs (py-spy, `--nonblocking`)", "",
             "Speedscope files: open one at https://www.speedscope.app. \"top frames\" is the "
             "share of samples with that frame on top of the stack; `Runner.run` on top is the "
             "event loop's own C code (uvloop: I/O and callback dispatch).", ""]  # fmt: skip
    found = False
    for name, data in results.items():
        for entry in data.get("profiles") or []:
            found = True
            if "error" in entry:
                lines.append(f"- {name} / `{entry['tag']}`: **no flame graph**: {entry['error']}")
                continue
            top_self = entry.get("top_self", [])[:6]
            top = "; ".join(f"{frame} {share:.0%}" for frame, share in top_self)
            lines.append(f"- {name} / [`{entry['tag']}`]({entry['file']}): {top}")
    return lines if found else []


def markdown(results: dict[str, dict[str, Any]], header: str) -> str:
    """Two tables: every figure with a target (met or not), then the context figures."""
    lines = [header, "", "## Targets", "", COLUMNS + " target | met |",
             "|---|---|---:|---:|---:|---:|---|---|"]  # fmt: skip
    context = ["", "## Context (figures without a target)", "", COLUMNS,
               "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for name, data in results.items():
        if "skipped" in data:
            lines.append(f"| {name} | skipped: {data['skipped']} | | | | | | |")
            continue
        if "error" in data:
            lines.append(f"| {name} | **failed**: {data['error']} | | | | | | **unmet** |")
            if "servers" not in data:
                continue
        for row in _rows(name, data):
            if row[5]:
                lines.append(_line(row, True))
            else:
                context.append(_line(row, False))
    return "\n".join(lines + context + profiles(results)) + "\n"
