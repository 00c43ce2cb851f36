"""Reading Evolution's response bodies and its error envelope (docs/upstream.md §1, §5.1).

Evolution answers errors as ``{"status": <int>, "error": "<reason>", "response": {"message": X}}``
where ``X`` is a string, an array of strings, or an array of arrays of strings. Bodies may also
be empty (``/websocket/*`` with websocket output off) or not JSON at all (a proxy's HTML page).
Everything here is pure: no I/O, no logging.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# The longest slice of a non-JSON body quoted in an error message.
_TEXT_LIMIT = 200

# Express's own 404 for an unknown route or method: "Cannot PUT /instance/restart/x".
_ROUTE_NOT_FOUND = re.compile(r"^Cannot [A-Z]+ /")


@dataclass(frozen=True, slots=True)
class Body:
    """A response body as read: ``empty`` (zero bytes or whitespace), ``json`` when it parsed,
    and ``text`` (decoded, shortened) for messages when it did not."""

    empty: bool
    is_json: bool
    json: Any
    text: str


def read_body(raw: bytes) -> Body:
    """Classify ``raw`` without ever raising."""
    if not raw.strip():
        return Body(empty=True, is_json=False, json=None, text="")
    text = raw.decode("utf-8", errors="replace")
    try:
        return Body(empty=False, is_json=True, json=json.loads(text), text=_shorten(text))
    except ValueError:
        return Body(empty=False, is_json=False, json=None, text=_shorten(text))


def flatten_message(message: Any) -> str:
    """Turn ``response.message`` (string, list of strings, list of lists...) into one string.

    Nested lists are flattened in order and joined with ``"; "``. Anything else (a number, an
    object) is rendered as compact JSON so it is still readable.
    """
    parts: list[str] = []
    _collect(message, parts)
    return "; ".join(p for p in parts if p)


def _collect(value: Any, parts: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        parts.append(value.strip())
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, parts)
    else:
        parts.append(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def error_message(body: Body, reason: str) -> str:
    """The readable message of an error response.

    Prefers the envelope's ``response.message``; then a ``message`` at the top level (the
    ``{"error": true, "message": ...}`` shape of connect/restart); then the body's text; then
    the HTTP reason phrase.
    """
    if body.is_json and isinstance(body.json, dict):
        response = body.json.get("response")
        if isinstance(response, dict) and "message" in response:
            text = flatten_message(response["message"])
            if text:
                return text
        if "message" in body.json:
            text = flatten_message(body.json["message"])
            if text:
                return text
    if body.text:
        return body.text
    return reason or "no message"


def is_envelope(body: Body) -> bool:
    """True when the body is Evolution's error envelope (a dict with ``response.message``)."""
    if not (body.is_json and isinstance(body.json, dict)):
        return False
    response = body.json.get("response")
    return isinstance(response, dict) and "message" in response


def is_route_not_found(message: str) -> bool:
    """True for Express's "Cannot <METHOD> /path" 404, which is about the route, not an instance."""
    return bool(_ROUTE_NOT_FOUND.match(message))


def is_error_200(body: Body) -> bool:
    """The ``{"error": true, "message": ...}`` that connect and restart answer with HTTP 200."""
    return body.is_json and isinstance(body.json, dict) and body.json.get("error") is True


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _TEXT_LIMIT:
        return text
    return text[: _TEXT_LIMIT - 1] + "…"
