"""Every start-up failure an operator can cause: one line saying what and what to do, the
sysexits code (78 configuration, 69 a dependency still down, 71 the port), no traceback.
Each runs the real command, ``python -m relay``, in a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import JWT_SECRET, TEST_APIKEY, free_port
from tests.logscan import assert_clean

TIMEOUT = 60


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "NOTIFY_"))}
    return {
        **clean,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_JWT_SECRET": JWT_SECRET,
        "RELAY_EVOLUTION_URL": f"http://127.0.0.1:{free_port()}",
        "RELAY_EVOLUTION_APIKEY": TEST_APIKEY,
        "RELAY_STARTUP_TIMEOUT": "1",
        **extra,
    }


async def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", *args, env=env_for(tmp_path, **env), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode()
    assert_clean(text)
    return proc.returncode or 0, text


def the_line(output: str, prefix: str) -> str:
    """The one ``evo-relay: …`` line, after checking there is exactly one and no traceback."""
    lines = [line for line in output.splitlines() if line.startswith("evo-relay: ")]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    assert lines[0].startswith(prefix), output
    return lines[0]


@pytest.mark.parametrize("command", ["serve", "migrate"])
async def test_database_unreachable_exits_69_after_the_wait(tmp_path: Path, command: str) -> None:
    port = free_port()
    code, output = await run(
        tmp_path, command, RELAY_DATABASE_URL=f"postgresql://evo:pw@127.0.0.1:{port}/evo"
    )
    assert code == 69, output
    line = the_line(output, "evo-relay: unavailable: database unreachable at ")
    assert f"evo@127.0.0.1:{port}/evo" in line and "connection refused" in line
    assert "start Postgres, or fix the host and port in RELAY_DATABASE_URL" in line
    assert ":pw@" not in output


@pytest.fixture
async def refusing_postgres() -> AsyncIterator[int]:
    """A server that speaks just enough of Postgres' protocol to refuse a password (28P01)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            size = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(size - 4)
            if body[:4] != (80877103).to_bytes(4, "big"):  # not an SSLRequest: the startup
                break
            writer.write(b"N")  # no TLS here
        fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "evo"\0\0'
        writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_wrong_password_exits_78_at_once(tmp_path: Path, refusing_postgres: int) -> None:
    dsn = f"postgresql://evo:wrong-pass@127.0.0.1:{refusing_postgres}/evo"
    code, output = await run(tmp_path, "serve", RELAY_DATABASE_URL=dsn)
    assert code == 78, output
    line = the_line(output, "evo-relay: config error: database at evo@127.0.0.1:")
    assert 'password authentication failed for user "evo"' in line
    assert "fix the user, password or database name in RELAY_DATABASE_URL" in line
    assert "wrong-pass" not in output


async def test_unknown_database_exits_78(tmp_path: Path, pg_root_dsn: str) -> None:
    base, _, query = pg_root_dsn.partition("?")
    dsn = base.rsplit("/", 1)[0] + "/no_such_database" + (f"?{query}" if query else "")
    code, output = await run(tmp_path, "migrate", RELAY_DATABASE_URL=dsn)
    assert code == 78, output
    line = the_line(output, "evo-relay: config error: database at ")
    assert 'database "no_such_database" does not exist' in line


async def test_failing_migration_exits_78(
    tmp_path: Path, pg_root_dsn: str, database_url: str
) -> None:
    role = f"ro_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_root_dsn)
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
        user = pg_root_dsn.split("://", 1)[1].split("@", 1)[0]
        dsn = database_url.replace(f"//{user}@", f"//{role}:pw-{role}@", 1)
        code, output = await run(tmp_path, "serve", RELAY_DATABASE_URL=dsn)
    finally:
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()
    assert code == 78, output
    line = the_line(output, "evo-relay: config error: database migration ")
    assert "failed:" in line and ("grant the database user CREATE" in line or "fix" in line)


async def test_busy_port_exits_71_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, output = await run(tmp_path, "serve", "--port", str(port))
        assert code == 71, output
        line = the_line(output, f"evo-relay: cannot listen: cannot listen on 127.0.0.1:{port}: ")
        assert "address already in use" in line and "RELAY_PORT" in line
        assert not (tmp_path / "data").exists()  # not even the embedded Postgres was started

        code, output = await run(tmp_path, "serve", "--port", str(port), "--log-level", "DEBUG")
        assert code == 71
        assert "Traceback" in output  # --log-level DEBUG shows where it came from


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("change-me-to-32-bytes-or-more-of-randomness", "is a placeholder, not a secret"),
        ("a" * 48, "is too predictable"),
        ("short", "must be at least 32 bytes"),
    ],
)
async def test_placeholder_or_weak_secret_exits_78_pointing_at_init(
    tmp_path: Path, secret: str, expected: str
) -> None:
    code, output = await run(tmp_path, "serve", RELAY_JWT_SECRET=secret)
    assert code == 78, output
    line = the_line(output, "evo-relay: config error: RELAY_JWT_SECRET: ")
    assert expected in line and "`evo-relay init`" in line
    assert secret not in line


async def test_the_readme_example_prints_both_problems(tmp_path: Path) -> None:
    """RELAY_PORT=70000 RELAY_JWT_SECRET=short evo-relay serve: two lines, not one."""
    code, output = await run(tmp_path, "serve", RELAY_PORT="70000", RELAY_JWT_SECRET="short")
    assert code == 78
    lines = [line for line in output.splitlines() if line.startswith("evo-relay: ")]
    assert lines == [
        "evo-relay: config error: RELAY_PORT: Input should be less than or equal to 65535",
        "evo-relay: config error: RELAY_JWT_SECRET: must be at least 32 bytes (it has 5); "
        "generate one with `evo-relay init`",
    ]


async def test_version(tmp_path: Path) -> None:
    code, output = await run(tmp_path, "--version")
    assert code == 0
    assert output.startswith("evo-relay 0.") or output.startswith("evo-relay 1.")
