"""Where a run's outputs go: ``<root>/<YYYY-MM-DD>/`` and the ``<root>/latest`` pointer.

A run writes one ``<scenario>.json`` per scenario into the folder of its (UTC) date, then the
folder's ``latest.md`` (the table) and ``latest.png`` (the plot). ``latest`` is a relative
symlink naming the newest folder (a checkout without symlinks sees a one-line text file with
the folder's name), so ``bench/results/latest/latest.md`` is always the newest table.

A second run on the same day replaces the JSON of the scenarios it runs and keeps the others;
the table is drawn from every JSON of the folder, so ``make bench-micro`` after ``make bench``
adds its rows instead of wiping the day's table.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common.stats import Histogram

LATEST = "latest"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def dated_folder(root: Path, date: str) -> Path:
    folder = root / date
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def point_latest(root: Path, folder: Path) -> None:
    """Make ``root/latest`` name ``folder`` (replaced atomically)."""
    link = root / LATEST
    tmp = root / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, link)


def jsonable(value: Any) -> Any:
    """Histograms become their summary and a thinned CDF; the rest is kept."""
    if isinstance(value, Histogram):
        return {**value.summary(), "cdf": value.cdf()}
    if isinstance(value, dict):
        return {str(k).lstrip("_"): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def write_json(folder: Path, name: str, data: dict[str, Any]) -> None:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(jsonable(data), indent=1, sort_keys=True) + "\n")


def earlier(folder: Path, mode: str, skip: set[str]) -> dict[str, dict[str, Any]]:
    """The folder's scenario JSONs of the same mode, except those in ``skip``."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue  # a half-written file of an interrupted run: not a result
        name = data.get("scenario") if isinstance(data, dict) else None
        if isinstance(name, str) and name not in skip and data.get("mode") == mode:
            found[name] = data
    return found
