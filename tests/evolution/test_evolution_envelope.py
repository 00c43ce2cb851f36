"""Reading Evolution's bodies and error envelope without a server."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relay.evolution.envelope import (
    error_message,
    flatten_message,
    is_error_200,
    is_route_not_found,
    read_body,
)
from relay.evolution.models import parse_version

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def test_flatten_string() -> None:
    """docs/upstream.md §1: a 401 or a thrown exception carries a plain string."""
    assert flatten_message("Unauthorized") == "Unauthorized"


def test_flatten_array_of_strings() -> None:
    """docs/upstream.md §1: 403/404 and controller 400s carry an array of strings."""
    assert flatten_message(['The "x" instance does not exist']) == 'The "x" instance does not exist'
    assert flatten_message(["a", "b"]) == "a; b"


def test_flatten_array_of_arrays() -> None:
    """docs/upstream.md §1: JSON-schema 400s carry an array of arrays."""
    message = [['webhook requires property "url"'], ["second", "third"]]
    assert flatten_message(message) == 'webhook requires property "url"; second; third'


@given(_json)
def test_flatten_never_raises(value: Any) -> None:
    """docs/upstream.md §1: whatever type ``response.message`` has, a string comes out."""
    assert isinstance(flatten_message(value), str)


@given(st.binary(max_size=300))
def test_read_body_never_raises(raw: bytes) -> None:
    """docs/upstream.md §1, §5.1: empty, binary or HTML bodies are classified, never a crash."""
    body = read_body(raw)
    assert isinstance(error_message(body, "Bad Gateway"), str)


def test_empty_body() -> None:
    """docs/upstream.md §5.1: zero bytes with a JSON content type is ``empty``, not a JSON error."""
    body = read_body(b"")
    assert body.empty and not body.is_json


def test_null_body_is_json_not_empty() -> None:
    """docs/upstream.md §5.2: ``null`` (never set) is different from an empty body (feature off)."""
    body = read_body(b"null")
    assert body.is_json and body.json is None and not body.empty


def test_error_message_prefers_envelope() -> None:
    """docs/upstream.md §1: the envelope's ``response.message`` is the readable text."""
    raw = {"status": 400, "error": "Bad Request", "response": {"message": [["bad"]]}}
    assert error_message(read_body(json.dumps(raw).encode()), "Bad Request") == "bad"


def test_error_message_of_error_200() -> None:
    """docs/upstream.md §3.2: ``{"error": true, "message": ...}`` keeps its message."""
    body = read_body(b'{"error": true, "message": "[object Object]"}')
    assert is_error_200(body)
    assert error_message(body, "OK") == "[object Object]"


def test_error_message_of_html_is_short_text() -> None:
    """A proxy's HTML page is quoted, shortened, not parsed."""
    body = read_body(b"<html><body>" + b"x" * 1000 + b"</body></html>")
    text = error_message(body, "Bad Gateway")
    assert text.startswith("<html>") and len(text) <= 200


def test_route_not_found() -> None:
    """docs/upstream.md §1: Express's unknown-route 404 is about the route, not an instance."""
    assert is_route_not_found("Cannot PUT /instance/restart/x")
    assert not is_route_not_found('The "x" instance does not exist')


def test_parse_version() -> None:
    """docs/upstream.md §10: versions come from ``GET /``."""
    assert parse_version("2.3.6") == (2, 3, 6)
    assert parse_version("2.0.10") == (2, 0, 10)
    assert parse_version("v2.1.0-rc1") == (2, 1, 0)
    assert parse_version("unknown") is None
