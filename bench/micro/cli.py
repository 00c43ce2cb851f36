"""What the micro-benchmarks share: their common options and how one runs.

Each script takes ``--database-url`` (default ``BENCH_DATABASE_URL``, else the local server,
else an embedded one: :func:`bench.common.database.database`) and ``--json``: one JSON line of
figures on stdout instead of the human-readable text, which is how the driver's ``micro``
scenario (:mod:`bench.scenarios.micro`) reads them. Child logs go to ``--log-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common.database import database

Figures = dict[str, Any]
Measure = Callable[[argparse.Namespace, str, Path], Awaitable[Figures]]


def parser(doc: str, prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    p.add_argument("--log-dir", type=Path, help="child logs (default: a temporary directory)")
    p.add_argument("--json", action="store_true", help="print one JSON line of figures")
    return p


def run(
    measure: Measure, opts: argparse.Namespace, render: Callable[[Figures], str], *,
    use_uvloop: bool = False,
) -> None:  # fmt: skip
    """Measure with a root DSN and a log directory, then print the figures."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    log_dir: Path = opts.log_dir or Path(tempfile.mkdtemp(prefix="evo-relay-micro-"))

    async def main() -> Figures:
        async with database(opts.database_url, log_dir) as root_dsn:
            return await measure(opts, root_dsn, log_dir)

    if use_uvloop:
        import uvloop

        figures = uvloop.run(main())
    else:
        figures = asyncio.run(main())
    print(json.dumps(figures) if opts.json else render(figures), flush=True)
