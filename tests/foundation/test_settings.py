"""Invalid configuration: exit 78 and one line per problem naming the variable, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from relay.config import load_settings
from relay.errors import ConfigError
from tests.conftest import JWT_SECRET
from tests.support import clean_env

VALID = {
    "RELAY_EVOLUTION_URL": "http://127.0.0.1:9",
    "RELAY_EVOLUTION_APIKEY": "k" * 12,
    "RELAY_JWT_SECRET": JWT_SECRET,
    "RELAY_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
}


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=clean_env(**env),
        cwd=tmp_path,  # no stray .env file
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RELAY_PORT", "not-a-port", "RELAY_PORT: Input should be a valid integer"),
        ("RELAY_PORT", "70000", "RELAY_PORT: Input should be less than or equal to 65535"),
        ("RELAY_EVOLUTION_URL", "ftp://evolution", "RELAY_EVOLUTION_URL: must be an http"),
        ("RELAY_DATABASE_URL", "mysql://db", "RELAY_DATABASE_URL: must be a postgresql:// DSN"),
        ("RELAY_JWT_SECRET", "short", "RELAY_JWT_SECRET: must be at least 32 bytes"),
        ("RELAY_JWT_ALGORITHMS", "none", "RELAY_JWT_ALGORITHMS: unsupported algorithm(s) none"),
        ("RELAY_JWT_ALGORITHMS", "RS256", "RELAY_JWT_PUBLIC_KEY: required by RS*/ES*"),
        ("RELAY_EVOLUTION_EVENTS_MODE", "both", "RELAY_EVOLUTION_EVENTS_MODE: Input should be"),
        ("RELAY_EVOLUTION_TIMEOUT", "-1", "RELAY_EVOLUTION_TIMEOUT: Input should be greater"),
        ("RELAY_LOG_FORMAT", "xml", "RELAY_LOG_FORMAT: Input should be 'text' or 'json'"),
        ("RELAY_LOG_LEVEL", "loud", "RELAY_LOG_LEVEL: Input should be"),
        ("RELAY_RECONCILE_INTERVAL", "0", "RELAY_RECONCILE_INTERVAL: Input should be greater"),
    ],
)
def test_invalid_value_exits_78_naming_the_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = run_cli(tmp_path, "serve", **{**VALID, variable: value})
    assert result.returncode == 78, result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("evo-relay: config error: ") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", **{**VALID, "RELAY_PORT": "x", "RELAY_LOG_FORMAT": "y"})
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("evo-relay: config error: RELAY_PORT:")
    assert lines[1].startswith("evo-relay: config error: RELAY_LOG_FORMAT:")


def test_serve_requires_evolution_and_a_jwt_key(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", RELAY_DATABASE_URL=VALID["RELAY_DATABASE_URL"])
    assert result.returncode == 78
    assert "RELAY_EVOLUTION_URL: required by serve" in result.stderr
    assert "RELAY_EVOLUTION_APIKEY: required by serve" in result.stderr
    assert "RELAY_JWT_SECRET: required" in result.stderr


def test_unusable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {k: v for k, v in VALID.items() if k != "RELAY_DATABASE_URL"}
    result = run_cli(tmp_path, "migrate", **env, RELAY_DATA_DIR=str(blocker / "data"))
    assert result.returncode == 78, result.stderr
    assert "RELAY_DATA_DIR: cannot run the embedded Postgres" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_flags_override_the_environment(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--port", "99999", **VALID)
    assert result.returncode == 78
    assert "RELAY_PORT: Input should be less than or equal to 65535" in result.stderr


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("RELAY_")]:
        monkeypatch.delenv(key)
    (tmp_path / ".env").write_text("RELAY_PORT=4555\nRELAY_CORS_ORIGINS=http://a, http://b\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.port == 4555
    assert settings.cors_origins == ["http://a", "http://b"]


def test_secrets_never_in_repr() -> None:
    settings = load_settings(
        jwt_secret=JWT_SECRET,
        evolution_apikey="super-secret-apikey",
        database_url="postgresql://u:dbpassword@h/db",
    )
    text = repr(settings) + str(settings)
    for secret in (JWT_SECRET, "super-secret-apikey", "dbpassword"):
        assert secret not in text
    assert isinstance(settings.evolution_apikey, SecretStr)


def test_load_settings_raises_config_error_with_all_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(port=-1, log_format="xml")
    assert [p.split(":")[0] for p in caught.value.problems] == ["RELAY_PORT", "RELAY_LOG_FORMAT"]
