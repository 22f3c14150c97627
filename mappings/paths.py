"""Dotted paths into canonical data (plain dicts and lists, as ``model_dump(mode="json")`` gives)."""

from __future__ import annotations

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
