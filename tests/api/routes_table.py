"""Every management route, as the matrices call it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to /api/instance-management; {name} is filled in
    body: Any = None
    mutating: bool = False
    named: bool = True
    ok: int = 200

    def url(self, name: str) -> str:
        return self.path.format(name=name)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


HOOK = {"enabled": True, "url": "https://hooks.example.com/x", "events": ["MESSAGES_UPSERT"]}

NAMED_ROUTES = (
    Route("POST", "logout/{name}", mutating=True),
    Route("DELETE", "delete/{name}", mutating=True),
    Route("POST", "restart/{name}", mutating=True),
    Route("POST", "websocket/{name}", {"enabled": True, "events": ["CALL"]}, mutating=True),
    Route("GET", "websocket/{name}"),
    Route("GET", "status/{name}"),
    Route("POST", "connect/{name}", {}, mutating=True),
    Route("POST", "webhook/{name}", HOOK, mutating=True),
    Route("GET", "webhook/{name}"),
)

OTHER_ROUTES = (
    Route("GET", "instances", named=False),
    Route("POST", "instances", {"instanceName": "{name}"}, mutating=True, named=False, ok=201),
    Route("GET", "audit", named=False),
)

ALL_ROUTES = NAMED_ROUTES + OTHER_ROUTES

# Only for a SUPERADMIN (403 for anyone else); tested in tests/fleet.
SUPERADMIN_ROUTES = (Route("GET", "servers", named=False),)


def body_for(route: Route, name: str) -> Any:
    if isinstance(route.body, dict):
        return {
            k: (v.format(name=name) if isinstance(v, str) else v) for k, v in route.body.items()
        }
    return route.body
