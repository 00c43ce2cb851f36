"""bench/results layout: dated folders, the ``latest`` pointer, and same-day runs kept."""

from __future__ import annotations

from pathlib import Path

from bench.common import results


def test_latest_names_the_newest_dated_folder(tmp_path: Path) -> None:
    first = results.dated_folder(tmp_path, "2026-11-29")
    results.point_latest(tmp_path, first)
    second = results.dated_folder(tmp_path, "2026-11-30")
    results.point_latest(tmp_path, second)
    latest = tmp_path / "latest"
    assert latest.is_symlink() and str(latest.readlink()) == "2026-11-30"
    assert latest.resolve() == second.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-29", "2026-11-30", "latest"]


def test_a_later_run_of_the_day_keeps_the_other_scenarios(tmp_path: Path) -> None:
    folder = results.dated_folder(tmp_path, "2026-11-29")
    results.write_json(folder, "storm", {"scenario": "storm", "mode": "full", "servers": {}})
    results.write_json(folder, "idle", {"scenario": "idle", "mode": "full", "servers": {}})
    results.write_json(folder, "fanout", {"scenario": "fanout", "mode": "smoke"})
    (folder / "broken.json").write_text('{"scenario": ')  # an interrupted run's file
    kept = results.earlier(folder, "full", skip={"idle"})
    assert list(kept) == ["storm"]
    assert kept["storm"]["servers"] == {}
