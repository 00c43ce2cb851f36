"""Test hooks (call log, faults, ``/_sim/*``), the load generator and the ``simulate`` CLI."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import aiohttp
import pytest

from simulator import PresetInstance
from simulator.cli import add_parser, config_from_args
from tests.simulator.conftest import KEY, MakeSim, Running, eventually


async def test_call_log_records_requests(running: Running) -> None:
    """Call log: method, path, query, body and whether the key would pass (docs/upstream.md §2)."""
    await running.create("inst1", token="tok1")
    await running.call("GET", "/instance/connectionState/inst1", key="tok1")
    await running.call("GET", "/instance/connect/inst1", key="wrong", params={"number": "55"})
    _, calls, _ = await running.call("GET", "/_sim/calls", key=None)
    assert [(c["method"], c["path"], c["authorized"], c["status"]) for c in calls] == [
        ("POST", "/instance/create", True, 201),
        ("GET", "/instance/connectionState/inst1", True, 200),
        ("GET", "/instance/connect/inst1", False, 401),
    ]
    assert calls[0]["body"]["instanceName"] == "inst1"
    assert calls[2]["query"] == {"number": "55"}
    await running.call("POST", "/_sim/reset", key=None)
    assert running.sim.calls.calls == []


async def test_control_routes_are_not_logged(running: Running) -> None:
    """Call log: ``/_sim/*`` calls are not Evolution calls; "no upstream call" stays true."""
    await running.call("GET", "/_sim/calls", key=None)
    await running.call("GET", "/_sim/namespaces", key=None)
    assert running.sim.calls.calls == []


async def test_fault_status_then_normal(running: Running) -> None:
    """Faults: the next N matching calls get the given status in Evolution's envelope."""
    await running.create("inst1")
    status, _, _ = await running.call(
        "POST",
        "/_sim/faults",
        key=None,
        json_body={"status": 500, "count": 2, "path_prefix": "/instance/restart"},
    )
    assert status == 201
    for _ in range(2):
        status, body, _ = await running.call("POST", "/instance/restart/inst1")
        assert status == 500
        assert body["error"] == "Internal Server Error"
    status, _, _ = await running.call("POST", "/instance/restart/inst1")
    assert status == 200
    status, _, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert status == 200


async def test_fault_delay_makes_client_time_out(running: Running) -> None:
    """Faults: a delay past the client's timeout produces a timeout; the call is logged."""
    await running.create("inst1")
    await running.call(
        "POST",
        "/_sim/faults",
        key=None,
        json_body={"status": None, "delay": 1.0, "path_prefix": "/instance/connectionState"},
    )
    timed_out = False
    try:
        await running.call(
            "GET",
            "/instance/connectionState/inst1",
            timeout=aiohttp.ClientTimeout(total=0.2),
        )
    except TimeoutError:
        timed_out = True
    assert timed_out
    assert running.sim.calls.calls[-1].path == "/instance/connectionState/inst1"
    await running.call("DELETE", "/_sim/faults", key=None)
    assert running.sim.faults.faults == []


async def test_drop_and_emit_controls(make_sim: MakeSim) -> None:
    """``/_sim/drop`` and ``/_sim/emit`` drive events; an unknown name is 404."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    status, body, _ = await running.call(
        "POST", "/_sim/emit/inst1", key=None, json_body={"event": "chats.upsert", "data": []}
    )
    assert (status, body) == (200, {"emitted": "chats.upsert"})
    assert running.sim.machine.emitted[-1].event == "chats.upsert"
    assert running.sim.namespaces == {"/inst1"}
    status, _, _ = await running.call("POST", "/_sim/drop/inst1?code=403", key=None)
    assert status == 200
    assert running.sim.store.instances["inst1"].state == "close"
    status, _, _ = await running.call("POST", "/_sim/drop/inst1", key=None)
    assert status == 409
    status, _, _ = await running.call("POST", "/_sim/emit/nope", key=None, json_body={"event": "x"})
    assert status == 404
    _, events, _ = await running.call("GET", "/_sim/events?limit=1", key=None)
    assert events[0]["event"] == "connection.update"


async def test_event_rate_is_spread_over_open_instances(make_sim: MakeSim) -> None:
    """Load: ``event_rate`` messages.upsert per second, round-robin over open instances."""
    running = await make_sim(
        [PresetInstance("a", state="open"), PresetInstance("b", state="open"), PresetInstance("c")],
        event_rate=400.0,
    )
    await eventually(lambda: running.sim.load is not None and running.sim.load.sent >= 100)
    upserts = [
        e.payload["instance"] for e in running.sim.machine.emitted if e.event == "messages.upsert"
    ]
    assert set(upserts) == {"a", "b"}
    assert abs(upserts.count("a") - upserts.count("b")) <= 1


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evo-relay")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", *argv])


def test_cli_options_and_defaults() -> None:
    """docs/configuration.md "Command line": ``simulate`` options and defaults; func is set for
    the main CLI."""
    args = parse()
    assert (args.host, args.port, args.apikey) == ("127.0.0.1", 8080, "BQYHJGJHJ")
    assert callable(args.func)
    args = parse(
        "--apikey", "k", "--global-events", "--instances", "3", "--qr-interval", "5",
        "--event-rate", "100", "--payload-bytes", "2048", "--websocket-disabled",
        "--allowed-hosts", "127.0.0.1,::1", "--delete-delay", "0.5",
    )  # fmt: skip
    config = config_from_args(args)
    assert config.apikey == "k"
    assert config.global_events
    assert [p.name for p in config.presets] == ["sim-0001", "sim-0002", "sim-0003"]
    assert (config.qr_interval, config.event_rate, config.payload_bytes) == (5.0, 100.0, 2048)
    assert not config.websocket_enabled
    assert config.allowed_hosts == ("127.0.0.1", "::1")
    assert config.delete_delay == 0.5
    presets = config_from_args(parse("--preset", "a:connecting", "--preset", "b:open:tok")).presets
    assert [(p.name, p.state, p.token) for p in presets] == [
        ("a", "connecting", None),
        ("b", "open", "tok"),
    ]


def test_cli_unkind_options() -> None:
    """``--loop N`` puts the first N instances (presets first) into the reconnect loop; the
    QR timing and the restart delay default to the real server's and can be set."""
    config = config_from_args(parse())
    assert (config.first_qr_delay, config.qr_first_ttl, config.qr_interval) == (1.0, 60.0, 20.0)
    assert (config.connect_wait, config.restart_delay, config.loop_rate) == (2.0, 10.0, 20.0)
    args = parse(
        "--preset", "p:open", "--instances", "3", "--loop", "2", "--loop-rate", "5",
        "--restart-delay", "0.5", "--first-qr-delay", "0.1", "--qr-first-ttl", "3",
        "--qr-limit", "4", "--connect-wait", "0.25", "--reconnect-delay", "0.3",
    )  # fmt: skip
    config = config_from_args(args)
    assert [(p.name, p.looping) for p in config.presets] == [
        ("p", True),
        ("sim-0001", True),
        ("sim-0002", False),
        ("sim-0003", False),
    ]
    assert (config.loop_rate, config.restart_delay) == (5.0, 0.5)
    assert (config.first_qr_delay, config.qr_first_ttl, config.qr_limit) == (0.1, 3.0, 4)
    assert (config.connect_wait, config.reconnect_delay) == (0.25, 0.3)
    with pytest.raises(SystemExit):
        parse("--loop-rate", "0")


def test_cli_help_documents_every_option() -> None:
    """issue 3 "Done when": ``simulate --help`` documents the options."""
    parser = argparse.ArgumentParser(prog="evo-relay")
    subparsers = parser.add_subparsers(dest="command")
    add_parser(subparsers)
    sub = subparsers.choices["simulate"]
    text = sub.format_help()
    for option in (
        "--host", "--port", "--apikey", "--global-events", "--instances", "--qr-interval",
        "--event-rate", "--payload-bytes", "--websocket-disabled", "--allowed-hosts",
        "--delete-delay", "--loop", "--loop-rate", "--restart-delay", "--first-qr-delay",
        "--qr-first-ttl", "--qr-limit", "--connect-wait", "--reconnect-delay",
    ):  # fmt: skip
        assert option in text
    for action in sub._actions:
        assert action.help, action.dest


async def test_cli_runs_until_sigterm_and_exits_zero() -> None:
    """docs/configuration.md "Command line": ``simulate`` serves until SIGTERM, then exits 0."""
    code = (
        "import argparse, sys\n"
        "from simulator.cli import add_parser\n"
        "p = argparse.ArgumentParser(); add_parser(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "simulate", "--port", "0", "--apikey", KEY,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.split()[3]
        async with aiohttp.ClientSession() as http, http.get(url + "/") as resp:
            assert (await resp.json())["version"] == "2.3.6"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
