"""Dotted paths into canonical data (plain dicts and lists, as ``model_dump(mode="json")`` gives)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MISSING = object()


def get(data: Any, path: str) -> Any:
    """The value at ``a.b.c``, or ``MISSING``. Empty strings and empty lists count as missing."""
    value = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    if value is None or value == "" or value == []:
        return MISSING
    return value


def put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` to ``value``, creating the dicts on the way."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def category_path(prefix: str, path: str) -> str:
    """The path of a field inside a repeated element, as ``field_categories`` names it."""
    return f"{prefix}.{path}" if prefix else path


def getter(path: str) -> Callable[[Any], Any]:
    """``get`` for one path, split once: for rules applied to every message."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]

        def get_one(data: Any) -> Any:
            value = data.get(key, MISSING) if isinstance(data, dict) else MISSING
            return MISSING if value is None or value == "" or value == [] else value
        return get_one

    def get_many(data: Any) -> Any:
        value = data
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
        return MISSING if value is None or value == "" or value == [] else value
    return get_many


def putter(path: str) -> Callable[[dict[str, Any], Any], None]:
    """``put`` for one path, split once."""
    *parents, last = path.split(".")
    if not parents:
        def put_one(data: dict[str, Any], value: Any) -> None:
            data[last] = value
        return put_one

    def put_many(data: dict[str, Any], value: Any) -> None:
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return put_many
