"""The version gate in front of the library internals that two fast paths rest on.

- ``fanout`` (``relay.hub.fanout``): python-socketio's rooms, python-engineio's sockets, queues
  and aiohttp websocket driver, and the way aiohttp writes a frame; the stock path is
  ``relay.hub.stock_fanout`` (``AsyncServer.emit``). With it, ``relay.hub.sessions``: one
  ping timer for every engine.io session and a two-task websocket loop, over python-engineio's
  ``AsyncSocket`` and server (guarded by ``tests/hub/test_sessions_internals.py``); the stock
  path keeps engine.io's own ping tasks, service task and loop.
- ``upstream`` (``relay.upstream.socket``): python-socketio's client packet sender and its
  namespace bookkeeping, to join Evolution's namespaces on one live connection; the stock path
  is ``relay.upstream.per_namespace`` (one public ``AsyncClient`` per namespace).

Both were tested against the minor versions in :data:`TESTED`; pyproject.toml pins the same
minors, and ``tests/hub/test_fanout_internals.py`` and ``tests/upstream/test_socket_internals.py``
check every internal. :func:`check` runs once, when the app is built: a component whose
libraries are not the tested minors gets its stock path (slower, or more connections, but
correct), the daemon says so in one warning line, and ``relay_fast_path{component}`` is 0.
Nothing is checked per event: each component picks its implementation once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import Final

from relay.metrics import Metrics

log = logging.getLogger(__name__)

# distribution -> the minor version the internals were tested with (keep pyproject in step)
TESTED: Final[Mapping[str, str]] = MappingProxyType(
    {"python-socketio": "5.18", "python-engineio": "4.15", "aiohttp": "3.14"}
)
# component -> the distributions whose internals it uses
RESTS_ON: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "fanout": ("python-socketio", "python-engineio", "aiohttp"),
    "upstream": ("python-socketio", "python-engineio"),
})  # fmt: skip

# distribution -> installed version (None: not installed)
Versions = Mapping[str, str | None]


def installed() -> dict[str, str | None]:
    """The installed version of every library in :data:`TESTED`."""
    found: dict[str, str | None] = {}
    for name in TESTED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def minor(release: str) -> str:
    """``"3.14.5"`` -> ``"3.14"`` (pre-release and local tags stay on the patch part)."""
    return ".".join(release.split(".")[:2])


@dataclass(frozen=True, slots=True)
class Mismatch:
    library: str
    found: str | None
    tested: str

    def __str__(self) -> str:
        return f"{self.library} {self.found or '(not installed)'} (tested {self.tested}.x)"


@dataclass(frozen=True, slots=True)
class FastPaths:
    """Which components may use their fast path; decided once, at start-up."""

    fanout: bool
    upstream: bool
    mismatches: tuple[Mismatch, ...] = ()


def mismatches(versions: Versions) -> tuple[Mismatch, ...]:
    """Every library of :data:`TESTED` whose installed minor is not the tested one."""
    out = []
    for library, tested in TESTED.items():
        found = versions.get(library)
        if found is None or minor(found) != tested:
            out.append(Mismatch(library, found, tested))
    return tuple(out)


def check(metrics: Metrics, versions: Versions | None = None) -> FastPaths:
    """Compare the installed versions (or ``versions``, for tests) with :data:`TESTED`; set
    ``relay_fast_path{component}`` and, when anything differs, log one warning."""
    differ = mismatches(installed() if versions is None else versions)
    untested = {m.library for m in differ}
    allowed = {component: not untested.intersection(libraries)
               for component, libraries in RESTS_ON.items()}  # fmt: skip
    for component, fast in allowed.items():
        metrics.fast_path.labels(component).set(1 if fast else 0)
    if differ:
        stock = [component for component, fast in allowed.items() if not fast]
        log.warning(
            "untested library versions: %s; using the stock path for %s (slower, but no "
            "library internals; pin the tested versions to get the fast path back)",
            ", ".join(map(str, differ)), " and ".join(stock),
        )  # fmt: skip
    return FastPaths(fanout=allowed["fanout"], upstream=allowed["upstream"], mismatches=differ)
