"""Python's cyclic garbage collector, set for a process that holds many long-lived connections.

With CPython's defaults (thresholds 700, 10, 10) a full collection runs whenever the objects that
survived younger collections grow by a quarter: while 10,000 Socket.IO clients connect (about a
million objects), that is thirteen full collections, 5.9 s of the relay's CPU in all and pauses of
up to half a second, which stop every delivery meanwhile (measured with ``gc.callbacks`` during
``make bench``'s idle scenario; docs/performance.md "Why connects are cheaper").

:func:`tune` is called once by the process entry point, after the imports and before serving:

- ``gc.freeze()`` moves everything alive then (modules, classes, pydantic's schemas) into the
  permanent generation, which no collection walks again;
- the young generation is collected every :data:`THRESHOLDS` [0] allocations instead of 700, and
  the full collection is considered only after ``[1] × [2]`` young ones: cycles that die young
  (most of the garbage) are still freed promptly, and the long-lived connection objects are not
  walked again and again while they accumulate. Collections still run; a closed connection's
  cycles are freed by the next one that reaches them.

Reference counting frees everything that is not part of a cycle as soon as it is dropped, as
before: this changes only when cycles are looked for.
"""

from __future__ import annotations

import gc
from typing import Final

THRESHOLDS: Final = (50_000, 20, 10)


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
