"""The JSON-schema checks and controller quirks of create, websocket/set and webhook/set.

Schema failures are 400 with an array of arrays (§1, §4); the controllers then crash in the
documented ways (§5.1): a flat websocket body, or ``enabled:true`` without ``events``.
"""

from __future__ import annotations

from typing import Any

from relay.evolution.names import EVENTS_2_3
from simulator.replies import EvolutionError, bad_request, crash

ENUM_TEXT = ",".join(EVENTS_2_3)
INTEGRATIONS = ("WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION")
SET_UNDEFINED = "Cannot set properties of undefined (setting 'events')"
READ_LENGTH = "Cannot read properties of undefined (reading 'length')"


def _events_problems(path: str, events: Any) -> list[str]:
    if events is None:
        return []
    if not isinstance(events, list):
        return [f"{path}.events is not of a type(s) array"]
    return [
        f"{path}.events[{i}] is not one of enum values: {ENUM_TEXT}"
        for i, name in enumerate(events)
        if name not in EVENTS_2_3
    ]


def _object_problems(path: str, value: Any, required: tuple[str, ...]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path} is not of a type(s) object"]
    problems = []
    if "enabled" in value and not isinstance(value["enabled"], bool):
        problems.append(f"{path}.enabled is not of a type(s) boolean")
    if "url" in value and not isinstance(value["url"], str):
        problems.append(f"{path}.url is not of a type(s) string")
    problems += _events_problems(path, value.get("events"))
    problems += [f'{path} requires property "{key}"' for key in required if key not in value]
    return problems


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise bad_request(problems)


def stored_events(enabled: bool, events: list[str]) -> list[str]:
    """``[]`` with ``enabled:true`` means all 31; ``enabled:false`` always stores ``[]`` (§4)."""
    if not enabled:
        return []
    return list(events) if events else list(EVENTS_2_3)


def websocket_problems(config: Any) -> list[str]:
    """Schema problems of a websocket/set body's ``websocket`` value (checked when present)."""
    return _object_problems("websocket", config, ("enabled",))


def resolve_set(config: Any) -> tuple[bool, list[str]]:
    """The controller after the schema (``if (!data.websocket?.enabled) ...events = []``)."""
    if not isinstance(config, dict):
        raise crash(SET_UNDEFINED)
    if not config.get("enabled"):
        return False, []
    events = config.get("events")
    if events is None:
        raise crash(READ_LENGTH)
    return True, stored_events(True, events)


def webhook_set(body: dict[str, Any]) -> tuple[bool, list[str]]:
    if "webhook" not in body:
        raise bad_request(['instance requires property "webhook"'])
    config = body["webhook"]
    _raise_if(_object_problems("webhook", config, ("enabled", "url")))
    url = config["url"]
    if config["enabled"] and not url.startswith(("http://", "https://")):
        raise bad_request('Invalid "url" property')
    return resolve_set(config)


def create(body: dict[str, Any]) -> str:
    """Schema and integration checks of create; returns the integration."""
    problems: list[str] = []
    name = body.get("instanceName")
    if name is None:
        problems.append('instance requires property "instanceName"')
    elif not isinstance(name, str):
        problems.append("instanceName is not of a type(s) string")
    elif not name:
        problems.append("instanceName does not meet minimum length of 1")
    for key in ("websocket", "webhook"):
        if key in body:
            problems += _object_problems(key, body[key], ())
    _raise_if(problems)
    integration = body.get("integration")
    if integration not in INTEGRATIONS:
        raise bad_request("Invalid integration")
    return str(integration)


def inline_events(config: dict[str, Any]) -> list[str]:
    """Inline create configs are stored ``enabled:true``; no ``events`` array crashes (§3.1)."""
    events = config.get("events")
    if events is None:
        raise EvolutionError(400, [READ_LENGTH])
    return stored_events(True, events)
