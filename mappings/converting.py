"""Wire values to canonical data, as a reading plan converts them: a rule's code list read
backwards, then its named transform, bound once per rule. A value that cannot be converted raises
``TransformError`` saying why; the caller names the rule and where the value was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappings.spec import CodeList
from mappings.transforms import TransformError, transform

Convert = Callable[[Any], Any]


class CodesBackwards(dict[str, str]):
    """A code list read backwards, wire code to canonical code: ``codes[value]``, where a code
    the list does not have raises ``TransformError``. Values that are not text (JSON numbers)
    are looked up as text."""

    def __init__(self, code_list: CodeList):
        super().__init__((wire, code) for code, wire in code_list.entries.items())
        self.name = code_list.id

    def __missing__(self, value: Any) -> str:
        if not isinstance(value, str):
            code = self.get(str(value))
            if code is not None:
                return code
        raise TransformError(f"{value!r} is not a code of {self.name}")


def to_canonical(code_list: CodeList | None, transform_name: str | None,
                 options: dict[str, Any]) -> Convert | None:
    """The conversion of a rule's wire values, or None if it keeps them as found."""
    codes = CodesBackwards(code_list).__getitem__ if code_list is not None else None
    if transform_name is None:
        return codes
    transformed = _bound(transform(transform_name).to_canonical, options)
    if codes is None:
        return transformed

    def both(value: Any) -> Any:
        return transformed(codes(value))
    return both


def _bound(direction: Callable[[Any, dict[str, Any]], Any], options: dict[str, Any]) -> Convert:
    """A transform's direction with the rule's options bound (a closure: cheaper to call than a
    partial with a keyword)."""
    def transformed(value: Any) -> Any:
        return direction(value, options)
    return transformed
