"""The Evolution servers the relay follows: a fleet file, or the one-server shorthand.

``RELAY_EVOLUTION_SERVERS`` names a TOML file with one ``[[server]]`` table per server::

    [[server]]
    name = "evo-1"                  # [a-z0-9-]{1,32}; instances are recorded against it
    url = "http://10.0.0.11:8080"
    apikey = "..."                  # or apikey_file = "/etc/evo-relay/evo-1.key"
    events_mode = "instance"        # or "global"
    capacity = 500                  # optional: how many instances placement may put there

``RELAY_EVOLUTION_URL``/``RELAY_EVOLUTION_APIKEY`` stay as the shorthand for one server named
``default``; giving both forms is a configuration error. Every problem in the file is reported
at once, one line each, naming the server and the field (exit 78).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import SecretStr

EventsMode = Literal["instance", "global"]
DEFAULT_SERVER: Final = "default"
NAME: Final = re.compile(r"[a-z0-9-]{1,32}")
_FIELDS: Final = frozenset(
    {"name", "url", "apikey", "apikey_file", "events_mode", "capacity", "timeout"}
)


@dataclass(frozen=True, slots=True)
class EvolutionServer:
    """One Evolution server as the daemon follows it: complete and typed."""

    name: str
    url: str
    apikey: SecretStr
    events_mode: EventsMode
    timeout: float
    capacity: int | None = None


def check_url(value: object) -> str | None:
    """The problem with an Evolution base URL, or None."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    if len(value) < 10:
        return "must be an http:// or https:// URL"
    return None


def load_fleet(path: Path, *, default_timeout: float) -> tuple[list[EvolutionServer], list[str]]:
    """The servers of the fleet file, and every problem found (empty when it is valid)."""
    where = f"RELAY_EVOLUTION_SERVERS ({path})"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [], [f"{where}: cannot read the file: {exc.strerror or exc}"]
    except tomllib.TOMLDecodeError as exc:
        return [], [f"{where}: not valid TOML: {exc}"]
    tables = document.get("server")
    if not isinstance(tables, list) or not tables:
        return [], [f"{where}: no [[server]] table"]
    servers: list[EvolutionServer] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        server, found = _server(table, index, default_timeout, path.parent)
        problems.extend(f"{where}: {problem}" for problem in found)
        if server is None:
            continue
        if server.name in seen:
            problems.append(f"{where}: server {server.name!r}: name: used twice")
            continue
        seen.add(server.name)
        servers.append(server)
    return servers, problems


def _server(
    table: dict[str, Any], index: int, default_timeout: float, base: Path
) -> tuple[EvolutionServer | None, list[str]]:
    name = table.get("name")
    label = f"server {name!r}" if isinstance(name, str) and name else f"server #{index}"
    problems = [f"{label}: {key}: unknown field" for key in sorted(set(table) - _FIELDS)]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"{label}: name: required, 1-32 characters of a-z, 0-9 and -")
    url = table.get("url")
    url_problem = check_url(url)
    if url_problem:
        problems.append(f"{label}: url: {'required' if url is None else url_problem}")
    apikey, key_problem = _apikey(table, base)
    if key_problem:
        problems.append(f"{label}: {key_problem}")
    mode = table.get("events_mode", "instance")
    if mode not in ("instance", "global"):
        problems.append(f"{label}: events_mode: must be instance or global")
    capacity = table.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or capacity < 0):
        problems.append(f"{label}: capacity: must be a whole number, 0 or more")
    timeout = table.get("timeout", default_timeout)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        problems.append(f"{label}: timeout: must be seconds, more than 0 and at most 600")
    if problems:
        return None, problems
    assert isinstance(url, str) and apikey is not None  # checked above
    return (
        EvolutionServer(
            name=str(name), url=url.rstrip("/"), apikey=apikey, events_mode=mode,
            timeout=float(timeout), capacity=capacity,
        ),
        [],
    )  # fmt: skip


def _apikey(table: dict[str, Any], base: Path) -> tuple[SecretStr | None, str | None]:
    key, key_file = table.get("apikey"), table.get("apikey_file")
    if key is not None and key_file is not None:
        return None, "apikey, apikey_file: give one of them, not both"
    if key_file is not None:
        if not isinstance(key_file, str):
            return None, "apikey_file: must be a path"
        try:
            key = (base / key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, f"apikey_file: cannot read {key_file}: {exc.strerror or exc}"
    if not isinstance(key, str) or not key:
        return None, "apikey: required (or apikey_file)"
    return SecretStr(key), None
