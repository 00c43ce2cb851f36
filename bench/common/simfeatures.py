"""Which simulator features a scenario needs, and whether this checkout's simulator has them.

The "statuses that stay true" scenarios (first-qr, recovery, loop-writes) are written against
the simulator interface that is being added next to them: ``SimConfig(first_qr_delay,
connect_wait, qr_first_ttl, qr_interval, restart_delay, loop_rate)``,
``Simulator.start_loop(name, rate)``, ``Simulator.stop_loop(name)`` and
``Simulator.restart(down_for=S)``. A need is written ``"SimConfig.loop_rate"``,
``"Simulator.start_loop"`` or ``"Simulator.restart(down_for)"`` (a keyword the method must
take). With a simulator that lacks one, the scenario is skipped under ``--smoke`` (so the
smoke test passes on either side of that merge) and fails with this module's message otherwise.
"""

from __future__ import annotations

import dataclasses
import inspect

from simulator import SimConfig, Simulator

CONFIG_FIELDS = frozenset(field.name for field in dataclasses.fields(SimConfig))


def _has(need: str) -> bool:
    owner, _, attr = need.partition(".")
    if owner == "SimConfig":
        return attr in CONFIG_FIELDS
    if owner != "Simulator":
        raise ValueError(f"unknown simulator feature {need!r}")
    method, _, keyword = attr.partition("(")
    found = getattr(Simulator, method, None)
    if found is None or not keyword:
        return found is not None
    return keyword.rstrip(")") in inspect.signature(found).parameters


def missing(needs: tuple[str, ...]) -> list[str]:
    return [need for need in needs if not _has(need)]


def message(lacking: list[str]) -> str:
    return (
        f"the simulator lacks {', '.join(lacking)}: this scenario needs the simulator with "
        "loops, restart(down_for=) and the pairing timings (the sim branch)"
    )


def optional_config(**values: object) -> dict[str, object]:
    """The ``SimConfig`` fields among ``values`` that this simulator has (the others dropped)."""
    return {name: value for name, value in values.items() if name in CONFIG_FIELDS}
