"""Evolution's error envelope and the few fixed bodies (docs/upstream.md §1, §3).

``{"status": <int>, "error": "<reason>", "response": {"message": X}}`` where ``X`` is a string
(401, thrown JS errors), an array of strings (controller errors) or an array of arrays
(schema validation).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class EvolutionError(Exception):
    """Raised by a handler or guard; the error middleware turns it into the envelope."""

    def __init__(self, status: int, message: Any) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": reason(self.status),
            "response": {"message": self.message},
        }

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status)


def unauthorized() -> EvolutionError:
    return EvolutionError(401, "Unauthorized")


def instance_missing(name: str) -> EvolutionError:
    return EvolutionError(404, [f'The "{name}" instance does not exist'])


def name_taken(name: str) -> EvolutionError:
    return EvolutionError(403, [f'This name "{name}" is already in use.'])


def bad_request(*messages: Any) -> EvolutionError:
    """A controller 400: ``["text"]``; a schema 400 passes a list and gets ``[[...]]``."""
    return EvolutionError(400, list(messages))


def crash(text: str) -> EvolutionError:
    """A JS ``TypeError`` escaping a controller: 500 with a plain string."""
    return EvolutionError(500, text)


def success(message: str) -> dict[str, Any]:
    return {"status": "SUCCESS", "error": False, "response": {"message": message}}


def empty(status: int) -> web.Response:
    """Express ``res.status(n).json(undefined)``: zero bytes, JSON content-type (§5.1)."""
    return web.Response(status=status, body=b"", content_type="application/json")
