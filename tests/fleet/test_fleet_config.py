"""The fleet file is validated like the rest of the configuration: every problem at once, one
line each naming the server and the field, exit 78 from ``evo-relay serve``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from relay.config import Settings, load_settings
from relay.errors import ConfigError
from relay.servers import load_fleet
from simulator import SimConfig
from tests.conftest import JWT_SECRET, MakeSimulator
from tests.fleet.conftest import KEYS, fleet_file
from tests.foundation.test_check import run_check, verdicts
from tests.support import clean_env

GOOD = """
[[server]]
name = "evo-1"
url = "http://10.0.0.11:8080"
apikey = "k1"
capacity = 500

[[server]]
name = "evo-2"
url = "https://evo-2.internal"
apikey_file = "evo-2.key"
events_mode = "global"
"""


def test_a_valid_fleet_file(tmp_path: Path) -> None:
    (tmp_path / "evo-2.key").write_text("k2\n")
    (tmp_path / "fleet.toml").write_text(GOOD)
    settings = load_settings(evolution_servers=tmp_path / "fleet.toml", jwt_secret=JWT_SECRET)
    one, two = settings.servers()
    assert (one.name, one.url, one.apikey.get_secret_value(), one.capacity) == (
        "evo-1", "http://10.0.0.11:8080", "k1", 500)  # fmt: skip
    assert (two.name, two.apikey.get_secret_value(), two.events_mode, two.capacity) == (
        "evo-2", "k2", "global", None)  # fmt: skip
    assert "k1" not in repr(one) and "k2" not in repr(two)


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ('[[server]]\nname = "evo-1"\nurl = "http://h:8080"\n',
         ["server 'evo-1': apikey: required (or apikey_file)"]),
        ('[[server]]\nurl = "ftp://h"\napikey = "k"\nspeed = 3\n',
         ["server #1: speed: unknown field",
          "server #1: name: required, 1-32 characters of a-z, 0-9 and -",
          "server #1: url: must be an http:// or https:// URL"]),
        ('[[server]]\nname = "a"\nurl = "http://h1:8080"\napikey = "k"\n'
         '[[server]]\nname = "a"\nurl = "http://h2:8080"\napikey = "k"\n',
         ["server 'a': name: used twice"]),
        ('[[server]]\nname = "Evo_1"\nurl = "http://h1:8080"\napikey = "k"\ncapacity = -1\n'
         'events_mode = "all"\n',
         ["server 'Evo_1': name: required, 1-32 characters of a-z, 0-9 and -",
          "server 'Evo_1': events_mode: must be instance or global",
          "server 'Evo_1': capacity: must be a whole number, 0 or more"]),
        ("", ["no [[server]] table"]),
        ("[[server\n", ["not valid TOML"]),
    ],
)  # fmt: skip
def test_every_problem_is_named(tmp_path: Path, text: str, problems: list[str]) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    _, found = load_fleet(path, default_timeout=15)
    assert len(found) == len(problems), found
    for line, expected in zip(found, problems, strict=True):
        assert line.startswith(f"RELAY_EVOLUTION_SERVERS ({path}): ")
        assert expected in line


def test_both_forms_are_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text('[[server]]\nname = "a"\nurl = "http://h:1"\napikey = "k"')
    settings = Settings(
        _env_file=None, evolution_servers=tmp_path / "fleet.toml",  # type: ignore[call-arg]
        evolution_url="http://127.0.0.1:8080", jwt_secret=JWT_SECRET,
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        settings.servers()
    assert caught.value.problems == [
        "RELAY_EVOLUTION_URL: not with RELAY_EVOLUTION_SERVERS (the fleet file names every "
        "server; the shorthand is for one server only)"
    ]


async def test_serve_exits_78_with_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[[server]]\nname = "b"\n\n[[server]]\nname = "a"\nurl = "http://h:1"\n'
        'apikey = "k"\n\n[[server]]\nname = "a"\nurl = "http://h:2"\napikey = "k"\n'
    )
    env = clean_env(RELAY_EVOLUTION_SERVERS=str(path), RELAY_JWT_SECRET=JWT_SECRET,
                    RELAY_DATA_DIR=str(tmp_path / "data"))  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    lines = [line for line in output.decode().splitlines() if "RELAY_EVOLUTION_SERVERS" in line]
    assert proc.returncode == 78, output.decode()
    assert len(lines) == 3, lines  # the url and apikey of "b"; the name "a" twice
    assert any("server 'b': url: required" in line for line in lines)
    assert any("server 'b': apikey: required" in line for line in lines)
    assert any("server 'a': name: used twice" in line for line in lines)


async def test_check_gives_a_verdict_per_server(
    tmp_path: Path, database_url: str, make_simulator: MakeSimulator
) -> None:
    sims = {name: await make_simulator(SimConfig(apikey=key)) for name, key in KEYS.items()}
    path = fleet_file(tmp_path / "fleet.toml", sims, {})
    await sims["evo-b"].stop()  # one server down: only its items fail
    code, output = await run_check(
        tmp_path, RELAY_DATABASE_URL=database_url, RELAY_JWT_SECRET=JWT_SECRET,
        RELAY_EVOLUTION_SERVERS=str(path),
    )  # fmt: skip
    found = verdicts(output)
    assert code == 1, output
    assert found["evolution [evo-a]"] == "ok" and found["api key [evo-a]"] == "ok"
    assert found["evolution [evo-b]"] == "FAIL", output
