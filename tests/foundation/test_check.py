"""`evo-relay check` against the simulator as a real Evolution server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from simulator import SimConfig, Simulator
from tests.conftest import JWT_SECRET, MakeSimulator, free_port
from tests.support import clean_env


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> Simulator:
    return await make_simulator(SimConfig(apikey="sim-global-key"))


async def run_check(
    tmp_path: Path, database_url: str, evolution_url: str, apikey: str
) -> tuple[int, str]:
    env = clean_env(
        RELAY_DATABASE_URL=database_url,
        RELAY_EVOLUTION_URL=evolution_url,
        RELAY_EVOLUTION_APIKEY=apikey,
        RELAY_JWT_SECRET=JWT_SECRET,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "check", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, output.decode()


def verdicts(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith(("ok  ", "FAIL")):
            verdict, rest = line[:4].strip(), line[4:].strip()
            found[rest.split("  ")[0].strip()] = verdict
    return found


async def test_check_passes_against_a_healthy_setup(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    code, output = await run_check(tmp_path, database_url, simulator.server_url, "sim-global-key")
    assert code == 0, output
    assert verdicts(output) == {
        "config": "ok", "database": "ok", "evolution": "ok", "api key": "ok",
        "websocket output": "ok",
    }  # fmt: skip
    assert "version 2.3.6" in output
    assert "sim-global-key" not in output


async def test_check_fails_on_a_wrong_key_and_no_server(
    tmp_path: Path, database_url: str, simulator: Simulator
) -> None:
    assert simulator.server_url
    code, output = await run_check(tmp_path, database_url, simulator.server_url, "wrong-key")
    assert code == 1
    assert verdicts(output)["api key"] == "FAIL"
    assert "wrong-key" not in output

    code, output = await run_check(
        tmp_path, database_url, f"http://127.0.0.1:{free_port()}", "sim-global-key"
    )
    assert code == 1
    assert verdicts(output)["evolution"] == "FAIL"


async def test_check_reports_websocket_output_off(
    tmp_path: Path, database_url: str, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator(SimConfig(apikey="k" * 10, websocket_enabled=False))
    assert sim.server_url
    code, output = await run_check(tmp_path, database_url, sim.server_url, "k" * 10)
    assert code == 1
    assert verdicts(output)["websocket output"] == "FAIL"
    assert "WEBSOCKET_ENABLED=true" in output
