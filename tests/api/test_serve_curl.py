"""The curl examples of docs/api.md, replayed byte for byte against a real ``evo-relay serve``.

The daemon runs as a subprocess in front of the simulator (in this process, on a loopback
port) and the test's Postgres schema. ``TOKEN`` comes from ``evo-relay token``, as the docs
show; only the port differs from the docs (a free one instead of 3001). The lines replayed are
those of ``curl_examples.sh``, and a test checks that docs/api.md shows exactly those lines.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import JWT_SECRET, REPO, MakeSimulator, free_port
from tests.support import clean_env, wait_healthy

from .conftest import SIM_KEY, sim_config

BIN = Path(sys.executable).parent / "evo-relay"
DOCS_BASE = "http://127.0.0.1:3001"

EXAMPLES = Path(__file__).with_name("curl_examples.sh")
DOCS = REPO / "docs" / "api.md"


def _examples() -> tuple[str, list[tuple[str, str | None]]]:
    """(the TOKEN line, [(curl line, expected message or None)]) from ``curl_examples.sh``."""
    token_line = ""
    calls: list[tuple[str, str | None]] = []
    for line in EXAMPLES.read_text().splitlines():
        if line.startswith("TOKEN="):
            token_line = line
        elif line.startswith("curl "):
            calls.append((line, None))
        elif line.startswith("#> "):
            calls[-1] = (calls[-1][0], line[3:])
    return token_line, calls


def test_replayed_lines_are_the_ones_docs_api_shows() -> None:
    """docs/api.md shows the TOKEN line and every replayed curl line, verbatim, in order."""
    token_line, calls = _examples()
    replayed = [token_line, *(line for line, _ in calls)]
    wanted = set(replayed)
    shown = [line for line in DOCS.read_text().splitlines() if line in wanted]
    assert shown == replayed


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path, make_simulator: MakeSimulator
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    sim = await make_simulator(sim_config(first_qr_delay=0.05))
    assert sim.base_url
    port = free_port()
    env = clean_env(
        RELAY_PORT=str(port),
        RELAY_DATABASE_URL=database_url,
        RELAY_EVOLUTION_URL=sim.base_url,
        RELAY_EVOLUTION_APIKEY=SIM_KEY,
        RELAY_JWT_SECRET=JWT_SECRET,
        RELAY_LOG_LEVEL="WARNING",
    )
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(base + "/healthz", 20, proc)
        yield base, env
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 15)


async def _shell(line: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", line, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_docs_curl_examples_against_evo_relay_serve(
    served: tuple[str, dict[str, str]],
) -> None:
    base, env = served
    token_line, examples = _examples()
    env = {**env, "PATH": f"{BIN.parent}:{env.get('PATH', '')}"}
    code, token = await _shell(token_line + ' && printf %s "$TOKEN"', env)
    assert code == 0 and token.count(".") == 2
    env["TOKEN"] = token
    assert len(examples) == 13
    answers: list[Any] = []
    for line, message in examples:
        code, out = await _shell(line.replace(DOCS_BASE, base), env)
        assert code == 0, line
        body = json.loads(out)
        answers.append(body)
        if message is not None:
            assert body["success"] is True and body["message"] == message, (line, body)
    listed, websocket, webhook, status, audit, openapi = (
        answers[2], answers[4], answers[6], answers[7], answers[10], answers[12]
    )  # fmt: skip
    assert [i["instanceName"] for i in listed["instances"]] == ["minha-instancia"]
    assert websocket["websocket"]["events"][:2] == ["MESSAGES_UPSERT", "CONNECTION_UPDATE"]
    assert "QRCODE_UPDATED" in websocket["websocket"]["events"]
    assert webhook["webhook"]["url"] == "https://example.com/hook"
    assert status["instance"]["instanceName"] == "minha-instancia" and status["history"]
    assert [e["action"] for e in audit["entries"]] == [
        "logout", "restart", "webhook.set", "websocket.set", "connect", "create",
    ]  # fmt: skip
    assert openapi["openapi"].startswith("3.1")
