"""The OpenAPI 3.1 document, generated from the route table and its pydantic models.

Nothing here is written by hand per route: each :class:`Endpoint` names its request body,
query and response models, and the JSON Schemas come from pydantic
(``models_json_schema`` with ``ref_template="#/components/schemas/{model}"``), the same models
the handlers validate with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from relay.api.schemas import ErrorResponse
from relay.api.validation import NAME_PATTERN

REF_TEMPLATE: Final = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")

_ERROR_TEXT: Final[dict[int, str]] = {
    400: "VALIDATION_ERROR: bad name, body or event names (every problem listed)",
    401: "UNAUTHENTICATED: missing, malformed, expired or wrongly signed token",
    403: "FORBIDDEN: the role may not do this",
    404: "INSTANCE_NOT_FOUND: unknown, or another tenant's",
    409: "CONFLICT: the name is taken",
    413: "PAYLOAD_TOO_LARGE: body over 64 KiB",
    422: "UNSUPPORTED_PROVIDER: not an Evolution API instance",
    502: "UPSTREAM_ERROR: Evolution answered with an error",
    503: "UPSTREAM_UNAVAILABLE: Evolution is unreachable",
    504: "UPSTREAM_TIMEOUT: Evolution is too slow",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route as documented; ``response`` None with a ``content_type`` for non-JSON."""

    method: Literal["GET", "POST", "DELETE"]
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    public: bool = False
    content_type: str = "application/json"
    tag: str = "instance-management"


def _package_version() -> str:
    try:
        return version("evo-relay")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def _schemas(endpoints: Sequence[Endpoint]) -> tuple[dict[Any, Any], dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorResponse, "serialization"): None
    }
    for ep in endpoints:
        if ep.body is not None:
            wanted[(ep.body, "validation")] = None
        if ep.response is not None:
            wanted[(ep.response, "serialization")] = None
    refs, document = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    return refs, document.get("$defs", {})


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NAME_PATTERN},
        }
        for name in _PATH_PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        schema = ep.query.model_json_schema(ref_template=REF_TEMPLATE)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _operation(ep: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.tag],
    }
    params = _parameters(ep)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": ep.body_required,
            "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
        }
    if ep.response is not None:
        content = {ep.content_type: {"schema": refs[(ep.response, "serialization")]}}
    else:
        content = {ep.content_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(ep.status): {"description": "OK", "content": content}}
    error_ref = refs[(ErrorResponse, "serialization")]
    codes = ep.errors if ep.public else (401, *ep.errors)
    for code in sorted(set(codes)):
        responses[str(code)] = {
            "description": _ERROR_TEXT.get(code, "error"),
            "content": {"application/json": {"schema": error_ref}},
        }
    op["responses"] = responses
    op["security"] = [] if ep.public else [{"bearerAuth": []}]
    return op


def build_spec(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    refs, schemas = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "evo-relay",
            "version": _package_version(),
            "description": (
                "Tenant-scoped management API in front of Evolution API v2. Errors are "
                '{"success": false, "message", "code"}; messages are in Brazilian Portuguese.'
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }
