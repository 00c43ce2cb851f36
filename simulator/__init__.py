"""An Evolution API 2.3.6 simulator (docs/simulator.md, docs/upstream.md).

Public API: :class:`Simulator`, :class:`SimConfig`, :class:`PresetInstance`, and
:func:`simulator.load.sent_at_ms` for benchmark latency.
"""

from simulator.app import Simulator
from simulator.calls import Call, Fault
from simulator.config import DEFAULT_APIKEY, PresetInstance, SimConfig
from simulator.load import sent_at_ms
from simulator.machine import Emitted, SimulatorError

__all__ = [
    "DEFAULT_APIKEY",
    "Call",
    "Emitted",
    "Fault",
    "PresetInstance",
    "SimConfig",
    "Simulator",
    "SimulatorError",
    "sent_at_ms",
]
