"""The micro-benchmarks (:mod:`bench.micro`) as one scenario of the driver: ``micro``.

Each script runs as its own process (``python -m bench.micro.<name> --json``) on the run's
Postgres, at its default sizes (``--smoke``: tiny ones), one after another; its JSON line of
figures becomes ``servers["evo-relay"][<name>]``. ``make bench-micro`` runs only this.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from bench.common.harness import Harness
from bench.common.procs import LineProcess

log = logging.getLogger(__name__)

SCRIPTS = ("fanout_micro", "e2e_latency", "restart_latency")


async def run_script(h: Harness, name: str, options: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", f"bench.micro.{name}", *options.split(), "--json",
            "--database-url", h.root_dsn, "--log-dir", str(h.log_dir)]  # fmt: skip
    proc = await LineProcess.spawn(f"micro-{name}", argv, h.log_dir, stdin=True)
    try:
        figures = await proc.read_reply(wait=h.sizes.micro_wait)
    finally:
        await proc.stop()
    log.info("micro %s: %s", name, figures)
    return figures


async def micro(h: Harness) -> dict[str, Any]:
    args = {
        "fanout_micro": h.sizes.micro_fanout,
        "e2e_latency": h.sizes.micro_e2e,
        "restart_latency": h.sizes.micro_restart,
    }
    figures = {name: await run_script(h, name, args[name]) for name in SCRIPTS}
    return {"servers": {"evo-relay": figures}}
