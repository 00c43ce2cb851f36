"""`evo-relay init`, the systemd unit, the demo's ports, root and the embedded Postgres, and
the suite's own log scan."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from relay.cli import main
from relay.config import load_settings
from relay.demo.wiring import port_or_free
from relay.errors import EX_CONFIG, EX_OSERR, ConfigError
from relay.store import embedded
from tests.conftest import REPO
from tests.logscan import SCAN
from tests.support import missing_tool

UNIT = REPO / "systemd" / "evo-relay.service"


def test_init_writes_a_complete_env_file_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "env"
    code = main(["init", "--env-file", str(target), "--data-dir", str(tmp_path / "state"),
                 "--evolution-url", "http://127.0.0.1:8080",
                 "--evolution-apikey", "evolution-key-0123"])  # fmt: skip
    assert code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert f"wrote {target} (mode 0600)" in out and f"evo-relay check --env-file {target}" in out
    settings = load_settings(env_file=target)
    assert settings.problems_for_serve() == []
    assert settings.data_dir == tmp_path / "state"
    secret = settings.jwt_secret
    assert secret is not None and secret.get_secret_value() not in out
    SCAN.register(secret.get_secret_value())
    for line in target.read_text().splitlines():  # systemd's EnvironmentFile= syntax
        assert line == "" or line.startswith("#") or re.fullmatch(r"RELAY_[A-Z_]+=\S*", line)

    assert main(["init", "--env-file", str(target)]) == EX_CONFIG  # never overwrites...
    assert "exists; keep it, or pass --force" in capsys.readouterr().err
    assert main(["init", "--env-file", str(target), "--force"]) == 0  # ...unless told to
    assert load_settings(env_file=target).jwt_secret != secret  # a new secret each time


def test_init_without_evolution_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "env"
    assert main(["init", "--env-file", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"1. set RELAY_EVOLUTION_URL and RELAY_EVOLUTION_APIKEY in {target}" in out
    problems = load_settings(env_file=target).problems_for_serve()
    assert [p.split(":")[0] for p in problems] == ["RELAY_EVOLUTION_URL", "RELAY_EVOLUTION_APIKEY"]


def unit_text() -> str:
    return UNIT.read_text()


def test_unit_restart_policy_matches_the_exit_codes() -> None:
    text = unit_text()
    assert "Type=notify" in text and re.search(r"^WatchdogSec=\d+s$", text, re.M)
    prevented = re.search(r"^RestartPreventExitStatus=(.+)$", text, re.M)
    assert prevented is not None
    assert set(prevented.group(1).split()) == {str(EX_CONFIG), str(EX_OSERR)}  # not 69


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        missing_tool("systemd-analyze is missing: apt-get install systemd (.ci/run does)")
    assert tool is not None
    return tool


def test_unit_verifies(tmp_path: Path) -> None:
    tool = systemd_analyze()
    installed = str(Path(sys.executable).parent / "evo-relay")  # this environment's command
    copy = tmp_path / "evo-relay.service"  # ExecStart must exist for verify
    copy.write_text(unit_text().replace("/opt/evo-relay/bin/evo-relay", installed))
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_unit_security_rating_is_ok_or_better(tmp_path: Path) -> None:
    tool = systemd_analyze()
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.5, found.group(0)
    assert found.group(2) in ("OK", "SAFE", "PERFECT")


def test_demo_gets_its_port_back_right_after_a_stop() -> None:
    """A port whose last connection is in TIME_WAIT is free for a server with SO_REUSEADDR."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    assert port_or_free("127.0.0.1", port) == port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert port_or_free("127.0.0.1", busy.getsockname()[1]) == 0


@pytest.mark.skipif(not hasattr(embedded.os, "geteuid") or embedded.os.geteuid() != 0,
                    reason="only root is refused without the account")  # fmt: skip
def test_root_without_the_postgres_account_is_refused_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "PG_ACCOUNT", "evo-relay-no-such-account")
    with pytest.raises(ConfigError) as caught:
        embedded.EmbeddedPostgres(tmp_path).start_blocking()
    (problem,) = caught.value.problems
    assert "does not create accounts" in problem
    assert "useradd --system --no-create-home --shell /usr/sbin/nologin" in problem
    assert not (tmp_path / "pg").exists()


def test_the_log_scan_sees_a_token_piece_and_a_secret_piece() -> None:
    """The suite-wide scan (tests/conftest.py) must be able to fail."""
    log = logging.getLogger("tests.logscan.selftest")
    SCAN.take()
    log.info("header was Bearer %s", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0")
    SCAN.register("a-registered-secret-value-0123456789")
    log.debug("oops: ...secret-value-01...")
    found = SCAN.take()
    assert [f.split(" in ")[0] for f in found] == ["a JWT piece", "a piece of a registered secret"]
