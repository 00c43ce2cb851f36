"""``relay.internals``: the start-up gate in front of the library internals the fast paths use.

The version table is injected (``check(metrics, versions)``); nothing is patched.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from relay import internals
from relay.internals import TESTED, FastPaths, check, installed, minor, mismatches
from relay.metrics import Metrics

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def gauge(metrics: Metrics, component: str) -> float | None:
    return metrics.registry.get_sample_value("relay_fast_path", {"component": component})


def test_tested_minors_are_the_pyproject_pins() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for library, tested in TESTED.items():
        major, minor_ = tested.split(".")
        pin = f"{library}>={tested},<{major}.{int(minor_) + 1}"
        assert pin in dependencies, f"pyproject.toml must pin {pin} (relay/internals.py TESTED)"


def test_the_installed_versions_get_every_fast_path(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    with caplog.at_level(logging.WARNING, logger="relay.internals"):
        assert check(metrics) == FastPaths(fanout=True, upstream=True)
    assert caplog.records == []
    assert gauge(metrics, "fanout") == 1 and gauge(metrics, "upstream") == 1


@pytest.mark.parametrize(
    ("library", "found", "fanout", "upstream"),
    [
        ("python-socketio", "5.19.0", False, False),
        ("python-engineio", "4.14.2", False, False),
        ("aiohttp", "3.15.0", False, True),
        ("aiohttp", "4.0.0a1", False, True),
    ],
)
def test_a_component_falls_back_only_for_its_own_libraries(
    caplog: pytest.LogCaptureFixture, library: str, found: str, fanout: bool, upstream: bool
) -> None:
    metrics = Metrics()
    with caplog.at_level(logging.WARNING, logger="relay.internals"):
        paths = check(metrics, {**installed(), library: found})
    assert (paths.fanout, paths.upstream) == (fanout, upstream)
    assert gauge(metrics, "fanout") == int(fanout) and gauge(metrics, "upstream") == int(upstream)
    (record,) = caplog.records  # one line, however many components fall back
    assert record.levelno == logging.WARNING
    assert f"{library} {found} (tested {TESTED[library]}.x)" in record.getMessage()


def test_several_untested_libraries_still_make_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    versions = {"python-socketio": "5.18.9", "python-engineio": "4.16.0"}  # aiohttp missing
    with caplog.at_level(logging.WARNING, logger="relay.internals"):
        paths = check(Metrics(), versions)
    assert paths == FastPaths(fanout=False, upstream=False, mismatches=paths.mismatches)
    assert [m.library for m in paths.mismatches] == ["python-engineio", "aiohttp"]
    (record,) = caplog.records
    message = record.getMessage()
    assert "python-engineio 4.16.0 (tested 4.15.x)" in message
    assert "aiohttp (not installed) (tested 3.14.x)" in message
    assert "fanout and upstream" in message and "python-socketio" not in message


@pytest.mark.parametrize(
    ("release", "expected"),
    [("3.14.5", "3.14"), ("3.14", "3.14"), ("4.15.0rc1", "4.15"), ("3.140.1", "3.140")],
)
def test_minor(release: str, expected: str) -> None:
    assert minor(release) == expected


def test_patch_releases_and_pre_releases_of_the_tested_minor_pass() -> None:
    versions = {name: f"{tested}.99rc1" for name, tested in TESTED.items()}
    assert mismatches(versions) == ()
    assert internals.RESTS_ON.keys() == {"fanout", "upstream"}
