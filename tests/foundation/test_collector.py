"""The process entry point's collector settings (relay.collector), checked in this process and
put back afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from relay import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    other: Node


def test_startup_objects_are_frozen_and_young_cycles_still_freed(restored: None) -> None:
    collector.tune()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert gc.get_freeze_count() > 10_000  # the imported modules, classes and their objects

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect(0)
    assert gone() is None


def test_the_entry_point_tunes_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    from relay import app

    calls: list[str] = []
    monkeypatch.setattr(collector, "tune", lambda: calls.append("tune"))
    monkeypatch.setattr(app, "serve", lambda *a, **k: calls.append("serve"))
    monkeypatch.setattr("uvloop.run", lambda coro: coro)
    app.run(object())  # type: ignore[arg-type]
    assert calls == ["tune", "serve"]
