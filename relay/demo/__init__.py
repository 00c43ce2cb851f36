"""``evo-relay demo``: the whole system in one process, on loopback, with nothing configured.

The command parses its few flags, starts :func:`relay.demo.wiring.running` (which the
browser tests share), prints :func:`relay.demo.banner.banner`, and waits for Ctrl-C or
SIGTERM; leaving the ``async with`` stops the relay, the simulator and the embedded Postgres,
in that order.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole system locally: embedded Postgres, simulator, relay and panel",
        description="Run the Evolution simulator with a few instances over two tenants, the "
        "relay with an embedded Postgres of its own, and the panel; print the panel URL, "
        "tokens and curl lines. Busy ports are replaced by free ones. Ctrl-C stops it all.",
    )
    p.add_argument("--port", type=int, default=3001, help="relay port (default 3001)")
    p.add_argument("--sim-port", type=int, default=8080, help="simulator port (default 8080)")
    p.add_argument(
        "--data-dir", type=Path, default=None,
        help="state directory; the demo uses <dir>/demo (default RELAY_DATA_DIR, ./.evo-relay)",
    )  # fmt: skip
    p.add_argument("--qr-interval", type=float, default=10.0, help="seconds between QR codes")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default)")
    p.add_argument(
        "--nodes", type=int, default=1,
        help="relay nodes forming one cluster on Redis (default 1: no cluster)",
    )  # fmt: skip
    p.add_argument(
        "--redis-url", default=None,
        help="the cluster's Redis (default RELAY_REDIS_URL, else redis://127.0.0.1:6379/0)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relay.config import load_settings
    from relay.demo.banner import banner
    from relay.demo.wiring import DEFAULT_REDIS_URL, DemoOptions, running
    from relay.logs import setup_logging

    settings = load_settings()
    data_dir = args.data_dir or settings.data_dir
    redis_url = args.redis_url or (
        settings.redis_url.get_secret_value() if settings.redis_url else DEFAULT_REDIS_URL
    )
    options = DemoOptions(
        port=args.port, sim_port=args.sim_port, data_dir=data_dir,
        qr_interval=args.qr_interval, log_level=args.log_level.upper(),
        nodes=max(1, args.nodes), redis_url=redis_url,
    )  # fmt: skip
    setup_logging("text", options.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("starting: embedded Postgres, Evolution simulator, relay…", flush=True)
        async with running(options) as demo:
            print(banner(demo), flush=True)
            await stop.wait()
            print("\nstopping: relay, simulator, embedded Postgres…", flush=True)
        print("demo stopped.", flush=True)

    asyncio.run(main())
    return 0
