"""The named transforms a mapping rule may use, each with its inverse so mappings work both ways.

``to_wire`` turns a canonical value into the system's text; ``to_canonical`` reads it back. Kept
small on purpose: a transform here is a promise that both directions are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


class TransformError(ValueError):
    """A value could not be transformed; the message says what was expected."""


@dataclass(frozen=True)
class Transform:
    """A named transform. Both directions take ``(value, options)``, the rule's options, which
    reading plans bind by name once per rule."""

    name: str
    to_wire: Callable[[Any, dict[str, Any]], Any]
    to_canonical: Callable[[Any, dict[str, Any]], Any]
    description: str


DATES_KEPT = 4096  # dates read before, by their text: a message's dates repeat (recorded on...)
_dates: dict[str, str] = {}


def _date(value: Any, options: dict[str, Any]) -> str:
    text = str(value)
    found = _dates.get(text)
    if found is not None:
        return found
    try:
        found = date.fromisoformat(text).isoformat()
    except ValueError:
        raise TransformError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if len(_dates) >= DATES_KEPT:
        _dates.clear()
    _dates[text] = found
    return found


def _datetime(value: Any, options: dict[str, Any]) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise TransformError(f"{value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise TransformError(f"{value!r} has no time zone")
    return parsed.isoformat()


def _date_from_datetime(value: Any, options: dict[str, Any]) -> str:
    """Wire carries a date and time; canonical wants the date (rendered at midnight UTC)."""
    return _datetime(value, options)[:10]


def _to_bool(value: Any, options: dict[str, Any]) -> bool:
    true, false = options.get("true", "true"), options.get("false", "false")
    text = str(value).strip()
    if text == str(true):
        return True
    if text == str(false):
        return False
    raise TransformError(f"{value!r} is neither {true!r} nor {false!r}")


def _from_bool(value: Any, options: dict[str, Any]) -> Any:
    return options.get("true", "true") if value else options.get("false", "false")


def _int(value: Any, options: dict[str, Any]) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise TransformError(f"{value!r} is not a whole number") from None


def _join(values: Any, options: dict[str, Any]) -> str:
    return str(options.get("separator", " ")).join(str(v) for v in values if v not in (None, ""))


def _split(value: Any, options: dict[str, Any]) -> list[str]:
    parts = options.get("parts", 2)
    separator = str(options.get("separator", " "))
    pieces = str(value).split(separator, parts - 1) if options.get("from") != "right" \
        else str(value).rsplit(separator, parts - 1)
    return pieces + [""] * (parts - len(pieces))


TRANSFORMS: dict[str, Transform] = {
    t.name: t for t in (
        Transform("date", _date, _date, "a calendar date, YYYY-MM-DD, both sides"),
        Transform("datetime", _datetime, _datetime, "an ISO 8601 date and time with a zone"),
        Transform("date-as-datetime", lambda v, o: f"{_date(v, o)}T00:00:00+00:00",
                  _date_from_datetime, "canonical date, wire date and time at midnight UTC"),
        Transform("boolean", _from_bool, _to_bool,
                  "true/false; options true and false name the wire's words (e.g. Y and N)"),
        Transform("integer", lambda v, o: str(_int(v, o)), _int, "a whole number"),
        Transform("join", _join, _split,
                  "several canonical fields as one wire text; options separator, parts, from"),
    )
}


def transform(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise TransformError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}") from None
