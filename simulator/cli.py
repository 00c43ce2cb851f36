"""``evo-relay simulate``: run only the Evolution simulator until SIGINT/SIGTERM.

The main CLI calls :func:`add_parser` with its subparsers, then ``args.func(args)``, which
returns the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import replace
from datetime import timedelta
from typing import cast, get_args

from simulator.app import Simulator
from simulator.config import DEFAULT_APIKEY, PresetInstance, SimConfig, State, load_presets

log = logging.getLogger(__name__)

STATES: tuple[str, ...] = get_args(State)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``simulate`` and its options on the main CLI's subparsers."""
    p = subparsers.add_parser(
        "simulate",
        help="run only the Evolution API 2.3.6 simulator",
        description=(
            "An Evolution API 2.3.6 stand-in (REST + Socket.IO) for frontend development, "
            "tests and benchmarks. Test controls live under /_sim/ (scan, drop, loop, restart, "
            "calls, faults); docs/simulator.md describes them."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    p.add_argument(
        "--apikey",
        default=DEFAULT_APIKEY,
        help=f"global API key, header 'apikey' (default {DEFAULT_APIKEY}, Evolution's own default)",
    )
    p.add_argument(
        "--global-events",
        action="store_true",
        help="also emit every event on the root namespace '/' (WEBSOCKET_GLOBAL_EVENTS=true)",
    )
    p.add_argument(
        "--instances",
        type=int,
        default=0,
        metavar="N",
        help="pre-create N open instances sim-0001..., token '<name>-token', all events on",
    )
    p.add_argument(
        "--qr-interval",
        type=float,
        default=20.0,
        metavar="S",
        help="seconds between qrcode.updated events after the first QR expired (default 20)",
    )
    p.add_argument(
        "--first-qr-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds from connecting to the first QR (default 1, like Baileys)",
    )
    p.add_argument(
        "--qr-first-ttl",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds the first QR lives before the next one (default 60, like Baileys)",
    )
    p.add_argument(
        "--qr-limit",
        type=int,
        default=30,
        metavar="N",
        help="QRs shown before the session is refused (QRCODE_LIMIT, default 30)",
    )
    p.add_argument(
        "--connect-wait",
        type=float,
        default=2.0,
        metavar="S",
        help="longest a connect on a closed instance waits for the first QR (default 2)",
    )
    p.add_argument(
        "--reconnect-delay",
        type=float,
        default=0.2,
        metavar="S",
        help="seconds from connecting back to open for an instance with a session (default 0.2)",
    )
    p.add_argument(
        "--restart-delay",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds a restart (POST /_sim/restart) stays down, refusing connections "
        "(default 10; the real server needs 9-13 s)",
    )
    p.add_argument(
        "--loop",
        type=int,
        default=0,
        metavar="N",
        help="put the first N instances (--preset ones first, then --instances) into Baileys' "
        "reconnect loop: WhatsApp unreachable, connecting events, state close (default 0)",
    )
    p.add_argument(
        "--loop-rate",
        type=positive_float,
        default=20.0,
        metavar="R",
        help="connecting events per second of a looping instance (default 20)",
    )
    p.add_argument(
        "--event-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="messages.upsert events per second in total over the open instances (default 0)",
    )
    p.add_argument(
        "--payload-bytes",
        type=int,
        default=0,
        metavar="B",
        help="pad each messages.upsert envelope to about B bytes (default: no padding)",
    )
    p.add_argument(
        "--websocket-disabled",
        action="store_true",
        help="behave as WEBSOCKET_ENABLED=false: no /socket.io/, empty /websocket/* bodies",
    )
    p.add_argument(
        "--allowed-hosts",
        default="",
        metavar="LIST",
        help="comma list of peer addresses let into Socket.IO without a key (default none)",
    )
    p.add_argument(
        "--delete-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds a deleted instance stays listed before it is gone (default 1)",
    )
    p.add_argument(
        "--tz-offset-hours",
        type=float,
        default=-3.0,
        metavar="H",
        help="offset of the fake-Z date_time in envelopes (default -3, America/Sao_Paulo)",
    )
    p.add_argument(
        "--zombie-events",
        action="store_true",
        help="keep emitting connection.update on '/' for deleted instances (global mode)",
    )
    p.add_argument(
        "--preset",
        action="append",
        type=preset_arg,
        default=[],
        metavar="NAME:STATE[:TOKEN]",
        help=(
            "an instance that exists at start in STATE (connecting = pairing with live QRs, "
            "open, close), all websocket events on; token defaults to NAME-token; repeatable"
        ),
    )
    p.set_defaults(func=run)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def preset_arg(text: str) -> PresetInstance:
    """``--preset loja-1:connecting[:token]``."""
    name, _, rest = text.partition(":")
    state, _, token = rest.partition(":")
    if not name or state not in STATES:
        raise argparse.ArgumentTypeError(
            f"expected NAME:STATE[:TOKEN] with STATE one of {', '.join(STATES)}, got {text!r}"
        )
    return PresetInstance(name=name, state=cast(State, state), token=token or None)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    presets = [*args.preset, *load_presets(args.instances)]
    presets = [replace(p, looping=True) if i < args.loop else p for i, p in enumerate(presets)]
    return SimConfig(
        apikey=args.apikey,
        global_events=args.global_events,
        presets=presets,
        qr_interval=args.qr_interval,
        first_qr_delay=args.first_qr_delay,
        qr_first_ttl=args.qr_first_ttl,
        qr_limit=args.qr_limit,
        connect_wait=args.connect_wait,
        reconnect_delay=args.reconnect_delay,
        restart_delay=args.restart_delay,
        loop_rate=args.loop_rate,
        event_rate=args.event_rate,
        payload_bytes=args.payload_bytes,
        websocket_enabled=not args.websocket_disabled,
        allowed_hosts=tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip()),
        delete_delay=args.delete_delay,
        tz_offset=timedelta(hours=args.tz_offset_hours),
        zombie_events=args.zombie_events,
    )


async def serve(config: SimConfig, host: str, port: int) -> None:
    """Run until SIGINT or SIGTERM."""
    simulator = Simulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    base_url = await simulator.start(host, port)
    print(f"Evolution simulator on {base_url}  (apikey header: {config.apikey})", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await simulator.stop()


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    asyncio.run(serve(config_from_args(args), args.host, args.port))
    return 0
