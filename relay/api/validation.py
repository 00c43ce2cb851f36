"""Turning request input into validated values: instance names, event names, JSON bodies.

Names are checked here before any I/O. Failures become one
:class:`relay.errors.ValidationFailed` listing every problem in Brazilian Portuguese (pydantic's
error types mapped to short texts), so a panel can show them as they are.
"""

from __future__ import annotations

import json
import re
from typing import Final, TypeVar

import pydantic
from pydantic import BaseModel

from relay.errors import ValidationFailed
from relay.evolution.names import EVENTS_2_3

NAME_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_PROBLEM: Final = "nome da instância inválido: use de 1 a 64 caracteres entre A-Z a-z 0-9 . _ -"
_KNOWN_EVENTS: Final = frozenset(EVENTS_2_3)
# RFC 9110 token characters; a name outside them could split or smuggle a header.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every control character but TAB
MAX_HEADERS: Final = 32
MAX_HEADER_VALUE: Final = 4096

_M = TypeVar("_M", bound=BaseModel)


def is_valid_name(raw: str) -> bool:
    """1–64 of ``[A-Za-z0-9._-]``, and not only dots (``.``/``..`` are path tricks)."""
    return _NAME.fullmatch(raw) is not None and raw.strip(".") != ""


def check_name(raw: str) -> str:
    if not is_valid_name(raw):
        raise ValidationFailed(problems=[NAME_PROBLEM])
    return raw


def name_value(value: str) -> str:
    if not is_valid_name(value):
        raise ValueError(NAME_PROBLEM)
    return value


def event_values(values: list[str]) -> list[str]:
    invalid = [event for event in values if event not in _KNOWN_EVENTS]
    if invalid:
        raise ValueError("; ".join(f'evento inválido: "{event}"' for event in invalid))
    return list(dict.fromkeys(values))  # duplicates removed, order kept


def header_values(headers: dict[str, str]) -> dict[str, str]:
    """Webhook headers Evolution will send: token names, no control characters in values.

    A CR or LF in a value would let the caller add headers (or a body) of their own to every
    webhook call Evolution makes. Problems never quote a value (it is often a credential).
    """
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"no máximo {MAX_HEADERS} cabeçalhos")
    problems: list[str] = []
    for name, value in headers.items():
        if _HEADER_NAME.fullmatch(name) is None:
            problems.append(
                "nome de cabeçalho inválido: use de 1 a 128 letras, dígitos ou ! # $ % & ' * + "
                "- . ^ _ ` | ~"
            )
        elif _CONTROL.search(value):
            problems.append(f'cabeçalho "{name}": o valor tem caracteres de controle (CR, LF…)')
        elif len(value) > MAX_HEADER_VALUE:
            problems.append(f'cabeçalho "{name}": valor longo demais')
    if problems:
        raise ValueError("; ".join(problems))
    return headers


_MESSAGES: Final[dict[str, str]] = {
    "missing": "campo obrigatório",
    "bool_type": "deve ser true ou false",
    "string_type": "deve ser um texto",
    "list_type": "deve ser uma lista",
    "dict_type": "deve ser um objeto",
    "int_parsing": "deve ser um número inteiro",
    "int_type": "deve ser um número inteiro",
    "string_pattern_mismatch": "formato inválido",
    "string_too_short": "curto demais",
    "string_too_long": "longo demais",
    "greater_than_equal": "pequeno demais",
    "less_than_equal": "grande demais",
    "model_type": "o corpo deve ser um objeto JSON",
}


def _problems(exc: pydantic.ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "value_error":
            text = str(error["msg"]).removeprefix("Value error, ")
            problems.extend(f"{where}: {part}" if where else part for part in text.split("; "))
            continue
        text = _MESSAGES.get(error["type"], str(error["msg"]))
        problems.append(f"{where}: {text}" if where else text)
    return problems


def parse(model: type[_M], data: object) -> _M:
    """``data`` as ``model``, or one ``ValidationFailed`` listing every problem."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(problems=_problems(exc)) from exc


def parse_json(raw: bytes, model: type[_M], *, empty_ok: bool = False) -> _M:
    """A request body: malformed JSON, a non-object or a bad field is a 400, never a 500."""
    if not raw.strip():
        if empty_ok:
            return parse(model, {})
        raise ValidationFailed(problems=["corpo da requisição vazio: envie um objeto JSON"])
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(problems=["JSON malformado no corpo da requisição"]) from exc
    if not isinstance(data, dict):
        raise ValidationFailed(problems=["o corpo deve ser um objeto JSON"])
    return parse(model, data)
