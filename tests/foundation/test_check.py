"""`evo-relay check` against the simulator as a real Evolution server: an honest verdict on
each item (ok, FAIL, warn, skip = "not verified"), never "ok" for what it could not verify."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from simulator import SimConfig, Simulator
from tests.conftest import JWT_SECRET, MakeSimulator, free_port
from tests.logscan import assert_clean
from tests.support import clean_env

KEY = "sim-global-key"


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> Simulator:
    return await make_simulator(SimConfig(apikey=KEY))


async def run_check(
    tmp_path: Path, *args: str, env_file: Path | None = None, **env: str
) -> tuple[int, str]:
    clean = clean_env(**{"RELAY_PORT": str(free_port()), **env})
    flags = ["--env-file", str(env_file)] if env_file else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "check", *flags, *args, env=clean, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = output.decode()
    assert_clean(text)
    return proc.returncode or 0, text


def base_env(database_url: str, url: str, apikey: str = KEY, **more: str) -> dict[str, str]:
    return {
        "RELAY_DATABASE_URL": database_url, "RELAY_EVOLUTION_URL": url,
        "RELAY_EVOLUTION_APIKEY": apikey, "RELAY_JWT_SECRET": JWT_SECRET, **more,
    }  # fmt: skip


def verdicts(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in ("ok", "FAIL", "warn", "skip"):
            found[rest.strip()[:17].strip()] = verdict
    return found


async def test_check_passes_against_a_healthy_setup(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    code, output = await run_check(tmp_path, **base_env(database_url, simulator.server_url))
    assert code == 0, output
    assert verdicts(output) == {
        "config": "ok", "listen address": "ok", "database": "ok", "redis": "skip",
        "evolution": "ok", "api key": "ok", "websocket output": "ok", "events": "ok",
    }, output  # fmt: skip
    assert "answers as Evolution API 2.3.6" in output
    assert "schema version 0" in output  # check changes nothing: the schema is not created
    assert KEY not in output


async def test_check_reports_the_cluster_redis(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    env = base_env(database_url, simulator.server_url, RELAY_REDIS_URL="redis://127.0.0.1:6379/13",
                   RELAY_NODE_NAME="relay-a")  # fmt: skip
    code, output = await run_check(tmp_path, **env)
    assert code == 0 and verdicts(output)["redis"] == "ok", output
    assert "node relay-a of a cluster" in output
    env["RELAY_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    code, output = await run_check(tmp_path, **env)
    assert code == 1 and verdicts(output)["redis"] == "FAIL", output
    assert "RELAY_REDIS_URL does not answer" in output


async def test_a_wrong_key_never_calls_the_websocket_output_fine(
    tmp_path: Path, database_url: str
) -> None:
    """Evolution lets loopback peers through its Socket.IO handshake with any key (§6.3):
    only the REST API tells, so the websocket output is "not verified", not "ok"."""
    sim = Simulator(SimConfig(apikey=KEY, allowed_hosts=("127.0.0.1",)))
    await sim.start("127.0.0.1", 0)
    try:
        assert sim.server_url
        env = base_env(database_url, sim.server_url, apikey="a-wrong-key")
        code, output = await run_check(tmp_path, **env)
    finally:
        await sim.stop()
    assert code == 1
    found = verdicts(output)
    assert (found["evolution"], found["api key"]) == ("ok", "FAIL"), output
    assert found["websocket output"] == "skip"
    assert "not verified: the API key was refused" in output
    assert "set RELAY_EVOLUTION_APIKEY to Evolution's AUTHENTICATION_API_KEY" in output
    assert "a-wrong-key" not in output


async def test_no_server_and_not_evolution_fail_with_their_own_words(
    tmp_path: Path, database_url: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output = await run_check(tmp_path, **base_env(database_url, url))
    assert code == 1
    assert verdicts(output)["evolution"] == "FAIL"
    assert "is unreachable (connection refused)" in output
    assert verdicts(output)["api key"] == "skip"


async def test_check_reports_websocket_output_off(tmp_path: Path, database_url: str) -> None:
    sim = Simulator(SimConfig(apikey=KEY, websocket_enabled=False))
    await sim.start("127.0.0.1", 0)
    try:
        assert sim.server_url
        code, output = await run_check(tmp_path, **base_env(database_url, sim.server_url))
    finally:
        await sim.stop()
    assert code == 1
    assert verdicts(output)["websocket output"] == "FAIL"
    assert "WEBSOCKET_ENABLED=true" in output


@pytest.mark.parametrize("global_events", [False, True])
async def test_global_mode_is_not_verified_without_probe_and_verified_with_it(
    tmp_path: Path, database_url: str, global_events: bool
) -> None:
    sim = Simulator(SimConfig(apikey=KEY, global_events=global_events, delete_delay=0.05))
    await sim.start("127.0.0.1", 0)
    try:
        assert sim.server_url
        env = base_env(database_url, sim.server_url, RELAY_EVOLUTION_EVENTS_MODE="global")
        code, output = await run_check(tmp_path, **env)
        assert code == 0 and verdicts(output)["events"] == "skip", output
        assert "`evo-relay check --probe`" in output
        code, output = await run_check(tmp_path, "--probe", **env)
        created = sim.calls.matching("POST", "/instance/create")
        deleted = sim.calls.matching("DELETE", "/instance/delete/")
    finally:
        await sim.stop()
    assert len(created) == 1 and len(deleted) == 1  # the throwaway instance is gone again
    if global_events:
        assert code == 0 and verdicts(output)["events"] == "ok", output
    else:
        assert code == 1 and verdicts(output)["events"] == "FAIL", output
        assert "WEBSOCKET_GLOBAL_EVENTS is off" in output


async def test_check_reads_the_services_env_file(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    env_file = tmp_path / "service.env"
    lines = [f"{k}={v}" for k, v in base_env(database_url, simulator.server_url).items()]
    env_file.write_text("\n".join(lines) + "\n")
    code, output = await run_check(tmp_path, env_file=env_file)
    assert code == 0, output
    assert f"valid (env file {env_file})" in output


async def test_a_busy_port_fails_the_listen_item(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        env = base_env(database_url, simulator.server_url, RELAY_PORT=port)
        code, output = await run_check(tmp_path, **env)
    assert code == 1
    assert verdicts(output)["listen address"] == "FAIL"
    assert "address already in use" in output
