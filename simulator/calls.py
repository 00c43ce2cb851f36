"""What reached the simulator (the call log) and injected failures (faults), for tests."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Call:
    """One HTTP request on an Evolution route (``/_sim/*`` and ``/socket.io/`` are not logged)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorized: bool
    """Whether the ``apikey`` header would pass the auth guard for this path."""
    status: int | None = None
    """The status answered; ``None`` while in flight (or if the client gave up)."""
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class CallLog:
    calls: list[Call] = field(default_factory=list)

    def add(self, call: Call) -> None:
        self.calls.append(call)

    def clear(self) -> None:
        self.calls.clear()

    def matching(self, method: str | None = None, path_prefix: str = "") -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and c.path.startswith(path_prefix)
        ]


@dataclass(slots=True)
class Fault:
    """Answer ``status`` (after ``delay`` seconds) to the next ``count`` matching requests.

    ``status`` ``None`` with a ``delay``: the real handler runs, late (a slow server).
    ``count`` ``None``: until cleared.
    """

    status: int | None = 500
    delay: float = 0.0
    count: int | None = 1
    path_prefix: str = "/"
    method: str | None = None
    message: Any = "Simulated failure"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        return cls(
            status=None if body.get("status") is None else int(body["status"]),
            delay=float(body.get("delay", 0.0)),
            count=None if body.get("count", 1) is None else int(body.get("count", 1)),
            path_prefix=str(body.get("path_prefix", "/")),
            method=None if body.get("method") is None else str(body["method"]).upper(),
            message=body.get("message", "Simulated failure"),
        )

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.count is None or self.count > 0)
            and path.startswith(self.path_prefix)
            and (self.method is None or self.method == method)
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Faults:
    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault for this request, with its count used up by one."""
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.count is not None:
                    fault.count -= 1
                return fault
        return None
