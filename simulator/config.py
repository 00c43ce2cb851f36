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
"""Evolution's own fallback when ``AUTHENTICATION_API_KEY`` is unset (docs/upstream.md §2)."""


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
    looping: bool = False
    """Start in Baileys' reconnect loop (WhatsApp unreachable) instead of ``state``; see
    :attr:`SimConfig.loop_rate`. ``state="open"`` still means a stored session."""


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
    """Seconds between two ``qrcode.updated`` events after the first QR expired."""
    first_qr_delay: float = 1.0
    """Seconds from ``connecting`` to the first QR (Baileys: about 1 s)."""
    qr_first_ttl: float = 60.0
    """Seconds the first QR lives before the second one (Baileys: 60 s, then ``qr_interval``)."""
    connect_wait: float = 2.0
    """How long ``connect`` on a closed instance waits for the first QR (the real one sleeps
    2 s). The reply is the QR object as soon as it is ready within the wait, else
    ``{"count": 0}``. Create with ``qrcode: true`` and restart of a pairing instance wait the
    same way."""
    reconnect_delay: float = 0.2
    """Seconds from ``connecting`` back to ``open`` when a stored session exists."""
    logout_delay: float = 0.05
    """Seconds after the logout reply before its events (the real logout is not awaited)."""
    delete_delay: float = 1.0
    """Seconds a deleted (or failed-create) instance keeps its row (docs/upstream.md §3.5)."""
    restart_delay: float = 10.0
    """Seconds :meth:`Simulator.restart` stays down (connections refused) when not told; the
    real server answers HTTP again 9–13 s after its process starts (docs/upstream.md §12)."""
    loop_rate: float = 20.0
    """``connection.update`` connecting events per second of an instance in the reconnect loop
    (docs/upstream.md §12: every 30–70 ms, 14–30 per second measured); spacing is jittered ±40 %."""
    emit_settle: float = 0.02
    """After a delete's events have been handed to the sockets, seconds the handler waits
    before its HTTP reply, so that a client on the same host sees the events first (§12)."""
    autoconnect_on_restart: bool = True
    """At a :meth:`Simulator.restart`, every stored instance reconnects (``loadInstance``, §8).
    The first start uses the presets' states as given."""
    zombie_events: bool = False
    """After a delete, keep emitting ``connection.update`` for the name on ``/`` (global mode
    only) until the next restart (docs/upstream.md §3.5 caveat)."""
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
