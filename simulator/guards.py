"""Evolution's route guards, applied in its order (docs/upstream.md §2):
instance exists (404) → create's name is free (403) → apikey (401)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from simulator import replies
from simulator.keys import SIMULATOR
from simulator.state import Instance

if TYPE_CHECKING:
    from simulator.app import Simulator


def sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def existing(request: web.Request) -> Instance:
    """Guard 1: the ``{name}`` instance must be loaded or stored, whatever the key."""
    name = request.match_info["name"]
    instance = sim(request).store.get(name)
    if instance is None:
        raise replies.instance_missing(name)
    return instance


def name_free(request: web.Request, name: object) -> None:
    """Guard 2 (create only): a taken name is 403 before the key is looked at."""
    if isinstance(name, str) and sim(request).store.get(name) is not None:
        raise replies.name_taken(name)


def keyed(request: web.Request, instance: Instance | None = None) -> None:
    """Guard 3: the global key, or the token of the instance the path names."""
    key = request.headers.get("apikey")
    if not key:
        raise replies.unauthorized()
    if key == sim(request).config.apikey:
        return
    if instance is not None and key == instance.token:
        return
    raise replies.unauthorized()


def instance_route(request: web.Request) -> Instance:
    instance = existing(request)
    keyed(request, instance)
    return instance
