"""Exponential backoff with jitter, capped at 30 s by default: reconnects, namespace retries."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """``first``, ``2*first``, … up to ``cap``; each delay is drawn from [d/2, d] ("equal jitter"),
    so a thousand namespaces refused together do not retry together."""

    def __init__(
        self, first: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.first = first
        self.cap = cap
        self._rng = rng
        self.attempts = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return float(ceiling / 2 + self._rng() * ceiling / 2)

    def reset(self) -> None:
        self.attempts = 0
