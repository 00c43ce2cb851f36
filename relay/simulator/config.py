"""Settings of the Evolution 2.3.6 simulator (``SimConfig``) and its preset instances.

Every timing knob is here so tests can run fast while ``evo-relay simulate`` keeps timings
close to the real server. Names map to Evolution's env variables where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

State = Literal["open", "connecting", "close"]

DEFAULT_APIKEY = "BQYHJGJHJ"
"""Evolution's own fallback when ``AUTHENTICATION_API_KEY`` is unset (EVOLUTION.md §2)."""


@dataclass(frozen=True, slots=True)
class PresetInstance:
    """An instance that exists when the simulator first starts, already in ``state``.

    ``websocket_events``: ``None`` means no websocket config row; ``[]`` means all 31 events
    (as ``POST /websocket/set`` stores it); a list is stored as given.
    """

    name: str
    state: State = "close"
    token: str | None = None
    integration: str = "WHATSAPP-BAILEYS"
    websocket_events: tuple[str, ...] | None = ()
    websocket_enabled: bool = True
    wuid: str | None = None
    profile_name: str | None = None
    number: str | None = None


@dataclass(slots=True)
class SimConfig:
    """Everything the simulator can be told. Defaults mimic Evolution 2.3.6 where it is cheap."""

    apikey: str = DEFAULT_APIKEY
    server_url: str | None = None
    """Copied into every envelope. ``None``: the simulator's own base URL once bound."""
    client_name: str = "evolution_sim"
    version: str = "2.3.6"
    websocket_enabled: bool = True
    """``WEBSOCKET_ENABLED``. False: no ``/socket.io/``; ``/websocket/*`` answer empty bodies."""
    global_events: bool = False
    """``WEBSOCKET_GLOBAL_EVENTS``: every event also goes to namespace ``/``."""
    allowed_hosts: tuple[str, ...] = ()
    """``WEBSOCKET_ALLOWED_HOSTS``; empty by default so that tests exercise the apikey."""
    expose_token: bool = True
    """``AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES``: envelopes carry the token, else ``null``."""
    tz_offset: timedelta = timedelta(hours=-3)
    """Offset of the fake-``Z`` ``date_time`` (America/Sao_Paulo by default)."""
    qr_limit: int = 30
    """``QRCODE_LIMIT``."""
    qr_interval: float = 20.0
    """Seconds between two ``qrcode.updated`` events while pairing."""
    first_qr_delay: float = 0.2
    """Seconds from ``connecting`` to the first QR."""
    connect_wait: float = 0.0
    """How long ``connect`` on a closed instance waits before answering (the real one waits 2 s
    and, offline, still answers ``{"count": 0}``). Create with ``qrcode: true`` waits the same."""
    reconnect_delay: float = 0.2
    """Seconds from ``connecting`` back to ``open`` when a stored session exists."""
    logout_delay: float = 0.05
    """Seconds after the logout reply before its events (the real logout is not awaited)."""
    delete_delay: float = 1.0
    """Seconds a deleted (or failed-create) instance keeps its row (EVOLUTION.md §3.5)."""
    autoconnect_on_restart: bool = True
    """At a :meth:`Simulator.restart`, every stored instance reconnects (``loadInstance``, §8).
    The first start uses the presets' states as given."""
    zombie_events: bool = False
    """After a delete, keep emitting ``connection.update`` for the name on ``/`` (global mode
    only) until the next restart (EVOLUTION.md §3.5 caveat)."""
    zombie_interval: float = 1.0
    presets: list[PresetInstance] = field(default_factory=list)
    event_rate: float = 0.0
    """``messages.upsert`` events per second in total, spread over the open instances."""
    payload_bytes: int = 0
    """Pad each generated message's text so the envelope is about this size."""
    event_log_size: int = 10_000
    """How many emitted envelopes :attr:`Simulator.emitted` keeps."""


def load_presets(count: int, state: State = "open") -> list[PresetInstance]:
    """``count`` instances ``sim-0001``… for load runs: open, all websocket events enabled."""
    return [
        PresetInstance(name=f"sim-{i:04d}", state=state, token=f"sim-{i:04d}-token")
        for i in range(1, count + 1)
    ]
