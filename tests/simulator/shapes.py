"""Shape comparison of JSON values against the reference samples."""

from __future__ import annotations

from typing import Any


def assert_same_shape(ours: Any, ref: Any, where: str = "$") -> None:
    """Same key set and key order for objects, same JSON types for values. A ``null`` in the
    reference stands for a nullable field (the live sample may have had no value)."""
    if ref is None:
        assert ours is None or isinstance(ours, str | dict | int), f"{where}: {ours!r}"
        return
    if isinstance(ref, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
        assert list(ours) == list(ref), f"{where}: keys {list(ours)} != {list(ref)}"
        for key in ref:
            assert_same_shape(ours[key], ref[key], f"{where}.{key}")
    elif isinstance(ref, list):
        assert isinstance(ours, list), f"{where}: {ours!r} is not an array"
        for i, item in enumerate(ours):
            assert_same_shape(item, ref[0] if ref else item, f"{where}[{i}]")
    else:
        assert type(ours) is type(ref), f"{where}: {type(ours).__name__} != {type(ref).__name__}"
