"""The real process: `evo-relay serve` on the embedded database, `token`, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import jwt

from simulator import SimConfig
from tests.conftest import JWT_SECRET, MakeSimulator, free_port
from tests.support import clean_env, wait_healthy


def relay_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    defaults = {
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_JWT_SECRET": JWT_SECRET,
        "RELAY_EVOLUTION_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "RELAY_EVOLUTION_APIKEY": "test-global-apikey",
    }
    return clean_env(**defaults) | extra


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill what is still running and close its pipe (no ResourceWarning later)."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def start_serve(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", "--port", str(port)],
        env=relay_env(tmp_path, **env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_serve_on_embedded_postgres_stops_on_sigterm_and_restarts(tmp_path: Path) -> None:
    for run in range(2):  # the second start reuses the data dir the first one left
        port = free_port()
        proc = start_serve(tmp_path, port)
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz", 45, proc)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=5)
        finally:
            stop(proc)
        assert proc.returncode == 0, output
        assert "evo-relay stopped after" in output, f"run {run}: {output}"
        assert "Traceback" not in output
    assert (tmp_path / "data" / "pg" / "PG_VERSION").exists()


def test_token_mints_a_jwt_that_decodes_with_the_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay", "token", "--tenant", "acme", "--role", "admin",
         "--user", "u1", "--ttl", "120"],
        env=relay_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=30,
        check=True,
    )  # fmt: skip
    claims = jwt.decode(result.stdout.strip(), JWT_SECRET, algorithms=["HS256"])
    assert (claims["tenantId"], claims["role"], claims["sub"]) == ("acme", "ADMIN", "u1")
    assert claims["exp"] - claims["iat"] == 120


def test_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay", "token", "--tenant", "a", "--role", "root", "--user", "u"],
        env=relay_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 78
    assert "--role: must be one of USER, ADMIN, SUPERADMIN" in result.stderr


async def test_ctrl_c_with_the_upstream_connected_shuts_down_in_order(
    tmp_path: Path, database_url: str, make_simulator: MakeSimulator
) -> None:
    """A Socket.IO client must not take over SIGINT (python-socketio's default does)."""
    sim = await make_simulator(SimConfig(apikey="sim-key-0123"))
    port = free_port()
    proc = start_serve(
        tmp_path, port, RELAY_DATABASE_URL=database_url, RELAY_EVOLUTION_URL=sim.base_url or "",
        RELAY_EVOLUTION_APIKEY="sim-key-0123",
    )  # fmt: skip
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/readyz", 30, proc)
        proc.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(proc.communicate, timeout=5)
    finally:
        stop(proc)
    assert proc.returncode == 0, output
    assert "evo-relay stopped after" in output
    assert "Traceback" not in output and "CancelledError" not in output
